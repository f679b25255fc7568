//! Pairwise Euclidean distances between two feature sets, visited one row block at a time so
//! that 10,000 x 10,000 comparisons never need the whole matrix in memory.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor};

/// Rows of `a` per block: 512 x 10,000 f64 distances are 40 MB.
pub const DEFAULT_BLOCK_ROWS: usize = 512;

/// Check that `x` is a `[N, D]` feature matrix and return it as f64.
pub fn as_f64_matrix(x: &Tensor, what: &str) -> Result<Tensor> {
    let dims = x.dims();
    if dims.len() != 2 {
        bail!(
            "{what}: expected a [N, D] feature matrix, got shape {:?}",
            dims
        );
    }
    if dims[0] == 0 || dims[1] == 0 {
        bail!("{what}: empty feature matrix (shape {:?})", dims);
    }
    x.to_dtype(DType::F64)
        .with_context(|| format!("{what}: converting features to f64"))
}

/// Calls `visit(i, distances_from_a_i_to_every_b_row)` for every row `i` of `a`.
/// Distances via |a|² + |b|² − 2 a·b (clamped at 0 against rounding), one matmul per block.
pub fn for_each_distance_row(
    a: &Tensor,
    b: &Tensor,
    mut visit: impl FnMut(usize, &[f64]) -> Result<()>,
) -> Result<()> {
    let a = as_f64_matrix(a, "pairwise distances (left)")?;
    let b = as_f64_matrix(b, "pairwise distances (right)")?;
    if a.dim(1)? != b.dim(1)? {
        bail!(
            "pairwise distances: feature dimensions differ ({} vs {})",
            a.dim(1)?,
            b.dim(1)?
        );
    }
    let b_sq = b.sqr()?.sum(1)?; // [M]
    let b_t = b.t()?.contiguous()?;
    let n = a.dim(0)?;
    let m = b.dim(0)?;
    let mut start = 0;
    while start < n {
        let rows = DEFAULT_BLOCK_ROWS.min(n - start);
        let block = a.narrow(0, start, rows)?;
        let a_sq = block.sqr()?.sum_keepdim(1)?; // [rows, 1]
        let d2 = block
            .matmul(&b_t)?
            .affine(-2.0, 0.0)?
            .broadcast_add(&a_sq)?
            .broadcast_add(&b_sq.unsqueeze(0)?)?
            .relu()?
            .sqrt()?;
        let flat: Vec<f64> = d2.flatten_all()?.to_vec1()?;
        for r in 0..rows {
            visit(start + r, &flat[r * m..(r + 1) * m])?;
        }
        start += rows;
    }
    Ok(())
}

/// The `k`-th smallest value of `row` (k = 1 is the minimum), skipping position `skip` (a
/// sample's zero distance to itself).
pub fn kth_smallest(row: &[f64], k: usize, skip: Option<usize>) -> Result<f64> {
    let mut v: Vec<f64> = row
        .iter()
        .enumerate()
        .filter(|(j, _)| Some(*j) != skip)
        .map(|(_, d)| *d)
        .collect();
    if k == 0 || k > v.len() {
        bail!(
            "k-th nearest neighbour: k = {k} but only {} candidates",
            v.len()
        );
    }
    let (_, kth, _) = v.select_nth_unstable_by(k - 1, |x, y| x.total_cmp(y));
    Ok(*kth)
}

/// Distance from each row of `x` to its `k`-th nearest *other* row of `x`.
pub fn kth_neighbour_radii(x: &Tensor, k: usize) -> Result<Vec<f64>> {
    let n = x.dim(0)?;
    let mut radii = vec![0.0; n];
    for_each_distance_row(x, x, |i, row| {
        radii[i] = kth_smallest(row, k, Some(i))?;
        Ok(())
    })?;
    Ok(radii)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn distances_match_direct_computation() {
        let a = Tensor::new(&[[0f32, 0.], [3., 4.]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[[0f32, 0.], [6., 8.], [3., 0.]], &Device::Cpu).unwrap();
        let mut rows = vec![];
        for_each_distance_row(&a, &b, |_, r| {
            rows.push(r.to_vec());
            Ok(())
        })
        .unwrap();
        let want = [[0.0, 10.0, 3.0], [5.0, 5.0, 4.0]];
        for (r, w) in rows.iter().zip(want.iter()) {
            for (x, y) in r.iter().zip(w.iter()) {
                assert!((x - y).abs() < 1e-9, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn kth_skips_self() {
        assert_eq!(
            kth_smallest(&[0.0, 3.0, 1.0, 2.0], 1, Some(0)).unwrap(),
            1.0
        );
        assert_eq!(
            kth_smallest(&[0.0, 3.0, 1.0, 2.0], 3, Some(0)).unwrap(),
            3.0
        );
        assert!(kth_smallest(&[0.0, 1.0], 2, Some(0)).is_err());
    }
}
