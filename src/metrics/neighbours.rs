//! Nearest real neighbours of generated samples: shows whether a generator copies training
//! images (a near-copy sits much closer to one real image than real images sit to each other).
//!
//! Two spaces: the feature extractor's (semantic similarity), and pixels (L2 on the images as
//! the generator emits them, real images resampled to the same size) — a literal copy shows up
//! there at distance 0 even where features would call it merely "similar".

use super::pairwise::{as_f64_matrix, for_each_distance_row};
use anyhow::{bail, Result};
use candle_core::Tensor;

/// Where neighbour distances are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NeighbourSpace {
    /// The feature extractor's space (FID features).
    #[default]
    Feature,
    /// Raw pixels in generator space.
    Pixel,
}

impl NeighbourSpace {
    /// Parse the CLI spelling: `feature` or `pixel`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "feature" | "features" => Ok(Self::Feature),
            "pixel" | "pixels" => Ok(Self::Pixel),
            _ => bail!("unknown neighbour space `{s}`; expected `feature` or `pixel`"),
        }
    }

    /// The name recorded in `NeighbourPanel::space` (and shown in the report).
    pub fn panel_name(self) -> &'static str {
        match self {
            Self::Feature => "features",
            Self::Pixel => "pixels",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Neighbour {
    /// Row index in the real set.
    pub index: usize,
    pub distance: f64,
}

/// Extra candidates re-ranked by exact distance (the blocked |a|²+|b|²−2a·b search can
/// misorder candidates closer together than its rounding).
const RERANK_MARGIN: usize = 4;

/// For every generated row, its `k` nearest real rows, closest first. Works on any `[N, D]`
/// representation: features, or flattened pixels for a literal near-copy check. Reported
/// distances are computed directly as ‖a − b‖ in f64, so an exact copy has distance 0.
pub fn nearest_real(fake: &Tensor, real: &Tensor, k: usize) -> Result<Vec<Vec<Neighbour>>> {
    let n_real = real.dim(0)?;
    if k == 0 || k > n_real {
        bail!("nearest neighbours: k = {k} but the real set has {n_real} samples");
    }
    let candidates = (k + RERANK_MARGIN).min(n_real);
    let mut picked = vec![Vec::new(); fake.dim(0)?];
    for_each_distance_row(fake, real, |i, row| {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.select_nth_unstable_by(candidates - 1, |&a, &b| row[a].total_cmp(&row[b]));
        order.truncate(candidates);
        picked[i] = order;
        Ok(())
    })?;
    let pairs: Vec<(usize, usize)> = picked
        .iter()
        .enumerate()
        .flat_map(|(i, js)| js.iter().map(move |&j| (i, j)))
        .collect();
    let exact = exact_distances(fake, real, &pairs)?;
    let mut out: Vec<Vec<Neighbour>> = vec![Vec::new(); picked.len()];
    for (&(i, j), d) in pairs.iter().zip(exact) {
        out[i].push(Neighbour {
            index: j,
            distance: d,
        });
    }
    for list in &mut out {
        // ties by index, so the order is deterministic
        list.sort_by(|a, b| {
            a.distance
                .total_cmp(&b.distance)
                .then(a.index.cmp(&b.index))
        });
        list.truncate(k);
    }
    Ok(out)
}

/// ‖fake[i] − real[j]‖ for each pair, in f64.
fn exact_distances(fake: &Tensor, real: &Tensor, pairs: &[(usize, usize)]) -> Result<Vec<f64>> {
    if pairs.is_empty() {
        return Ok(vec![]);
    }
    let fake = as_f64_matrix(fake, "nearest neighbours (generated)")?;
    let real = as_f64_matrix(real, "nearest neighbours (real)")?;
    let dev = fake.device();
    let index = |f: fn(&(usize, usize)) -> usize| -> Result<Tensor> {
        let v: Vec<u32> = pairs.iter().map(f).map(|x| x as u32).collect();
        Ok(Tensor::from_vec(v, pairs.len(), dev)?)
    };
    let a = fake.index_select(&index(|p| p.0)?, 0)?;
    let b = real.to_device(dev)?.index_select(&index(|p| p.1)?, 0)?;
    Ok((a - b)?.sqr()?.sum(1)?.sqrt()?.to_vec1()?)
}

/// Median distance from a real row to its nearest *other* real row, estimated on at most
/// `max_queries` evenly spaced query rows against the whole set (the scale a near-copy must
/// beat; exact when `max_queries >= N`).
pub fn median_real_nn_distance(real: &Tensor, max_queries: usize) -> Result<f64> {
    let n = real.dim(0)?;
    if n < 2 || max_queries == 0 {
        bail!("median nearest-neighbour distance: need at least 2 real samples, got {n}");
    }
    let q = max_queries.min(n);
    let rows: Vec<usize> = (0..q).map(|i| i * n / q).collect();
    let idx = Tensor::from_vec(
        rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
        q,
        real.device(),
    )?;
    let queries = real.index_select(&idx, 0)?;
    let mut nn = Vec::with_capacity(q);
    for_each_distance_row(&queries, real, |i, row| {
        let me = rows[i];
        let d = row
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != me)
            .map(|(_, d)| *d)
            .fold(f64::INFINITY, f64::min);
        nn.push(d);
        Ok(())
    })?;
    nn.sort_by(|a, b| a.total_cmp(b));
    Ok(nn[nn.len() / 2])
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

    #[test]
    fn an_exact_copy_of_a_real_image_is_found_at_distance_zero_in_pixel_space() {
        let dev = Device::Cpu;
        // 40 real 1x16x16 "images" with large pixel values (where |a|²+|b|²−2a·b would
        // leave a rounding residue), and generated samples: a copy of real image 17, a
        // copy of image 3 with one pixel nudged, and noise.
        let real = (Tensor::rand(-1f32, 1.0, (40, 1, 16, 16), &dev).unwrap() * 50.0).unwrap();
        let copy = real.narrow(0, 17, 1).unwrap();
        let mut nudged: Vec<f32> = real
            .narrow(0, 3, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        nudged[5] += 0.5;
        let nudged = Tensor::from_vec(nudged, (1, 1, 16, 16), &dev).unwrap();
        let noise = Tensor::rand(-1f32, 1.0, (1, 1, 16, 16), &dev).unwrap();
        let fake = Tensor::cat(&[&copy, &nudged, &noise], 0).unwrap();
        let nn = nearest_real(
            &flatten_images(&fake).unwrap(),
            &flatten_images(&real).unwrap(),
            3,
        )
        .unwrap();
        assert_eq!((nn[0][0].index, nn[0][0].distance), (17, 0.0));
        assert_eq!(nn[1][0].index, 3);
        assert!((nn[1][0].distance - 0.5).abs() < 1e-6, "{:?}", nn[1]);
        let median = median_real_nn_distance(&flatten_images(&real).unwrap(), 100).unwrap();
        assert!(nn[2][0].distance > 1.0 && median > 100.0, "{median}");
        assert!(nn
            .iter()
            .all(|l| l.windows(2).all(|w| w[0].distance <= w[1].distance)));
    }

    #[test]
    fn median_real_nn_distance_excludes_the_query_itself() {
        let real = Tensor::new(&[[0f64], [1.], [3.], [7.]], &Device::Cpu).unwrap();
        // nearest others: 1, 1, 2, 4 -> median (upper) 2
        assert_eq!(median_real_nn_distance(&real, 10).unwrap(), 2.0);
        assert!(median_real_nn_distance(&real.narrow(0, 0, 1).unwrap(), 10).is_err());
        assert_eq!(
            NeighbourSpace::parse("pixel").unwrap(),
            NeighbourSpace::Pixel
        );
        assert!(NeighbourSpace::parse("pixles").is_err());
    }
}
