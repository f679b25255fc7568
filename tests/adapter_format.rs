//! Adapter TOML: parsing, validation errors, and the differentiable generator -> input map.

use candle_core::{DType, Device, Tensor, Var};
use probegan::adapter::{interpolation_matrix, Adapter, Layout, ResizeMethod, ValueRange};
use probegan::onnx::IoInfo;

fn io(name: &str, dims: &[Option<usize>]) -> IoInfo {
    IoInfo::float(name, dims)
}

const FULL: &str = r#"
modality = "image"
model = "m.onnx"
[input]
size = [4, 6]
channels = 3
layout = "NHWC"
range = "0..255"
mean = [1.0, 2.0, 3.0]
std = [2.0, 4.0, 8.0]
channel_order = "BGR"
resize = "nearest"
[classes]
names = ["a", "b", "c", "d"]
subset = ["c", 0, { name = "dee", label = "d" }, { name = "bee", index = 1 }]
"#;

#[test]
fn parses_every_field() {
    let a = Adapter::from_toml_str(FULL, "full.toml").unwrap();
    let i = a.input();
    assert_eq!((i.height, i.width, i.channels), (4, 6, 3));
    assert_eq!(i.layout, Layout::Nhwc);
    assert_eq!(i.range, ValueRange::ZeroTo255);
    assert!(i.bgr);
    assert_eq!(i.resize, ResizeMethod::Nearest);
    assert_eq!(a.class_names(), ["c", "a", "dee", "bee"]);
    assert_eq!(a.logit_indices().unwrap(), [2, 0, 3, 1]);
    assert_eq!(a.model_path().unwrap(), std::path::Path::new("m.onnx"));
}

#[test]
fn errors_name_the_file_and_the_problem() {
    let bad_name = FULL.replace("subset = [\"c\"", "subset = [\"zebra\"");
    let e = Adapter::from_toml_str(&bad_name, "bad.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.toml") && e.contains("zebra"), "{e}");
    let bad_index = FULL.replace("index = 1", "index = 9");
    let e = Adapter::from_toml_str(&bad_index, "idx.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("idx.toml") && e.contains("9") && e.contains("out of range"),
        "{e}"
    );
    let e = Adapter::from_toml_str(&FULL.replace("0..255", "0..9"), "r.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("r.toml") && e.contains("range"), "{e}");
    let e = Adapter::from_toml_str(&FULL.replace("\"image\"", "\"mel\""), "m.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("m.toml") && e.contains("needs a [mel] table"),
        "{e}"
    );
    let e = Adapter::from_toml_str(
        &FULL.replace("mean = [1.0, 2.0, 3.0]", "mean = [1.0, 2.0]"),
        "c.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("mean") && e.contains("3 channels"), "{e}");
    let e = Adapter::from_toml_str(
        &FULL.replace("std = [2.0, 4.0, 8.0]", "std = [0.0]"),
        "s.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("std"), "{e}");
    let e = Adapter::from_toml_str(
        "[input]\nsize=[2,2]\n[classes]\nnames=[\"a\",\"a\"]\n",
        "d.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("twice"), "{e}");
    let e = Adapter::from_toml_str(
        "[input]\nsize=[2,2]\nwhat=1\n[classes]\nnames=[\"a\"]\n",
        "u.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("u.toml") && e.contains("what"), "{e}");
}

#[test]
fn labels_file_resolves_relative_to_the_adapter() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/labels.txt"), "cat\ndog\n\nbird\n").unwrap();
    let path = dir.path().join("sub/a.toml");
    std::fs::write(
        &path,
        "[input]\nsize=[8,8]\n[classes]\nlabels_file=\"labels.txt\"\nsubset=[\"bird\",\"cat\"]\n",
    )
    .unwrap();
    let a = Adapter::load(&path).unwrap();
    assert_eq!(a.class_names(), ["bird", "cat"]);
    assert_eq!(a.logit_indices().unwrap(), [2, 0]);
    std::fs::write(
        &path,
        "[input]\nsize=[8,8]\n[classes]\nlabels_file=\"nope.txt\"\n",
    )
    .unwrap();
    let e = format!("{:#}", Adapter::load(&path).unwrap_err());
    assert!(e.contains("a.toml") && e.contains("nope.txt"), "{e}");
}

#[test]
fn validates_against_declared_model_shapes() {
    let a = Adapter::from_toml_str(FULL, "full.toml").unwrap();
    // NHWC [N, 4, 6, 3], 4 logits: fine; 3 logits: subset index 3 is out of range.
    a.validate_against_io(
        &[io("x", &[None, Some(4), Some(6), Some(3)])],
        &[io("y", &[None, Some(4)])],
    )
    .unwrap();
    let e = a
        .validate_against_io(
            &[io("x", &[None, Some(4), Some(6), Some(3)])],
            &[io("y", &[None, Some(3)])],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("full.toml") && e.contains("3 logits"), "{e}");
    let e = a
        .validate_against_io(
            &[io("x", &[None, Some(5), Some(6), Some(3)])],
            &[io("y", &[None, Some(4)])],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("height 4") && e.contains("height 5"), "{e}");
    let e = a
        .validate_against_io(
            &[io("x", &[None, Some(4), Some(6), Some(1)])],
            &[io("y", &[None, Some(4)])],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("channels"), "{e}");
    let e = a
        .validate_against_io(&[io("x", &[None, Some(24)])], &[io("y", &[None, Some(4)])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("rank"), "{e}");
    // Free dims accept anything.
    a.validate_against_io(
        &[io("x", &[None, None, None, Some(3)])],
        &[io("y", &[None, None])],
    )
    .unwrap();
}

#[test]
fn value_range_mean_std_bgr_and_layout() {
    let a = Adapter::from_toml_str(&FULL.replace("size = [4, 6]", "size = [1, 2]"), "f").unwrap();
    // Generator pixel values: R=-1, G=0, B=1 at both pixels.
    let x = Tensor::from_vec(vec![-1f32, -1., 0., 0., 1., 1.], (1, 3, 1, 2), &Device::Cpu).unwrap();
    let y = a.generator_to_input(&x).unwrap();
    assert_eq!(y.dims(), [1, 1, 2, 3]); // NHWC
    let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
    // BGR: channel 0 is B (255), 1 is G (127.5), 2 is R (0); then (v - mean) / std.
    let want = [(255.0 - 1.0) / 2.0, (127.5 - 2.0) / 4.0, (0.0 - 3.0) / 8.0];
    for p in 0..2 {
        for c in 0..3 {
            assert!((v[p * 3 + c] - want[c]).abs() < 1e-4, "{v:?}");
        }
    }
}

#[test]
fn grey_rgb_conversions() {
    let grey = Adapter::from_toml_str(
        "[input]\nsize=[1,1]\nchannels=1\nrange=\"-1..1\"\n[classes]\nnames=[\"a\"]\n",
        "g",
    )
    .unwrap();
    let rgb = Tensor::from_vec(vec![1f32, 0., -1.], (1, 3, 1, 1), &Device::Cpu).unwrap();
    let y: Vec<f32> = grey
        .generator_to_input(&rgb)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!((y[0] - (0.299 - 0.114)).abs() < 1e-6, "{y:?}");
    let colour = Adapter::from_toml_str(
        "[input]\nsize=[1,1]\nchannels=3\nrange=\"-1..1\"\n[classes]\nnames=[\"a\"]\n",
        "c",
    )
    .unwrap();
    let g = Tensor::from_vec(vec![0.5f32], (1, 1, 1, 1), &Device::Cpu).unwrap();
    let y: Vec<f32> = colour
        .generator_to_input(&g)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(y, vec![0.5, 0.5, 0.5]);
}

#[test]
fn bilinear_matches_half_pixel_reference_values() {
    // Upsampling [0, 1] to 4 samples, align_corners = false (PyTorch/ONNX default).
    let m = interpolation_matrix(2, 4, 0, 4, ResizeMethod::Bilinear);
    let out: Vec<f32> = (0..4).map(|o| m[o * 2 + 1]).collect();
    assert_eq!(out, vec![0.0, 0.25, 0.75, 1.0]);
    // Shrinking by 2 averages neighbouring pairs (antialiased).
    let m = interpolation_matrix(4, 2, 0, 2, ResizeMethod::Bilinear);
    let row0 = &m[0..4];
    assert!(
        (row0[0] - row0[1]).abs() < 1e-6 && row0[0] > 0.3,
        "{row0:?}"
    );
    for o in 0..2 {
        assert!((m[o * 4..o * 4 + 4].iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}

#[test]
fn center_crop_keeps_the_middle() {
    let a = Adapter::from_toml_str(
        "[input]\nsize=[2,2]\nchannels=1\nrange=\"-1..1\"\nresize=\"nearest\"\nfit=\"center-crop\"\n[classes]\nnames=[\"a\"]\n",
        "cc",
    )
    .unwrap();
    // 2x4 image; cover 2x2 at scale 1 -> crop columns 1..3.
    let x = Tensor::from_vec(
        vec![0f32, 1., 2., 3., 4., 5., 6., 7.],
        (1, 1, 2, 4),
        &Device::Cpu,
    )
    .unwrap();
    let y: Vec<f32> = a
        .generator_to_input(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(y, vec![1.0, 2.0, 5.0, 6.0]);
}

#[test]
fn generator_to_input_gradient_matches_finite_differences() {
    let a = Adapter::from_toml_str(
        "[input]\nsize=[5,7]\nchannels=3\nrange=\"0..1\"\nmean=[0.4,0.5,0.6]\nstd=[0.2,0.3,0.4]\nchannel_order=\"BGR\"\n[classes]\nnames=[\"a\"]\n",
        "grad",
    )
    .unwrap();
    let dev = Device::Cpu;
    let x0 = Tensor::rand(-1f64, 1f64, (2, 1, 9, 4), &dev).unwrap();
    let w = Tensor::rand(-1f64, 1f64, (2, 3, 5, 7), &dev).unwrap();
    let f = |x: &Tensor| -> Tensor {
        (a.generator_to_input(x).unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let x = Var::from_tensor(&x0).unwrap();
    let grads = f(x.as_tensor()).backward().unwrap();
    let g: Vec<f64> = grads
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let base: Vec<f64> = x0.flatten_all().unwrap().to_vec1().unwrap();
    let h = 1e-5;
    for i in [0, 5, 17, 36, 71] {
        let mut p = base.clone();
        p[i] += h;
        let mut m = base.clone();
        m[i] -= h;
        let fp = f(&Tensor::from_vec(p, (2, 1, 9, 4), &dev).unwrap())
            .to_scalar::<f64>()
            .unwrap();
        let fm = f(&Tensor::from_vec(m, (2, 1, 9, 4), &dev).unwrap())
            .to_scalar::<f64>()
            .unwrap();
        let fd = (fp - fm) / (2.0 * h);
        assert!(
            (fd - g[i]).abs() < 1e-6 * (1.0 + fd.abs()),
            "coord {i}: fd {fd} vs autodiff {}",
            g[i]
        );
    }
    let _ = DType::F64;
}

#[test]
fn select_logits_picks_the_subset() {
    let a = Adapter::from_toml_str(FULL, "full.toml").unwrap();
    let logits = Tensor::from_vec(
        vec![0f32, 1., 2., 3., 10., 11., 12., 13.],
        (2, 4),
        &Device::Cpu,
    )
    .unwrap();
    let s: Vec<Vec<f32>> = a.select_logits(&logits).unwrap().to_vec2().unwrap();
    assert_eq!(s, vec![vec![2., 0., 3., 1.], vec![12., 10., 13., 11.]]);
    let short = Tensor::zeros((1, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(a
        .select_logits(&short)
        .unwrap_err()
        .to_string()
        .contains("out of range"));
}

#[test]
fn images_to_input_decodes_and_names_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img.png");
    image::RgbImage::from_fn(8, 6, |x, _| image::Rgb([(x * 30) as u8, 0, 255]))
        .save(&p)
        .unwrap();
    let a = Adapter::from_toml_str(
        "[input]\nsize=[3,4]\nchannels=3\nrange=\"0..1\"\n[classes]\nnames=[\"a\"]\n",
        "i",
    )
    .unwrap();
    let y = a
        .images_to_input(&[p.clone(), p.clone()], &Device::Cpu)
        .unwrap();
    assert_eq!(y.dims(), [2, 3, 3, 4]);
    let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
    assert!(v.iter().all(|&x| (-1e-5..=1.0 + 1e-5).contains(&x)));
    assert!((v[2 * 12] - 1.0).abs() < 1e-5); // blue plane is 255 -> 1.0
    let bad = dir.path().join("bad.png");
    std::fs::write(&bad, b"not a png").unwrap();
    let e = format!("{:#}", a.images_to_input(&[bad], &Device::Cpu).unwrap_err());
    assert!(e.contains("bad.png"), "{e}");
}

/// Rank-3 model inputs (`[N, frames, features]` spectrogram models) and channel counts other
/// than 1 and 3: the layouts map the generator's one-channel image, the check reads the
/// declared rank, and impossible combinations are refused in words.
#[test]
fn rank_three_layouts_and_any_channel_count() {
    let dev = Device::Cpu;
    let adapter = |input: &str| {
        Adapter::from_toml_str(
            &format!("[input]\n{input}\nrange=\"-1..1\"\n[classes]\nnames=[\"a\", \"b\"]\n"),
            "test.toml",
        )
    };
    // Generator space [2, 1, 4, 6]: 4 rows (e.g. mel bands), 6 columns (frames).
    let x = Tensor::arange(0f32, 48.0, &dev)
        .unwrap()
        .reshape((2, 1, 4, 6))
        .unwrap();
    let nwh = adapter("size=[4,6]\nchannels=1\nlayout=\"NWH\"").unwrap();
    let y = nwh.generator_to_input(&x).unwrap();
    assert_eq!(y.dims(), &[2, 6, 4]);
    let want = x.squeeze(1).unwrap().transpose(1, 2).unwrap();
    let diff = (y - want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(diff, 0.0);
    let nhw = adapter("size=[4,6]\nchannels=1\nlayout=\"NHW\"").unwrap();
    assert_eq!(nhw.generator_to_input(&x).unwrap().dims(), &[2, 4, 6]);
    // The model declares [N, frames=6, bands=4]: NWH fits, NHW and NCHW are told why not.
    let inputs = [io("features", &[None, Some(6), Some(4)])];
    let outputs = [io("logits", &[None, Some(2)])];
    nwh.validate_against_io(&inputs, &outputs).unwrap();
    let e = nhw
        .validate_against_io(&inputs, &outputs)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("height 4") && e.contains("declares height 6"),
        "{e}"
    );
    let nchw = adapter("size=[4,6]\nchannels=1").unwrap();
    let e = nchw
        .validate_against_io(&inputs, &outputs)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rank-4") && e.contains("NWH"), "{e}");
    let e = format!(
        "{:#}",
        adapter("size=[4,6]\nchannels=2\nlayout=\"NHW\"").unwrap_err()
    );
    assert!(e.contains("channels must be 1"), "{e}");

    // Four channels (e.g. RGB + depth): grey fills every channel, per-channel mean/std apply.
    let four = adapter("size=[4,6]\nchannels=4\nmean=[0,0,0,1]\nstd=[1,1,1,2]").unwrap();
    let y = four.generator_to_input(&x).unwrap();
    assert_eq!(y.dims(), &[2, 4, 4, 6]);
    let last = y.narrow(1, 3, 1).unwrap();
    let want = ((x.clone() - 1.0).unwrap() / 2.0).unwrap();
    let diff = (last - want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-6, "{diff}");
    let two = Tensor::zeros((1, 2, 4, 6), DType::F32, &dev).unwrap();
    let e = four.generator_to_input(&two).unwrap_err().to_string();
    assert!(
        e.contains("cannot convert 2 generator channels to the model's 4"),
        "{e}"
    );
    let e = format!("{:#}", adapter("size=[4,6]\nchannels=0").unwrap_err());
    assert!(e.contains("channels 0"), "{e}");
}
