//! TileMix: cut each image into n x n tiles and, for every tile position independently,
//! permute the batch. Applied to D_u's input it breaks global class structure further, so
//! D_u judges local realism and cannot single out the unseen class (ProbeGAN's option).

use anyhow::{bail, Result};
use candle_core::Tensor;
use rand::seq::SliceRandom;
use rand::Rng;

/// `x`: [N, C, H, W] with H and W divisible by `n`. `n <= 1` returns `x` unchanged.
pub fn tilemix<R: Rng>(x: &Tensor, n: usize, rng: &mut R) -> Result<Tensor> {
    if n <= 1 {
        return Ok(x.clone());
    }
    let (b, _, h, w) = x.dims4()?;
    if h % n != 0 || w % n != 0 {
        bail!("tilemix: image {h}x{w} is not divisible into {n}x{n} tiles");
    }
    let (th, tw) = (h / n, w / n);
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let mut cols = Vec::with_capacity(n);
        for j in 0..n {
            let mut perm: Vec<u32> = (0..b as u32).collect();
            perm.shuffle(rng);
            let idx = Tensor::from_vec(perm, b, x.device())?;
            cols.push(
                x.narrow(2, i * th, th)?
                    .narrow(3, j * tw, tw)?
                    .contiguous()?
                    .index_select(&idx, 0)?,
            );
        }
        rows.push(Tensor::cat(&cols, 3)?);
    }
    Ok(Tensor::cat(&rows, 2)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use rand::SeedableRng;

    #[test]
    fn tiles_are_permuted_within_positions() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        // Sample b is constant b everywhere: every output tile must be constant and the
        // multiset of values at each tile position must be {0..b}.
        let b = 6;
        let x = Tensor::arange(0f32, b as f32, &Device::Cpu)
            .unwrap()
            .reshape((b, 1, 1, 1))
            .unwrap();
        let x = x.broadcast_as((b, 1, 4, 4)).unwrap().contiguous().unwrap();
        let y = tilemix(&x, 2, &mut rng).unwrap();
        let y = y.flatten_from(1).unwrap().to_vec2::<f32>().unwrap();
        for (ti, tj) in [(0, 0), (0, 2), (2, 0), (2, 2)] {
            let mut vals: Vec<f32> = (0..b).map(|s| y[s][ti * 4 + tj]).collect();
            for s in 0..b {
                assert_eq!(
                    y[s][ti * 4 + tj],
                    y[s][(ti + 1) * 4 + tj + 1],
                    "tile not constant"
                );
            }
            vals.sort_by(|a, c| a.partial_cmp(c).unwrap());
            assert_eq!(vals, (0..b).map(|s| s as f32).collect::<Vec<_>>());
        }
        let same = tilemix(&x, 1, &mut rng).unwrap();
        assert_eq!(
            same.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            x.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }
}
