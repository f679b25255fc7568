//! Nearest real neighbours of generated samples: shows whether a generator copies training
//! images (a near-copy sits much closer to one real image than real images sit to each other).

use super::pairwise::for_each_distance_row;
use anyhow::{bail, Result};
use candle_core::Tensor;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Neighbour {
    /// Row index in the real set.
    pub index: usize,
    pub distance: f64,
}

/// For every generated row, its `k` nearest real rows, closest first. Works on any `[N, D]`
/// representation: features, or flattened pixels for a literal near-copy check.
pub fn nearest_real(fake: &Tensor, real: &Tensor, k: usize) -> Result<Vec<Vec<Neighbour>>> {
    let n_real = real.dim(0)?;
    if k == 0 || k > n_real {
        bail!("nearest neighbours: k = {k} but the real set has {n_real} samples");
    }
    let mut out = vec![Vec::new(); fake.dim(0)?];
    for_each_distance_row(fake, real, |i, row| {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.select_nth_unstable_by(k - 1, |&a, &b| row[a].total_cmp(&row[b]));
        order.truncate(k);
        order.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
        out[i] = order
            .into_iter()
            .map(|j| Neighbour {
                index: j,
                distance: row[j],
            })
            .collect();
        Ok(())
    })?;
    Ok(out)
}

/// Flatten an image batch `[N, ...]` into `[N, pixels]` for pixel-space neighbours.
pub fn flatten_images(images: &Tensor) -> Result<Tensor> {
    Ok(images.flatten_from(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn finds_the_closest_rows_in_order() {
        let real = Tensor::new(&[[0f32], [10.], [3.], [4.]], &Device::Cpu).unwrap();
        let fake = Tensor::new(&[[3.2f32], [9.0]], &Device::Cpu).unwrap();
        let nn = nearest_real(&fake, &real, 2).unwrap();
        assert_eq!(
            nn[0].iter().map(|n| n.index).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(
            nn[1].iter().map(|n| n.index).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert!((nn[0][0].distance - 0.2).abs() < 1e-5);
        assert!(nearest_real(&fake, &real, 5).is_err());
    }
}
