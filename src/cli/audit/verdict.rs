//! After training: the judge (a given one, the bundled open judge on Fashion-MNIST data, or
//! none, said plainly), the evaluation and report through `eval` and `report`, and the summary
//! with its one-sentence verdict.

use super::target::Target;
use super::{Args, Mode};
use crate::cli::eval;
use crate::data::{DataSource, LoadOptions};
use crate::metrics::evaluation::{EvalReport, EVAL_FILE};
use crate::run::EVAL_DIR;
use anyhow::Result;
use candle_core::Device;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The summary `audit` leaves in the run directory (what `--json` prints).
pub const AUDIT_JSON: &str = "audit.json";
pub const REPORT_HTML: &str = "report.html";

/// The judge: a given one, the bundled open judge when the data and classes are
/// Fashion-MNIST's, the bundled audio judge for clips of its three classes, or none.
fn choose_judge(
    args: &Args,
    source: &DataSource,
    class_names: &[String],
    run_dir: &Path,
) -> Result<Option<(PathBuf, Option<PathBuf>)>> {
    if let Some(j) = &args.judge {
        return Ok(Some((j.clone(), args.judge_adapter.clone())));
    }
    // The voices judge (another architecture and seed; its rate on the user's real clips, in
    // the eval, says whether it suits them) for exactly its classes; the open judge for the
    // first of Fashion-MNIST's classes (its last output, "not a garment", is never a target).
    let (name, exact) = if source.is_audio() {
        ("voices_judge", true)
    } else if matches!(
        source,
        DataSource::Embedded | DataSource::SystemFashionMnist
    ) {
        ("judge_open", false)
    } else {
        return Ok(None);
    };
    let judge = crate::embedded::bundled_adapter(name)?;
    let (n, m) = (class_names.len(), judge.class_names().len());
    let same = (if exact { n == m } else { n < m })
        && class_names
            .iter()
            .zip(judge.class_names())
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    if !same {
        return Ok(None);
    }
    // Written into the run directory, so `eval` and the report read it like any judge file.
    let (model, adapter) = crate::embedded::write_bundled_model(name, &run_dir.join("judge"))?;
    Ok(Some((model, Some(adapter))))
}

/// What the training stage leaves for the summary.
pub(super) struct Trained {
    /// The run's step now, and the steps this command trained.
    pub(super) step: usize,
    pub(super) steps_trained: usize,
    pub(super) seconds: f64,
    pub(super) seconds_per_step: Option<f64>,
    pub(super) unseen: Vec<String>,
    pub(super) collapsed: Vec<String>,
}

/// Evaluate the run (`eval`'s code), write the report and `audit.json`, and print the
/// tables and the verdict (or the JSON summary).
pub(super) fn evaluate_and_report(
    args: &Args,
    target: &Target,
    mode: Mode,
    source: &DataSource,
    real_options: LoadOptions,
    trained: Trained,
    wall: Instant,
    device: &Device,
) -> Result<()> {
    let judge = choose_judge(args, source, target.adapter.class_names(), &args.out)?;
    let eval_args = eval::Args {
        run: Some(args.out.clone()),
        checkpoint: None,
        judge: judge.as_ref().map(|(j, _)| j.clone()),
        judge_adapter: judge.as_ref().and_then(|(_, a)| a.clone()),
        // A substrate run is judged on its held-out substrates, not against class images.
        real: (mode != Mode::Substrate).then(|| args.data.clone()),
        real_split: "test".into(),
        feature_model: None,
        feature_adapter: None,
        feature_layer: None,
        n: args.eval_samples,
        seed: 0,
        select: false,
        neighbours: "feature".into(),
        leakage: false,
        leakage_n: 500,
        out: Some(args.out.join(EVAL_DIR)),
        json: false,
        real_options,
        device: args.device.clone(),
    };
    eprintln!("evaluating {} samples per class", args.eval_samples);
    let (report, eval_dir) = eval::evaluate_run(&eval_args, device)?;
    let report_path = args.out.join(REPORT_HTML);
    crate::report::write_report_with(
        &args.out,
        &report_path,
        &crate::report::ReportOptions { neighbours: None },
    )?;
    let summary = AuditSummary {
        run_dir: args.out.clone(),
        model: args.model.clone(),
        adapter: target.adapter_config.clone(),
        adapter_origin: target.adapter_origin.into(),
        method: args.method.clone(),
        unseen: trained.unseen,
        steps: trained.step,
        steps_trained: trained.steps_trained,
        seconds_per_step: trained.seconds_per_step,
        train_seconds: trained.seconds,
        wall_seconds: wall.elapsed().as_secs_f64(),
        judge: judge.as_ref().map(|_| report.judge.clone()),
        unseen_recognition: report.overall.unseen_recognition,
        seen_recognition: report.overall.seen_recognition,
        unseen_target_confidence: mean(
            report
                .classes
                .iter()
                .filter(|c| c.unseen)
                .filter_map(|c| c.target_confidence),
        ),
        painted_top1: report
            .substrate
            .as_ref()
            .and_then(|s| mean(s.classes.iter().map(|c| c.judge_top1))),
        painted_top5: report
            .substrate
            .as_ref()
            .and_then(|s| mean(s.classes.iter().map(|c| c.judge_top5))),
        fid: report.overall.fid,
        coverage: report.overall.prdc.map(|p| p.coverage),
        collapsed: trained.collapsed,
        eval: eval_dir.join(EVAL_FILE),
        report: report_path,
    };
    crate::run::write_atomic(
        &args.out.join(AUDIT_JSON),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eval::print_summary(&report, &eval_dir);
        println!("{}", verdict(&summary, &report));
        println!(
            "report: {} ({} steps, {:.0} s wall)",
            summary.report.display(),
            summary.steps,
            summary.wall_seconds
        );
    }
    Ok(())
}

/// What `--json` prints and `audit.json` keeps.
#[derive(Debug, serde::Serialize)]
pub struct AuditSummary {
    pub run_dir: PathBuf,
    pub model: String,
    pub adapter: String,
    pub adapter_origin: String,
    pub method: String,
    pub unseen: Vec<String>,
    /// The run's step now, and the steps this command trained.
    pub steps: usize,
    pub steps_trained: usize,
    pub seconds_per_step: Option<f64>,
    pub train_seconds: f64,
    pub wall_seconds: f64,
    pub judge: Option<String>,
    pub unseen_recognition: Option<f64>,
    pub seen_recognition: Option<f64>,
    /// The audited classifier's mean confidence in each unseen class on its samples.
    pub unseen_target_confidence: Option<f64>,
    /// A substrate audit: the judge's top-1 / top-5 on painted held-out substrates, mean
    /// over the painted classes.
    pub painted_top1: Option<f64>,
    pub painted_top5: Option<f64>,
    pub fid: Option<f64>,
    pub coverage: Option<f64>,
    pub collapsed: Vec<String>,
    pub eval: PathBuf,
    pub report: PathBuf,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = v.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// "; on real clips of them: 97%": the judge's rate on the unseen classes' real data, the
/// ceiling its rate on generated ones is read against (empty when the data hold none).
fn real_rate(report: &EvalReport) -> String {
    let rate = mean(
        report
            .classes
            .iter()
            .filter(|c| c.unseen)
            .filter_map(|c| c.real_judge_recognition),
    );
    match rate {
        Some(r) => format!(
            "; on real data of the unseen class: {}",
            crate::report::html::pct(Some(r))
        ),
        None => String::new(),
    }
}

/// One plain sentence on what the evidence says, and what it cannot say.
fn verdict(s: &AuditSummary, report: &EvalReport) -> String {
    let pct = |v: Option<f64>| crate::report::html::pct(v);
    let unseen = if s.unseen.is_empty() {
        "every class".to_string()
    } else {
        s.unseen
            .iter()
            .map(|u| format!("`{u}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let what = if report.audio.is_some() {
        "clips"
    } else {
        "images"
    };
    let mut out = match (&s.judge, &report.substrate) {
        (Some(_), Some(sub)) => format!(
            "verdict: painted onto {} held-out substrates, the independent judge names the painted class first on {} of them and among its top 5 on {} (mean over {} classes; the unpainted substrates: {} top-1 for any painted class)",
            sub.substrates,
            pct(s.painted_top1),
            pct(s.painted_top5),
            sub.classes.len(),
            pct(Some(sub.none.substrate_top1))
        ),
        (Some(_), None) => format!(
            "verdict: the independent judge recognises {} of generated {unseen} {what} (no data for them in training; seen classes: {}{})",
            pct(s.unseen_recognition),
            pct(s.seen_recognition),
            real_rate(report)
        ),
        (None, _) => format!(
            "verdict: no independent judge was available for this data, so these are judge-free figures: \
             the audited classifier's own confidence in {unseen} on its samples is {}, FID in its own features {}. \
             They say whether samples are diverse and convince the classifier, not that another model sees the class \
             (pass --judge J.onnx for that)",
            pct(s.unseen_target_confidence),
            crate::report::html::num(report.overall.fid)
        ),
    };
    if let Some(audio) = &report.audio {
        let pitch = crate::cli::demo_audio::pitch_summary(audio);
        if !pitch.is_empty() {
            out.push_str(&format!(". Pitch, a judge of another kind: {pitch}"));
        }
    }
    if !s.collapsed.is_empty() {
        out.push_str(&format!(
            ". COLLAPSED: {} (a few images repeated: not evidence)",
            s.collapsed.join(", ")
        ));
    }
    out
}
