//! The direct-loop depthwise convolution (groups == input channels, any channel multiplier)
//! and the fused-bias convolution: values against a naive loop reference, gradients against
//! central finite differences to first and second order, in f64 on CPU; a frozen (constant)
//! weight gets no gradient while the input's stays exact.
//!
//! Needs CANDLE_GRAD_DO_NOT_DETACH=1 (set by .cargo/config.toml for cargo test).

use candle_core::{DType, Device, Result, Tensor, Var};
use probegan::kernels::{self, Conv2dSpec, Pad2d};

mod kernel_support;
use kernel_support::{check_grad, max_abs_diff, rand_t, to_vec};

/// Convolution by definition (PyTorch/ONNX semantics), f64.
fn naive_conv2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, s: &Conv2dSpec) -> Tensor {
    let (xd, wd) = (x.dims().to_vec(), w.dims().to_vec());
    let (xv, wv) = (to_vec(x), to_vec(w));
    let bv = b.map(to_vec);
    let (n, c, h, wi) = (xd[0], xd[1], xd[2], xd[3]);
    let (o, cg, kh, kw) = (wd[0], wd[1], wd[2], wd[3]);
    let og = o / s.groups;
    let p = s.padding;
    let oh = (h + p.top + p.bottom - (kh - 1) * s.dilation.0 - 1) / s.stride.0 + 1;
    let ow = (wi + p.left + p.right - (kw - 1) * s.dilation.1 - 1) / s.stride.1 + 1;
    let mut out = vec![0.0; n * o * oh * ow];
    for bi in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = bv.as_ref().map_or(0.0, |b| b[oc]);
                    for ci in 0..cg {
                        for a in 0..kh {
                            for bb in 0..kw {
                                let y =
                                    (i * s.stride.0 + a * s.dilation.0) as isize - p.top as isize;
                                let xx =
                                    (j * s.stride.1 + bb * s.dilation.1) as isize - p.left as isize;
                                if y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < wi {
                                    let xi = ((bi * c + g * cg + ci) * h + y as usize) * wi
                                        + xx as usize;
                                    let wj = ((oc * cg + ci) * kh + a) * kw + bb;
                                    acc += xv[xi] * wv[wj];
                                }
                            }
                        }
                    }
                    out[((bi * o + oc) * oh + i) * ow + j] = acc;
                }
            }
        }
    }
    Tensor::from_vec(out, (n, o, oh, ow), &Device::Cpu).unwrap()
}

/// (input shape, weight shape, spec): depthwise cases covering odd sizes, asymmetric padding,
/// stride 2, dilation, a channel multiplier of 2 and 3, and a 1-wide input with wide padding.
fn cases() -> Vec<(Vec<usize>, Vec<usize>, Conv2dSpec)> {
    let pad = |t, l, b, r| Pad2d {
        top: t,
        left: l,
        bottom: b,
        right: r,
    };
    vec![
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
            vec![1, 4, 6, 7],
            vec![4, 1, 3, 2],
            Conv2dSpec {
                padding: Pad2d::same(1),
                dilation: (2, 2),
                groups: 4,
                ..Default::default()
            },
        ),
        (
            vec![2, 2, 5, 6],
            vec![4, 1, 3, 3],
            Conv2dSpec {
                stride: (1, 2),
                padding: pad(2, 1, 1, 0),
                dilation: (1, 2),
                groups: 2,
            },
        ),
        (
            vec![1, 2, 9, 8],
            vec![6, 1, 5, 5],
            Conv2dSpec {
                stride: (2, 1),
                padding: Pad2d::same(2),
                groups: 2,
                ..Default::default()
            },
        ),
        // 3-wide kernel rows at stride 1 (the fused three-tap path), with and without
        // dilation, odd sizes, multiplier 2.
        (
            vec![2, 3, 6, 7],
            vec![3, 1, 3, 3],
            Conv2dSpec {
                padding: Pad2d::same(1),
                groups: 3,
                ..Default::default()
            },
        ),
        (
            vec![1, 2, 5, 7],
            vec![4, 1, 3, 3],
            Conv2dSpec {
                padding: pad(0, 1, 2, 1),
                dilation: (1, 2),
                groups: 2,
                ..Default::default()
            },
        ),
        (
            vec![2, 3, 1, 1],
            vec![3, 1, 3, 3],
            Conv2dSpec {
                padding: Pad2d::same(1),
                groups: 3,
                ..Default::default()
            },
        ),
    ]
}

/// `L = sum(tanh(conv(x, w) + b) * r)`.
fn loss(x: &Tensor, w: &Tensor, b: &Tensor, spec: &Conv2dSpec, fused: bool) -> Result<Tensor> {
    let y = if fused {
        kernels::conv2d(x, w, Some(b), spec)?
    } else {
        // the unfused reference: conv without bias, then a broadcast add
        kernels::conv2d(x, w, None, spec)?.broadcast_add(&b.reshape((1, (), 1, 1))?)?
    };
    let r = rand_t(y.dims(), 77);
    (y.tanh()? * r)?.sum_all()
}

/// `||dL/dx||^2 + ||dL/dw||^2 + <dL/dx, r>`: the WGAN-GP shape, differentiating through the
/// convolution's backward ops.
fn grad_loss(x: &Tensor, w: &Tensor, b: &Tensor, spec: &Conv2dSpec, fused: bool) -> Result<Tensor> {
    let (xv, wv, bv) = (
        Var::from_tensor(x)?,
        Var::from_tensor(w)?,
        Var::from_tensor(b)?,
    );
    let l = loss(xv.as_tensor(), wv.as_tensor(), bv.as_tensor(), spec, fused)?;
    let g = l.backward()?;
    let gx = g.get(xv.as_tensor()).expect("dL/dx");
    let gw = g.get(wv.as_tensor()).expect("dL/dw");
    let r = rand_t(gx.dims(), 5);
    gx.sqr()?.sum_all()? + gw.sqr()?.sum_all()? + (gx * r)?.sum_all()?
}

/// Autodiff of `f` w.r.t. x, w and b against central differences on every element.
fn check_grads(
    what: &str,
    f: &dyn Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>,
    [x, w, b]: [&Tensor; 3],
    tol: f64,
) {
    let ins = [x.clone(), w.clone(), b.clone()];
    check_grad(what, |t| f(&t[0], &t[1], &t[2]), &ins, 1e-5, tol)
}

#[test]
fn depthwise_and_fused_bias_match_naive_reference() {
    for (k, (xs, ws, spec)) in cases().into_iter().enumerate() {
        let (x, w, b) = (
            rand_t(&xs, 1 + k as u64),
            rand_t(&ws, 50 + k as u64),
            rand_t(&[ws[0]], 90 + k as u64),
        );
        let want = naive_conv2d(&x, &w, Some(&b), &spec);
        for fused in [false, true] {
            let got = if fused {
                kernels::conv2d(&x, &w, Some(&b), &spec).unwrap()
            } else {
                kernels::conv2d(&x, &w, None, &spec)
                    .and_then(|y| y.broadcast_add(&b.reshape((1, (), 1, 1))?))
                    .unwrap()
            };
            assert!(
                max_abs_diff(&got, &want) < 1e-12,
                "case {k} fused={fused} {spec:?}"
            );
            let f32s = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
            let got = kernels::conv2d(&f32s(&x), &f32s(&w), Some(&f32s(&b)), &spec).unwrap();
            assert!(max_abs_diff(&got, &want) < 1e-4, "f32 case {k} {spec:?}");
        }
    }
}

#[test]
fn fused_bias_matches_reference_for_dense_grouped_and_pointwise_convs() {
    let cases = [
        (
            vec![2, 3, 5, 6],
            vec![4, 3, 3, 3],
            Conv2dSpec {
                padding: Pad2d::same(1),
                ..Default::default()
            },
        ),
        (
            vec![2, 4, 7, 5],
            vec![6, 2, 3, 2],
            Conv2dSpec {
                stride: (2, 1),
                groups: 2,
                ..Default::default()
            },
        ),
        (vec![2, 4, 4, 3], vec![5, 4, 1, 1], Conv2dSpec::default()),
    ];
    for (k, (xs, ws, spec)) in cases.into_iter().enumerate() {
        let (x, w, b) = (
            rand_t(&xs, 3 + k as u64),
            rand_t(&ws, 60 + k as u64),
            rand_t(&[ws[0]], 99 + k as u64),
        );
        let want = naive_conv2d(&x, &w, Some(&b), &spec);
        let got = kernels::conv2d(&x, &w, Some(&b), &spec).unwrap();
        assert!(max_abs_diff(&got, &want) < 1e-12, "case {k} {spec:?}");
        check_grads(
            &format!("fused-bias conv case {k} (first order)"),
            &|x, w, b| loss(x, w, b, &spec, true),
            [&x, &w, &b],
            1e-6,
        );
        check_grads(
            &format!("fused-bias conv case {k} (second order)"),
            &|x, w, b| grad_loss(x, w, b, &spec, true),
            [&x, &w, &b],
            1e-5,
        );
    }
}

#[test]
fn depthwise_gradients_first_and_second_order() {
    for (k, (xs, ws, spec)) in cases().into_iter().enumerate() {
        let (x, w, b) = (
            rand_t(&xs, 1 + k as u64),
            rand_t(&ws, 50 + k as u64),
            rand_t(&[ws[0]], 90 + k as u64),
        );
        for fused in [false, true] {
            check_grads(
                &format!("depthwise case {k} fused={fused} (first order)"),
                &|x, w, b| loss(x, w, b, &spec, fused),
                [&x, &w, &b],
                1e-6,
            );
            check_grads(
                &format!("depthwise case {k} fused={fused} (second order)"),
                &|x, w, b| grad_loss(x, w, b, &spec, fused),
                [&x, &w, &b],
                1e-5,
            );
        }
    }
}

/// A frozen classifier's weights are constants: they get no gradient (the backward skips the
/// weight-gradient op), and the input gradient — first and second order — is unchanged.
#[test]
fn constant_weights_get_no_gradient_and_input_gradients_stay_exact() {
    let (xs, ws, spec) = cases().swap_remove(2);
    let (x, w, b) = (rand_t(&xs, 7), rand_t(&ws, 8), rand_t(&[ws[0]], 9));
    for fused in [false, true] {
        let xv = Var::from_tensor(&x).unwrap();
        let l = loss(xv.as_tensor(), &w, &b, &spec, fused).unwrap();
        let g = l.backward().unwrap();
        assert!(
            g.get(&w).is_none(),
            "fused={fused}: a constant weight got a gradient"
        );
        // (The unfused path adds the bias with a separate op that always returns its gradient.)
        assert!(
            !fused || g.get(&b).is_none(),
            "a constant bias got a gradient"
        );
        // Same input gradient as with tracked weights.
        let (xv2, wv, bv) = (
            Var::from_tensor(&x).unwrap(),
            Var::from_tensor(&w).unwrap(),
            Var::from_tensor(&b).unwrap(),
        );
        let g2 = loss(
            xv2.as_tensor(),
            wv.as_tensor(),
            bv.as_tensor(),
            &spec,
            fused,
        )
        .unwrap()
        .backward()
        .unwrap();
        let d = max_abs_diff(
            g.get(xv.as_tensor()).unwrap(),
            g2.get(xv2.as_tensor()).unwrap(),
        );
        assert!(d < 1e-12, "fused={fused}: input gradient differs by {d}");
        // Second order through constant weights: d/dx ||dL/dx||^2 against finite differences.
        let gp = |x: &Tensor| -> Result<Tensor> {
            let xv = Var::from_tensor(x)?;
            let l = loss(xv.as_tensor(), &w, &b, &spec, fused)?;
            l.backward()?.get(xv.as_tensor()).unwrap().sqr()?.sum_all()
        };
        check_grads(
            &format!("constant-weight gradient norm fused={fused}"),
            &|x, _, _| gp(x),
            [&x, &w, &b],
            1e-5,
        );
    }
}
