//! Label-free checkpoint selection. The reference implementation picks the checkpoint with the
//! lowest unseen-class intra-FID — which needs exactly the unseen-class data an auditor lacks.
//! Here a checkpoint is scored only from signals available without that data:
//!
//! - the target classifier's confidence in the unseen class (does G make the class at all?),
//! - D_u's realism score of unseen-class samples, when the discriminator is available (does it
//!   look like the data domain rather than adversarial noise?),
//! - the diversity of unseen-class samples (is G collapsed?).
//!
//! Signals have unrelated scales, so each is turned into a rank across checkpoints (ties share
//! their mean rank) scaled to [0, 1], and the score is the mean of those ranks. Where real
//! unseen data exist, [`agreement`] reports the Spearman rank correlation between this score
//! and −intra-FID, and how much worse the chosen checkpoint is than the intra-FID optimum.

use anyhow::{bail, Result};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct CheckpointSignals {
    pub step: u64,
    /// Mean target-classifier probability of the unseen class on unseen-class samples.
    pub unseen_confidence: f64,
    /// D_u realism of unseen-class samples, normalised against real seen images scored by the
    /// same D (see [`super::realism::du_realism`]: P(D_u(fake) > D_u(real)), 0.5 = D_u cannot
    /// tell them apart); None for methods that train no D_u.
    pub du_realism: Option<f64>,
    /// Mean pairwise feature distance of unseen-class samples.
    pub diversity: f64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Selection {
    /// Label-free score per checkpoint, same order as the input.
    pub scores: Vec<f64>,
    /// Index of the chosen checkpoint.
    pub chosen: usize,
    /// Which signals were used (D_u only when every checkpoint has it).
    pub signals_used: Vec<String>,
}

pub fn select_checkpoint(checkpoints: &[CheckpointSignals]) -> Result<Selection> {
    if checkpoints.is_empty() {
        bail!("checkpoint selection: no checkpoints to choose from");
    }
    let mut columns: Vec<(String, Vec<f64>)> = vec![
        (
            "unseen_confidence".into(),
            checkpoints.iter().map(|c| c.unseen_confidence).collect(),
        ),
        (
            "diversity".into(),
            checkpoints.iter().map(|c| c.diversity).collect(),
        ),
    ];
    if checkpoints.iter().all(|c| c.du_realism.is_some()) {
        columns.push((
            "du_realism".into(),
            checkpoints.iter().map(|c| c.du_realism.unwrap()).collect(),
        ));
    }
    for (name, col) in &columns {
        if let Some(i) = col.iter().position(|v| !v.is_finite()) {
            bail!(
                "checkpoint selection: {name} of step {} is not finite",
                checkpoints[i].step
            );
        }
    }
    let n = checkpoints.len();
    // Sum the ranks first (multiples of ½, so exact) and divide once: checkpoints tied on
    // evidence get bit-identical scores instead of ones that differ in the last place.
    let mut rank_sums = vec![0.0; n];
    for (_, col) in &columns {
        for (sum, r) in rank_sums.iter_mut().zip(ranks(col)) {
            *sum += r - 1.0; // ranks are 1..=n
        }
    }
    // Scale to [0, 1] (a single checkpoint scores 1).
    let scale = (n as f64 - 1.0) * columns.len() as f64;
    let scores: Vec<f64> = rank_sums
        .iter()
        .map(|s| if n > 1 { s / scale } else { 1.0 })
        .collect();
    // Ties go to the later checkpoint (more training at equal evidence).
    let chosen = (0..n).fold(0, |b, i| if scores[i] >= scores[b] { i } else { b });
    Ok(Selection {
        scores,
        chosen,
        signals_used: columns.into_iter().map(|(n, _)| n).collect(),
    })
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Agreement {
    /// Spearman correlation between the label-free score and −intra-FID (1 = same order);
    /// None when either ranking is constant (all scores tied).
    pub spearman: Option<f64>,
    /// Index of the checkpoint with the lowest intra-FID.
    pub best_by_intra_fid: usize,
    /// intra-FID of the label-free choice minus the lowest intra-FID (0 = same pick).
    pub regret: f64,
}

pub fn agreement(selection: &Selection, unseen_intra_fid: &[f64]) -> Result<Agreement> {
    if unseen_intra_fid.len() != selection.scores.len() {
        bail!(
            "selection agreement: {} intra-FID values for {} checkpoints",
            unseen_intra_fid.len(),
            selection.scores.len()
        );
    }
    let neg: Vec<f64> = unseen_intra_fid.iter().map(|v| -v).collect();
    let best = (0..neg.len()).fold(0, |b, i| if neg[i] > neg[b] { i } else { b });
    Ok(Agreement {
        spearman: spearman(&selection.scores, &neg).ok(),
        best_by_intra_fid: best,
        regret: unseen_intra_fid[selection.chosen] - unseen_intra_fid[best],
    })
}

/// Spearman's rank correlation (Pearson correlation of mean ranks; handles ties).
pub fn spearman(a: &[f64], b: &[f64]) -> Result<f64> {
    if a.len() != b.len() || a.len() < 2 {
        bail!(
            "Spearman correlation: need two equally long lists of at least 2 values ({} vs {})",
            a.len(),
            b.len()
        );
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        bail!("Spearman correlation: one list is constant, so its ranking is undefined");
    }
    Ok(cov / (va * vb).sqrt())
}

/// 1-based ranks, ties receiving the mean of the ranks they span.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_matches_known_values() {
        assert!((spearman(&[1., 2., 3., 4.], &[10., 20., 30., 40.]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&[1., 2., 3., 4.], &[4., 3., 2., 1.]).unwrap() + 1.0).abs() < 1e-12);
        // scipy.stats.spearmanr([1,2,3,4,5],[2,1,4,3,5]) = 0.8
        assert!(
            (spearman(&[1., 2., 3., 4., 5.], &[2., 1., 4., 3., 5.]).unwrap() - 0.8).abs() < 1e-12
        );
        assert_eq!(ranks(&[3., 1., 3., 2.]), vec![3.5, 1.0, 3.5, 2.0]);
        assert!(spearman(&[1., 1.], &[1., 2.]).is_err());
    }

    #[test]
    fn selection_prefers_confident_diverse_checkpoints_and_reports_agreement() {
        let c = |step, conf, div| CheckpointSignals {
            step,
            unseen_confidence: conf,
            du_realism: None,
            diversity: div,
        };
        let cps = vec![
            c(1000, 0.2, 1.0),
            c(2000, 0.6, 2.0),
            c(3000, 0.9, 3.0),
            c(4000, 0.95, 0.5),
        ];
        let s = select_checkpoint(&cps).unwrap();
        assert_eq!(s.chosen, 2);
        assert_eq!(s.signals_used, vec!["unseen_confidence", "diversity"]);
        let a = agreement(&s, &[80.0, 50.0, 30.0, 60.0]).unwrap();
        // Ties in evidence are exact ties in score (7/9 both ways here), and go to the later
        // checkpoint.
        let d = |step, conf, du, div| CheckpointSignals {
            step,
            unseen_confidence: conf,
            du_realism: Some(du),
            diversity: div,
        };
        let tied = select_checkpoint(&[
            d(10, 0.1, 0.005, 8.7),
            d(20, 0.2, 0.101, 8.8),
            d(30, 0.36, 0.271, 9.9),
            d(40, 0.39, 0.064, 10.5),
        ])
        .unwrap();
        assert_eq!(tied.scores[2], tied.scores[3]);
        assert_eq!((tied.chosen, tied.signals_used.len()), (3, 3));
        assert!((tied.scores[3] - 7.0 / 9.0).abs() < 1e-15);
        assert_eq!(a.best_by_intra_fid, 2);
        assert_eq!(a.regret, 0.0);
        assert!(a.spearman.unwrap() > 0.9, "{a:?}");
        assert!(agreement(&s, &[1.0]).is_err());
        assert!(select_checkpoint(&[]).is_err());
    }
}
