//! Test-set accuracy: overall, per class, per group, and under a PGD attack.

use super::arch::{Mode, Net};
use super::attack::{pgd, PgdConfig};
use crate::data::Dataset;
use anyhow::Result;
use candle_core::Device;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NamedAccuracy {
    pub name: String,
    pub accuracy: f64,
    pub count: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PgdAccuracy {
    pub attack: PgdConfig,
    pub accuracy: f64,
    pub count: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Evaluation {
    pub accuracy: f64,
    pub count: usize,
    pub per_class: Vec<NamedAccuracy>,
    pub per_group: Vec<NamedAccuracy>,
    pub worst_group_accuracy: Option<f64>,
    pub pgd: Option<PgdAccuracy>,
    /// Counts of test images by true class (rows) and predicted class (columns).
    pub confusion: Vec<Vec<usize>>,
}

fn named(names: &[String], correct: &[usize], total: &[usize]) -> Vec<NamedAccuracy> {
    names
        .iter()
        .zip(correct.iter().zip(total))
        .map(|(n, (&c, &t))| NamedAccuracy {
            name: n.clone(),
            accuracy: if t == 0 {
                f64::NAN
            } else {
                c as f64 / t as f64
            },
            count: t,
        })
        .collect()
}

/// Clean accuracy on all of `data`; PGD accuracy on its first `pgd_limit` images.
pub fn evaluate(
    net: &Net,
    data: &Dataset,
    attack: Option<(&PgdConfig, usize)>,
    device: &Device,
) -> Result<Evaluation> {
    let k = data.num_classes();
    let (mut cc, mut ct) = (vec![0usize; k], vec![0usize; k]);
    let mut confusion = vec![vec![0usize; k]; k];
    let (mut gc, mut gt) = (
        vec![0usize; data.num_groups()],
        vec![0usize; data.num_groups()],
    );
    for batch in data.sequential_batches(500, device) {
        let b = batch?;
        let pred: Vec<u32> = net.predict(&b.images)?.to_vec1()?;
        let labels: Vec<u32> = b.labels.to_vec1()?;
        let groups: Option<Vec<u32>> = b.groups.as_ref().map(|g| g.to_vec1()).transpose()?;
        for (j, (&p, &l)) in pred.iter().zip(&labels).enumerate() {
            ct[l as usize] += 1;
            cc[l as usize] += (p == l) as usize;
            if let Some(slot) = confusion[l as usize].get_mut(p as usize) {
                *slot += 1;
            }
            if let Some(g) = &groups {
                gt[g[j] as usize] += 1;
                gc[g[j] as usize] += (p == l) as usize;
            }
        }
    }
    let correct: usize = cc.iter().sum();
    let per_group = named(&data.group_names, &gc, &gt);
    let worst_group_accuracy = per_group
        .iter()
        .filter(|g| g.count > 0)
        .map(|g| g.accuracy)
        .reduce(f64::min);
    let pgd_acc = match attack {
        Some((cfg, limit)) => {
            let idx: Vec<usize> = (0..data.len().min(limit)).collect();
            let subset = data.select(&idx);
            let (mut c, mut t) = (0usize, 0usize);
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0xa77ac);
            for batch in subset.sequential_batches(250, device) {
                let b = batch?;
                let adv = pgd(net, &b.images, &b.labels, cfg, Mode::Eval, &mut rng)?;
                let pred: Vec<u32> = net.predict(&adv)?.to_vec1()?;
                let labels: Vec<u32> = b.labels.to_vec1()?;
                c += pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
                t += labels.len();
            }
            Some(PgdAccuracy {
                attack: *cfg,
                accuracy: c as f64 / t.max(1) as f64,
                count: t,
            })
        }
        None => None,
    };
    Ok(Evaluation {
        accuracy: correct as f64 / data.len().max(1) as f64,
        count: data.len(),
        per_class: named(&data.class_names, &cc, &ct),
        per_group,
        worst_group_accuracy,
        pgd: pgd_acc,
        confusion,
    })
}
