//! Adam with inspectable, saveable moments (candle-nn's AdamW keeps them private, and a
//! bit-identical resume needs them).

use anyhow::{bail, Context, Result};
use candle_core::{backprop::GradStore, Tensor, Var};
use std::collections::HashMap;

pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub step: u64,
    params: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Adam {
    pub fn new(params: Vec<(String, Var)>, lr: f64, beta1: f64, beta2: f64) -> Result<Self> {
        let m = params
            .iter()
            .map(|(_, p)| p.as_detached_tensor().zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Adam {
            lr,
            beta1,
            beta2,
            eps: 1e-8,
            step: 0,
            params,
            m,
            v,
        })
    }

    /// One update from `grads`; parameters without a gradient are left unchanged.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        for i in 0..self.params.len() {
            let p = &self.params[i].1;
            let Some(g) = grads.get(p.as_tensor()) else {
                continue;
            };
            let g = g.detach();
            let m = ((&self.m[i] * self.beta1)? + (&g * (1.0 - self.beta1))?)?;
            let v = ((&self.v[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + self.eps)?)?;
            let new = (p.as_detached_tensor() - (update * self.lr)?)?;
            p.set(&new)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// Moments under `prefix.m.NAME` / `prefix.v.NAME`, for safetensors.
    pub fn state_tensors(&self, prefix: &str, out: &mut HashMap<String, Tensor>) {
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.insert(format!("{prefix}.m.{name}"), self.m[i].clone());
            out.insert(format!("{prefix}.v.{name}"), self.v[i].clone());
        }
    }

    pub fn load_state(
        &mut self,
        prefix: &str,
        tensors: &HashMap<String, Tensor>,
        step: u64,
        origin: &str,
    ) -> Result<()> {
        for (i, (name, p)) in self.params.iter().enumerate() {
            for (which, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{which}.{name}");
                let t = tensors
                    .get(&key)
                    .with_context(|| format!("{origin}: missing optimiser moment `{key}`"))?;
                if t.dims() != p.dims() {
                    bail!(
                        "{origin}: moment `{key}` has shape {:?}, parameter has {:?}",
                        t.dims(),
                        p.dims()
                    );
                }
                *slot = t.to_device(p.device())?;
            }
        }
        self.step = step;
        Ok(())
    }
}
