//! `probegan check MODEL [--adapter A.toml] [--json]`: the pre-flight before a long training.
//! Loads the model, compares a forward pass with tract (and onnxruntime when ORT_DYLIB_PATH
//! is set), checks that the batch is free, and checks input gradients on a few coordinates
//! against central finite differences computed in f64. Prints a PASS/FAIL table; any FAIL is
//! an error (non-zero exit).

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
fn sample_input(
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
    let x2 = sample_input(&model, adapter.as_ref(), 2, 7)?;
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
    match TractRunner::load(path).and_then(|t| t.run(std::slice::from_ref(&input_host))) {
        Ok(theirs) => rows.push(compare("tract", &ours_host, &theirs)),
        Err(e) => rows.push(row(
            "forward vs tract",
            "SKIP",
            format!("tract cannot run it: {e:#}"),
        )),
    }
    if OrtRunner::available() {
        match OrtRunner::load(path, 0).and_then(|o| o.run(std::slice::from_ref(&input_host))) {
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
    rows.extend(gradient_rows(path, &model, &x2.narrow(0, 0, 1)?, coords)?);
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
    let x64 = x.to_dtype(DType::F64)?.to_device(&Device::Cpu)?;
    let out_len = m64.forward(&[x64.clone()])?[0].elem_count();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let wv: Vec<f64> = (0..out_len).map(|_| rng.random_range(-1.0..1.0)).collect();
    let loss = |m: &OnnxModel, x: &Tensor| -> Result<Tensor> {
        let y = m.forward(&[x.clone()])?[0].flatten_all()?;
        let w = Tensor::from_vec(wv.clone(), out_len, y.device())?.to_dtype(y.dtype())?;
        Ok((y * w)?.sum_all()?)
    };
    let xv = candle_core::Var::from_tensor(&x.to_device(model.device())?)?;
    let g = loss(model, xv.as_tensor())?.backward()?;
    let g = g
        .get(xv.as_tensor())
        .context("no gradient reached the input")?
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_device(&Device::Cpu)?
        .to_vec1::<f64>()?;
    let xv64 = candle_core::Var::from_tensor(&x64)?;
    let g64 = loss(&m64, xv64.as_tensor())?.backward()?;
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
    let eps = 1e-4;
    for i in picks {
        let at = |d: f64| -> Result<f64> {
            let mut v = flat.clone();
            v[i] += d;
            let xp = Tensor::from_vec(v, x64.dims(), &Device::Cpu)?;
            Ok(loss(&m64, &xp)?.to_scalar::<f64>()?)
        };
        let fd = (at(eps)? - at(-eps)?) / (2.0 * eps);
        let denom = fd.abs().max(g64[i].abs()).max(1e-3 * gscale).max(1e-12);
        let (e32, e64) = ((g[i] - fd).abs() / denom, (g64[i] - fd).abs() / denom);
        let ok = e32 <= 2e-2 && e64 <= 1e-3;
        rows.push(row(
            &format!("input gradient [{i}]"),
            if ok { "PASS" } else { "FAIL" },
            format!("finite diff {fd:.4e}, analytic f64 {:.4e} (rel err {e64:.1e}), as loaded {:.4e} (rel err {e32:.1e})", g64[i], g[i]),
        ));
    }
    Ok(rows)
}

pub fn run(args: Args) -> Result<()> {
    let resolved = crate::zoo::resolve_model_arg(&args.model)?;
    let device = args.device.device()?;
    let adapter = args.adapter.clone().or(resolved.adapter.clone());
    let rows = run_checks(&resolved.path, adapter.as_deref(), &device, args.coords)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("check {}", resolved.path.display());
        for r in &rows {
            println!("  {:<5} {:<24} {}", r.status, r.check, r.detail);
        }
    }
    let failed = rows.iter().filter(|r| r.status == "FAIL").count();
    if failed > 0 {
        bail!("{failed} check(s) failed for {}", resolved.path.display());
    }
    Ok(())
}
