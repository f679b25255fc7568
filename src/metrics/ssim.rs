//! Structural similarity (Wang et al. 2004) and the Gaussian blur it is built on, as candle
//! ops so they run on any device. SSIM here: an 11-tap Gaussian window (σ = 1.5), images
//! mapped from generator space [-1, 1] to [0, 1], constants C1 = (0.01)², C2 = (0.03)², the
//! mean over pixels and channels of each image. The substrate evaluation uses it to say how
//! much of a substrate photograph survives the painting.

use anyhow::{bail, Result};
use candle_core::{DType, Tensor};

/// A normalised 1-D Gaussian of `taps` (odd) values.
fn gaussian_taps(sigma: f64, taps: usize) -> Vec<f32> {
    let r = (taps / 2) as f64;
    let w: Vec<f64> = (0..taps)
        .map(|i| (-(i as f64 - r).powi(2) / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|v| (v / s) as f32).collect()
}

/// Separable Gaussian blur of `x` [N, C, H, W] with `taps` (odd) taps, each channel on its
/// own, edges padded by replication (so a constant image stays constant).
pub fn gaussian_blur(x: &Tensor, sigma: f64, taps: usize) -> Result<Tensor> {
    if taps % 2 == 0 || taps == 0 {
        bail!("a Gaussian blur needs an odd number of taps, got {taps}");
    }
    let (n, c, h, w) = x.dims4()?;
    let dtype = x.dtype();
    let k = Tensor::from_vec(gaussian_taps(sigma, taps), taps, x.device())?;
    let r = taps / 2;
    let planes = x.to_dtype(DType::F32)?.reshape((n * c, 1, h, w))?;
    let padded = replicate_pad(&planes, r)?;
    let rows = padded.conv2d(&k.reshape((1, 1, 1, taps))?, 0, 1, 1, 1)?;
    let both = rows.conv2d(&k.reshape((1, 1, taps, 1))?, 0, 1, 1, 1)?;
    Ok(both.reshape((n, c, h, w))?.to_dtype(dtype)?)
}

/// Gaussian blur of `x` [N, C, H, W] with taps out to ±3σ (rounded up), where the kernel's
/// tail is down to about 1% of its peak.
pub fn gaussian_blur_3sigma(x: &Tensor, sigma: f64) -> Result<Tensor> {
    gaussian_blur(x, sigma, ((sigma * 3.0).ceil() as usize) * 2 + 1)
}

/// Pad the last two axes by `r` on every side with copies of the edge pixels.
fn replicate_pad(x: &Tensor, r: usize) -> Result<Tensor> {
    if r == 0 {
        return Ok(x.clone());
    }
    let (_, _, h, w) = x.dims4()?;
    let top = x.narrow(2, 0, 1)?.repeat((1, 1, r, 1))?;
    let bottom = x.narrow(2, h - 1, 1)?.repeat((1, 1, r, 1))?;
    let x = Tensor::cat(&[&top, x, &bottom], 2)?;
    let left = x.narrow(3, 0, 1)?.repeat((1, 1, 1, r))?;
    let right = x.narrow(3, w - 1, 1)?.repeat((1, 1, 1, r))?;
    Ok(Tensor::cat(&[&left, &x, &right], 3)?)
}

/// SSIM of each pair of images ([N, C, H, W], generator space) -> N values in [-1, 1].
pub fn ssim(a: &Tensor, b: &Tensor) -> Result<Vec<f64>> {
    if a.dims() != b.dims() {
        bail!(
            "SSIM compares images of one shape, got {:?} and {:?}",
            a.dims(),
            b.dims()
        );
    }
    let (n, _, h, w) = a.dims4()?;
    let taps = 11
        .min(if h.min(w) % 2 == 1 {
            h.min(w)
        } else {
            h.min(w) - 1
        })
        .max(1);
    let unit = |x: &Tensor| -> Result<Tensor> { Ok(x.to_dtype(DType::F32)?.affine(0.5, 0.5)?) };
    let (x, y) = (unit(a)?, unit(b)?);
    let blur = |t: &Tensor| gaussian_blur(t, 1.5, taps);
    let (mx, my) = (blur(&x)?, blur(&y)?);
    let sxx = (blur(&x.sqr()?)? - mx.sqr()?)?;
    let syy = (blur(&y.sqr()?)? - my.sqr()?)?;
    let sxy = (blur(&(&x * &y)?)? - (&mx * &my)?)?;
    let (c1, c2) = (1e-4, 9e-4);
    let num = ((&mx * &my)?.affine(2.0, c1)? * sxy.affine(2.0, c2)?)?;
    let den = ((mx.sqr()? + my.sqr()?)?.affine(1.0, c1)? * (sxx + syy)?.affine(1.0, c2)?)?;
    let map = (num / den)?;
    Ok(map
        .reshape((n, ()))?
        .mean(1)?
        .to_dtype(DType::F64)?
        .to_vec1::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn constant(v: f32, shape: (usize, usize, usize, usize)) -> Tensor {
        (Tensor::ones(shape, DType::F32, &Device::Cpu).unwrap() * v as f64).unwrap()
    }

    #[test]
    fn blur_keeps_constants_and_spreads_an_impulse_by_the_gaussian() {
        let c = constant(0.3, (1, 2, 9, 9));
        let b = gaussian_blur(&c, 1.0, 5).unwrap();
        let gap = (b - &c).unwrap().abs().unwrap().max_all().unwrap();
        assert!(gap.to_scalar::<f32>().unwrap() < 1e-6);
        let mut v = vec![0f32; 81];
        v[40] = 1.0;
        let x = Tensor::from_vec(v, (1, 1, 9, 9), &Device::Cpu).unwrap();
        let y = gaussian_blur(&x, 1.0, 5)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let g = gaussian_taps(1.0, 5);
        // Centre = g[2]², one step right = g[2]·g[3]; the mass is kept.
        assert!((y[40] - g[2] * g[2]).abs() < 1e-6 && (y[41] - g[2] * g[3]).abs() < 1e-6);
        assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(gaussian_blur(&x, 1.0, 4).is_err());
    }

    #[test]
    fn ssim_is_one_for_equal_images_the_formula_for_constants_and_falls_with_noise() {
        let d = Device::Cpu;
        let x = Tensor::rand(-1f32, 1.0, (2, 3, 32, 32), &d).unwrap();
        let same = ssim(&x, &x).unwrap();
        assert!(same.iter().all(|s| (s - 1.0).abs() < 1e-5), "{same:?}");
        // Two constant images a, b (in [0, 1]): (2ab + C1) / (a² + b² + C1).
        let (a, b) = (0.2f64, 0.6f64);
        let got = ssim(
            &constant((2.0 * a - 1.0) as f32, (1, 1, 16, 16)),
            &constant((2.0 * b - 1.0) as f32, (1, 1, 16, 16)),
        )
        .unwrap()[0];
        let want = (2.0 * a * b + 1e-4) / (a * a + b * b + 1e-4);
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        let little = (&x + Tensor::randn(0f32, 0.05, x.dims(), &d).unwrap()).unwrap();
        let lots = (&x + Tensor::randn(0f32, 0.5, x.dims(), &d).unwrap()).unwrap();
        let (s1, s2) = (ssim(&x, &little).unwrap(), ssim(&x, &lots).unwrap());
        // Independent noise of variance n² on a signal of variance σ² (uniform on [0, 1]:
        // 1/12) gives about 2σ² / (2σ² + n²) in the structure terms.
        let (sig2, n2) = (1.0 / 12.0, 0.25f64 * 0.25);
        let want = 2.0 * sig2 / (2.0 * sig2 + n2);
        assert!(s1[0] > 0.99 && s1[0] < 1.0, "{s1:?}");
        assert!((s2[0] - want).abs() < 0.03, "{s2:?} vs {want}");
        assert!(ssim(&x, &x.narrow(2, 0, 16).unwrap()).is_err());
    }
}
