//! Conv + Relu/Clip fusion: the kernel (`kernels::conv2d_activation`) against the composition
//! it replaces (values and gradients equal, including pre-activations exactly on the clamp
//! bounds), its gradients against central finite differences in f64 to second order; and the
//! load-time rewrite: when it fires (only consumer, constant bounds, every Clip form), when it
//! must not (a second consumer, a graph output, runtime bounds), results against tract and
//! against the same graph left unfused, input gradients against finite differences, and a
//! declared batch of 1 staying free through a fused node.
//!
//! Needs CANDLE_GRAD_DO_NOT_DETACH=1 (set by .cargo/config.toml for cargo test).

use candle_core::{DType, Device, Result, Tensor, Var};
use probegan::kernels::{self, Conv2dSpec, ConvActivation, Pad2d};
use probegan::onnx::builder::{attr_float, attr_int, attr_ints, GraphBuilder};
use probegan::onnx::reference::{HostArray, Reference, TractRunner};
use probegan::onnx::OnnxModel;

mod kernel_support;
mod onnx_support;
use kernel_support::{check_grad, max_abs_diff, rand_t, to_vec};

const INF: f64 = f64::INFINITY;

fn activations() -> Vec<ConvActivation> {
    vec![
        ConvActivation::Relu,
        ConvActivation::Clamp { lo: 0.0, hi: 6.0 },
        ConvActivation::Clamp { lo: -0.5, hi: 0.4 },
        ConvActivation::Clamp { lo: -INF, hi: 0.3 },
        ConvActivation::Clamp { lo: -0.2, hi: INF },
    ]
}

/// (input, weight, spec): depthwise 3×3 at stride 1 and 2 (asymmetric pads), a channel
/// multiplier of 2, a dense 3×3 at stride 2, a 1×1 (plain matrix multiply) and a grouped conv.
fn cases() -> Vec<(Vec<usize>, Vec<usize>, Conv2dSpec)> {
    let spec = |stride, padding, groups| Conv2dSpec {
        stride,
        padding,
        groups,
        ..Default::default()
    };
    let asym = Pad2d {
        top: 0,
        left: 1,
        bottom: 1,
        right: 0,
    };
    vec![
        (
            vec![2, 3, 6, 7],
            vec![3, 1, 3, 3],
            spec((1, 1), Pad2d::same(1), 3),
        ),
        (vec![2, 3, 7, 6], vec![3, 1, 3, 3], spec((2, 2), asym, 3)),
        (
            vec![1, 2, 5, 5],
            vec![4, 1, 3, 3],
            spec((1, 1), Pad2d::same(1), 2),
        ),
        (
            vec![2, 3, 6, 5],
            vec![4, 3, 3, 3],
            spec((2, 2), Pad2d::same(1), 1),
        ),
        (
            vec![2, 4, 3, 5],
            vec![5, 4, 1, 1],
            spec((1, 1), Pad2d::default(), 1),
        ),
        (
            vec![2, 4, 5, 4],
            vec![6, 2, 3, 3],
            spec((1, 1), Pad2d::same(1), 2),
        ),
    ]
}

fn unfused(x: &Tensor, w: &Tensor, b: &Tensor, s: &Conv2dSpec, act: ConvActivation) -> Tensor {
    let y = kernels::conv2d(x, w, Some(b), s).unwrap();
    match act {
        ConvActivation::Relu => kernels::relu(&y).unwrap(),
        ConvActivation::Clamp { lo, hi } => kernels::clamp(&y, Some(lo), Some(hi)).unwrap(),
    }
}

fn run(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    s: &Conv2dSpec,
    act: ConvActivation,
    fused: bool,
) -> Result<Tensor> {
    if fused {
        kernels::conv2d_activation(x, w, Some(b), s, act)
    } else {
        Ok(unfused(x, w, b, s, act))
    }
}

/// `L = sum(act(conv(x, w) + b) · r)`.
fn loss(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    s: &Conv2dSpec,
    act: ConvActivation,
    fused: bool,
) -> Result<Tensor> {
    let y = run(x, w, b, s, act, fused)?;
    (y.clone() * rand_t(y.dims(), 77))?.sum_all()
}

/// `||dL/dx||² + ||dL/dw||² + <dL/dx, r>`: the WGAN-GP shape, through the fused backward.
fn grad_loss(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    s: &Conv2dSpec,
    act: ConvActivation,
    fused: bool,
) -> Result<Tensor> {
    let (xv, wv, bv) = (
        Var::from_tensor(x)?,
        Var::from_tensor(w)?,
        Var::from_tensor(b)?,
    );
    let g = loss(
        xv.as_tensor(),
        wv.as_tensor(),
        bv.as_tensor(),
        s,
        act,
        fused,
    )?
    .backward()?;
    let gx = g.get(xv.as_tensor()).expect("dL/dx");
    let gw = g.get(wv.as_tensor()).expect("dL/dw");
    let r = rand_t(gx.dims(), 5);
    gx.sqr()?.sum_all()? + gw.sqr()?.sum_all()? + (gx * r)?.sum_all()?
}

/// dL/dx, dL/dw, dL/db.
fn grads(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    s: &Conv2dSpec,
    act: ConvActivation,
    fused: bool,
) -> Vec<Tensor> {
    let vs: Vec<Var> = [x, w, b]
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let [xv, wv, bv] = [&vs[0], &vs[1], &vs[2]].map(|v| v.as_tensor());
    let g = loss(xv, wv, bv, s, act, fused).unwrap().backward().unwrap();
    [xv, wv, bv]
        .iter()
        .map(|t| g.get(t).expect("a gradient").clone())
        .collect()
}

#[test]
fn fused_values_and_gradients_equal_the_composition() {
    for (k, (xs, ws, spec)) in cases().into_iter().enumerate() {
        let (x, w, b) = (
            rand_t(&xs, 1 + k as u64),
            rand_t(&ws, 40 + k as u64),
            rand_t(&[ws[0]], 80 + k as u64),
        );
        for act in activations() {
            let want = unfused(&x, &w, &b, &spec, act);
            let got = kernels::conv2d_activation(&x, &w, Some(&b), &spec, act).unwrap();
            assert_eq!(
                max_abs_diff(&got, &want),
                0.0,
                "case {k} {act:?}: values differ"
            );
            // f32 takes the same fused path.
            let f = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
            let got32 =
                kernels::conv2d_activation(&f(&x), &f(&w), Some(&f(&b)), &spec, act).unwrap();
            assert!(max_abs_diff(&got32, &want) < 1e-5, "case {k} {act:?} f32");
            let (gf, gu) = (
                grads(&x, &w, &b, &spec, act, true),
                grads(&x, &w, &b, &spec, act, false),
            );
            for (i, (a, u)) in gf.iter().zip(&gu).enumerate() {
                let d = max_abs_diff(a, u);
                assert!(d < 1e-12, "case {k} {act:?}: gradient {i} differs by {d}");
            }
        }
    }
}

#[test]
fn fused_gradients_match_finite_differences_to_second_order() {
    for (k, (xs, ws, spec)) in cases().into_iter().enumerate() {
        let (x, w, b) = (
            rand_t(&xs, 1 + k as u64),
            rand_t(&ws, 40 + k as u64),
            rand_t(&[ws[0]], 80 + k as u64),
        );
        for act in activations() {
            let ins = [x.clone(), w.clone(), b.clone()];
            check_grad(
                &format!("case {k} {act:?} (first order)"),
                |t| loss(&t[0], &t[1], &t[2], &spec, act, true),
                &ins,
                1e-6,
                1e-6,
            );
            check_grad(
                &format!("case {k} {act:?} (second order)"),
                |t| grad_loss(&t[0], &t[1], &t[2], &spec, act, true),
                &ins,
                1e-6,
                1e-5,
            );
        }
    }
}

/// Pre-activations exactly on 0, on 6 and on a clamp's bounds: the fused mask (read from the
/// output) must block the gradient there just as the composition's (read from the input) does.
#[test]
fn gradient_at_the_clamp_bounds_matches_the_composition() {
    for (k, (xs, ws, spec)) in cases().into_iter().enumerate() {
        // Zero a band of input rows so that some outputs read only zeros: their value is then
        // exactly the bias, set per channel to a bound.
        let mut xv = to_vec(&rand_t(&xs, 3 + k as u64));
        let (h, wd) = (xs[2], xs[3]);
        for (i, v) in xv.iter_mut().enumerate() {
            let r = (i / wd) % h;
            if r < 4 {
                *v = 0.0;
            }
        }
        let x = Tensor::from_vec(xv, xs.as_slice(), &Device::Cpu).unwrap();
        let w = rand_t(&ws, 40 + k as u64);
        for act in activations() {
            let (lo, hi) = match act {
                ConvActivation::Relu => (0.0, INF),
                ConvActivation::Clamp { lo, hi } => (lo, hi),
            };
            let bounds: Vec<f64> = [lo, hi, 0.0]
                .into_iter()
                .filter(|v| v.is_finite())
                .collect();
            let b: Vec<f64> = (0..ws[0]).map(|o| bounds[o % bounds.len()]).collect();
            let b = Tensor::from_vec(b, ws[0], &Device::Cpu).unwrap();
            let y = unfused(&x, &w, &b, &spec, act);
            let on_bound = to_vec(&y).iter().filter(|v| **v == lo || **v == hi).count();
            assert!(on_bound > 0, "case {k} {act:?}: no output on a bound");
            let (gf, gu) = (
                grads(&x, &w, &b, &spec, act, true),
                grads(&x, &w, &b, &spec, act, false),
            );
            for (i, (a, u)) in gf.iter().zip(&gu).enumerate() {
                let d = max_abs_diff(a, u);
                assert!(
                    d < 1e-12,
                    "case {k} {act:?}: gradient {i} differs by {d} at the bounds"
                );
            }
        }
    }
}

/// A frozen classifier's weights and biases are constants: they get no gradient, and the input
/// gradient (a depthwise conv masks it inside its kernel then) equals the composition's, to
/// first order exactly and to second order against finite differences.
#[test]
fn constant_weights_get_no_gradient_and_exact_input_gradients() {
    for (k, (xs, ws, spec)) in cases().into_iter().enumerate() {
        let (x, w, b) = (
            rand_t(&xs, 7 + k as u64),
            rand_t(&ws, 8 + k as u64),
            rand_t(&[ws[0]], 9 + k as u64),
        );
        for act in activations() {
            let xv = Var::from_tensor(&x).unwrap();
            let g = loss(xv.as_tensor(), &w, &b, &spec, act, true)
                .unwrap()
                .backward()
                .unwrap();
            assert!(g.get(&w).is_none() && g.get(&b).is_none());
            let want = &grads(&x, &w, &b, &spec, act, false)[0];
            let d = max_abs_diff(g.get(xv.as_tensor()).unwrap(), want);
            assert!(d < 1e-12, "case {k} {act:?}: input gradient differs by {d}");
            // The gradient-penalty shape through the frozen layer.
            let penalty = |x: &Tensor| -> Result<Tensor> {
                let xv = Var::from_tensor(x)?;
                let gx = loss(xv.as_tensor(), &w, &b, &spec, act, true)?
                    .backward()?
                    .get(xv.as_tensor())
                    .expect("dL/dx")
                    .clone();
                let r = rand_t(gx.dims(), 4);
                gx.sqr()?.sum_all()? + (gx * r)?.sum_all()?
            };
            check_grad(
                &format!("case {k} {act:?} frozen (second order)"),
                |t| penalty(&t[0]),
                std::slice::from_ref(&x),
                1e-6,
                1e-5,
            );
        }
    }
}

#[test]
fn bad_clamp_bounds_are_errors() {
    let (xs, ws, spec) = cases().swap_remove(0);
    let (x, w) = (rand_t(&xs, 1), rand_t(&ws, 2));
    for (lo, hi) in [(1.0, 0.0), (f64::NAN, 1.0)] {
        let r = kernels::conv2d_activation(&x, &w, None, &spec, ConvActivation::Clamp { lo, hi });
        assert!(r.is_err(), "[{lo}, {hi}] accepted");
    }
}

// ---------- the load-time rewrite ----------

fn rand_f32(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    to_vec(&rand_t(&[n], seed))
        .into_iter()
        .map(|v| v as f32 * scale)
        .collect()
}

/// A weight `w{tag}` [o, c, k, k] and bias `b{tag}` [o].
fn conv_params(g: &mut GraphBuilder, tag: &str, o: usize, c: usize, k: usize, seed: u64) {
    g.init_f32(
        &format!("w{tag}"),
        &[o as i64, c as i64, k as i64, k as i64],
        rand_f32(o * c * k * k, seed, 1.5),
    )
    .init_f32(&format!("b{tag}"), &[o as i64], rand_f32(o, seed + 1, 1.0));
}

/// x [N, 4, 7, 7] → 1×1 Conv (4→6) → Clip(0, 0.8) → depthwise 3×3 stride-2 Conv → Relu →
/// 1×1 Conv (6→3). With `expose`, the two activations' inputs are graph outputs too, which
/// must keep both activations unfused: the same graph's unfused twin.
fn block(expose: bool) -> GraphBuilder {
    let mut g = GraphBuilder::new(13);
    g.input("x", &[-1, 4, 7, 7]);
    conv_params(&mut g, "1", 6, 4, 1, 10);
    conv_params(&mut g, "2", 6, 1, 3, 20);
    conv_params(&mut g, "3", 3, 6, 1, 30);
    g.init_f32("lo", &[], vec![0.0])
        .init_f32("hi", &[], vec![0.8]);
    g.node("Conv", &["x", "w1", "b1"], &["c1"], vec![]);
    g.node("Clip", &["c1", "lo", "hi"], &["a1"], vec![]);
    g.node(
        "Conv",
        &["a1", "w2", "b2"],
        &["c2"],
        vec![
            attr_int("group", 6),
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[1, 1, 1, 1]),
        ],
    );
    g.node("Relu", &["c2"], &["a2"], vec![]);
    g.node("Conv", &["a2", "w3", "b3"], &["y"], vec![]);
    g.output("y");
    if expose {
        g.output("c1").output("c2");
    }
    g
}

fn load(g: &GraphBuilder, dtype: DType) -> OnnxModel {
    OnnxModel::from_bytes_with(&g.to_bytes(), "fusion test graph", &Device::Cpu, dtype)
        .expect("load")
}

fn fused_count(m: &OnnxModel) -> usize {
    m.notes()
        .iter()
        .find_map(|n| {
            n.strip_suffix(" Relu/Clip node(s) fused into the preceding Conv")
                .map(|k| k.parse().unwrap())
        })
        .unwrap_or(0)
}

fn tract_outputs(g: &GraphBuilder, x: &Tensor) -> Vec<Vec<f32>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.onnx");
    std::fs::write(&path, g.to_bytes()).unwrap();
    let host = HostArray::from_tensor(&x.to_dtype(DType::F32).unwrap()).unwrap();
    TractRunner::load(&path)
        .unwrap()
        .run(&[host])
        .unwrap()
        .into_iter()
        .map(|a| a.data)
        .collect()
}

fn max_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0, f64::max)
}

/// Forward against tract (f32) and against the unfused twin (f64, exact), and the input
/// gradient against the twin's and against finite differences; returns the fusion count.
fn check_graph(fused: &GraphBuilder, twin: &GraphBuilder, x: &Tensor) -> usize {
    let m = load(fused, DType::F64);
    let t = load(twin, DType::F64);
    let y = &m.forward(std::slice::from_ref(x)).unwrap()[0];
    let yt = &t.forward(std::slice::from_ref(x)).unwrap()[0];
    assert_eq!(max_abs_diff(y, yt), 0.0, "fused and unfused values differ");
    let d = max_diff(&tract_outputs(fused, x)[0], &to_vec(y));
    assert!(d < 1e-4, "fused graph vs tract: {d}");
    let grad = |m: &OnnxModel| {
        let xv = Var::from_tensor(x).unwrap();
        let y = &m.forward(&[xv.as_tensor().clone()]).unwrap()[0];
        let r = rand_t(y.dims(), 3);
        let g = (y * r).unwrap().sum_all().unwrap().backward().unwrap();
        g.get(xv.as_tensor()).unwrap().clone()
    };
    let d = max_abs_diff(&grad(&m), &grad(&t));
    assert!(d < 1e-12, "fused and unfused input gradients differ by {d}");
    let err = onnx_support::grad_error(fused, std::slice::from_ref(x));
    assert!(
        err < 1e-5,
        "fused graph: gradient vs finite differences {err:.2e}"
    );
    fused_count(&m)
}

#[test]
fn conv_clip_and_conv_relu_fuse_and_match_the_unfused_graph() {
    let (fused, twin) = (block(false), block(true));
    let x = rand_t(&[2, 4, 7, 7], 5);
    assert_eq!(check_graph(&fused, &twin, &x), 2);
    assert_eq!(fused_count(&load(&twin, DType::F32)), 0);
    let (m, t) = (load(&fused, DType::F32), load(&twin, DType::F32));
    assert_eq!(m.step_counts().0 + 2, t.step_counts().0);
    // Some pre-activations are clipped at each side, so both masks matter.
    let pre = &t.forward(&[x.to_dtype(DType::F32).unwrap()]).unwrap()[1];
    let v = to_vec(pre);
    assert!(v.iter().any(|p| *p < 0.0) && v.iter().any(|p| *p > 0.8));
}

/// x → Conv → {Clip, and a second reader}: the conv output must stay materialised.
#[test]
fn no_fusion_when_the_conv_output_has_another_consumer_or_is_a_graph_output() {
    for second in ["Add", "output"] {
        let mut g = GraphBuilder::new(13);
        g.input("x", &[-1, 3, 5, 5]);
        conv_params(&mut g, "", 3, 3, 3, 40);
        g.init_f32("lo", &[], vec![0.0])
            .init_f32("hi", &[], vec![0.5]);
        g.node(
            "Conv",
            &["x", "w", "b"],
            &["c"],
            vec![attr_ints("pads", &[1, 1, 1, 1])],
        );
        g.node("Clip", &["c", "lo", "hi"], &["a"], vec![]);
        if second == "Add" {
            g.node("Add", &["a", "c"], &["y"], vec![]);
            g.output("y");
        } else {
            g.output("a").output("c");
        }
        let m = load(&g, DType::F64);
        assert_eq!(
            fused_count(&m),
            0,
            "fused despite a second reader ({second})"
        );
        let x = rand_t(&[2, 3, 5, 5], 6);
        let outs = m.forward(std::slice::from_ref(&x)).unwrap();
        for (o, want) in outs.iter().zip(tract_outputs(&g, &x)) {
            assert!(max_diff(&want, &to_vec(o)) < 1e-4, "{second}: vs tract");
        }
        let err = onnx_support::grad_error(&g, std::slice::from_ref(&x));
        assert!(
            err < 1e-5,
            "{second}: gradient vs finite differences {err:.2e}"
        );
    }
}

/// A single Conv → Clip graph in one Clip form; `expose` makes the unfused twin.
fn clip_graph(opset: i64, form: &str, expose: bool) -> GraphBuilder {
    let mut g = GraphBuilder::new(opset);
    g.input("x", &[-1, 2, 6, 6]);
    conv_params(&mut g, "", 4, 1, 3, 50);
    let conv_attrs = vec![
        attr_int("group", 2),
        attr_ints("pads", &[1, 0, 1, 2]),
        attr_ints("strides", &[1, 2]),
    ];
    g.node("Conv", &["x", "w", "b"], &["c"], conv_attrs);
    match form {
        "attributes" => {
            g.node(
                "Clip",
                &["c"],
                &["y"],
                vec![attr_float("min", -0.3), attr_float("max", 0.6)],
            );
        }
        "max only" => {
            g.init_f32("hi", &[], vec![0.2]);
            g.node("Clip", &["c", "", "hi"], &["y"], vec![]);
        }
        "min above max" => {
            g.init_f32("lo", &[], vec![0.5])
                .init_f32("hi", &[], vec![-0.1]);
            g.node("Clip", &["c", "lo", "hi"], &["y"], vec![]);
        }
        "Constant bounds" => {
            let scalar = |v: f32| {
                probegan::onnx::builder::tensor(
                    "v",
                    tract_onnx::pb::tensor_proto::DataType::Float,
                    &[],
                    v.to_le_bytes().to_vec(),
                )
            };
            for (name, v) in [("lo", -0.4f32), ("hi", 0.1)] {
                g.node(
                    "Constant",
                    &[],
                    &[name],
                    vec![tract_onnx::pb::AttributeProto {
                        name: "value".into(),
                        r#type: tract_onnx::pb::attribute_proto::AttributeType::Tensor as i32,
                        t: Some(scalar(v)),
                        ..Default::default()
                    }],
                );
            }
            g.node("Clip", &["c", "lo", "hi"], &["y"], vec![]);
        }
        "float-limit bounds" => {
            g.init_f32("lo", &[], vec![f32::MIN])
                .init_f32("hi", &[], vec![f32::MAX]);
            g.node("Clip", &["c", "lo", "hi"], &["y"], vec![]);
        }
        "Relu" => {
            g.node("Relu", &["c"], &["y"], vec![]);
        }
        other => panic!("unknown form {other}"),
    }
    g.output("y");
    if expose {
        g.output("c");
    }
    g
}

#[test]
fn every_clip_form_fuses_with_the_unfused_semantics() {
    let x = rand_t(&[2, 2, 6, 6], 8);
    for (opset, form) in [
        (10, "attributes"),
        (6, "attributes"),
        (13, "max only"),
        (13, "min above max"),
        (12, "Constant bounds"),
        (13, "float-limit bounds"),
        (9, "Relu"),
    ] {
        let n = check_graph(
            &clip_graph(opset, form, false),
            &clip_graph(opset, form, true),
            &x,
        );
        assert_eq!(n, 1, "{form} (opset {opset}) was not fused");
    }
}

/// Clip bounds that are graph inputs are read per call: no fusion, still correct.
#[test]
fn runtime_clip_bounds_are_not_fused() {
    let mut g = GraphBuilder::new(13);
    g.input("x", &[-1, 2, 4, 4]).input("hi", &[]);
    conv_params(&mut g, "", 2, 2, 1, 60);
    g.init_f32("lo", &[], vec![-0.1]);
    g.node("Conv", &["x", "w", "b"], &["c"], vec![]);
    g.node("Clip", &["c", "lo", "hi"], &["y"], vec![]);
    g.output("y");
    let m = load(&g, DType::F32);
    assert_eq!(fused_count(&m), 0);
    let x = rand_t(&[1, 2, 4, 4], 9).to_dtype(DType::F32).unwrap();
    let hi = Tensor::new(0.25f32, &Device::Cpu).unwrap();
    let y = to_vec(&m.forward(&[x, hi]).unwrap()[0]);
    assert!(y.iter().all(|v| *v >= -0.1 - 1e-7 && *v <= 0.25 + 1e-7));
    assert!(y.contains(&0.25) && y.iter().any(|v| *v as f32 == -0.1));
}

/// A model declaring batch 1 with a Reshape to [1, -1] after a fused Conv+Relu still runs any
/// batch: the fused node keeps the batch where Conv does, so the constant is rewritten.
#[test]
fn a_fused_node_keeps_the_batch_dimension_free() {
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 2, 4, 4]);
    conv_params(&mut g, "", 3, 2, 3, 70);
    g.init_i64("shape", &[2], vec![1, -1]);
    g.node(
        "Conv",
        &["x", "w", "b"],
        &["c"],
        vec![attr_ints("pads", &[1, 1, 1, 1])],
    );
    g.node("Relu", &["c"], &["r"], vec![]);
    g.node("Reshape", &["r", "shape"], &["y"], vec![]);
    g.output("y");
    let m = load(&g, DType::F64);
    assert_eq!(fused_count(&m), 1);
    let x = rand_t(&[3, 2, 4, 4], 11);
    let y = &m.forward(std::slice::from_ref(&x)).unwrap()[0];
    assert_eq!(y.dims(), &[3, 48]);
    for i in 0..3 {
        let yi = &m.forward(&[x.narrow(0, i, 1).unwrap()]).unwrap()[0];
        assert_eq!(max_abs_diff(yi, &y.narrow(0, i, 1).unwrap()), 0.0);
    }
}
