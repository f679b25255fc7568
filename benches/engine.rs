//! Engine benchmark: forward and forward+backward per batch for (a) a small CNN and (b) a
//! MobileNetV2-style classifier (~6.1 M parameters: depthwise convs, BN, ReLU6, global
//! pooling), both built by `scripts/make_bench_models.py`, against tract and, when
//! `ORT_DYLIB_PATH` is set, onnxruntime — all measured in this one run.
//!
//!   ORT_DYLIB_PATH=$(python3 -c "import onnxruntime,os,glob;print(glob.glob(os.path.dirname(onnxruntime.__file__)+'/capi/libonnxruntime.so*')[0])") \
//!     cargo bench --bench engine
//!
//! Environment: BENCH_MOBILENET_HW (input size, default 160), BENCH_MOBILENET_BATCH (8),
//! BENCH_SMALL_BATCH (64), BENCH_SECONDS (time budget per measurement, default 3),
//! BENCH_MODELS (comma list of `small_cnn`, `mobilenet`; default both), BENCH_PEERS=0 (skip
//! tract and onnxruntime, e.g. under `perf record`), BENCH_FORWARD_ONLY=1 (our forward only),
//! BENCH_LAYERS=1 (per-layer breakdown only), BENCH_NODES=1 (also forward time per op type,
//! convolutions split by kind; fused Conv+Relu/Clip nodes show as `Conv+Clip`).
//! Besides the median ratios, a ratio of fastest calls is printed: on a shared machine it
//! moves less with other load.

use candle_core::{DType, Device, Tensor, Var};
use probegan::onnx::reference::{HostArray, OrtRunner, Reference, TractRunner};
use probegan::onnx::OnnxModel;
use std::path::{Path, PathBuf};
use std::time::Instant;

// As the probegan binary does: glibc malloc's heap trimming makes large-tensor timings swing 2-8x.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Median seconds per call: one warm-up, then repeat until the budget or 20 calls.
fn time(f: impl FnMut()) -> f64 {
    time_stats(f).0
}

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// CPU seconds used so far by all threads of this process (Linux CLOCK_PROCESS_CPUTIME_ID).
fn process_cpu_seconds() -> f64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    let ok = unsafe { clock_gettime(2, &mut ts) } == 0;
    if ok {
        ts.sec as f64 + ts.nsec as f64 * 1e-9
    } else {
        f64::NAN
    }
}

/// (median, fastest, median CPU) seconds per call. On a shared, loaded machine the fastest
/// call and the CPU time (all threads, spinning included) are the steadier figures for
/// comparing two versions of our engine; the ratios use the median wall time.
fn time_stats(mut f: impl FnMut()) -> (f64, f64, f64) {
    f();
    let budget = env_usize("BENCH_SECONDS", 3) as f64;
    let start = Instant::now();
    let (mut v, mut cpu) = (Vec::new(), Vec::new());
    while v.len() < 3 || (start.elapsed().as_secs_f64() < budget && v.len() < 20) {
        let (t, c) = (Instant::now(), process_cpu_seconds());
        f();
        v.push(t.elapsed().as_secs_f64());
        cpu.push(process_cpu_seconds() - c);
    }
    v.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], cpu[cpu.len() / 2])
}

fn model_path(name: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = root.join("tests/data/bench").join(format!("{name}.onnx"));
    if committed.exists() {
        return Some(committed);
    }
    // Large models are generated at bench time, not committed.
    let dir = root.join("target/bench-models");
    let p = dir.join(format!("{name}.onnx"));
    if !p.exists() {
        let ok = std::process::Command::new("python3")
            .arg(root.join("scripts/make_bench_models.py"))
            .arg(&dir)
            .arg(name)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipping {name}: `python3 scripts/make_bench_models.py` failed (needs numpy and onnx)");
            return None;
        }
    }
    Some(p)
}

fn bench(name: &str, path: &Path, shape: [usize; 4]) {
    let dev = Device::Cpu;
    let model = OnnxModel::load(path, &dev).expect("load");
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let x = Tensor::from_vec(data.clone(), &shape, &dev).unwrap();
    let fwd = time_stats(|| {
        let y = model.forward(std::slice::from_ref(&x)).unwrap();
        let _ = y[0].sum_all().unwrap().to_scalar::<f32>().unwrap();
    });
    if std::env::var_os("BENCH_NODES").is_some() {
        node_breakdown(name, path, &model, &x);
    }
    if std::env::var_os("BENCH_FORWARD_ONLY").is_some() {
        println!(
            "{name}: ours forward {:.2} ms (CPU {:.2} ms)",
            fwd.0 * 1e3,
            fwd.2 * 1e3
        );
        return;
    }
    let xv = Var::from_tensor(&x).unwrap();
    let fwd_bwd = time_stats(|| {
        let y = model.forward(&[xv.as_tensor().clone()]).unwrap();
        let g = y[0].sum_all().unwrap().backward().unwrap();
        let _ = g
            .get(xv.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
    });
    let host = [HostArray {
        shape: shape.to_vec(),
        data,
    }];
    let peers = std::env::var("BENCH_PEERS").map_or(true, |v| v != "0");
    let ((fwd, fwd_min, fwd_cpu), (fwd_bwd, fwd_bwd_min, fwd_bwd_cpu)) = (fwd, fwd_bwd);
    let tract = TractRunner::load(path).ok().filter(|_| peers).map(|t| {
        t.run(&host).expect("tract run");
        time(|| {
            t.run(&host).unwrap();
        })
    });
    let ort = if peers && OrtRunner::available() {
        let o = OrtRunner::load(path, 0).expect("onnxruntime load");
        Some(time_stats(|| {
            o.run(&host).unwrap();
        }))
    } else {
        None
    };
    let ms = |s: f64| format!("{:9.2} ms", s * 1e3);
    let ratio = |a: f64, b: Option<f64>| {
        b.map(|b| format!("{:6.2}x", a / b))
            .unwrap_or_else(|| "    n/a".into())
    };
    println!("\n{name}  input {shape:?}  ({})", path.display());
    println!(
        "  ours forward            {}   (fastest {}, CPU {})",
        ms(fwd),
        ms(fwd_min),
        ms(fwd_cpu)
    );
    println!(
        "  ours forward+backward   {}   (fastest {}, CPU {}; backward/forward {:.2})",
        ms(fwd_bwd),
        ms(fwd_bwd_min),
        ms(fwd_bwd_cpu),
        fwd_bwd / fwd
    );
    if let Some(t) = tract {
        println!("  tract forward           {}", ms(t));
    }
    match ort {
        Some(o) => println!(
            "  onnxruntime forward     {}   (fastest {})",
            ms(o.0),
            ms(o.1)
        ),
        None => println!("  onnxruntime forward       (set ORT_DYLIB_PATH to measure)"),
    }
    let (ort_min, ort) = (ort.map(|o| o.1), ort.map(|o| o.0));
    println!(
        "  ratio ours/tract        fwd {}   fwd+bwd {}",
        ratio(fwd, tract),
        ratio(fwd_bwd, tract)
    );
    println!(
        "  ratio ours/onnxruntime  fwd {}   fwd+bwd {}",
        ratio(fwd, ort),
        ratio(fwd_bwd, ort)
    );
    // Fastest call against fastest call: the steadier comparison on a shared, loaded machine.
    println!(
        "  ratio of fastest calls  fwd {}   fwd+bwd {}",
        ratio(fwd_min, ort_min),
        ratio(fwd_bwd_min, ort_min)
    );
}

/// Conv node name -> its kind (`depthwise 3x3 s2`, `1x1`, `3x3 s2`), read from the file, so
/// the per-op-type table splits the convolutions (they are most of the time).
fn conv_kinds(path: &Path) -> std::collections::HashMap<String, String> {
    let bytes = std::fs::read(path).expect("read model");
    let model = probegan::onnx::proto::decode_model(&bytes, "bench model").expect("decode");
    let graph = model.graph.expect("graph");
    let weight_dims: std::collections::HashMap<&str, &[i64]> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t.dims.as_slice()))
        .collect();
    graph
        .node
        .iter()
        .filter(|n| n.op_type == "Conv")
        .map(|n| {
            let attr = |k: &str| n.attribute.iter().find(|a| a.name == k);
            let group = attr("group").map_or(1, |a| a.i);
            let stride = attr("strides").and_then(|a| a.ints.first().copied());
            let k = weight_dims
                .get(n.input[1].as_str())
                .map_or(String::from("?"), |d| format!("{}x{}", d[2], d[3]));
            let mut kind = if group > 1 {
                format!("depthwise {k}")
            } else {
                k
            };
            if let Some(s) = stride.filter(|s| *s > 1) {
                kind += &format!(" s{s}");
            }
            (n.name.clone(), kind)
        })
        .collect()
}

/// Forward wall time per op type (summed over nodes, median of 7 runs per node): which op
/// families a whole model's forward spends its time in. Convs are split by kind.
fn node_breakdown(name: &str, path: &Path, model: &OnnxModel, x: &Tensor) {
    let kinds = conv_kinds(path);
    let runs: Vec<Vec<(String, f64)>> = (0..8)
        .map(|_| {
            model
                .forward_timed(std::slice::from_ref(x))
                .expect("forward")
                .1
        })
        .skip(1)
        .collect();
    let mut by_type: std::collections::BTreeMap<String, (usize, f64)> = Default::default();
    for (i, (label, _)) in runs[0].iter().enumerate() {
        let mut t: Vec<f64> = runs.iter().map(|r| r[i].1).collect();
        t.sort_by(f64::total_cmp);
        let op = label
            .rsplit_once('(')
            .map_or(label.as_str(), |(_, o)| o.trim_end_matches(')'));
        let node = label.split('\'').nth(1).unwrap_or("");
        let key = match kinds.get(node) {
            Some(k) if op.starts_with("Conv") => format!("{op} [{k}]"),
            _ => op.to_string(),
        };
        let e = by_type.entry(key).or_default();
        e.0 += 1;
        e.1 += t[t.len() / 2];
    }
    let total: f64 = by_type.values().map(|v| v.1).sum();
    println!(
        "\n{name}: forward time per op type (sum of per-node medians, {:.2} ms)",
        total * 1e3
    );
    let mut rows: Vec<_> = by_type.into_iter().collect();
    rows.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    for (op, (count, t)) in rows {
        println!(
            "  {op:<36} {count:4} nodes {:9.2} ms {:5.1}%",
            t * 1e3,
            100.0 * t / total
        );
    }
}

/// Per-layer timings on MobileNet-sized tensors, to say what limits the whole-model numbers.
fn layer_breakdown() {
    use probegan::onnx::builder::{attr_int, attr_ints, GraphBuilder};
    let dev = Device::Cpu;
    let (n, c, hw) = (8usize, 192usize, 40usize);
    let layers: Vec<(&str, GraphBuilder)> = vec![
        ("depthwise conv 3x3 (192 ch)", {
            let mut g = GraphBuilder::new(13);
            g.input("x", &[-1, c as i64, hw as i64, hw as i64])
                .init_f32("w", &[c as i64, 1, 3, 3], vec![0.1; c * 9]);
            g.node(
                "Conv",
                &["x", "w"],
                &["y"],
                vec![
                    attr_int("group", c as i64),
                    attr_ints("pads", &[1, 1, 1, 1]),
                ],
            );
            g.output("y");
            g
        }),
        ("pointwise conv 1x1 (192->64)", {
            let mut g = GraphBuilder::new(13);
            g.input("x", &[-1, c as i64, hw as i64, hw as i64])
                .init_f32("w", &[64, c as i64, 1, 1], vec![0.01; c * 64]);
            g.node("Conv", &["x", "w"], &["y"], vec![]);
            g.output("y");
            g
        }),
        ("Relu (elementwise floor)", {
            let mut g = GraphBuilder::new(13);
            g.input("x", &[-1, c as i64, hw as i64, hw as i64]);
            g.node("Relu", &["x"], &["y"], vec![]);
            g.output("y");
            g
        }),
        ("Clip 0..6 (ReLU6)", {
            let mut g = GraphBuilder::new(13);
            g.input("x", &[-1, c as i64, hw as i64, hw as i64])
                .init_f32("lo", &[], vec![0.0])
                .init_f32("hi", &[], vec![6.0]);
            g.node("Clip", &["x", "lo", "hi"], &["y"], vec![]);
            g.output("y");
            g
        }),
    ];
    println!("\nper-layer breakdown, input [{n}, {c}, {hw}, {hw}]");
    let x = Tensor::ones((n, c, hw, hw), DType::F32, &dev).unwrap();
    let xv = Var::from_tensor(&x).unwrap();
    for (name, g) in layers {
        let m = OnnxModel::from_bytes(&g.to_bytes(), name, &dev).unwrap();
        let f = time_stats(|| {
            let _ = m.forward(std::slice::from_ref(&x)).unwrap()[0]
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
        });
        let fb = time_stats(|| {
            let y = m.forward(&[xv.as_tensor().clone()]).unwrap();
            let gr = y[0].sum_all().unwrap().backward().unwrap();
            let _ = gr
                .get(xv.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
        });
        println!(
            "  {name:<30} forward {:7.2} ms (min {:6.2}, CPU {:6.2})   forward+backward {:7.2} ms (min {:6.2}, CPU {:6.2})",
            f.0 * 1e3,
            f.1 * 1e3,
            f.2 * 1e3,
            fb.0 * 1e3,
            fb.1 * 1e3,
            fb.2 * 1e3
        );
    }
}

fn main() {
    probegan::init();
    if std::env::var_os("BENCH_MIMALLOC_PURGE").is_none() {
        probegan::allocator::keep_freed_memory_mapped();
    }
    if std::env::var_os("BENCH_LAYERS").is_some() {
        layer_breakdown();
        return;
    }
    let _ = DType::F32;
    println!(
        "engine benchmark ({} CPU threads)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let wanted = |name: &str| {
        std::env::var("BENCH_MODELS").map_or(true, |v| v.split(',').any(|m| m.trim() == name))
    };
    if let Some(p) = Some("small_cnn").filter(|m| wanted(m)).and_then(model_path) {
        let b = env_usize("BENCH_SMALL_BATCH", 64);
        bench("small_cnn", &p, [b, 3, 32, 32]);
    }
    if let Some(p) = Some("mobilenet").filter(|m| wanted(m)).and_then(model_path) {
        let (b, hw) = (
            env_usize("BENCH_MOBILENET_BATCH", 8),
            env_usize("BENCH_MOBILENET_HW", 160),
        );
        bench("mobilenet_v2_1.4 (6.16 M params)", &p, [b, 3, hw, hw]);
    }
}
