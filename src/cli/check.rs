//! `probegan check MODEL [--adapter A.toml] [--json]`: the pre-flight before a long training.
//! Loads the model, compares a forward pass with tract (and onnxruntime when ORT_DYLIB_PATH
//! is set) at the batch the model declares, checks that the batch is free (when it is not
//! fixed), and checks input gradients on `--coords` coordinates (half the largest, half
//! random) against finite differences computed in f64. Prints a PASS/FAIL table; any FAIL is
//! an error (non-zero exit).
//!
//! What a gradient PASS guarantees: at that coordinate, some central difference (ε from 1e-3
//! down to 1e-6, the closest one) agrees with the engine's analytic gradient to 1e-3 relative in
//! f64 and 2e-2 as loaded; relative errors are taken against at least 1e-3 (f64) or 1e-2 (as
//! loaded, in f32) of the input's largest gradient, and gaps below 1e-9 of the loss agree. "PASS (kink)" means no step agrees because a ReLU-family kink
//! lies within 1e-6 of the point, and the analytic value lies between the one-sided slopes
//! there (a subgradient, what training uses). Where the loss does not move at all along a
//! coordinate, the analytic value must be below 1e-6 of the differences at the coordinates where
//! it moves; when it moves nowhere (constant or placeholder weights) the rows SKIP. References
//! run at the batch the file fixes, one slice at a time. A wrong backward pass fails at any coordinate it
//! touches; coordinates it does not touch cannot show it.

use crate::device::DeviceArgs;
use crate::onnx::reference::{HostArray, OrtRunner, Reference, TractRunner};
use crate::onnx::{Dim, OnnxModel};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX file or zoo name.
    pub model: String,
    /// Adapter TOML; gives the input format when the model leaves it open.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Number of input coordinates whose gradient is checked.
    #[arg(long, default_value_t = 4)]
    pub coords: usize,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckRow {
    pub check: String,
    pub status: String,
    pub detail: String,
}

fn row(check: &str, status: &str, detail: impl Into<String>) -> CheckRow {
    CheckRow {
        check: check.into(),
        status: status.into(),
        detail: detail.into(),
    }
}

/// A representative input for `model`, batch `n`: through the adapter from random generator
/// space when there is one, otherwise uniform 0..1 in the declared shape.
pub(crate) fn sample_input(
    model: &OnnxModel,
    adapter: Option<&crate::adapter::Adapter>,
    n: usize,
    seed: u64,
) -> Result<Tensor> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    if let Some(a) = adapter {
        let s = a.input();
        let len = n * s.channels * s.height * s.width;
        let v: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
        let x = Tensor::from_vec(v, (n, s.channels, s.height, s.width), &Device::Cpu)?;
        return a.generator_to_input(&x);
    }
    let input = model.inputs().first().context("the model has no inputs")?;
    let mut shape = Vec::new();
    for (i, d) in input.dims.iter().enumerate() {
        match d {
            _ if i == 0 => shape.push(n),
            Dim::Fixed(k) => shape.push(*k),
            Dim::Free(s) => bail!(
                "input '{}' has a free dimension '{s}'; pass --adapter to fix the input size",
                input.name
            ),
        }
    }
    if shape.is_empty() {
        bail!("input '{}' declares no shape; pass --adapter", input.name);
    }
    let len: usize = shape.iter().product();
    let v: Vec<f32> = (0..len).map(|_| rng.random_range(0.0..1.0)).collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// The batch a model fixes in its first input's first dimension (None when free).
pub(crate) fn declared_batch(model: &OnnxModel) -> Option<usize> {
    match model.inputs().first()?.dims.first()? {
        Dim::Fixed(k) => Some(*k),
        Dim::Free(_) => None,
    }
}

/// Runs a reference runtime on `input` in slices of the batch the file fixes (a file that
/// declares batch 1 is fed one sample at a time; this engine frees that batch, other runtimes
/// do not) and stacks the outputs back into one batch.
fn in_file_batches(
    input: &HostArray,
    file_batch: Option<usize>,
    run: impl Fn(&[HostArray]) -> Result<Vec<HostArray>>,
) -> Result<Vec<HostArray>> {
    let n = input.shape.first().copied().unwrap_or(1);
    let k = match file_batch {
        Some(k) if k > 0 && k != n && n % k == 0 => k,
        _ => return run(std::slice::from_ref(input)),
    };
    let per_sample = input.data.len() / n;
    let mut stacked: Vec<HostArray> = vec![];
    for chunk in input.data.chunks(k * per_sample) {
        let mut shape = input.shape.clone();
        shape[0] = k;
        let outs = run(&[HostArray {
            shape,
            data: chunk.to_vec(),
        }])?;
        if stacked.is_empty() {
            stacked = outs;
        } else {
            for (acc, o) in stacked.iter_mut().zip(outs) {
                acc.shape[0] += o.shape.first().copied().unwrap_or(1);
                acc.data.extend(o.data);
            }
        }
    }
    Ok(stacked)
}

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

fn compare(name: &str, ours: &[HostArray], theirs: &[HostArray]) -> CheckRow {
    let check = format!("forward vs {name}");
    let (Some(a), Some(b)) = (ours.first(), theirs.first()) else {
        return row(&check, "FAIL", "no outputs");
    };
    if a.shape != b.shape {
        return row(
            &check,
            "FAIL",
            format!("shape {:?} vs {:?}", a.shape, b.shape),
        );
    }
    let diff = a
        .data
        .iter()
        .zip(&b.data)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    let scale = max_abs(&b.data).max(1.0);
    let ok = diff <= 1e-3 * scale && diff.is_finite();
    row(
        &check,
        if ok { "PASS" } else { "FAIL" },
        format!("max |diff| {diff:.2e} (output scale {scale:.2e}, tolerance 1e-3 x scale)"),
    )
}

pub fn run_checks(
    path: &Path,
    adapter_path: Option<&Path>,
    device: &Device,
    coords: usize,
) -> Result<Vec<CheckRow>> {
    let mut rows = Vec::new();
    let model = match OnnxModel::load(path, device) {
        Ok(m) => {
            let (steps, folded) = m.step_counts();
            rows.push(row(
                "load",
                "PASS",
                format!("{steps} steps, {folded} folded; {}", m.notes().join("; ")),
            ));
            m
        }
        Err(e) => {
            rows.push(row("load", "FAIL", format!("{e:#}")));
            return Ok(rows);
        }
    };
    let adapter = match adapter_path {
        Some(p) => {
            let a = crate::adapter::Adapter::load(p)?;
            match a.validate_against(&model) {
                Ok(()) => rows.push(row("adapter", "PASS", p.display().to_string())),
                Err(e) => rows.push(row("adapter", "FAIL", format!("{e:#}"))),
            }
            Some(a)
        }
        None => None,
    };
    // References run at the batch the model declares; a free batch is checked with 2.
    let declared = declared_batch(&model);
    let x2 = sample_input(&model, adapter.as_ref(), declared.unwrap_or(2), 7)?;
    let ours = model.forward(&[x2.to_device(device)?])?;
    let ours_host: Vec<HostArray> = ours
        .iter()
        .map(HostArray::from_tensor)
        .collect::<Result<_>>()?;
    let finite = ours_host
        .iter()
        .all(|a| a.data.iter().all(|v| v.is_finite()));
    rows.push(row(
        "finite outputs",
        if finite { "PASS" } else { "FAIL" },
        format!(
            "output shapes {:?}",
            ours_host
                .iter()
                .map(|a| a.shape.clone())
                .collect::<Vec<_>>()
        ),
    ));
    let input_host = HostArray::from_tensor(&x2)?;
    let file_batch = model.file_batch();
    let tract = TractRunner::load(path);
    match tract.and_then(|t| in_file_batches(&input_host, file_batch, |x| t.run(x))) {
        Ok(theirs) => rows.push(compare("tract", &ours_host, &theirs)),
        Err(e) => rows.push(row(
            "forward vs tract",
            "SKIP",
            format!("tract cannot run it: {e:#}"),
        )),
    }
    if OrtRunner::available() {
        let ort = OrtRunner::load(path, 0);
        match ort.and_then(|o| in_file_batches(&input_host, file_batch, |x| o.run(x))) {
            Ok(theirs) => rows.push(compare("onnxruntime", &ours_host, &theirs)),
            Err(e) => rows.push(row("forward vs onnxruntime", "FAIL", format!("{e:#}"))),
        }
    } else {
        rows.push(row(
            "forward vs onnxruntime",
            "SKIP",
            "set ORT_DYLIB_PATH to compare",
        ));
    }
    // The batch must be free: each sample alone gives the same answer as in the batch.
    if let Some(k) = declared {
        rows.push(row(
            "batch independence",
            "SKIP",
            format!("the model declares a fixed batch of {k}"),
        ));
    } else {
        let single = model.forward(&[x2.narrow(0, 1, 1)?.to_device(device)?])?;
        let a = HostArray::from_tensor(&single[0])?;
        let b = HostArray::from_tensor(&ours[0].narrow(0, 1, 1)?)?;
        let d = a
            .data
            .iter()
            .zip(&b.data)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        let ok = a.shape == b.shape && d <= 1e-4 * max_abs(&b.data).max(1.0);
        rows.push(row(
            "batch independence",
            if ok { "PASS" } else { "FAIL" },
            format!("sample 1 alone vs in a batch of 2: max |diff| {d:.2e}"),
        ));
    }
    let grad_x = match declared {
        Some(_) => x2.clone(),
        None => x2.narrow(0, 0, 1)?,
    };
    rows.extend(gradient_rows(path, &model, &grad_x, coords)?);
    Ok(rows)
}

/// d(sum(w * out))/dx at a few coordinates: analytic (the model as loaded, and in f64) vs
/// central finite differences in f64 on the CPU.
fn gradient_rows(
    path: &Path,
    model: &OnnxModel,
    x: &Tensor,
    coords: usize,
) -> Result<Vec<CheckRow>> {
    let m64 = OnnxModel::load_with(path, &Device::Cpu, DType::F64)?;
    input_gradient_rows(
        &|x| Ok(model.forward(&[x.clone()])?.remove(0)),
        &|x| Ok(m64.forward(&[x.clone()])?.remove(0)),
        x,
        model.device(),
        coords,
    )
}

/// A model's output as a differentiable function of its input.
pub type ModelFn<'a> = dyn Fn(&Tensor) -> Result<Tensor> + 'a;

/// The gradient rows of `check` for any differentiable function: `as_loaded` runs on
/// `device` in the model's own precision, `in_f64` on the CPU in f64 (the finite differences
/// and the exact analytic gradient). `tests/check_gradients.rs` feeds it a real model whose
/// backward is deliberately wrong.
pub fn input_gradient_rows(
    as_loaded: &ModelFn,
    in_f64: &ModelFn,
    x: &Tensor,
    device: &Device,
    coords: usize,
) -> Result<Vec<CheckRow>> {
    let x64 = x.to_dtype(DType::F64)?.to_device(&Device::Cpu)?;
    let out_len = in_f64(&x64)?.elem_count();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let wv: Vec<f64> = (0..out_len).map(|_| rng.random_range(-1.0..1.0)).collect();
    let loss = |f: &ModelFn, x: &Tensor| -> Result<Tensor> {
        let y = f(x)?.flatten_all()?;
        let w = Tensor::from_vec(wv.clone(), out_len, y.device())?.to_dtype(y.dtype())?;
        Ok((y * w)?.sum_all()?)
    };
    let xv = candle_core::Var::from_tensor(&x.to_device(device)?)?;
    let g = loss(as_loaded, xv.as_tensor())?.backward()?;
    let g = g
        .get(xv.as_tensor())
        .context("no gradient reached the input")?
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_device(&Device::Cpu)?
        .to_vec1::<f64>()?;
    let xv64 = candle_core::Var::from_tensor(&x64)?;
    let g64 = loss(in_f64, xv64.as_tensor())?.backward()?;
    let g64 = g64
        .get(xv64.as_tensor())
        .context("no gradient reached the input")?
        .flatten_all()?
        .to_vec1::<f64>()?;
    let gscale = g64.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let flat = x64.flatten_all()?.to_vec1::<f64>()?;
    let mut rows = Vec::new();
    // Coordinates with the largest gradients are the informative ones; add random ones.
    let mut idx: Vec<usize> = (0..flat.len()).collect();
    idx.sort_by(|&a, &b| g64[b].abs().total_cmp(&g64[a].abs()));
    let mut picks: Vec<usize> = idx.iter().take(coords.div_ceil(2)).copied().collect();
    while picks.len() < coords.max(1) {
        picks.push(rng.random_range(0..flat.len()));
    }
    let scale = loss(in_f64, &x64)?.to_scalar::<f64>()?.abs().max(1.0);
    let mut judged = Vec::with_capacity(picks.len());
    for &i in &picks {
        let at = |d: f64| -> Result<f64> {
            let mut v = flat.clone();
            v[i] += d;
            let xp = Tensor::from_vec(v, x64.dims(), &Device::Cpu)?;
            Ok(loss(in_f64, &xp)?.to_scalar::<f64>()?)
        };
        judged.push(judge_gradient(at, g64[i], g[i], gscale, scale)?);
    }
    let analytic: Vec<f64> = picks.iter().map(|&i| g64[i]).collect();
    judge_flat(&mut judged, &analytic);
    for (i, j) in picks.iter().zip(judged) {
        let status = match j.verdict {
            GradientVerdict::Flat => "SKIP",
            _ => j.status(),
        };
        rows.push(row(&format!("input gradient [{i}]"), status, j.detail));
    }
    Ok(rows)
}

/// Settles the coordinates where the loss did not move at all (`GradientVerdict::Flat`). A
/// correct backward gives 0 there, or rounding from a cancelling sum: a softmax over equal
/// logits, say, sums terms as large as a logit's own gradient to exactly 0. So a flat
/// coordinate passes when its analytic value is below FLAT_TOL of how much the loss moves at
/// the coordinates where it does move, and fails above it (a backward that invents gradient).
/// When the loss moves at no checked coordinate the output does not depend on the input at
/// all (constant or placeholder weights): nothing can be checked, and the rows say so (SKIP).
pub fn judge_flat(judged: &mut [JudgedGradient], analytic: &[f64]) {
    let moving = judged
        .iter()
        .filter(|j| j.verdict != GradientVerdict::Flat)
        .fold(0.0f64, |m, j| m.max(j.fd_scale));
    for (j, a) in judged.iter_mut().zip(analytic) {
        if j.verdict != GradientVerdict::Flat {
            continue;
        }
        let note = if moving == 0.0 {
            "the loss moves at no checked coordinate: the output does not depend on the input \
             (constant or placeholder weights?), so gradients cannot be checked"
                .to_string()
        } else if a.abs() <= FLAT_TOL * moving {
            j.verdict = GradientVerdict::Pass;
            format!(
                "rounding: below {FLAT_TOL:.0e} of the largest difference elsewhere ({moving:.3e})"
            )
        } else {
            j.verdict = GradientVerdict::Fail;
            format!(
                "the loss does not move here, but the analytic gradient is {:.1e} of the largest difference elsewhere ({moving:.3e})",
                a.abs() / moving
            )
        };
        j.detail = format!("{}; {note}", j.detail);
    }
}

/// A flat coordinate's analytic gradient may be this fraction of the moving coordinates'
/// differences (f64 rounding in a cancelling sum; a real gradient error is far larger).
const FLAT_TOL: f64 = 1e-6;

/// Central-difference step sizes, largest first. A ReLU-family kink within ε of the point
/// spoils a central difference; a smaller ε steps inside the smooth piece.
const STEPS: [f64; 4] = [1e-3, 1e-4, 1e-5, 1e-6];
/// Relative error allowed for the f64 analytic gradient and for the model as loaded (f32).
const TOL_F64: f64 = 1e-3;
const TOL_LOADED: f64 = 2e-2;
/// Errors below this fraction of the loss's size are rounding, not gradient errors (a central
/// difference in f64 carries ~1e-16 x |loss| / ε of noise).
const ABS_FLOOR: f64 = 1e-9;

/// What the gradient check concluded at one coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradientVerdict {
    /// A central difference agrees with the analytic gradient.
    Pass,
    /// No step size agrees, but the left and right slopes differ (a kink within the smallest
    /// step) and the analytic gradient is one of them or between: a subgradient, which is
    /// what training uses there.
    Kink,
    /// Every difference is exactly 0: the loss does not move at all along this coordinate,
    /// yet the analytic value is not 0. Judged against the other coordinates (`judge_flat`).
    Flat,
    Fail,
}

#[derive(Debug, Clone)]
pub struct JudgedGradient {
    pub verdict: GradientVerdict,
    pub detail: String,
    /// The largest |central difference| tried: how much the loss really moves here.
    pub fd_scale: f64,
}

impl JudgedGradient {
    pub fn status(&self) -> &'static str {
        match self.verdict {
            GradientVerdict::Pass => "PASS",
            GradientVerdict::Kink => "PASS (kink)",
            GradientVerdict::Flat => "FLAT",
            GradientVerdict::Fail => "FAIL",
        }
    }
}

/// Judge one coordinate's analytic gradient (`analytic` in f64, `loaded` as the model was
/// loaded) against finite differences of `loss_at(δ)` = the loss with the coordinate moved by
/// δ. `gscale` is the largest |gradient| over the input (errors are relative to at least 1e-3 of
/// it, so near-zero gradients are judged against the input's scale), `loss_scale` the loss's
/// size (for the absolute floor).
pub fn judge_gradient(
    loss_at: impl Fn(f64) -> Result<f64>,
    analytic: f64,
    loaded: f64,
    gscale: f64,
    loss_scale: f64,
) -> Result<JudgedGradient> {
    let floor = ABS_FLOOR * loss_scale;
    // The f64 gradient is held to 1e-3 of the input's largest gradient at least; the model as
    // loaded computes in f32, whose rounding grows with the largest activations, so its error
    // is measured against 1e-2 of that scale at least.
    let rel_to = |a: f64, b: f64, floor_fraction: f64| {
        (a - b).abs()
            / a.abs()
                .max(b.abs())
                .max(floor_fraction * gscale)
                .max(1e-300)
    };
    let rel = |a: f64, b: f64| rel_to(a, b, 1e-3);
    let rel_loaded = |a: f64, b: f64| rel_to(a, b, 1e-2);
    // Agreement: within `tol` relative, or a gap at rounding level.
    let agree = |a: f64, b: f64, tol: f64| (a - b).abs() <= floor || rel(a, b) <= tol;
    let agree_loaded = |a: f64, b: f64| (a - b).abs() <= floor || rel_loaded(a, b) <= TOL_LOADED;
    let mut tried = vec![];
    let mut fd_scale = 0.0f64;
    // The step whose difference is closest to the f64 gradient; a clear agreement stops early.
    let mut best: Option<(f64, f64, f64)> = None;
    for eps in STEPS {
        let fd = (loss_at(eps)? - loss_at(-eps)?) / (2.0 * eps);
        let e64 = rel(analytic, fd);
        tried.push(format!("ε {eps:.0e}: {fd:.4e}"));
        fd_scale = fd_scale.max(fd.abs());
        if best.is_none_or(|(_, _, e)| e64 < e) {
            best = Some((eps, fd, e64));
        }
        if e64 <= TOL_F64 * 1e-2 {
            break;
        }
    }
    if let Some((eps, fd, e64)) = best {
        if agree(analytic, fd, TOL_F64) && agree_loaded(loaded, fd) {
            let e32 = rel_loaded(loaded, fd);
            return Ok(JudgedGradient {
                fd_scale,
                verdict: GradientVerdict::Pass,
                detail: format!(
                    "finite diff (ε {eps:.0e}) {fd:.4e}, analytic f64 {analytic:.4e} (rel err {e64:.1e}), as loaded {loaded:.4e} (rel err {e32:.1e})"
                ),
            });
        }
    }
    // No step agrees: a kink shows as different one-sided slopes at the smallest step.
    let f0 = loss_at(0.0)?;
    let eps = STEPS[STEPS.len() - 1];
    let right = (loss_at(eps)? - f0) / eps;
    let left = (f0 - loss_at(-eps)?) / eps;
    let (lo, hi) = (left.min(right), left.max(right));
    let slack = TOL_F64 * hi.abs().max(lo.abs()).max(1e-3 * gscale);
    let kink = !agree(left, right, TOL_F64);
    let between = |g: f64, tol: f64| g >= lo - tol - floor && g <= hi + tol + floor;
    let loaded_slack = TOL_LOADED * hi.abs().max(lo.abs()).max(1e-2 * gscale);
    let flat = fd_scale == 0.0 && left == 0.0 && right == 0.0;
    let verdict = if flat {
        GradientVerdict::Flat
    } else if kink && between(analytic, slack) && between(loaded, loaded_slack) {
        GradientVerdict::Kink
    } else {
        GradientVerdict::Fail
    };
    Ok(JudgedGradient {
        fd_scale,
        verdict,
        detail: format!(
            "analytic f64 {analytic:.4e}, as loaded {loaded:.4e}; central differences {}; one-sided slopes left {left:.4e}, right {right:.4e}{}",
            tried.join(", "),
            if verdict == GradientVerdict::Kink {
                " (a kink: the analytic value is a one-sided slope or between them)"
            } else {
                ""
            }
        ),
    })
}

pub fn run(args: Args) -> Result<()> {
    let resolved = crate::zoo::resolve_model_arg(&args.model)?;
    let device = args.device.device()?;
    let adapter = args.adapter.clone().or(resolved.adapter.clone());
    let rows = run_checks(&resolved.path, adapter.as_deref(), &device, args.coords)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{}", table(&resolved.path, &rows));
    }
    let failed = failures(&rows);
    if failed > 0 {
        bail!("{failed} check(s) failed for {}", resolved.path.display());
    }
    Ok(())
}

/// The rows as `check` prints them, under a `check MODEL` line.
pub fn table(path: &Path, rows: &[CheckRow]) -> String {
    let mut out = format!("check {}", path.display());
    for r in rows {
        out.push_str(&format!("\n  {:<5} {:<24} {}", r.status, r.check, r.detail));
    }
    out
}

/// How many rows failed (a kink is a pass).
pub fn failures(rows: &[CheckRow]) -> usize {
    rows.iter().filter(|r| r.status == "FAIL").count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(f: impl Fn(f64) -> f64, analytic: f64, loaded: f64, gscale: f64) -> JudgedGradient {
        judge_gradient(|d| Ok(f(d)), analytic, loaded, gscale, 1.0).unwrap()
    }

    #[test]
    fn a_right_gradient_passes_and_a_wrong_one_fails() {
        let f = |d: f64| 2.0 * (3.0 * (0.4 + d)).sin();
        let g = 6.0 * (1.2f64).cos();
        assert_eq!(
            judge(f, g, g as f32 as f64, 1.0).verdict,
            GradientVerdict::Pass
        );
        // 1% off in f64 (the engine's own maths) fails; so does 5% off as loaded.
        assert_eq!(judge(f, g * 1.01, g, 1.0).verdict, GradientVerdict::Fail);
        assert_eq!(judge(f, g, g * 1.05, 1.0).verdict, GradientVerdict::Fail);
    }

    /// A ReLU-like kink 3e-7 left of the point, inside every step size: no central difference
    /// agrees, the one-sided slopes differ, and the analytic value (the right-hand slope, as a
    /// ReLU's gradient is) is reported as a kink, not a failure; a value outside the slopes
    /// still fails.
    #[test]
    fn a_kink_within_every_step_is_reported_as_such() {
        let f = |d: f64| 2.0 * (d + 3e-7).abs() + d;
        let right_slope = 3.0;
        let j = judge(f, right_slope, right_slope, 3.0);
        assert_eq!(j.verdict, GradientVerdict::Kink, "{}", j.detail);
        assert_eq!(j.status(), "PASS (kink)");
        assert!(j.detail.contains("one-sided"), "{}", j.detail);
        assert_eq!(judge(f, 5.0, 5.0, 5.0).verdict, GradientVerdict::Fail);
        // A kink further away than the smallest step is simply stepped inside of.
        let far = |d: f64| 2.0 * (d + 3e-5).abs() + d;
        assert_eq!(judge(far, 3.0, 3.0, 3.0).verdict, GradientVerdict::Pass);
    }

    /// Near-zero gradients are judged against the input's largest gradient and an absolute
    /// floor, not against themselves: rounding-level noise passes, a real error does not.
    #[test]
    fn near_zero_gradients_use_a_floor() {
        let flat = |_: f64| 0.125;
        assert_eq!(judge(flat, 0.0, 0.0, 0.0).verdict, GradientVerdict::Pass);
        assert_eq!(
            judge(flat, 1e-13, -1e-12, 0.0).verdict,
            GradientVerdict::Pass
        );
        // A loss that does not move at all leaves a larger value to `judge_flat`.
        assert_eq!(judge(flat, 0.01, 0.01, 1.0).verdict, GradientVerdict::Flat);
        // As loaded (f32), a small gradient may carry rounding of the large ones: 1.1e-3 off
        // on 4.7e-2 where the largest gradient is 14 passes; 0.01 off does not.
        let slope = |d: f64| 4.7172e-2 * d;
        assert_eq!(
            judge(slope, 4.7172e-2, 4.828e-2, 14.0).verdict,
            GradientVerdict::Pass
        );
        assert_eq!(
            judge(slope, 4.7172e-2, 5.8e-2, 14.0).verdict,
            GradientVerdict::Fail
        );
    }

    /// Where the loss does not move, the analytic value is judged against how much the loss
    /// moves at the other coordinates: rounding passes, invented gradient fails, and when it
    /// moves nowhere (a constant model) nothing can be judged.
    #[test]
    fn flat_coordinates_are_judged_against_the_moving_ones() {
        let flat = |_: f64| 0.125;
        let slope = |d: f64| 0.125 + 2.0 * d;
        let run = |fs: &[(bool, f64)]| {
            let mut judged: Vec<JudgedGradient> = fs
                .iter()
                .map(|&(moves, a)| {
                    if moves {
                        judge(slope, a, a, 2.0)
                    } else {
                        judge(flat, a, a, 2.0)
                    }
                })
                .collect();
            let analytic: Vec<f64> = fs.iter().map(|f| f.1).collect();
            judge_flat(&mut judged, &analytic);
            judged.into_iter().map(|j| j.verdict).collect::<Vec<_>>()
        };
        use GradientVerdict::*;
        assert_eq!(run(&[(true, 2.0), (false, 1e-9)]), vec![Pass, Pass]);
        assert_eq!(run(&[(true, 2.0), (false, 1e-3)]), vec![Pass, Fail]);
        assert_eq!(run(&[(false, 4.15), (false, 3.3e-6)]), vec![Flat, Flat]);
    }
}
