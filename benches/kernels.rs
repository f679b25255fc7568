//! Kernel benchmark (issue 7): each GAN layer of the table, batch 64, f32, forward and
//! forward + backward (w.r.t. input and weights), median ms, for
//!   * ours:   `probegan::kernels` (CPU custom ops),
//!   * candle: candle 0.11.1's stock ops,
//!   * torch:  PyTorch eager via `bench/kernels_torch.py`, when `python3 -c 'import torch'` works,
//! all in this one run, row by row (the three peers of a row run back to back, so machine load
//! hits them alike). Ratios are ours / peer (below 1 = ours faster).
//!
//!   RAYON_NUM_THREADS=2 nice -n -5 cargo bench --bench kernels
//!
//! Environment: BENCH_SECONDS (budget per measurement, default 1.5), BENCH_ROWS (comma list),
//! BENCH_NO_CANDLE=1 (skip the slow stock column), BENCH_NO_TORCH=1,
//! BENCH_ALLOC=glibc (run with glibc malloc instead of mimalloc; see the allocator section).

use candle_core::{DType, Device, Result, Tensor, Var};
use probegan::kernels::{self, Conv2dSpec, ConvTranspose2dSpec, Pad2d};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

// ---------- allocator: mimalloc (as the binary) or glibc, chosen before the first allocation ----------

/// Dispatches to mimalloc or the system allocator. The choice is read once, with libc's
/// `getenv` (which does not allocate), on the first allocation and never changes, so every
/// block is freed by the allocator that made it.
struct Switch;
static CHOICE: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 mimalloc, 2 system

extern "C" {
    fn getenv(name: *const std::ffi::c_char) -> *const std::ffi::c_char;
}

fn use_system() -> bool {
    let mut c = CHOICE.load(Ordering::Relaxed);
    if c == 0 {
        // SAFETY: NUL-terminated literal; getenv returns NULL or a C string.
        let v = unsafe { getenv(c"BENCH_ALLOC".as_ptr()) };
        let glibc = !v.is_null() && unsafe { std::ffi::CStr::from_ptr(v) }.to_bytes() == b"glibc";
        c = if glibc { 2 } else { 1 };
        CHOICE.store(c, Ordering::Relaxed);
    }
    c == 2
}

unsafe impl GlobalAlloc for Switch {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if use_system() {
            System.alloc(l)
        } else {
            mimalloc::MiMalloc.alloc(l)
        }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if use_system() {
            System.dealloc(p, l)
        } else {
            mimalloc::MiMalloc.dealloc(p, l)
        }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if use_system() {
            System.alloc_zeroed(l)
        } else {
            mimalloc::MiMalloc.alloc_zeroed(l)
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if use_system() {
            System.realloc(p, l, n)
        } else {
            mimalloc::MiMalloc.realloc(p, l, n)
        }
    }
}

#[global_allocator]
static GLOBAL: Switch = Switch;

// ---------- timing ----------

fn env_f64(k: &str, d: f64) -> f64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Median ms per call: one warm-up, then at least 5 calls, more while within the budget.
fn median_ms(mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let budget = env_f64("BENCH_SECONDS", 1.5);
    let start = Instant::now();
    let mut v = Vec::new();
    while v.len() < 5 || (start.elapsed().as_secs_f64() < budget && v.len() < 50) {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Ok(v[v.len() / 2])
}

// ---------- the rows ----------

const N: usize = 64;

fn randn(shape: &[usize], scale: f64) -> Result<Tensor> {
    Tensor::randn(0f32, 1f32, shape, &Device::Cpu)? * scale
}

type Layer = Box<dyn Fn(&[Tensor]) -> Result<Tensor>>;

/// One table row: inputs (all differentiated) and the layer as ours / candle's stock ops.
struct Row {
    name: &'static str,
    label: &'static str,
    inputs: Vec<Tensor>,
    ours: Layer,
    stock: Layer,
}

/// Leaky ReLU from stock ops, as PyTorch's column writes it (`torch.maximum(x, 0.2x)`); ours
/// is the fused `kernels::leaky_relu`.
fn lrelu(x: &Tensor) -> Result<Tensor> {
    x.maximum(&(x * 0.2)?)
}

fn stock_bias(y: Tensor, b: &Tensor) -> Result<Tensor> {
    y.broadcast_add(&b.reshape((1, (), 1, 1))?)
}

fn conv_row(
    name: &'static str,
    label: &'static str,
    c: usize,
    o: usize,
    hw: usize,
    k: usize,
    pad: usize,
) -> Result<Row> {
    let spec = Conv2dSpec {
        padding: Pad2d::same(pad),
        ..Default::default()
    };
    Ok(Row {
        name,
        label,
        inputs: vec![
            randn(&[N, c, hw, hw], 1.0)?,
            randn(&[o, c, k, k], 0.05)?,
            randn(&[o], 1.0)?,
        ],
        ours: Box::new(move |t| kernels::conv2d(&t[0], &t[1], Some(&t[2]), &spec)),
        stock: Box::new(move |t| stock_bias(t[0].conv2d(&t[1], pad, 1, 1, 1)?, &t[2])),
    })
}

fn rows() -> Result<Vec<Row>> {
    let mut r = vec![
        conv_row("conv3x3_64_32", "conv 3x3 64->64 @32x32", 64, 64, 32, 3, 1)?,
        conv_row("conv3x3_64_16", "conv 3x3 64->64 @16x16", 64, 64, 16, 3, 1)?,
        conv_row("conv3x3_128_8", "conv 3x3 128->128 @8x8", 128, 128, 8, 3, 1)?,
        conv_row("conv1x1_64_32", "conv 1x1 64->64 @32x32", 64, 64, 32, 1, 0)?,
    ];
    let tspec = ConvTranspose2dSpec {
        stride: (2, 2),
        padding: Pad2d::same(1),
        ..Default::default()
    };
    r.push(Row {
        name: "convT4x4s2_128_64_8",
        label: "conv-T 4x4 s2 128->64 8->16",
        inputs: vec![
            randn(&[N, 128, 8, 8], 1.0)?,
            randn(&[128, 64, 4, 4], 0.05)?,
            randn(&[64], 1.0)?,
        ],
        ours: Box::new(move |t| kernels::conv_transpose2d(&t[0], &t[1], Some(&t[2]), &tspec)),
        stock: Box::new(|t| stock_bias(t[0].conv_transpose2d(&t[1], 1, 0, 2, 1)?, &t[2])),
    });
    let spec1 = Conv2dSpec {
        padding: Pad2d::same(1),
        ..Default::default()
    };
    r.push(Row {
        name: "up2_conv3x3_64_16",
        label: "nearest x2 + conv 3x3 64 16->32",
        inputs: vec![
            randn(&[N, 64, 16, 16], 1.0)?,
            randn(&[64, 64, 3, 3], 0.05)?,
            randn(&[64], 1.0)?,
        ],
        ours: Box::new(move |t| {
            kernels::conv2d(
                &kernels::upsample_nearest2d(&t[0], 2, 2)?,
                &t[1],
                Some(&t[2]),
                &spec1,
            )
        }),
        stock: Box::new(|t| {
            stock_bias(
                t[0].upsample_nearest2d(32, 32)?.conv2d(&t[1], 1, 1, 1, 1)?,
                &t[2],
            )
        }),
    });
    r.push(Row {
        name: "batchnorm_train_64_32",
        label: "batch norm train 64ch @32x32",
        inputs: vec![
            randn(&[N, 64, 32, 32], 1.0)?,
            randn(&[64], 1.0)?,
            randn(&[64], 1.0)?,
        ],
        ours: Box::new(|t| Ok(kernels::batch_norm_train(&t[0], Some(&t[1]), Some(&t[2]), 1e-5)?.0)),
        stock: Box::new(|t| {
            // The broadcast-op formulation a candle user writes.
            let (x, g, b) = (
                &t[0],
                t[1].reshape((1, (), 1, 1))?,
                t[2].reshape((1, (), 1, 1))?,
            );
            let mean = x.mean_keepdim(0)?.mean_keepdim(2)?.mean_keepdim(3)?;
            let xc = x.broadcast_sub(&mean)?;
            let var = xc
                .sqr()?
                .mean_keepdim(0)?
                .mean_keepdim(2)?
                .mean_keepdim(3)?;
            xc.broadcast_div(&(var + 1e-5)?.sqrt()?)?
                .broadcast_mul(&g)?
                .broadcast_add(&b)
        }),
    });
    let s2 = Conv2dSpec {
        stride: (2, 2),
        padding: Pad2d::same(1),
        ..Default::default()
    };
    let disc = move |t: &[Tensor], stock: bool| -> Result<Tensor> {
        let mut h = t[0].clone();
        for i in 0..3 {
            h = if stock {
                lrelu(&stock_bias(h.conv2d(&t[1 + i], 1, 2, 1, 1)?, &t[4 + i])?)?
            } else {
                kernels::leaky_relu(&kernels::conv2d(&h, &t[1 + i], Some(&t[4 + i]), &s2)?, 0.2)?
            };
        }
        h.flatten_from(1)?.matmul(&t[7].t()?)?.broadcast_add(&t[8])
    };
    r.push(Row {
        name: "small_discriminator",
        label: "small D (3 convs 4x4 s2 + linear)",
        inputs: vec![
            randn(&[N, 1, 32, 32], 1.0)?,
            randn(&[64, 1, 4, 4], 0.1)?,
            randn(&[128, 64, 4, 4], 0.05)?,
            randn(&[256, 128, 4, 4], 0.05)?,
            randn(&[64], 1.0)?,
            randn(&[128], 1.0)?,
            randn(&[256], 1.0)?,
            randn(&[1, 256 * 4 * 4], 0.01)?,
            randn(&[1], 1.0)?,
        ],
        ours: Box::new(move |t| disc(t, false)),
        stock: Box::new(move |t| disc(t, true)),
    });
    Ok(r)
}

/// (forward ms, forward+backward ms) of one implementation of a row.
fn measure(inputs: &[Tensor], f: &Layer) -> Result<(f64, f64)> {
    let fwd = median_ms(|| f(inputs).map(|_| ()))?;
    let vars: Vec<Var> = inputs.iter().map(Var::from_tensor).collect::<Result<_>>()?;
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let fb = median_ms(|| {
        let g = f(&ts)?.sum_all()?.backward()?;
        // Touch every gradient so none is skipped.
        for t in &ts {
            g.get(t)
                .ok_or_else(|| candle_core::Error::Msg("missing gradient".into()))?;
        }
        Ok(())
    })?;
    Ok((fwd, fb))
}

/// PyTorch's numbers for one row, or why there are none.
fn torch_row(name: &str, threads: usize) -> std::result::Result<(f64, f64), String> {
    if std::env::var("BENCH_NO_TORCH").is_ok() {
        return Err("BENCH_NO_TORCH set".into());
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/kernels_torch.py");
    let out = std::process::Command::new("python3")
        .args([
            script,
            "--threads",
            &threads.to_string(),
            "--rows",
            name,
            "--seconds",
            &env_f64("BENCH_SECONDS", 1.5).to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "kernels_torch.py failed: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("bad JSON from kernels_torch.py: {e}"))?;
    let r = &v["rows"][name];
    match (r["fwd"].as_f64(), r["fwd_bwd"].as_f64()) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(format!("row {name} missing in kernels_torch.py output")),
    }
}

fn main() -> Result<()> {
    let threads = rayon::current_num_threads();
    let alloc = if use_system() {
        "glibc malloc"
    } else {
        "mimalloc"
    };
    let wanted: Vec<String> = std::env::var("BENCH_ROWS")
        .map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let no_candle = std::env::var("BENCH_NO_CANDLE").is_ok();
    let torch_ok = std::env::var("BENCH_NO_TORCH").is_err()
        && std::process::Command::new("python3")
            .args(["-c", "import torch"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    println!("kernels benchmark: batch {N}, f32, {threads} rayon threads, allocator {alloc}; median ms fwd / fwd+bwd");
    if std::env::var("BENCH_NO_TORCH").is_ok() {
        println!("note: BENCH_NO_TORCH set: the PyTorch column is skipped");
    } else if !torch_ok {
        println!("note: `python3 -c 'import torch'` fails: the PyTorch column is skipped");
    }
    println!(
        "{:<34} {:>17} {:>17} {:>17} {:>13} {:>13}",
        "layer", "ours", "candle", "torch", "ours/candle", "ours/torch"
    );
    let mut json = BTreeMap::new();
    for row in rows()? {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == row.name) {
            continue;
        }
        let torch = if torch_ok {
            torch_row(row.name, threads)
        } else {
            Err("no torch".into())
        };
        let ours = measure(&row.inputs, &row.ours)?;
        let stock = if no_candle {
            None
        } else {
            Some(measure(&row.inputs, &row.stock)?)
        };
        let cell = |v: Option<(f64, f64)>| {
            v.map(|(a, b)| format!("{a:7.2} /{b:7.2}"))
                .unwrap_or_else(|| "-".into())
        };
        let ratio = |v: Option<(f64, f64)>| {
            v.map(|(a, b)| format!("{:5.2} /{:5.2}", ours.0 / a, ours.1 / b))
                .unwrap_or_else(|| "-".into())
        };
        if let Err(e) = &torch {
            if torch_ok && std::env::var("BENCH_NO_TORCH").is_err() {
                println!("note: {}: torch column skipped: {e}", row.name);
            }
        }
        let t = torch.ok();
        println!(
            "{:<34} {:>17} {:>17} {:>17} {:>13} {:>13}",
            row.label,
            cell(Some(ours)),
            cell(stock),
            cell(t),
            ratio(stock),
            ratio(t)
        );
        json.insert(
            row.name,
            serde_json::json!({"ours": ours, "candle": stock, "torch": t}),
        );
    }
    if let Ok(path) = std::env::var("BENCH_JSON") {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&json).unwrap_or_default(),
        )
        .map_err(candle_core::Error::wrap)?;
    }
    let _ = DType::F32;
    Ok(())
}
