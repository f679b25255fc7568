//! From a config to the pieces a `Trainer` needs: the dataset and the classifier.

use super::config::Config;
use crate::classifier::{Classifier, OnnxClassifier};
use crate::data::{CsvSpec, DataSource, Dataset, LoadOptions, MelFeatures, Split};
use crate::methods::Settings;
use crate::run::ClassifierInfo;
use anyhow::{bail, Context, Result};
use candle_core::Device;
use std::path::Path;
use std::sync::Arc;

pub fn load_dataset(config: &Config) -> Result<Dataset> {
    load_dataset_split(config, Split::Train)
}

/// One split of the config's data source.
pub fn load_dataset_split(config: &Config, split: Split) -> Result<Dataset> {
    let source = DataSource::parse(&config.data.source, CsvSpec::default())
        .with_context(|| format!("data.source = {:?}", config.data.source))?;
    // Substrates are cut into tiles at the run's resolution; other sources keep their size
    // and are resampled when the training data is built.
    let opts = match source {
        DataSource::Substrates(_) => LoadOptions {
            size: Some(config.model.dims()),
            channels: Some(config.model.channels),
            skip_bad: false,
            mel: None,
        },
        // Sound becomes the features the audited audio model reads.
        ref s if s.is_audio() => LoadOptions {
            mel: classifier_mel_features(config)?,
            ..LoadOptions::default()
        },
        _ => LoadOptions::default(),
    };
    let (ds, report) = source.load(split, &opts)?;
    if let Some(w) = report.clamp_warning(&format!("data.source = {:?}", config.data.source)) {
        eprintln!("{w}");
    }
    Ok(ds)
}

/// The mel front end of the config's classifier, when its adapter is an audio one.
pub fn classifier_mel_features(config: &Config) -> Result<Option<MelFeatures>> {
    let adapter = &config.classifier.adapter;
    let parsed = match adapter.strip_prefix("embedded:") {
        Some(name) => crate::embedded::bundled_adapter(name)?,
        None => crate::adapter::Adapter::load(Path::new(adapter))
            .with_context(|| format!("classifier.adapter = {adapter:?}"))?,
    };
    Ok(parsed.mel_loading())
}

/// What a method is built from: the config's tables and, for a generator with a harmonic
/// head (`model.harmonic`), the classifier's mel front end.
pub fn method_settings(config: &Config) -> Result<Settings> {
    let mut settings = config.settings();
    if config.model.harmonic.is_some() {
        let Some(features) = classifier_mel_features(config)? else {
            bail!(
                "model.harmonic draws on the classifier's mel bands, but classifier.adapter = {:?} is not an audio adapter (modality = \"mel\")",
                config.classifier.adapter
            );
        };
        settings.mel = Some(features.mel);
    }
    Ok(settings)
}

/// `embedded:NAME` uses a bundled model; otherwise an adapter file (with an optional model
/// path overriding the adapter's).
pub fn load_classifier(
    config: &Config,
    device: &Device,
) -> Result<(Arc<dyn Classifier>, ClassifierInfo)> {
    let c = &config.classifier;
    let info = ClassifierInfo {
        adapter: c.adapter.clone(),
        model: c.model.clone(),
    };
    if let Some(name) = c.adapter.strip_prefix("embedded:") {
        return Ok((embedded_classifier(name, device)?, info));
    }
    let clf = match &c.model {
        Some(model) => OnnxClassifier::load(Path::new(model), Path::new(&c.adapter), device)?,
        None => OnnxClassifier::from_adapter_file(Path::new(&c.adapter), device)?,
    };
    Ok((Arc::new(clf), info))
}

/// A bundled Fashion-MNIST classifier: `regular`, `robust` or `judge`.
pub fn embedded_classifier(name: &str, device: &Device) -> Result<Arc<dyn Classifier>> {
    let clf = crate::embedded::bundled_classifier(name, device)
        .with_context(|| format!("classifier adapter = \"embedded:{name}\""))?;
    Ok(Arc::new(clf))
}
