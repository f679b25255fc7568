//! How the generated distribution compares with the real one: the power spectrum in
//! generator space, and in feature space per-class diversity and intra-FID and the overall
//! FID, KID and PRDC.

use super::real::RealClasses;
use super::EvalOptions;
use crate::metrics::diversity::{
    diversity, median_nearest_neighbour_distance, DEFAULT_DUPLICATE_FRACTION,
};
use crate::metrics::evaluation::{ClassEval, OverallEval, SpectrumEval};
use crate::metrics::features::FeatureExtractor;
use crate::metrics::{fid, kid, prdc, spectrum};
use anyhow::{Context, Result};
use candle_core::Tensor;

/// Radial power spectra of real and generated images, compared at the generator's resolution
/// (Fashion-MNIST is 28x28, G emits 32x32); fills the spectral discrepancy. None when the
/// real images could not be brought into generator space.
pub(super) fn spectrum(
    real: &RealClasses,
    fakes: &[Tensor],
    overall: &mut OverallEval,
) -> Result<Option<SpectrumEval>> {
    let Some(Ok(real_px)) = &real.generator_space else {
        return Ok(None);
    };
    let r = spectrum::radial_power_spectrum(real_px)?;
    let f = spectrum::radial_power_spectrum(&Tensor::cat(fakes, 0)?)?;
    overall.spectral_discrepancy = Some(spectrum::high_frequency_discrepancy(&r, &f)?);
    Ok(Some(SpectrumEval {
        real: r.power,
        generated: f.power,
    }))
}

/// Generated and real images in the feature extractor's space.
pub(super) struct FeatureSpace {
    /// Features of each class's samples, in class order.
    pub fake: Vec<Tensor>,
    /// Features of every class's real images together; None without real images.
    pub real: Option<Tensor>,
    /// Distance under which two samples count as near-duplicates: a fraction of the median
    /// real nearest-neighbour distance (0 without real images).
    pub duplicate_threshold: f64,
}

/// Feature-space metrics: each class's diversity and, where it has real images, intra-FID;
/// FID, KID and PRDC over the classes with real images.
pub(super) fn feature_metrics(
    fx: &dyn FeatureExtractor,
    names: &[String],
    fakes: &[Tensor],
    real: &RealClasses,
    opts: &EvalOptions,
    classes: &mut [ClassEval],
    overall: &mut OverallEval,
) -> Result<FeatureSpace> {
    let fake_feats: Vec<Tensor> = fakes
        .iter()
        .map(|x| fx.features(x))
        .collect::<Result<_>>()?;
    let real_feats: Vec<Option<Tensor>> = real
        .images
        .iter()
        .map(|r| r.as_ref().map(|x| fx.features(x)).transpose())
        .collect::<Result<_>>()?;
    let real_cat: Vec<&Tensor> = real_feats.iter().flatten().collect();
    let real_all_f = if real_cat.is_empty() {
        None
    } else {
        Some(Tensor::cat(&real_cat, 0)?)
    };
    let threshold = match &real_all_f {
        Some(r) => DEFAULT_DUPLICATE_FRACTION * median_nearest_neighbour_distance(r)?,
        None => 0.0,
    };
    for c in 0..names.len() {
        classes[c].diversity = Some(diversity(&fake_feats[c], threshold)?);
        if let Some(r) = &real_feats[c] {
            classes[c].intra_fid = Some(
                fid::fid(r, &fake_feats[c])
                    .with_context(|| format!("intra-FID of `{}`", names[c]))?,
            );
        }
    }
    if let Some(r) = &real_all_f {
        // Compare like with like: generated classes that have real counterparts.
        let with_real: Vec<&Tensor> = (0..names.len())
            .filter(|&c| real_feats[c].is_some())
            .map(|c| &fake_feats[c])
            .collect();
        let f = Tensor::cat(&with_real, 0)?;
        overall.fid = Some(fid::fid(r, &f)?);
        overall.kid = Some(kid::kid(r, &f, &opts.kid)?);
        overall.prdc = Some(prdc::prdc(r, &f, opts.prdc_k)?);
    }
    Ok(FeatureSpace {
        fake: fake_feats,
        real: real_all_f,
        duplicate_threshold: threshold,
    })
}
