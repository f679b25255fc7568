//! Kernels against naive loop references (values) and central finite differences (gradients,
//! first and second order), in f64 on CPU. Second order uses the loss ||dL/d(inputs)||^2, the
//! shape of the WGAN-GP penalty, so it exercises each op's backward being differentiable.
//!
//! Needs CANDLE_GRAD_DO_NOT_DETACH=1 (set by .cargo/config.toml for cargo test).

use candle_core::{Device, Result, Tensor, Var};
use probegan::kernels::{self, Conv2dSpec, ConvTranspose2dSpec, Pad2d, Pool2dSpec};

mod kernel_support;
use kernel_support::{check_grad, max_abs_diff, rand_t};

// ---------- helpers ----------

/// `L = sum(tanh(op(inputs)) * r)`: tanh makes second derivatives non-trivial even for ops
/// that are linear in their inputs.
fn weighted_loss<F>(op: &F, inputs: &[Tensor], seed: u64) -> Result<Tensor>
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let y = op(inputs)?;
    let r = rand_t(y.dims(), seed);
    (y.tanh()? * r)?.sum_all()
}

/// `Σ ||dL/d input||^2 + <dL/d input, r>` with the backward graph kept (second order). The
/// squared norm is the WGAN-GP shape; the random projection makes the upstream gradient of
/// each op's backward generic (the norm alone sends gradients lying in special subspaces).
fn grad_norm_loss<F>(op: &F, inputs: &[Tensor], seed: u64) -> Result<Tensor>
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let l = weighted_loss(op, &ts, seed)?;
    let grads = l.backward()?;
    let mut total: Option<Tensor> = None;
    for (i, t) in ts.iter().enumerate() {
        if let Some(g) = grads.get(t) {
            let s = (g.sqr()?.sum_all()?
                + (g * rand_t(g.dims(), seed + 1000 + i as u64))?.sum_all()?)?;
            total = Some(match total {
                Some(acc) => (acc + s)?,
                None => s,
            });
        }
    }
    Ok(total.expect("no gradient reached any input"))
}

/// First- and second-order finite-difference checks of one op.
fn check_op<F>(what: &str, op: F, inputs: &[Tensor])
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    check_grad(
        &format!("{what} (first order)"),
        |ins| weighted_loss(&op, ins, 77),
        inputs,
        1e-5,
        1e-6,
    );
    check_grad(
        &format!("{what} (second order)"),
        |ins| grad_norm_loss(&op, ins, 77),
        inputs,
        1e-5,
        1e-5,
    );
}

// ---------- naive references ----------

fn at(v: &[f64], dims: &[usize], idx: [usize; 4]) -> f64 {
    v[((idx[0] * dims[1] + idx[1]) * dims[2] + idx[2]) * dims[3] + idx[3]]
}

fn naive_conv2d(x: &Tensor, w: &Tensor, s: &Conv2dSpec) -> Tensor {
    let (xd, wd) = (x.dims().to_vec(), w.dims().to_vec());
    let (xv, wv) = (
        x.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
        w.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
    );
    let (n, c, h, wi) = (xd[0], xd[1], xd[2], xd[3]);
    let (o, cg, kh, kw) = (wd[0], wd[1], wd[2], wd[3]);
    let og = o / s.groups;
    let p = s.padding;
    let oh = (h + p.top + p.bottom - (kh - 1) * s.dilation.0 - 1) / s.stride.0 + 1;
    let ow = (wi + p.left + p.right - (kw - 1) * s.dilation.1 - 1) / s.stride.1 + 1;
    let _ = c;
    let mut out = vec![0.0; n * o * oh * ow];
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = 0.0;
                    for ci in 0..cg {
                        for a in 0..kh {
                            for bb in 0..kw {
                                let y =
                                    (i * s.stride.0 + a * s.dilation.0) as isize - p.top as isize;
                                let xx =
                                    (j * s.stride.1 + bb * s.dilation.1) as isize - p.left as isize;
                                if y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < wi {
                                    acc += at(&xv, &xd, [b, g * cg + ci, y as usize, xx as usize])
                                        * at(&wv, &wd, [oc, ci, a, bb]);
                                }
                            }
                        }
                    }
                    out[((b * o + oc) * oh + i) * ow + j] = acc;
                }
            }
        }
    }
    Tensor::from_vec(out, (n, o, oh, ow), &Device::Cpu).unwrap()
}

/// Transposed convolution by its scatter definition (PyTorch semantics).
fn naive_conv_transpose2d(x: &Tensor, w: &Tensor, s: &ConvTranspose2dSpec) -> Tensor {
    let (xd, wd) = (x.dims().to_vec(), w.dims().to_vec());
    let (xv, wv) = (
        x.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
        w.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
    );
    let (n, c, h, wi) = (xd[0], xd[1], xd[2], xd[3]);
    let (_, og, kh, kw) = (wd[0], wd[1], wd[2], wd[3]);
    let cg = c / s.groups;
    let o = og * s.groups;
    let p = s.padding;
    let oh =
        (h - 1) * s.stride.0 + (kh - 1) * s.dilation.0 + 1 + s.output_padding.0 - p.top - p.bottom;
    let ow =
        (wi - 1) * s.stride.1 + (kw - 1) * s.dilation.1 + 1 + s.output_padding.1 - p.left - p.right;
    let mut out = vec![0.0; n * o * oh * ow];
    for b in 0..n {
        for ci in 0..c {
            let g = ci / cg;
            for i in 0..h {
                for j in 0..wi {
                    let xvv = at(&xv, &xd, [b, ci, i, j]);
                    for oc in 0..og {
                        for a in 0..kh {
                            for bb in 0..kw {
                                let y =
                                    (i * s.stride.0 + a * s.dilation.0) as isize - p.top as isize;
                                let xx =
                                    (j * s.stride.1 + bb * s.dilation.1) as isize - p.left as isize;
                                if y >= 0 && xx >= 0 && (y as usize) < oh && (xx as usize) < ow {
                                    out[((b * o + g * og + oc) * oh + y as usize) * ow
                                        + xx as usize] += xvv * at(&wv, &wd, [ci, oc, a, bb]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Tensor::from_vec(out, (n, o, oh, ow), &Device::Cpu).unwrap()
}

/// Pooling by definition, PyTorch semantics (ceil-mode overhang never counts).
fn naive_pool(x: &Tensor, s: &Pool2dSpec, max: bool) -> Tensor {
    let xd = x.dims().to_vec();
    let xv = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let (n, c, h, w) = (xd[0], xd[1], xd[2], xd[3]);
    let p = s.padding;
    let len = |l: usize, k: usize, st: usize, p0: usize, p1: usize, d: usize| {
        let span = l + p0 + p1 - (k - 1) * d - 1;
        let mut o = if s.ceil_mode {
            span.div_ceil(st)
        } else {
            span / st
        } + 1;
        if s.ceil_mode && (o - 1) * st >= l + p0 {
            o -= 1;
        }
        o
    };
    let oh = len(h, s.kernel.0, s.stride.0, p.top, p.bottom, s.dilation.0);
    let ow = len(w, s.kernel.1, s.stride.1, p.left, p.right, s.dilation.1);
    let mut out = vec![0.0; n * c * oh * ow];
    for b in 0..n {
        for ch in 0..c {
            for i in 0..oh {
                for j in 0..ow {
                    let (mut m, mut sum, mut cnt) = (f64::NEG_INFINITY, 0.0, 0usize);
                    for a in 0..s.kernel.0 {
                        for bb in 0..s.kernel.1 {
                            let yp = i * s.stride.0 + a * s.dilation.0; // padded coordinates
                            let xp = j * s.stride.1 + bb * s.dilation.1;
                            let inside_padded =
                                yp < h + p.top + p.bottom && xp < w + p.left + p.right;
                            let real =
                                yp >= p.top && yp < p.top + h && xp >= p.left && xp < p.left + w;
                            if real {
                                let v = at(&xv, &xd, [b, ch, yp - p.top, xp - p.left]);
                                m = m.max(v);
                                sum += v;
                            }
                            if real || (s.count_include_pad && inside_padded) {
                                cnt += 1;
                            }
                        }
                    }
                    out[((b * c + ch) * oh + i) * ow + j] = if max { m } else { sum / cnt as f64 };
                }
            }
        }
    }
    Tensor::from_vec(out, (n, c, oh, ow), &Device::Cpu).unwrap()
}

// ---------- conv2d ----------

fn conv_cases() -> Vec<(Vec<usize>, Vec<usize>, Conv2dSpec)> {
    let pad = |t, l, b, r| Pad2d {
        top: t,
        left: l,
        bottom: b,
        right: r,
    };
    vec![
        (
            vec![2, 3, 5, 6],
            vec![4, 3, 3, 3],
            Conv2dSpec {
                padding: Pad2d::same(1),
                ..Default::default()
            },
        ),
        // stride 1 with output width = input width (im2col's shifted-plane path): dilated,
        // asymmetric pads, fewer output rows than input rows
        (
            vec![2, 3, 6, 7],
            vec![2, 3, 3, 2],
            Conv2dSpec {
                padding: pad(2, 1, 0, 1),
                dilation: (2, 2),
                ..Default::default()
            },
        ),
        // same path, a kernel wider than the input: some taps read only padding
        (
            vec![1, 2, 3, 2],
            vec![2, 2, 1, 5],
            Conv2dSpec {
                padding: pad(0, 2, 0, 2),
                ..Default::default()
            },
        ),
        (
            vec![2, 4, 7, 5],
            vec![6, 2, 3, 2],
            Conv2dSpec {
                stride: (2, 1),
                padding: pad(1, 0, 2, 1),
                dilation: (1, 2),
                groups: 2,
            },
        ),
        (
            vec![1, 3, 6, 7],
            vec![3, 1, 3, 3],
            Conv2dSpec {
                stride: (1, 2),
                padding: pad(2, 1, 0, 1),
                dilation: (2, 1),
                groups: 3,
            },
        ),
        (vec![2, 4, 4, 4], vec![3, 4, 1, 1], Conv2dSpec::default()),
        (
            vec![1, 2, 9, 8],
            vec![2, 2, 4, 4],
            Conv2dSpec {
                stride: (2, 2),
                padding: Pad2d::same(1),
                ..Default::default()
            },
        ),
        // depthwise (its own CPU path), odd size, stride 2, asymmetric pad
        (
            vec![2, 3, 7, 5],
            vec![3, 1, 3, 3],
            Conv2dSpec {
                stride: (2, 2),
                padding: pad(1, 1, 0, 1),
                groups: 3,
                ..Default::default()
            },
        ),
        (
            vec![1, 4, 5, 6],
            vec![4, 1, 3, 2],
            Conv2dSpec {
                stride: (1, 1),
                padding: Pad2d::same(1),
                dilation: (1, 2),
                groups: 4,
            },
        ),
    ]
}

#[test]
fn conv2d_matches_naive_reference() {
    for (k, (xs, ws, spec)) in conv_cases().into_iter().enumerate() {
        let (x, w, b) = (
            rand_t(&xs, 1 + k as u64),
            rand_t(&ws, 100 + k as u64),
            rand_t(&[ws[0]], 200 + k as u64),
        );
        let want = naive_conv2d(&x, &w, &spec)
            .broadcast_add(&b.reshape((1, (), 1, 1)).unwrap())
            .unwrap();
        let got = kernels::conv2d(&x, &w, Some(&b), &spec).unwrap();
        assert!(max_abs_diff(&got, &want) < 1e-12, "case {k} {spec:?}");
        let got = kernels::compose::conv2d(&x, &w, Some(&b), &spec).unwrap();
        assert!(
            max_abs_diff(&got, &want) < 1e-12,
            "compose case {k} {spec:?}"
        );
        let x32 = x.to_dtype(candle_core::DType::F32).unwrap();
        let w32 = w.to_dtype(candle_core::DType::F32).unwrap();
        let b32 = b.to_dtype(candle_core::DType::F32).unwrap();
        let got = kernels::conv2d(&x32, &w32, Some(&b32), &spec).unwrap();
        assert!(max_abs_diff(&got, &want) < 1e-4, "f32 case {k} {spec:?}");
    }
}

#[test]
fn conv2d_gradients_first_and_second_order() {
    for (k, (xs, ws, spec)) in conv_cases().into_iter().enumerate() {
        let inputs = [
            rand_t(&xs, 1 + k as u64),
            rand_t(&ws, 100 + k as u64),
            rand_t(&[ws[0]], 200 + k as u64),
        ];
        check_op(
            &format!("conv2d case {k}"),
            |t| kernels::conv2d(&t[0], &t[1], Some(&t[2]), &spec),
            &inputs,
        );
        check_op(
            &format!("compose::conv2d case {k}"),
            |t| kernels::compose::conv2d(&t[0], &t[1], Some(&t[2]), &spec),
            &inputs,
        );
    }
}

// ---------- conv_transpose2d ----------

fn conv_t_cases() -> Vec<(Vec<usize>, Vec<usize>, ConvTranspose2dSpec)> {
    let pad = |t, l, b, r| Pad2d {
        top: t,
        left: l,
        bottom: b,
        right: r,
    };
    vec![
        (
            vec![2, 4, 3, 3],
            vec![4, 3, 4, 4],
            ConvTranspose2dSpec {
                stride: (2, 2),
                padding: Pad2d::same(1),
                ..Default::default()
            },
        ),
        (
            vec![2, 4, 3, 4],
            vec![4, 3, 3, 2],
            ConvTranspose2dSpec {
                stride: (2, 3),
                padding: pad(1, 0, 0, 1),
                output_padding: (1, 2),
                dilation: (1, 1),
                groups: 2,
            },
        ),
        (
            vec![1, 3, 4, 3],
            vec![3, 1, 2, 3],
            ConvTranspose2dSpec {
                stride: (1, 2),
                padding: pad(0, 1, 1, 0),
                output_padding: (0, 1),
                dilation: (2, 1),
                groups: 3,
            },
        ),
        (
            vec![2, 3, 5, 4],
            vec![3, 2, 1, 1],
            ConvTranspose2dSpec::default(),
        ),
        // depthwise transposed convolution
        (
            vec![2, 3, 3, 4],
            vec![3, 1, 3, 3],
            ConvTranspose2dSpec {
                stride: (2, 2),
                padding: Pad2d::same(1),
                output_padding: (1, 0),
                groups: 3,
                ..Default::default()
            },
        ),
    ]
}

#[test]
fn conv_transpose2d_matches_naive_reference() {
    for (k, (xs, ws, spec)) in conv_t_cases().into_iter().enumerate() {
        let (x, w) = (rand_t(&xs, 3 + k as u64), rand_t(&ws, 300 + k as u64));
        let o = ws[1] * spec.groups;
        let b = rand_t(&[o], 400 + k as u64);
        let want = naive_conv_transpose2d(&x, &w, &spec)
            .broadcast_add(&b.reshape((1, (), 1, 1)).unwrap())
            .unwrap();
        let got = kernels::conv_transpose2d(&x, &w, Some(&b), &spec).unwrap();
        assert!(max_abs_diff(&got, &want) < 1e-12, "case {k} {spec:?}");
        let got = kernels::compose::conv_transpose2d(&x, &w, Some(&b), &spec).unwrap();
        assert!(
            max_abs_diff(&got, &want) < 1e-12,
            "compose case {k} {spec:?}"
        );
    }
}

#[test]
fn conv_transpose2d_gradients_first_and_second_order() {
    for (k, (xs, ws, spec)) in conv_t_cases().into_iter().enumerate() {
        let o = ws[1] * spec.groups;
        let inputs = [
            rand_t(&xs, 3 + k as u64),
            rand_t(&ws, 300 + k as u64),
            rand_t(&[o], 400 + k as u64),
        ];
        check_op(
            &format!("conv_transpose2d case {k}"),
            |t| kernels::conv_transpose2d(&t[0], &t[1], Some(&t[2]), &spec),
            &inputs,
        );
        check_op(
            &format!("compose::conv_transpose2d case {k}"),
            |t| kernels::compose::conv_transpose2d(&t[0], &t[1], Some(&t[2]), &spec),
            &inputs,
        );
    }
}

// ---------- pooling ----------

fn pool_cases() -> Vec<(Vec<usize>, Pool2dSpec)> {
    let pad = |t, l, b, r| Pad2d {
        top: t,
        left: l,
        bottom: b,
        right: r,
    };
    let base = Pool2dSpec {
        kernel: (2, 2),
        stride: (2, 2),
        padding: Pad2d::default(),
        dilation: (1, 1),
        ceil_mode: false,
        count_include_pad: true,
    };
    vec![
        (vec![2, 2, 5, 5], base),
        (
            vec![1, 2, 7, 6],
            Pool2dSpec {
                kernel: (3, 3),
                stride: (2, 2),
                padding: Pad2d::same(1),
                ..base
            },
        ),
        (
            vec![1, 2, 7, 6],
            Pool2dSpec {
                kernel: (3, 3),
                stride: (2, 2),
                padding: Pad2d::same(1),
                count_include_pad: false,
                ..base
            },
        ),
        (
            vec![2, 1, 7, 8],
            Pool2dSpec {
                kernel: (3, 2),
                stride: (2, 3),
                padding: pad(1, 0, 1, 1),
                ceil_mode: true,
                ..base
            },
        ),
        (
            vec![1, 2, 8, 7],
            Pool2dSpec {
                kernel: (2, 3),
                stride: (1, 2),
                padding: pad(0, 1, 1, 1),
                dilation: (2, 1),
                ceil_mode: true,
                count_include_pad: false,
                ..base
            },
        ),
        (
            vec![1, 1, 6, 6],
            Pool2dSpec {
                kernel: (3, 3),
                stride: (1, 1),
                padding: Pad2d::same(1),
                ..base
            },
        ),
    ]
}

#[test]
fn pooling_matches_naive_reference() {
    for (k, (xs, spec)) in pool_cases().into_iter().enumerate() {
        let x = rand_t(&xs, 5 + k as u64);
        let got = kernels::max_pool2d(&x, &spec).unwrap();
        assert!(
            max_abs_diff(&got, &naive_pool(&x, &spec, true)) < 1e-12,
            "max case {k} {spec:?}"
        );
        let got = kernels::avg_pool2d(&x, &spec).unwrap();
        assert!(
            max_abs_diff(&got, &naive_pool(&x, &spec, false)) < 1e-12,
            "avg case {k} {spec:?}"
        );
        let got = kernels::compose::max_pool2d(&x, &spec).unwrap();
        assert!(
            max_abs_diff(&got, &naive_pool(&x, &spec, true)) < 1e-12,
            "compose max case {k} {spec:?}"
        );
        let got = kernels::compose::avg_pool2d(&x, &spec).unwrap();
        assert!(
            max_abs_diff(&got, &naive_pool(&x, &spec, false)) < 1e-12,
            "compose avg case {k} {spec:?}"
        );
    }
}

#[test]
fn pooling_gradients_first_and_second_order() {
    for (k, (xs, spec)) in pool_cases().into_iter().enumerate() {
        let inputs = [rand_t(&xs, 5 + k as u64)];
        check_op(
            &format!("max_pool2d case {k}"),
            |t| kernels::max_pool2d(&t[0], &spec),
            &inputs,
        );
        check_op(
            &format!("avg_pool2d case {k}"),
            |t| kernels::avg_pool2d(&t[0], &spec),
            &inputs,
        );
        check_op(
            &format!("compose::max_pool2d case {k}"),
            |t| kernels::compose::max_pool2d(&t[0], &spec),
            &inputs,
        );
        check_op(
            &format!("compose::avg_pool2d case {k}"),
            |t| kernels::compose::avg_pool2d(&t[0], &spec),
            &inputs,
        );
    }
}

#[test]
fn pooling_rejects_padding_as_large_as_the_kernel() {
    let spec = Pool2dSpec {
        kernel: (2, 2),
        stride: (1, 1),
        padding: Pad2d::same(2),
        dilation: (1, 1),
        ceil_mode: false,
        count_include_pad: true,
    };
    let err = kernels::max_pool2d(&rand_t(&[1, 1, 4, 4], 1), &spec).unwrap_err();
    assert!(err.to_string().contains("padding"), "{err}");
}

/// The WGAN-GP shape through max pooling: `P(w) = ||d/dx Σ v·maxpool(x·w)||²` reaches the
/// pooled input `x·w` only through the choice of maxima.
#[test]
fn max_pool_penalty_through_the_argmax_only() {
    let spec = Pool2dSpec {
        kernel: (2, 2),
        stride: (2, 2),
        padding: Pad2d::default(),
        dilation: (1, 1),
        ceil_mode: false,
        count_include_pad: true,
    };
    let x = rand_t(&[2, 2, 4, 6], 41);
    let v = rand_t(&[2, 2, 2, 3], 42);
    let penalty = |t: &[Tensor]| -> Result<Tensor> {
        let xv = Var::from_tensor(&x)?;
        let d = (kernels::max_pool2d(&(xv.as_tensor() * &t[0])?, &spec)? * &v)?.sum_all()?;
        let g = d.backward()?;
        g.get(xv.as_tensor())
            .expect("input gradient")
            .sqr()?
            .sum_all()
    };
    let w = (rand_t(&[2, 2, 4, 6], 43) * 0.5)
        .unwrap()
        .affine(1.0, 1.0)
        .unwrap();
    check_grad("max_pool2d penalty", penalty, &[w], 1e-5, 1e-6);
}

// ---------- upsampling, batch norm ----------

#[test]
fn upsample_nearest_values_and_gradients() {
    let x = rand_t(&[2, 2, 3, 4], 9);
    let y = kernels::upsample_nearest2d(&x, 2, 3).unwrap();
    assert_eq!(y.dims(), &[2, 2, 6, 12]);
    let xs = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let ys = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    for b in 0..4 {
        for i in 0..6 {
            for j in 0..12 {
                assert_eq!(ys[(b * 6 + i) * 12 + j], xs[(b * 3 + i / 2) * 4 + j / 3]);
            }
        }
    }
    // The input also feeds another consumer: candle's own upsample gets this case wrong.
    check_op(
        "upsample_nearest2d",
        |t| {
            kernels::upsample_nearest2d(&t[0], 2, 3)?
                .sum_keepdim(3)?
                .broadcast_add(&t[0].sum_keepdim(3)?.repeat((1, 1, 2, 1))?)
        },
        &[x],
    );
}

#[test]
fn batch_norm_train_gradients_first_and_second_order() {
    // inner size 12: exercises both the 8-wide vector loop and its remainder.
    let inputs = [
        rand_t(&[2, 2, 3, 4], 11),
        rand_t(&[2], 12),
        rand_t(&[2], 13),
    ];
    check_op(
        "batch_norm_train",
        |t| Ok(kernels::batch_norm_train(&t[0], Some(&t[1]), Some(&t[2]), 1e-5)?.0),
        &inputs,
    );
}

#[test]
fn batch_norm_train_one_sided_affine_gradients_first_and_second_order() {
    // A missing coefficient becomes a constant of the fused op: gradients must still be exact.
    let x = rand_t(&[3, 2, 1, 5], 14);
    check_op(
        "batch_norm_train (gamma only)",
        |t| Ok(kernels::batch_norm_train(&t[0], Some(&t[1]), None, 1e-5)?.0),
        &[x.clone(), rand_t(&[2], 15)],
    );
    check_op(
        "batch_norm_train (beta only)",
        |t| Ok(kernels::batch_norm_train(&t[0], None, Some(&t[1]), 1e-5)?.0),
        &[x, rand_t(&[2], 16)],
    );
}

#[test]
fn batch_norm_train_per_sample_gradients_first_and_second_order() {
    // Conditional BN: scale and shift per (sample, channel); inner 12 as above.
    let inputs = [
        rand_t(&[3, 2, 3, 4], 17),
        rand_t(&[3, 2], 18),
        rand_t(&[3, 2], 19),
    ];
    check_op(
        "batch_norm_train_per_sample",
        |t| Ok(kernels::batch_norm_train_per_sample(&t[0], &t[1], &t[2], 1e-5)?.0),
        &inputs,
    );
}

#[test]
fn batch_norm_train_fused_equals_normalise_then_affine() {
    // Values, statistics and first-order gradients of the fused ops against the unfused
    // composition (normalise, then the separate affine ops), per channel and per sample.
    let x = rand_t(&[4, 3, 2, 5], 22);
    let (s, b) = (rand_t(&[4, 3], 23), rand_t(&[4, 3], 24));
    let (g1, b1) = (rand_t(&[3], 25), rand_t(&[3], 26));
    let r = rand_t(&[4, 3, 2, 5], 27);
    type Bn = Box<dyn Fn(&[Tensor]) -> Result<(Tensor, Tensor, Tensor)>>;
    let cases: [(&str, Vec<Tensor>, Bn, Bn); 2] = [
        (
            "per channel",
            vec![x.clone(), g1, b1],
            Box::new(|t| kernels::batch_norm_train(&t[0], Some(&t[1]), Some(&t[2]), 1e-5)),
            Box::new(|t| {
                let (y, m, v) = kernels::batch_norm_train(&t[0], None, None, 1e-5)?;
                let y = y
                    .broadcast_mul(&t[1].reshape((1, 3, 1, 1))?)?
                    .broadcast_add(&t[2].reshape((1, 3, 1, 1))?)?;
                Ok((y, m, v))
            }),
        ),
        (
            "per sample",
            vec![x, s, b],
            Box::new(|t| kernels::batch_norm_train_per_sample(&t[0], &t[1], &t[2], 1e-5)),
            Box::new(|t| {
                let (y, m, v) = kernels::batch_norm_train(&t[0], None, None, 1e-5)?;
                Ok((kernels::sample_channel_affine(&y, &t[1], &t[2])?, m, v))
            }),
        ),
    ];
    for (what, inputs, fused, unfused) in cases {
        let vars: Vec<Var> = inputs
            .iter()
            .map(|t| Var::from_tensor(t).unwrap())
            .collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let (ya, ma, va) = fused(&ts).unwrap();
        let (yb, mb, vb) = unfused(&ts).unwrap();
        assert!(max_abs_diff(&ya, &yb) < 1e-12, "{what}: values differ");
        assert!(max_abs_diff(&ma, &mb) < 1e-12 && max_abs_diff(&va, &vb) < 1e-12);
        let ga = (&ya * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (&yb * &r).unwrap().sum_all().unwrap().backward().unwrap();
        for (i, t) in ts.iter().enumerate() {
            let d = max_abs_diff(ga.get(t).unwrap(), gb.get(t).unwrap());
            assert!(
                d < 1e-10,
                "{what}: gradient of input {i} differs by {d:.3e}"
            );
        }
    }
}

#[test]
fn batch_norm_train_per_sample_rejects_bad_coefficients() {
    let x = rand_t(&[2, 3, 2, 2], 28);
    let err =
        kernels::batch_norm_train_per_sample(&x, &rand_t(&[3], 29), &rand_t(&[2, 3], 30), 1e-5)
            .unwrap_err()
            .to_string();
    assert!(err.contains("scale") && err.contains("[2, 3]"), "{err}");
}

#[test]
fn batch_norm_train_values_and_statistics() {
    let x = rand_t(&[4, 3, 2, 5], 21);
    let (y, mean, var) = kernels::batch_norm_train(&x, None, None, 0.0).unwrap();
    let xv = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let yv = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let (mv, vv) = (
        mean.to_vec1::<f64>().unwrap(),
        var.to_vec1::<f64>().unwrap(),
    );
    for c in 0..3 {
        let idx: Vec<usize> = (0..4)
            .flat_map(|n| (0..10).map(move |k| (n * 3 + c) * 10 + k))
            .collect();
        let m = idx.iter().map(|&i| xv[i]).sum::<f64>() / 40.0;
        let v = idx.iter().map(|&i| (xv[i] - m).powi(2)).sum::<f64>() / 40.0;
        assert!((m - mv[c]).abs() < 1e-12 && (v - vv[c]).abs() < 1e-12);
        for &i in &idx {
            assert!((yv[i] - (xv[i] - m) / v.sqrt()).abs() < 1e-10);
        }
    }
}

#[test]
fn batch_norm_eval_gradients() {
    let inputs = [rand_t(&[2, 3, 2, 2], 31), rand_t(&[3], 32)];
    let (mean, var) = (
        rand_t(&[3], 33),
        (rand_t(&[3], 34).abs().unwrap() + 0.5).unwrap(),
    );
    check_op(
        "batch_norm_eval",
        |t| kernels::batch_norm_eval(&t[0], &mean, &var, Some(&t[1]), None, 1e-5),
        &inputs,
    );
}
