//! Bad input: truncated or garbage protobuf, cycles, undefined names, mismatched shapes,
//! absurd sizes, unsupported ops, hostile external-data paths. Every case must be a clear
//! error naming the problem (and the node where there is one), never a panic.

use candle_core::{DType, Device, Tensor};
use probegan::onnx::builder::{attr_ints, tensor, GraphBuilder};
use probegan::onnx::{Dim, OnnxModel};
use rand::{Rng, SeedableRng};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

fn load_err(bytes: &[u8]) -> String {
    match OnnxModel::from_bytes(bytes, "bad.onnx", &Device::Cpu) {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

fn small_cnn() -> GraphBuilder {
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 3, 8, 8]);
    g.init_f32("w", &[4, 3, 3, 3], vec![0.1; 108])
        .init_f32("b", &[4], vec![0.0; 4]);
    g.init_i64("shape", &[2], vec![1, -1]);
    g.node(
        "Conv",
        &["x", "w", "b"],
        &["c"],
        vec![attr_ints("pads", &[1, 1, 1, 1])],
    );
    g.node("Relu", &["c"], &["r"], vec![]);
    g.node(
        "MaxPool",
        &["r"],
        &["p"],
        vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[2, 2]),
        ],
    );
    g.node("Reshape", &["p", "shape"], &["y"], vec![]);
    g.output("y");
    g
}

#[test]
fn garbage_and_empty_files_are_errors() {
    let e = load_err(b"this is not a protobuf at all \xff\xff\xff\xff");
    assert!(e.contains("bad.onnx") && e.contains("protobuf"), "{e}");
    let e = load_err(b"");
    assert!(e.contains("no graph"), "{e}");
}

#[test]
fn truncated_protobuf_never_panics() {
    let bytes = small_cnn().to_bytes();
    let mut errors = 0;
    for len in 0..bytes.len() {
        if OnnxModel::from_bytes(&bytes[..len], "truncated.onnx", &Device::Cpu).is_err() {
            errors += 1;
        }
    }
    // Most cuts land inside a field; a few at field boundaries still parse and then fail
    // validation or load a smaller graph. None may panic.
    assert!(
        errors > bytes.len() / 2,
        "{errors} of {} truncations were errors",
        bytes.len()
    );
    let e = load_err(&bytes[..bytes.len() / 2]);
    assert!(e.contains("truncated") || e.contains("bad.onnx"), "{e}");
}

#[test]
fn cycles_are_named() {
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 4]);
    g.node("Add", &["x", "b"], &["a"], vec![]);
    g.node("Relu", &["a"], &["b"], vec![]);
    g.output("b");
    let e = load_err(&g.to_bytes());
    assert!(e.contains("cycle") && e.contains("add_0"), "{e}");
}

#[test]
fn undefined_names_are_named() {
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 4]);
    g.node("Add", &["x", "nowhere"], &["y"], vec![]);
    g.output("y");
    let e = load_err(&g.to_bytes());
    assert!(e.contains("nowhere") && e.contains("add_0"), "{e}");
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 4]);
    g.node("Relu", &["x"], &["y"], vec![]);
    g.output("missing_output");
    let e = load_err(&g.to_bytes());
    assert!(e.contains("missing_output"), "{e}");
}

#[test]
fn unsupported_ops_are_listed_at_load() {
    let mut g = GraphBuilder::new(11);
    g.input("x", &[1, 4]);
    g.node("Relu", &["x"], &["a"], vec![]);
    g.node("FancyOp", &["a"], &["b"], vec![]);
    g.node("Det", &["b"], &["y"], vec![]);
    g.output("y");
    let e = load_err(&g.to_bytes());
    assert!(
        e.contains("2 unsupported")
            && e.contains("fancyop_1")
            && e.contains("FancyOp")
            && e.contains("opset 11")
            && e.contains("Det"),
        "{e}"
    );
}

#[test]
fn mismatched_shapes_are_errors() {
    let m = OnnxModel::from_bytes(&small_cnn().to_bytes(), "cnn.onnx", &Device::Cpu).unwrap();
    let wrong = Tensor::zeros((2, 4, 8, 8), DType::F32, &Device::Cpu).unwrap();
    let e = format!("{:#}", m.forward(&[wrong]).unwrap_err());
    assert!(e.contains("input 'x'") && e.contains("[N, 3, 8, 8]"), "{e}");
    let e = format!("{:#}", m.forward(&[]).unwrap_err());
    assert!(e.contains("1 input"), "{e}");
    // A weight that does not fit its input names the node.
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 3, 8, 8])
        .init_f32("w", &[4, 5, 3, 3], vec![0.1; 180]);
    g.node("Conv", &["x", "w"], &["y"], vec![]);
    g.output("y");
    let m = OnnxModel::from_bytes(&g.to_bytes(), "conv.onnx", &Device::Cpu).unwrap();
    let e = format!(
        "{:#}",
        m.forward(&[Tensor::zeros((1, 3, 8, 8), DType::F32, &Device::Cpu).unwrap()])
            .unwrap_err()
    );
    assert!(e.contains("conv_0") && e.contains("channels"), "{e}");
}

#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 4]);
    g.init_raw(tensor(
        "huge",
        DataType::Float,
        &[1 << 40, 1 << 40],
        vec![0; 16],
    ));
    g.node("Add", &["x", "huge"], &["y"], vec![]);
    g.output("y");
    let e = load_err(&g.to_bytes());
    assert!(e.contains("huge") && e.contains("refusing"), "{e}");
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 4]);
    g.init_raw(tensor("short", DataType::Float, &[10], vec![0; 4]));
    g.node("Add", &["x", "short"], &["y"], vec![]);
    g.output("y");
    let e = load_err(&g.to_bytes());
    assert!(e.contains("short") && e.contains("40 bytes"), "{e}");
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 4]);
    g.init_i64("shape", &[3], vec![1 << 20, 1 << 20, 1 << 20]);
    g.node("ConstantOfShape", &["shape"], &["big"], vec![]);
    g.node("Add", &["x", "big"], &["y"], vec![]);
    g.output("y");
    let e = load_err(&g.to_bytes());
    assert!(
        e.contains("constantofshape_0") && e.contains("refusing"),
        "{e}"
    );
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 4]);
    g.init_raw(tensor("neg", DataType::Float, &[-3], vec![]));
    g.node("Add", &["x", "neg"], &["y"], vec![]);
    g.output("y");
    let e = load_err(&g.to_bytes());
    assert!(e.contains("negative"), "{e}");
}

/// Load `g` and run it once on zeros of its declared input shapes; the error, as printed.
/// Zero tensors of every input's shape, free dims as 1.
fn zero_inputs(m: &OnnxModel) -> Vec<Tensor> {
    m.inputs()
        .iter()
        .map(|io| {
            let dims: Vec<usize> = io
                .dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => *n,
                    Dim::Free(_) => 1,
                })
                .collect();
            Tensor::zeros(dims, DType::F32, &Device::Cpu).unwrap()
        })
        .collect()
}

fn load_or_run_err(g: &GraphBuilder) -> String {
    let m = match OnnxModel::from_bytes(&g.to_bytes(), "bad.onnx", &Device::Cpu) {
        Ok(m) => m,
        Err(e) => return format!("{e:#}"),
    };
    let inputs = zero_inputs(&m);
    match m.forward(&inputs) {
        Ok(_) => panic!("expected an error, the model ran"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn conv_with_a_huge_implied_output_is_refused() {
    // The fuzzer's find: pads of 134209528 on a 5x5 input imply a ~1.4 TB output.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz_regressions/conv_huge_output.onnx");
    let m = OnnxModel::load(&path, &Device::Cpu).unwrap();
    let x = Tensor::zeros((48, 1, 5, 5), DType::F32, &Device::Cpu).unwrap();
    let w = Tensor::zeros((18, 1, 3, 3), DType::F32, &Device::Cpu).unwrap();
    let e = format!("{:#}", m.forward(&[x, w]).err().unwrap());
    assert!(
        e.contains("(Conv)") && e.contains("output") && e.contains("refusing to allocate"),
        "{e}"
    );
}

#[test]
fn ops_whose_attributes_imply_huge_outputs_are_refused() {
    let refused = |g: &GraphBuilder, node: &str| {
        let e = load_or_run_err(g);
        assert!(
            e.contains(node) && e.contains("refusing to allocate"),
            "{node}: {e}"
        );
    };
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 1, 4, 4])
        .init_f32("w", &[1, 1, 2, 2], vec![1.0; 4]);
    let big = 1 << 20;
    g.node(
        "ConvTranspose",
        &["x", "w"],
        &["y"],
        vec![attr_ints("strides", &[big, big])],
    );
    g.output("y");
    refused(&g, "convtranspose_0");

    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 1, 4, 4]);
    g.node(
        "MaxPool",
        &["x"],
        &["y"],
        vec![
            attr_ints("kernel_shape", &[1, 1]),
            attr_ints("pads", &[big, big, big, big]),
        ],
    );
    g.output("y");
    refused(&g, "maxpool_0");

    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 4])
        .init_i64("pads", &[4], vec![0, 0, big, big]);
    g.node("Pad", &["x", "pads"], &["y"], vec![]);
    g.output("y");
    refused(&g, "pad_0");

    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 4]).init_i64("reps", &[2], vec![big, big]);
    g.node("Tile", &["x", "reps"], &["y"], vec![]);
    g.output("y");
    refused(&g, "tile_0");

    // Repeats whose product overflows usize are refused, not wrapped.
    let mut g = GraphBuilder::new(13);
    g.input("x", &[2, 4])
        .init_i64("reps", &[2], vec![1 << 62, 4]);
    g.node("Tile", &["x", "reps"], &["y"], vec![]);
    g.output("y");
    refused(&g, "tile_0");

    // Broadcasting, matrix products and gathers can square a modest size.
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 1 << 16]).input("z", &[1 << 16, 1]);
    g.node("Add", &["x", "z"], &["y"], vec![]);
    g.output("y");
    refused(&g, "add_0");
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1 << 16, 1]).input("z", &[1, 1 << 16]);
    g.node("MatMul", &["x", "z"], &["y"], vec![]);
    g.output("y");
    refused(&g, "matmul_0");
    let mut g = GraphBuilder::new(13);
    g.input("x", &[2, 1 << 16])
        .init_i64("idx", &[1 << 16], vec![0; 1 << 16]);
    g.node("Gather", &["x", "idx"], &["y"], vec![]);
    g.output("y");
    refused(&g, "gather_0");

    // Strides and pads beyond any real size are refused when the node is compiled.
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 1, 4, 4])
        .init_f32("w", &[1, 1, 1, 1], vec![1.0]);
    g.node(
        "Conv",
        &["x", "w"],
        &["y"],
        vec![attr_ints("strides", &[1 << 62, 1])],
    );
    g.output("y");
    let e = load_err(&g.to_bytes());
    assert!(e.contains("conv_0") && e.contains("absurdly large"), "{e}");
}

#[test]
fn pad_cropping_past_an_axis_is_an_error() {
    // The total stays positive (4 - 10 + 20) but the leading crop alone removes more than the
    // axis holds; the pads are hostile-sized too.
    for pads in [vec![0, -10, 0, 20], vec![0, i64::MIN, 0, i64::MAX]] {
        let mut g = GraphBuilder::new(13);
        g.input("x", &[1, 4]).init_i64("pads", &[4], pads);
        g.node("Pad", &["x", "pads"], &["y"], vec![]);
        g.output("y");
        let e = load_or_run_err(&g);
        assert!(e.contains("pad_0") && e.contains("crop axis 1"), "{e}");
    }
}

fn external(name: &str, location: &str, offset: Option<&str>) -> pb::TensorProto {
    let mut t = tensor(name, DataType::Float, &[4], vec![]);
    t.data_location = Some(pb::tensor_proto::DataLocation::External as i32);
    t.external_data.push(pb::StringStringEntryProto {
        key: "location".into(),
        value: location.into(),
    });
    if let Some(o) = offset {
        t.external_data.push(pb::StringStringEntryProto {
            key: "offset".into(),
            value: o.into(),
        });
    }
    t
}

#[test]
fn external_data_is_read_beside_the_model_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(
        dir.path().join("weights.bin"),
        [vec![0u8; 8], data].concat(),
    )
    .unwrap();
    let build = |t: pb::TensorProto| {
        let mut g = GraphBuilder::new(13);
        g.input("x", &[1, 4]).init_raw(t);
        g.node("Add", &["x", "w"], &["y"], vec![]);
        g.output("y");
        let p = dir.path().join("m.onnx");
        std::fs::write(&p, g.to_bytes()).unwrap();
        OnnxModel::load(&p, &Device::Cpu)
    };
    let m = build(external("w", "weights.bin", Some("8"))).unwrap();
    let y = m
        .forward(&[Tensor::zeros((1, 4), DType::F32, &Device::Cpu).unwrap()])
        .unwrap();
    assert_eq!(
        y[0].flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        vec![1.0, 2.0, 3.0, 4.0]
    );
    let e = format!(
        "{:#}",
        build(external("w", "../../etc/passwd", None))
            .err()
            .unwrap()
    );
    assert!(e.contains("relative path"), "{e}");
    let e = format!(
        "{:#}",
        build(external("w", "absent.bin", None)).err().unwrap()
    );
    assert!(e.contains("absent.bin"), "{e}");
    let e = format!(
        "{:#}",
        build(external("w", "weights.bin", Some("100")))
            .err()
            .unwrap()
    );
    assert!(e.contains("offset 100"), "{e}");
}

#[test]
fn randomized_mutations_never_panic() {
    // A stable-Rust stand-in for the cargo-fuzz target (fuzz/fuzz_targets/load_model.rs):
    // mutate valid seed models and require load (+ one forward when it loads) not to panic.
    probegan::init();
    let seeds = [
        small_cnn().to_bytes(),
        {
            let mut g = GraphBuilder::new(13);
            g.input("x", &[1, 2, 4, 4])
                .init_i64("axes", &[1], vec![1])
                .init_f32("scales", &[4], vec![1.0, 1.0, 2.0, 2.0]);
            g.node("Resize", &["x", "", "scales"], &["r"], vec![]);
            g.node("ReduceMean", &["r"], &["m"], vec![]);
            g.node("Shape", &["r"], &["s"], vec![]);
            g.node("Gather", &["s", "axes"], &["gs"], vec![]);
            g.output("m").output("gs");
            g.to_bytes()
        },
        {
            // Recurrent and control flow: a bidirectional LSTM with lengths, and an If whose
            // branches read outer values.
            use probegan::onnx::builder::{attr_graph, attr_int, attr_string};
            let mut g = GraphBuilder::new(14);
            g.input("x", &[3, 2, 2])
                .init_f32("W", &[2, 8, 2], vec![0.1; 32])
                .init_f32("R", &[2, 8, 2], vec![-0.1; 32])
                .init_i64("lens", &[2], vec![3, 1])
                .init_f32("zero", &[], vec![0.0]);
            g.node(
                "LSTM",
                &["x", "W", "R", "", "lens"],
                &["Y", "Y_h", "Y_c"],
                vec![
                    attr_string("direction", "bidirectional"),
                    attr_int("hidden_size", 2),
                ],
            );
            g.node("ReduceSum", &["Y_h"], &["s"], vec![attr_int("keepdims", 0)]);
            g.node("Greater", &["s", "zero"], &["c"], vec![]);
            let mut t = GraphBuilder::new(14);
            t.node("Tanh", &["Y"], &["a"], vec![]).output("a");
            let mut e = GraphBuilder::new(14);
            e.node("Add", &["Y", "Y_c"], &["b"], vec![]).output("b");
            g.node(
                "If",
                &["c"],
                &["out"],
                vec![
                    attr_graph("then_branch", t.graph()),
                    attr_graph("else_branch", e.graph()),
                ],
            );
            g.output("out");
            g.to_bytes()
        },
    ];
    for (k, seed) in seeds.iter().enumerate() {
        let m = OnnxModel::from_bytes(seed, "seed.onnx", &Device::Cpu).expect("seed loads");
        m.forward(&zero_inputs(&m))
            .unwrap_or_else(|e| panic!("seed {k} does not run: {e:#}"));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let iterations = 3000;
    let mut loaded = 0;
    for it in 0..iterations {
        let mut b = seeds[it % seeds.len()].clone();
        for _ in 0..rng.random_range(1..6) {
            match rng.random_range(0..4) {
                0 => {
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                }
                1 => {
                    let i = rng.random_range(0..b.len());
                    b[i] ^= 1 << rng.random_range(0..8);
                }
                2 if b.len() > 2 => {
                    let i = rng.random_range(0..b.len());
                    b.remove(i);
                }
                _ => {
                    let i = rng.random_range(0..b.len());
                    b.insert(i, rng.random());
                }
            }
        }
        let result = std::panic::catch_unwind(|| {
            let Ok(m) = OnnxModel::from_bytes(&b, "mutant.onnx", &Device::Cpu) else {
                return false;
            };
            let inputs: Option<Vec<Tensor>> = m
                .inputs()
                .iter()
                .map(|io| {
                    let dims: Option<Vec<usize>> = io
                        .dims
                        .iter()
                        .enumerate()
                        .map(|(i, d)| match d {
                            Dim::Fixed(n) if *n <= 64 => Some(*n),
                            Dim::Free(_) if i == 0 => Some(1),
                            _ => None,
                        })
                        .collect();
                    dims.and_then(|d| Tensor::zeros(d, DType::F32, &Device::Cpu).ok())
                })
                .collect();
            if let Some(inputs) = inputs {
                let _ = m.forward(&inputs);
            }
            true
        });
        match result {
            Ok(true) => loaded += 1,
            Ok(false) => {}
            Err(_) => panic!(
                "iteration {it}: the loader panicked on a mutated model ({} bytes)",
                b.len()
            ),
        }
    }
    println!(
        "{iterations} mutated models: {loaded} loaded, the rest rejected with errors, no panics"
    );
}

/// Inputs the cargo-fuzz target (`fuzz/fuzz_targets/load_model.rs`) once crashed on, kept as
/// regressions: each must load and run (as the fuzz target runs it) without a panic, and end
/// in an error that names the problem.
#[test]
fn fuzzer_findings_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz_regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        let outcome = std::panic::catch_unwind(|| -> Result<(), String> {
            let m =
                OnnxModel::from_bytes(&bytes, &name, &Device::Cpu).map_err(|e| format!("{e:#}"))?;
            let inputs = zero_inputs(&m);
            m.forward(&inputs).map(|_| ()).map_err(|e| format!("{e:#}"))
        });
        match outcome {
            Err(_) => panic!("{name}: panicked"),
            Ok(Ok(())) => panic!("{name}: expected an error, the model ran"),
            Ok(Err(msg)) => {
                eprintln!("{name}: {msg}");
                assert!(msg.len() > 20, "{name}: an unhelpful error: {msg}")
            }
        }
        seen += 1;
    }
    assert!(seen >= 1, "no regression inputs in {}", dir.display());
}

/// LSTM/GRU/RNN and If: bad attributes, shapes and branches are errors naming the node and
/// the problem.
#[test]
fn recurrent_and_if_errors_name_the_node_and_problem() {
    use probegan::onnx::builder::{attr_graph, attr_int, attr_string, attr_strings};
    let lstm = |attrs: Vec<pb::AttributeProto>, w: &[i64], lens: Option<Vec<i64>>| {
        let mut g = GraphBuilder::new(14);
        g.input("X", &[3, 2, 4]);
        let n: i64 = w.iter().product();
        g.init_f32("W", w, vec![0.1; n as usize])
            .init_f32("R", &[1, 8, 2], vec![0.1; 16]);
        let mut ins = vec!["X", "W", "R"];
        if let Some(l) = lens {
            g.init_i64("lens", &[l.len() as i64], l);
            ins.extend(["", "lens"]);
        }
        g.node("LSTM", &ins, &["Y"], attrs);
        g.output("Y");
        load_or_run_err(&g)
    };
    let h2 = || attr_int("hidden_size", 2);
    let e = lstm(
        vec![
            h2(),
            attr_strings("activations", &["Sigmoid", "Elu", "Tanh"]),
        ],
        &[1, 8, 4],
        None,
    );
    assert!(
        e.contains("lstm_0") && e.contains("`Elu` is not supported"),
        "{e}"
    );
    let e = lstm(
        vec![h2(), attr_string("direction", "sideways")],
        &[1, 8, 4],
        None,
    );
    assert!(e.contains("lstm_0") && e.contains("sideways"), "{e}");
    let e = lstm(vec![h2(), attr_int("layout", 2)], &[1, 8, 4], None);
    assert!(e.contains("layout 2"), "{e}");
    let e = lstm(vec![h2()], &[1, 8, 5], None);
    assert!(
        e.contains("lstm_0") && e.contains("W has shape [1, 8, 5]"),
        "{e}"
    );
    let e = lstm(vec![h2()], &[1, 8, 4], Some(vec![3, 9]));
    assert!(
        e.contains("lstm_0") && e.contains("sequence_lens entry 9"),
        "{e}"
    );
    let e = lstm(vec![attr_int("hidden_size", -3)], &[1, 8, 4], None);
    assert!(e.contains("hidden_size -3"), "{e}");

    let branch = |outs: &[&str], op: &str| {
        let mut b = GraphBuilder::new(13);
        for o in outs {
            b.node(op, &["x"], &[o], vec![]);
            b.output(o);
        }
        b.graph()
    };
    let if_graph = |then_g, else_g| {
        let mut g = GraphBuilder::new(13);
        g.input("x", &[2, 3]).input_typed("c", DataType::Bool, &[]);
        g.node(
            "If",
            &["c"],
            &["y"],
            vec![
                attr_graph("then_branch", then_g),
                attr_graph("else_branch", else_g),
            ],
        );
        g.output("y");
        load_or_run_err(&g)
    };
    let e = if_graph(branch(&["a", "b"], "Relu"), branch(&["a"], "Relu"));
    assert!(
        e.contains("if_0") && e.contains("then_branch has 2 output(s), the node declares 1"),
        "{e}"
    );
    let e = if_graph(branch(&["a"], "Relu"), branch(&["a"], "NoSuchOp"));
    assert!(
        e.contains("else_branch") && e.contains("op NoSuchOp"),
        "{e}"
    );
}
