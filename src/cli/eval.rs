//! `probegan eval --run RUN_DIR | --checkpoint C [--judge J.onnx [--judge-adapter A]] --real DATA`:
//! sample every class, score with an independent judge, the target classifier and feature
//! metrics, and write `eval.json` plus the report's images (default: `RUN_DIR/eval/`).
//! Without `--judge` only the judge-free metrics are computed, with the run's own classifier
//! as the feature model. [`evaluate_run`] and [`print_summary`] are shared with `audit`.

use crate::classifier::{Classifier, OnnxClassifier};
use crate::device::DeviceArgs;
use crate::metrics::evaluate::audio::{evaluate_audio, AudioEvalOptions, AudioInputs};
use crate::metrics::evaluate::substrate::{
    evaluate_substrate, SubstrateEvalOptions, SubstrateInputs,
};
use crate::metrics::evaluate::{
    evaluate, evaluate_selection_with, CriticFn, EvalInputs, EvalOptions, SampleFn,
    SelectionCandidate,
};
use crate::metrics::evaluation::{EvalReport, EVAL_FILE};
use crate::metrics::features::load_fastest;
use crate::metrics::kid::KidOptions;
use crate::metrics::leakage::{leakage_score, LeakageOptions};
use crate::metrics::neighbours::NeighbourSpace;
use crate::report::html::{num, pct};
use anyhow::{bail, Context, Result};
use candle_core::Device;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["run", "checkpoint"])))]
pub struct Args {
    /// A run directory (its newest checkpoint is evaluated).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// One checkpoint folder (RUN_DIR/checkpoints/step_NNNNNN).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// The judge: an ONNX classifier independent of the one used in training, or a bundled
    /// one (`embedded:judge_open`, `embedded:voices_judge`). Without one, only the
    /// judge-free metrics are computed (target confidence, diversity, spectrum, neighbours;
    /// FID/KID in the run's own classifier's features).
    #[arg(long)]
    pub judge: Option<PathBuf>,
    /// The judge's adapter (default: the .toml beside the .onnx with the same stem).
    #[arg(long)]
    pub judge_adapter: Option<PathBuf>,
    /// Real data for FID/KID/precision-recall/spectrum/neighbours (`fashion-mnist`, a folder, a CSV).
    #[arg(long)]
    pub real: Option<String>,
    /// Which split of --real to compare against.
    #[arg(long, default_value = "test", value_parser = ["train", "test"])]
    pub real_split: String,
    /// Feature model for FID/KID/precision-recall (default: the judge).
    #[arg(long)]
    pub feature_model: Option<PathBuf>,
    /// The feature model's adapter (default: the .toml beside it).
    #[arg(long)]
    pub feature_adapter: Option<PathBuf>,
    /// The ONNX value used as features (default: the input of the final Gemm/MatMul).
    #[arg(long)]
    pub feature_layer: Option<String>,
    /// Generated samples per class.
    #[arg(long, default_value_t = 500)]
    pub n: usize,
    /// Seed of the generated samples and of KID's subsets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also rank every checkpoint of the run without unseen-class data — unseen-class
    /// confidence of the target classifier, diversity, and (ProbeGAN/ORACLE runs, with --real)
    /// each checkpoint's D_u realism against real seen images — and, where real unseen data
    /// exist, report the agreement with unseen intra-FID.
    #[arg(long)]
    pub select: bool,
    /// Space of the nearest-real-neighbour panel: `feature` (the feature extractor's) or
    /// `pixel` (L2 on generator-space images; finds literal copies). Both are recorded where
    /// possible; this picks the one shown by default. Use `--real-split train` to look for
    /// copies of training images.
    #[arg(long, default_value = "feature", value_parser = ["feature", "pixel"])]
    pub neighbours: String,
    /// Also the judge-free leakage score: a small student trained only on generated samples
    /// (hard labels), tested on the real test split of --real, beside the same student
    /// trained on as many real training images per class.
    #[arg(long, requires = "real")]
    pub leakage: bool,
    /// Training images per class for each leakage student.
    #[arg(long, default_value_t = 500)]
    pub leakage_n: usize,
    /// Output folder (default: RUN_DIR/eval).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the record as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// How image folders and CSVs of --real are decoded (`audit` sets the run's size and
    /// channels, so folders of mixed sizes load; the command line keeps the loader's default).
    #[arg(skip)]
    pub real_options: crate::data::LoadOptions,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// The judge's model file and adapter as given; a bundled model (`embedded:voices_judge`) is
/// first written into `out_dir/judge/` with its adapter, as `audit` does.
fn judge_file(args: &Args, out_dir: &Path) -> Result<Option<(PathBuf, Option<PathBuf>)>> {
    let Some(path) = &args.judge else {
        return Ok(None);
    };
    match path.to_str().and_then(|p| p.strip_prefix("embedded:")) {
        Some(name) => {
            let (model, adapter) =
                crate::embedded::write_bundled_model(name, &out_dir.join("judge"))?;
            Ok(Some((
                model,
                Some(args.judge_adapter.clone().unwrap_or(adapter)),
            )))
        }
        None => Ok(Some((path.clone(), args.judge_adapter.clone()))),
    }
}

fn adapter_beside(model: &Path, given: &Option<PathBuf>) -> Result<PathBuf> {
    if let Some(a) = given {
        return Ok(a.clone());
    }
    let beside = model.with_extension("toml");
    if beside.is_file() {
        return Ok(beside);
    }
    bail!(
        "{}: no adapter given and none beside the model ({}); pass --judge-adapter",
        model.display(),
        beside.display()
    )
}

fn step_of(ckpt: &Path) -> Option<u64> {
    ckpt.file_name().and_then(|n| {
        n.to_string_lossy()
            .strip_prefix("step_")
            .and_then(|s| s.parse().ok())
    })
}

/// Paint `target` on each substrate of `x` [m, C, R, R] (the sampler paints one at a time).
fn paint_each(
    sampler: &crate::train::RunSampler,
    x: &candle_core::Tensor,
    target: &[(usize, f32)],
    seed: u64,
) -> Result<candle_core::Tensor> {
    let rows = (0..x.dim(0)?)
        .map(|i| {
            sampler.sample_condition(
                &crate::methods::Condition::OnImage {
                    image: x.narrow(0, i, 1)?,
                    target: target.to_vec(),
                },
                1,
                seed.wrapping_add(i as u64),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(candle_core::Tensor::cat(&rows, 0)?)
}

fn print_substrate(report: &EvalReport, out_dir: &Path) {
    let Some(s) = &report.substrate else { return };
    println!(
        "evaluated {} on {} held-out substrates; judge {} over {} labels; record: {}",
        report.source,
        s.substrates,
        report.judge,
        s.judge_classes,
        out_dir.join(EVAL_FILE).display()
    );
    println!(
        "{:<20} {:>7} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7} {:>6}",
        "class",
        "top-1",
        "top-5",
        "deg top1",
        "deg top5",
        "p whole",
        "p crops",
        "target p",
        "SSIM",
        "L1"
    );
    for c in &s.classes {
        println!(
            "{:<20} {:>7} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7.3} {:>6.3}",
            c.name,
            pct(Some(c.judge_top1)),
            pct(Some(c.judge_top5)),
            pct(Some(c.degraded_top1)),
            pct(Some(c.degraded_top5)),
            pct(Some(c.whole_probability)),
            pct(Some(c.crop_probability)),
            pct(c.target_probability),
            c.ssim,
            c.l1
        );
    }
    println!(
        "all-zero target taken for a target class: top-1 {}  top-5 {}  (unpainted substrates: {} / {})  SSIM {:.3}",
        pct(Some(s.none.as_target_top1)),
        pct(Some(s.none.as_target_top5)),
        pct(Some(s.none.substrate_top1)),
        pct(Some(s.none.substrate_top5)),
        s.none.ssim
    );
    for m in &s.mixes {
        println!(
            "mix {:<40} both in top-5 {}  either top-1 {}",
            m.classes.join(" + "),
            pct(Some(m.all_top5)),
            pct(Some(m.any_top1))
        );
    }
    println!("degraded = {}", s.degradation);
}

pub fn run(args: Args) -> Result<()> {
    let device = args.device.device()?;
    let (report, out_dir) = evaluate_run(&args, &device)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report, &out_dir);
    }
    Ok(())
}

/// The run's own classifier as a feature model, for FID-type metrics without a judge: a
/// model file and its adapter (None for classifiers compiled into the binary).
fn target_features(
    info: &crate::run::RunInfo,
    device: &Device,
) -> Result<Option<Box<dyn crate::metrics::features::FeatureExtractor>>> {
    let c = &info.classifier;
    if c.adapter.starts_with("embedded:") {
        return Ok(None);
    }
    let adapter = crate::adapter::Adapter::load(Path::new(&c.adapter))?;
    let model = match (&c.model, adapter.model_path()) {
        (Some(m), _) => PathBuf::from(m),
        (None, Some(m)) => m.to_path_buf(),
        (None, None) => return Ok(None),
    };
    Ok(Some(load_fastest(&model, Some(adapter), None, device)?))
}

/// Evaluate a run or checkpoint as `args` say and write `eval.json`; returns the record and
/// the folder it was written to.
pub fn evaluate_run(args: &Args, device: &Device) -> Result<(EvalReport, PathBuf)> {
    let device = device.clone();
    let source = args
        .checkpoint
        .clone()
        .or(args.run.clone())
        .context("give --run or --checkpoint")?;
    let ckpt = crate::run::latest_checkpoint(&source)?;
    let run_dir = crate::run::run_dir_of(&ckpt)?;
    let sampler = crate::train::load_sampler(&ckpt, &device)?;
    let info = sampler.info().clone();

    let out_dir = args.out.clone().unwrap_or_else(|| run_dir.join("eval"));
    let judge = match judge_file(args, &out_dir)? {
        Some((path, given_adapter)) => {
            let adapter = adapter_beside(&path, &given_adapter)?;
            let judge =
                OnnxClassifier::load(&path, &adapter, &device).context("loading the judge")?;
            Some((judge, path, adapter))
        }
        None => None,
    };
    let judge_name = judge
        .as_ref()
        .map(|(_, p, a)| format!("{} ({})", p.display(), a.display()))
        .unwrap_or_else(|| "none (judge-free metrics)".into());
    let target: Option<OnnxClassifier> = {
        let c = &info.classifier;
        let loaded = match (&c.model, c.adapter.strip_prefix("embedded:")) {
            // Runs of the embedded default name a classifier compiled into the binary.
            (_, Some(name)) => crate::embedded::bundled_classifier(name, &device),
            (Some(m), None) => OnnxClassifier::load(Path::new(m), Path::new(&c.adapter), &device),
            (None, None) => OnnxClassifier::from_adapter_file(Path::new(&c.adapter), &device),
        };
        match loaded {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("warning: target-classifier confidence skipped: cannot load the run's classifier ({e:#})");
                None
            }
        }
    };
    if let Some(subs) = sampler.substrates() {
        // A substrate run: painted images judged over the judge's full label set.
        let Some((judge, _, _)) = &judge else {
            bail!("a substrate run is evaluated by a second classifier: pass --judge");
        };
        let paint = |x: &candle_core::Tensor, target: &[(usize, f32)], seed: u64| {
            paint_each(&sampler, x, target, seed)
        };
        let inputs = SubstrateInputs {
            class_names: info.class_names.clone(),
            substrates: subs,
            paint: &paint,
            judge,
            target: target.as_ref().map(|t| t as &dyn Classifier),
        };
        let opts = SubstrateEvalOptions {
            seed: args.seed,
            ..Default::default()
        };
        let sub = evaluate_substrate(&inputs, &opts, &out_dir)?;
        let report = EvalReport {
            source: ckpt.display().to_string(),
            step: step_of(&ckpt),
            judge: judge_name,
            class_names: info.class_names.clone(),
            samples_per_class: sub.substrates,
            substrate: Some(sub),
            ..Default::default()
        };
        report.save(&out_dir.join(EVAL_FILE))?;
        return Ok((report, out_dir));
    }
    let feature_file = match (&args.feature_model, &judge) {
        (Some(m), _) => Some((m.clone(), adapter_beside(m, &args.feature_adapter)?)),
        (None, Some((_, path, adapter))) => Some((path.clone(), adapter.clone())),
        (None, None) => None,
    };
    let features = match feature_file {
        Some((model, adapter)) => {
            let adapter = crate::adapter::Adapter::load(&adapter)?;
            Some(load_fastest(
                &model,
                Some(adapter),
                args.feature_layer.as_deref(),
                &device,
            )?)
        }
        // Not independent of what was trained against, but it still compares generated and
        // real images; a model whose last layer cannot be found leaves FID out.
        None => target_features(&info, &device).unwrap_or_else(|e| {
            eprintln!("note: FID/KID skipped: the run's classifier gives no features ({e:#})");
            None
        }),
    };
    let real = match &args.real {
        Some(spec) => {
            let split = if args.real_split == "train" {
                crate::data::Split::Train
            } else {
                crate::data::Split::Test
            };
            let src = crate::data::DataSource::parse(spec, crate::data::CsvSpec::default())?;
            let mut options = args.real_options.clone();
            if let Some(mel) = sampler.mel()? {
                // WAV folders become features of the run's own front end.
                options.mel = Some(mel.clone());
            }
            Some(src.load(split, &options)?.0)
        }
        None => None,
    };

    let inputs = EvalInputs {
        class_names: info.class_names.clone(),
        unseen: info.unseen_indices.clone(),
        judge: judge.as_ref().map(|(j, _, _)| j as &dyn Classifier),
        judge_name,
        target: target.as_ref().map(|t| t as &dyn Classifier),
        features: features.as_deref(),
        real: real.as_ref(),
        device: device.clone(),
    };
    let opts = EvalOptions {
        samples_per_class: args.n,
        seed: args.seed,
        neighbours: NeighbourSpace::parse(&args.neighbours)?,
        kid: KidOptions {
            seed: args.seed,
            ..EvalOptions::default().kid
        },
        ..Default::default()
    };
    let out_dir = args.out.clone().unwrap_or_else(|| run_dir.join("eval"));
    let sample = |c: usize, n: usize, seed: u64| sampler.sample(c, n, seed);
    let mut report = evaluate(&inputs, &sample, &opts, &out_dir)?;
    report.source = ckpt.display().to_string();
    report.step = step_of(&ckpt);
    if let Some(mel) = sampler.mel()? {
        let inputs = AudioInputs {
            class_names: &info.class_names,
            unseen: &info.unseen_indices,
            mel,
            sample: &sample,
            real: real.as_ref(),
        };
        let opts = AudioEvalOptions {
            seed: args.seed,
            ..Default::default()
        };
        report.audio = Some(evaluate_audio(&inputs, &opts, &out_dir).context("audio evaluation")?);
    }

    if args.select {
        use crate::train::load_discriminator::{load_discriminator, run_trains_du};
        // D_u realism only where the method trained D_u; elsewhere its head is random.
        let with_du = run_trains_du(&info);
        let mut loaded: Vec<(u64, Box<SampleFn>, Option<Box<CriticFn>>)> = vec![];
        for (step, path) in crate::run::list_checkpoints(&run_dir)? {
            let s = crate::train::load_sampler(&path, &device)?;
            let critic: Option<Box<CriticFn>> = if with_du {
                let d = load_discriminator(&path, &device)
                    .with_context(|| format!("loading the discriminator of {}", path.display()))?;
                Some(Box::new(move |x: &candle_core::Tensor| d.du_scores(x)))
            } else {
                None
            };
            loaded.push((
                step as u64,
                Box::new(move |c, n, seed| s.sample(c, n, seed)),
                critic,
            ));
        }
        let candidates: Vec<SelectionCandidate> = loaded
            .iter()
            .map(|(step, s, d)| SelectionCandidate {
                step: *step,
                sample: s.as_ref(),
                du: d.as_deref(),
            })
            .collect();
        report.selection = Some(evaluate_selection_with(&inputs, &candidates, &opts)?);
    }
    if args.leakage {
        let spec = args.real.as_deref().context("--leakage needs --real")?;
        let src = crate::data::DataSource::parse(spec, crate::data::CsvSpec::default())?;
        let opts = crate::data::LoadOptions::default();
        let train = src.load(crate::data::Split::Train, &opts)?.0;
        let test = src.load(crate::data::Split::Test, &opts)?.0;
        let options = LeakageOptions {
            per_class: args.leakage_n,
            seed: args.seed,
            ..LeakageOptions::default()
        };
        let sample = |c: usize, n: usize| sampler.sample(c, n, args.seed ^ 0x1ea7);
        report.leakage = Some(
            leakage_score(
                sample,
                &train,
                &test,
                &info.unseen_indices,
                &options,
                &device,
            )
            .context("leakage score")?,
        );
    }
    report.save(&out_dir.join(EVAL_FILE))?;
    Ok((report, out_dir))
}

/// Pitch per class, generated beside real: the physical judge of an audio run.
fn print_audio(a: &crate::metrics::audio_eval::AudioEval) {
    use crate::metrics::audio_eval::{FEMALE_F0_HZ, MALE_F0_HZ};
    let hz = |f: Option<f32>| {
        f.map(|f| format!("{f:.0} Hz"))
            .unwrap_or_else(|| "—".into())
    };
    println!(
        "{:<16} {:>12} {:>12} {:>10} {:>10} {:>12} {:>12}",
        "pitch", "median F0", "real F0", "male band", "fem. band", "harmonicity", "real harm."
    );
    for c in &a.per_class {
        println!(
            "{:<16} {:>12} {:>12} {:>10} {:>10} {:>12.2} {:>12}{}",
            c.name,
            hz(c.generated.median_f0_hz),
            hz(c.real.as_ref().and_then(|r| r.median_f0_hz)),
            pct(c.f0_in(MALE_F0_HZ).map(f64::from)),
            pct(c.f0_in(FEMALE_F0_HZ).map(f64::from)),
            c.generated.harmonicity,
            c.real
                .as_ref()
                .map(|r| format!("{:.2}", r.harmonicity))
                .unwrap_or_else(|| "—".into()),
            if c.unseen { "  (unseen)" } else { "" }
        );
    }
}

/// The record as `eval` prints it: the per-class table and the overall figures.
pub fn print_summary(report: &EvalReport, out_dir: &Path) {
    if report.substrate.is_some() {
        print_substrate(report, out_dir);
        return;
    }
    println!(
        "evaluated {} ({} samples per class); record: {}",
        report.source,
        report.samples_per_class,
        out_dir.join(EVAL_FILE).display()
    );
    println!(
        "{:<16} {:>8} {:>10} {:>8} {:>10} {:>10}",
        "class", "judge", "judge real", "target", "intra-FID", "diversity"
    );
    for c in &report.classes {
        println!(
            "{:<16} {:>8} {:>10} {:>8} {:>10} {:>10}{}",
            c.name,
            pct(c.judge_recognition),
            pct(c.real_judge_recognition),
            pct(c.target_confidence),
            num(c.intra_fid),
            num(c.diversity.map(|d| d.mean_pairwise_distance)),
            if c.unseen { "  (unseen)" } else { "" }
        );
    }
    let o = &report.overall;
    println!(
        "unseen recognition {}  seen {}  FID {}  KID {}  precision {}  recall {}  density {}  coverage {}  spectrum Δ {}",
        pct(o.unseen_recognition),
        pct(o.seen_recognition),
        num(o.fid),
        o.kid.map(|k| format!("{:.5}±{:.5}", k.mean, k.std)).unwrap_or_else(|| "—".into()),
        num(o.prdc.map(|p| p.precision)),
        num(o.prdc.map(|p| p.recall)),
        num(o.prdc.map(|p| p.density)),
        num(o.prdc.map(|p| p.coverage)),
        num(o.spectral_discrepancy)
    );
    if let Some(a) = &report.audio {
        print_audio(a);
    }
    if let Some(l) = &report.leakage {
        let unseen: Vec<String> = l
            .unseen
            .iter()
            .map(|u| format!("{u} {}", pct(l.generated_accuracy(u))))
            .collect();
        println!(
            "leakage score ({} student, {} per class): trained on generated {} / on real {} overall; unseen {} = {} of the real-trained student's",
            l.arch,
            l.per_class,
            pct(Some(l.generated.accuracy)),
            pct(Some(l.real.accuracy)),
            unseen.join(", "),
            num(l.unseen_relative())
        );
        for u in &l.unseen {
            let taken: Vec<String> = l
                .unseen_taken_for(u)
                .iter()
                .map(|(name, share)| format!("{name} {}", pct(Some(*share))))
                .collect();
            if !taken.is_empty() {
                println!(
                    "  real {u} images the generated-trained student took for: {}",
                    taken.join(", ")
                );
            }
        }
    }
    if let Some(p) = &report.neighbours {
        let nearest: Vec<String> = p
            .rows
            .iter()
            .filter_map(|r| r.neighbours.first().map(|(_, d)| format!("{d:.3}")))
            .collect();
        println!(
            "nearest real neighbours ({} space): {}  (median real-to-real {})",
            p.space.trim_end_matches('s'),
            nearest.join(" "),
            num(p.median_real_nn)
        );
    }
    if let Some(sel) = &report.selection {
        println!(
            "{:>8} {:>12} {:>11} {:>10} {:>8} {:>10}",
            "step", "unseen conf", "D_u realism", "diversity", "score", "intra-FID"
        );
        for (i, c) in sel.checkpoints.iter().enumerate() {
            println!(
                "{:>8} {:>12} {:>11} {:>10} {:>8} {:>10}",
                c.step,
                pct(Some(c.unseen_confidence)),
                num(c.du_realism),
                num(Some(c.diversity)),
                num(sel.selection.as_ref().map(|s| s.scores[i])),
                num(sel
                    .unseen_intra_fid
                    .as_ref()
                    .and_then(|v| v.get(i).copied()))
            );
        }
        if let Some(note) = &sel.du_realism_note {
            println!("{note}");
        }
        if let Some(s) = &sel.selection {
            println!(
                "label-free checkpoint choice: step {}",
                sel.checkpoints[s.chosen].step
            );
        }
        if let Some(a) = &sel.agreement {
            println!(
                "agreement with unseen intra-FID: Spearman {}  regret {:.3}",
                a.spearman
                    .map(|r| format!("{r:.3}"))
                    .unwrap_or_else(|| "undefined".into()),
                a.regret
            );
        }
    }
}
