//! Input gradients of every op family vs central finite differences in f64, including odd
//! spatial sizes, overlapping and padded pooling, and one tensor feeding two consumers.
//! Run with `--nocapture` to see the table.

mod onnx_support;

use onnx_support::{check, rand_f32, randn};
use probegan::onnx::builder::{attr_float, attr_int, attr_ints, attr_string, GraphBuilder};
use tract_onnx::pb::AttributeProto;

fn init() {
    probegan::init();
}

/// x -> op(x, params...) -> y, with float initializers.
fn unary_graph(
    opset: i64,
    op: &str,
    x: &[usize],
    params: &[(&str, Vec<i64>)],
    attrs: Vec<AttributeProto>,
) -> GraphBuilder {
    let mut g = GraphBuilder::new(opset);
    let dims: Vec<i64> = x.iter().map(|&d| d as i64).collect();
    g.input("x", &dims);
    let mut ins = vec!["x"];
    for (i, (name, shape)) in params.iter().enumerate() {
        let n: i64 = shape.iter().product();
        g.init_f32(name, shape, rand_f32(n as usize, 7 + i as u64));
        ins.push(name);
    }
    g.node(op, &ins, &["y"], attrs);
    g.output("y");
    g
}

fn x(shape: &[usize]) -> Vec<candle_core::Tensor> {
    vec![randn(shape, -1.0, 1.0, 1)]
}

#[test]
fn conv_family() {
    init();
    let g = unary_graph(
        13,
        "Conv",
        &[1, 4, 7, 5],
        &[("w", vec![6, 2, 3, 3]), ("b", vec![6])],
        vec![
            attr_int("group", 2),
            attr_ints("strides", &[2, 1]),
            attr_ints("pads", &[1, 0, 2, 1]),
            attr_ints("dilations", &[1, 2]),
        ],
    );
    check(
        "conv",
        "groups=2, stride (2,1), asym pads, dilation, 7x5",
        &g,
        &x(&[1, 4, 7, 5]),
    );
    let g = unary_graph(
        13,
        "Conv",
        &[2, 3, 6, 6],
        &[("w", vec![3, 1, 3, 3])],
        vec![
            attr_int("group", 3),
            attr_string("auto_pad", "SAME_UPPER"),
            attr_ints("strides", &[2, 2]),
        ],
    );
    check(
        "conv",
        "depthwise, SAME_UPPER, stride 2",
        &g,
        &x(&[2, 3, 6, 6]),
    );
    let g = unary_graph(
        13,
        "Conv",
        &[1, 2, 9],
        &[("w", vec![3, 2, 3])],
        vec![attr_ints("pads", &[1, 1]), attr_ints("strides", &[2])],
    );
    check("conv", "1-D conv", &g, &x(&[1, 2, 9]));
    let g = unary_graph(
        13,
        "ConvTranspose",
        &[1, 2, 3, 4],
        &[("w", vec![2, 3, 3, 3]), ("b", vec![3])],
        vec![
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[1, 1, 1, 1]),
            attr_ints("output_padding", &[1, 0]),
        ],
    );
    check(
        "conv",
        "conv-transpose stride 2, output_padding",
        &g,
        &x(&[1, 2, 3, 4]),
    );
}

#[test]
fn pool_family() {
    init();
    let g = unary_graph(
        13,
        "MaxPool",
        &[1, 2, 7, 7],
        &[],
        vec![
            attr_ints("kernel_shape", &[3, 3]),
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[1, 1, 1, 1]),
        ],
    );
    check(
        "pool",
        "max 3x3/2 pad 1 (overlapping, padded), 7x7",
        &g,
        &x(&[1, 2, 7, 7]),
    );
    let g = unary_graph(
        13,
        "MaxPool",
        &[1, 1, 6, 5],
        &[],
        vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[2, 2]),
            attr_int("ceil_mode", 1),
        ],
    );
    check("pool", "max 2x2/2 ceil_mode, 6x5", &g, &x(&[1, 1, 6, 5]));
    for cip in [0, 1] {
        let g = unary_graph(
            13,
            "AveragePool",
            &[1, 2, 5, 7],
            &[],
            vec![
                attr_ints("kernel_shape", &[3, 3]),
                attr_ints("strides", &[2, 2]),
                attr_ints("pads", &[1, 1, 1, 1]),
                attr_int("count_include_pad", cip),
            ],
        );
        check(
            "pool",
            &format!("avg 3x3/2 pad 1 count_include_pad={cip}, 5x7"),
            &g,
            &x(&[1, 2, 5, 7]),
        );
    }
    let g = unary_graph(13, "GlobalAveragePool", &[2, 3, 5, 3], &[], vec![]);
    check("pool", "global average, 5x3", &g, &x(&[2, 3, 5, 3]));
    let g = unary_graph(13, "GlobalMaxPool", &[2, 3, 5, 3], &[], vec![]);
    check("pool", "global max", &g, &x(&[2, 3, 5, 3]));
}

#[test]
fn norm_family() {
    init();
    let mut g = GraphBuilder::new(15);
    g.input("x", &[2, 3, 4, 5]);
    g.init_f32("s", &[3], vec![1.5, -0.5, 0.7])
        .init_f32("b", &[3], vec![0.1, 0.2, -0.3]);
    g.init_f32("m", &[3], vec![0.1, -0.2, 0.05])
        .init_f32("v", &[3], vec![0.5, 1.5, 2.0]);
    g.node(
        "BatchNormalization",
        &["x", "s", "b", "m", "v"],
        &["y"],
        vec![attr_float("epsilon", 1e-3)],
    );
    g.output("y");
    check("norm", "batch norm (inference)", &g, &x(&[2, 3, 4, 5]));
    let g = unary_graph(
        13,
        "InstanceNormalization",
        &[2, 3, 4, 5],
        &[("s", vec![3]), ("b", vec![3])],
        vec![],
    );
    check("norm", "instance norm", &g, &x(&[2, 3, 4, 5]));
    let g = unary_graph(
        17,
        "LayerNormalization",
        &[2, 3, 4],
        &[("s", vec![4]), ("b", vec![4])],
        vec![attr_int("axis", -1)],
    );
    check("norm", "layer norm", &g, &x(&[2, 3, 4]));
    // Even and odd windows (the window is asymmetric when size is even), edge channels
    // included: 5 channels with size 4 cut the window on both sides.
    for size in [3, 4] {
        let g = unary_graph(
            13,
            "LRN",
            &[2, 5, 3, 3],
            &[],
            vec![
                attr_int("size", size),
                attr_float("alpha", 0.3),
                attr_float("beta", 0.75),
                attr_float("bias", 1.5),
            ],
        );
        check("norm", &format!("LRN size {size}"), &g, &x(&[2, 5, 3, 3]));
    }
}

#[test]
fn elementwise_family() {
    init();
    for op in ["Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean"] {
        let mut g = GraphBuilder::new(13);
        g.input("a", &[2, 3, 4]).input("b", &[3, 1]);
        g.node(op, &["a", "b"], &["y"], vec![]);
        g.output("y");
        let b = if op == "Div" {
            randn(&[3, 1], 0.5, 1.5, 2)
        } else {
            randn(&[3, 1], -1.0, 1.0, 2)
        };
        check(
            "elementwise",
            &format!("{op} with broadcasting"),
            &g,
            &[randn(&[2, 3, 4], -1.0, 1.0, 1), b],
        );
    }
    for p in [2.0f32, 3.0, 0.5, -1.5] {
        let mut g = GraphBuilder::new(13);
        g.input("a", &[2, 5]).init_f32("p", &[], vec![p]);
        g.node("Pow", &["a", "p"], &["y"], vec![]);
        g.output("y");
        let lo = if p.fract() != 0.0 { 0.2 } else { -1.0 };
        check(
            "elementwise",
            &format!("Pow x^{p}"),
            &g,
            &[randn(&[2, 5], lo, 1.5, 3)],
        );
    }
    let mut g = GraphBuilder::new(13);
    g.input("a", &[2, 5]).input("b", &[2, 5]);
    g.node("Greater", &["a", "b"], &["c"], vec![]);
    g.node("Where", &["c", "a", "b"], &["y"], vec![]);
    g.output("y");
    check(
        "elementwise",
        "Where(Greater(a, b), a, b)",
        &g,
        &[randn(&[2, 5], -1.0, 1.0, 4), randn(&[2, 5], -1.0, 1.0, 5)],
    );
}

#[test]
fn activation_family() {
    init();
    let plain = [
        "Relu", "Sigmoid", "Tanh", "Softplus", "Erf", "Exp", "Neg", "Abs", "Softsign",
    ];
    for op in plain {
        check(
            "activation",
            op,
            &unary_graph(13, op, &[2, 7], &[], vec![]),
            &x(&[2, 7]),
        );
    }
    for op in ["Sqrt", "Log", "Reciprocal"] {
        check(
            "activation",
            &format!("{op} (positive input)"),
            &unary_graph(13, op, &[2, 7], &[], vec![]),
            &[randn(&[2, 7], 0.3, 2.0, 9)],
        );
    }
    let cases: Vec<(&str, Vec<AttributeProto>)> = vec![
        ("LeakyRelu", vec![attr_float("alpha", 0.1)]),
        ("Elu", vec![attr_float("alpha", 0.7)]),
        ("Selu", vec![]),
        ("Celu", vec![]),
        ("HardSigmoid", vec![attr_float("alpha", 0.3)]),
        ("HardSwish", vec![]),
        ("Gelu", vec![]),
        ("Gelu", vec![attr_string("approximate", "tanh")]),
    ];
    for (op, attrs) in cases {
        let opset = if op == "Gelu" { 20 } else { 14 };
        let label = format!(
            "{op} {}",
            attrs
                .iter()
                .map(|a| a.name.clone())
                .collect::<Vec<_>>()
                .join(",")
        );
        check(
            "activation",
            &label,
            &unary_graph(opset, op, &[2, 3, 5], &[], attrs),
            &[randn(&[2, 3, 5], -4.0, 4.0, 6)],
        );
    }
    check(
        "activation",
        "PRelu per-channel [C,1,1]",
        &unary_graph(13, "PRelu", &[2, 3, 2, 2], &[("s", vec![3, 1, 1])], vec![]),
        &x(&[2, 3, 2, 2]),
    );
    check(
        "activation",
        "PRelu scalar",
        &unary_graph(13, "PRelu", &[2, 3, 2, 2], &[("s", vec![1])], vec![]),
        &x(&[2, 3, 2, 2]),
    );
    let mut g = GraphBuilder::new(13);
    g.input("x", &[2, 9])
        .init_f32("lo", &[], vec![0.0])
        .init_f32("hi", &[], vec![6.0]);
    g.node("Clip", &["x", "lo", "hi"], &["y"], vec![]);
    g.output("y");
    check(
        "activation",
        "Clip 0..6 (ReLU6), input form",
        &g,
        &[randn(&[2, 9], -3.0, 9.0, 8)],
    );
    let g = unary_graph(
        6,
        "Clip",
        &[2, 9],
        &[],
        vec![attr_float("min", -0.5), attr_float("max", 0.5)],
    );
    check(
        "activation",
        "Clip attribute form (opset 6)",
        &g,
        &x(&[2, 9]),
    );
}

#[test]
fn softmax_family() {
    init();
    for (op, opset, axis) in [
        ("Softmax", 13, 1),
        ("Softmax", 11, 1),
        ("Softmax", 13, -1),
        ("LogSoftmax", 13, 1),
        ("LogSoftmax", 11, 2),
    ] {
        let g = unary_graph(opset, op, &[2, 3, 4], &[], vec![attr_int("axis", axis)]);
        check(
            "softmax",
            &format!("{op} opset {opset} axis {axis}"),
            &g,
            &x(&[2, 3, 4]),
        );
    }
}

#[test]
fn matmul_family() {
    init();
    let g = unary_graph(
        13,
        "Gemm",
        &[3, 4],
        &[("w", vec![5, 4]), ("c", vec![5])],
        vec![
            attr_int("transB", 1),
            attr_float("alpha", 0.5),
            attr_float("beta", 2.0),
        ],
    );
    check("matmul", "Gemm transB alpha beta C", &g, &x(&[3, 4]));
    let g = unary_graph(
        13,
        "Gemm",
        &[4, 3],
        &[("w", vec![4, 5])],
        vec![attr_int("transA", 1)],
    );
    check("matmul", "Gemm transA, no C", &g, &x(&[4, 3]));
    let g = unary_graph(13, "MatMul", &[2, 3, 4], &[("w", vec![4, 5])], vec![]);
    check("matmul", "MatMul [2,3,4]x[4,5]", &g, &x(&[2, 3, 4]));
    let mut g = GraphBuilder::new(13);
    g.input("a", &[2, 3, 4]).input("b", &[2, 4, 2]);
    g.node("MatMul", &["a", "b"], &["y"], vec![]);
    g.output("y");
    check(
        "matmul",
        "batched MatMul, both inputs",
        &g,
        &[
            randn(&[2, 3, 4], -1.0, 1.0, 1),
            randn(&[2, 4, 2], -1.0, 1.0, 2),
        ],
    );
}

#[test]
fn shape_family() {
    init();
    let mut g = GraphBuilder::new(13);
    g.input("x", &[2, 3, 4]);
    g.init_i64("shape", &[2], vec![1, -1])
        .init_i64("starts", &[1], vec![1])
        .init_i64("ends", &[1], vec![4])
        .init_i64("axes", &[1], vec![2])
        .init_i64("steps", &[1], vec![2]);
    g.init_i64("idx", &[2], vec![2, 0]);
    g.node(
        "Transpose",
        &["x"],
        &["t"],
        vec![attr_ints("perm", &[0, 2, 1])],
    );
    g.node(
        "Slice",
        &["x", "starts", "ends", "axes", "steps"],
        &["s"],
        vec![],
    );
    g.node("Gather", &["x", "idx"], &["ga"], vec![attr_int("axis", 1)]);
    g.node("Flatten", &["t"], &["f"], vec![]);
    g.node("Flatten", &["s"], &["fs"], vec![]);
    g.node("Flatten", &["ga"], &["fg"], vec![]);
    g.node(
        "Concat",
        &["f", "fs", "fg"],
        &["y"],
        vec![attr_int("axis", 1)],
    );
    g.output("y");
    check(
        "shape",
        "Transpose, Slice step 2, Gather, Flatten, Concat",
        &g,
        &x(&[2, 3, 4]),
    );
    let mut g = GraphBuilder::new(13);
    g.input("x", &[2, 6]);
    g.init_i64("split", &[2], vec![2, 4])
        .init_i64("ax", &[1], vec![1])
        .init_i64("rep", &[2], vec![2, 1])
        .init_i64("shp", &[3], vec![3, 1, 2])
        .init_i64("flat", &[1], vec![-1]);
    g.node(
        "Split",
        &["x", "split"],
        &["a", "b"],
        vec![attr_int("axis", 1)],
    );
    g.node("Unsqueeze", &["a", "ax"], &["u"], vec![]);
    g.node("Squeeze", &["u", "ax"], &["sq"], vec![]);
    g.node("Tile", &["sq", "rep"], &["ti"], vec![]);
    g.node("Expand", &["ti", "shp"], &["ex"], vec![]);
    g.node("Reshape", &["b", "flat"], &["r"], vec![]);
    g.output("ex").output("r");
    check(
        "shape",
        "Split, Unsqueeze, Squeeze, Tile, Expand, Reshape",
        &g,
        &x(&[2, 6]),
    );
    for mode in ["constant", "reflect", "edge"] {
        let mut g = GraphBuilder::new(13);
        g.input("x", &[1, 2, 4, 5])
            .init_i64("pads", &[8], vec![0, 0, 2, 1, 0, 0, 1, 3]);
        g.node(
            "Pad",
            &["x", "pads"],
            &["y"],
            vec![attr_string("mode", mode)],
        );
        g.output("y");
        check(
            "shape",
            &format!("Pad {mode} (asymmetric)"),
            &g,
            &x(&[1, 2, 4, 5]),
        );
    }
}

#[test]
fn reduce_family() {
    init();
    for op in [
        "ReduceMean",
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "ReduceL2",
        "ReduceL1",
        "ReduceSumSquare",
        "ReduceLogSumExp",
    ] {
        let mut g = GraphBuilder::new(18);
        g.input("x", &[2, 3, 4]).init_i64("axes", &[2], vec![1, -1]);
        g.node(op, &["x", "axes"], &["y"], vec![attr_int("keepdims", 0)]);
        g.output("y");
        check("reduce", &format!("{op} axes [1,-1]"), &g, &x(&[2, 3, 4]));
    }
}

#[test]
fn resize_family() {
    init();
    let cases: [(&str, &str, &str, [f32; 4]); 5] = [
        ("nearest", "asymmetric", "floor", [1.0, 1.0, 2.0, 2.0]),
        (
            "nearest",
            "half_pixel",
            "round_prefer_floor",
            [1.0, 1.0, 1.5, 2.5],
        ),
        ("linear", "half_pixel", "", [1.0, 1.0, 2.0, 1.5]),
        ("linear", "align_corners", "", [1.0, 1.0, 1.7, 2.0]),
        ("linear", "pytorch_half_pixel", "", [1.0, 1.0, 0.6, 2.0]),
    ];
    for (mode, coord, nearest, scales) in cases {
        let mut g = GraphBuilder::new(13);
        g.input("x", &[1, 2, 5, 3])
            .init_f32("scales", &[4], scales.to_vec());
        let mut attrs = vec![
            attr_string("mode", mode),
            attr_string("coordinate_transformation_mode", coord),
        ];
        if !nearest.is_empty() {
            attrs.push(attr_string("nearest_mode", nearest));
        }
        g.node("Resize", &["x", "", "scales"], &["y"], attrs);
        g.output("y");
        check(
            "resize",
            &format!("{mode} {coord} scales {:?}", &scales[2..]),
            &g,
            &x(&[1, 2, 5, 3]),
        );
    }
}

#[test]
fn shared_consumers() {
    init();
    // One tensor feeding two consumers, one of which is nearest upsampling (candle's own
    // upsample backward overwrites instead of accumulating in exactly this case).
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 2, 4, 4])
        .init_f32("scales", &[4], vec![1.0, 1.0, 2.0, 2.0]);
    g.node(
        "Resize",
        &["x", "", "scales"],
        &["up"],
        vec![
            attr_string("mode", "nearest"),
            attr_string("coordinate_transformation_mode", "asymmetric"),
            attr_string("nearest_mode", "floor"),
        ],
    );
    g.node(
        "MaxPool",
        &["up"],
        &["down"],
        vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[2, 2]),
        ],
    );
    g.node("Mul", &["x", "x"], &["sq"], vec![]);
    g.node("Add", &["down", "sq"], &["y"], vec![]);
    g.output("y");
    check(
        "shared",
        "x -> upsample -> maxpool, + x*x",
        &g,
        &x(&[1, 2, 4, 4]),
    );
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 2, 5, 5])
        .init_f32("w", &[2, 2, 3, 3], rand_f32(36, 3));
    g.node(
        "Conv",
        &["x", "w"],
        &["c"],
        vec![attr_ints("pads", &[1, 1, 1, 1])],
    );
    g.node(
        "AveragePool",
        &["x"],
        &["p"],
        vec![
            attr_ints("kernel_shape", &[3, 3]),
            attr_ints("strides", &[1, 1]),
            attr_ints("pads", &[1, 1, 1, 1]),
        ],
    );
    g.node("Add", &["c", "p"], &["a"], vec![]);
    g.node("Add", &["a", "x"], &["y"], vec![]);
    g.output("y");
    check(
        "shared",
        "x -> conv, avgpool, residual add",
        &g,
        &x(&[1, 2, 5, 5]),
    );
}

/// LSTM/GRU/RNN with X, W, R, B, initial_h (and LSTM's initial_c and peepholes) all graph
/// inputs, so every one is checked; sequence_lens is a constant with uneven lengths, so the
/// masked steps (state kept, zeros emitted) are differentiated too.
fn recurrent_graph(
    op: &str,
    gates: usize,
    direction: &str,
    layout: i64,
    lens: Option<&[i64]>,
    attrs: Vec<AttributeProto>,
) -> (GraphBuilder, Vec<candle_core::Tensor>) {
    let (t, b, i, h) = (3usize, 2usize, 3usize, 2usize);
    let nd = if direction == "bidirectional" { 2 } else { 1 };
    let lstm = op == "LSTM";
    let mut g = GraphBuilder::new(14);
    let x_dims = if layout == 1 { [b, t, i] } else { [t, b, i] };
    let state = if layout == 1 { [b, nd, h] } else { [nd, b, h] };
    let mut shapes: Vec<(&str, Vec<usize>)> = vec![
        ("X", x_dims.to_vec()),
        ("W", vec![nd, gates * h, i]),
        ("R", vec![nd, gates * h, h]),
        ("B", vec![nd, 2 * gates * h]),
        ("initial_h", state.to_vec()),
    ];
    if lstm {
        shapes.push(("initial_c", state.to_vec()));
        shapes.push(("P", vec![nd, 3 * h]));
    }
    for (name, dims) in &shapes {
        let d: Vec<i64> = dims.iter().map(|&v| v as i64).collect();
        g.input(name, &d);
    }
    if let Some(l) = lens {
        g.init_i64("lens", &[l.len() as i64], l.to_vec());
    }
    let mut ins = vec!["X", "W", "R", "B", if lens.is_some() { "lens" } else { "" }];
    ins.push("initial_h");
    let mut outs = vec!["Y", "Y_h"];
    if lstm {
        ins.extend(["initial_c", "P"]);
        outs.push("Y_c");
    }
    let mut a = vec![
        attr_string("direction", direction),
        attr_int("hidden_size", h as i64),
        attr_int("layout", layout),
    ];
    a.extend(attrs);
    g.node(op, &ins, &outs, a);
    for o in &outs {
        g.output(o);
    }
    let inputs = shapes
        .iter()
        .enumerate()
        .map(|(k, (_, dims))| randn(dims, -1.0, 1.0, 20 + k as u64))
        .collect();
    (g, inputs)
}

#[test]
fn recurrent_family() {
    init();
    let uneven: &[i64] = &[3, 1];
    // (op, gates, direction, layout, sequence_lens, extra attributes)
    type Case<'a> = (
        &'a str,
        usize,
        &'a str,
        i64,
        Option<&'a [i64]>,
        Vec<AttributeProto>,
    );
    let cases: Vec<Case> = vec![
        ("LSTM", 4, "forward", 0, None, vec![]),
        ("LSTM", 4, "bidirectional", 0, Some(uneven), vec![]),
        ("LSTM", 4, "reverse", 1, Some(uneven), vec![]),
        (
            "LSTM",
            4,
            "forward",
            0,
            None,
            vec![attr_int("input_forget", 1)],
        ),
        ("GRU", 3, "forward", 0, None, vec![]),
        ("GRU", 3, "bidirectional", 0, Some(uneven), vec![]),
        (
            "GRU",
            3,
            "bidirectional",
            1,
            Some(uneven),
            vec![attr_int("linear_before_reset", 1)],
        ),
        ("RNN", 1, "bidirectional", 0, Some(uneven), vec![]),
    ];
    for (op, gates, dir, layout, lens, attrs) in cases {
        let label = format!(
            "{op} {dir} layout {layout}{}{}",
            if lens.is_some() {
                " seq_lens [3,1]"
            } else {
                ""
            },
            attrs
                .iter()
                .map(|a| format!(" {}={}", a.name, a.i))
                .collect::<String>()
        );
        let (g, inputs) = recurrent_graph(op, gates, dir, layout, lens, attrs);
        check("recurrent", &label, &g, &inputs);
    }
}

/// If with a condition computed from the input at run time (ReduceSum(x) > -100, true for
/// these inputs and far from flipping under finite differences) and branches reading the outer
/// x and an outer initializer: gradients reach x through the branch that runs.
#[test]
fn control_family() {
    use probegan::onnx::builder::attr_graph;
    init();
    for (bound, branch) in [(-100.0f32, "then"), (100.0, "else")] {
        let mut then_g = GraphBuilder::new(13);
        then_g.node("Mul", &["x", "w"], &["t0"], vec![]);
        then_g.node("Tanh", &["t0"], &["t1"], vec![]);
        then_g.output("t1");
        let mut else_g = GraphBuilder::new(13);
        else_g.node("Mul", &["x", "x"], &["e0"], vec![]);
        else_g.node("Sub", &["e0", "w"], &["e1"], vec![]);
        else_g.output("e1");
        let mut g = GraphBuilder::new(13);
        g.input("x", &[2, 3])
            .init_f32("w", &[2, 3], rand_f32(6, 5))
            .init_f32("bound", &[], vec![bound]);
        g.node("ReduceSum", &["x"], &["s"], vec![attr_int("keepdims", 0)]);
        g.node("Greater", &["s", "bound"], &["cond"], vec![]);
        g.node(
            "If",
            &["cond"],
            &["y"],
            vec![
                attr_graph("then_branch", then_g.graph()),
                attr_graph("else_branch", else_g.graph()),
            ],
        );
        g.output("y");
        check(
            "control",
            &format!("If, runtime condition, {branch} branch"),
            &g,
            &x(&[2, 3]),
        );
    }
}
