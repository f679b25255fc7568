//! The shared training loop: D steps, G step, EMA, logging, samples, checkpoints, resume,
//! NaN guard, interruption.

use super::checkpoint::{
    list_checkpoints, write_atomic, write_checkpoint, ClassifierInfo, RunInfo, TrainState,
};
use super::config::Config;
use super::diversity_watch::{DiversityReading, DiversityWatch};
use super::grid::save_class_grid;
use super::optim::Adam;
use super::rng_state::RngState;
use crate::classifier::Classifier;
use crate::data::Dataset;
use crate::data::TrainData;
use crate::methods::{self, GUpdate, LossTerms, Method, Nets, StepContext};
use crate::nets::{ema_update, Discriminator, Generator, Mode, ParamStore};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Why `run` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    Finished,
    /// Ctrl-C (or the stop flag): a checkpoint of the current step was written.
    Interrupted,
}

/// Seconds spent per phase since the trainer started (for the benchmark and the log).
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub d_s: f64,
    pub g_s: f64,
    pub ema_s: f64,
    pub steps: usize,
}

pub struct Trainer {
    pub config: Config,
    pub run_dir: PathBuf,
    nets: Nets,
    method: Box<dyn Method>,
    classifier: Arc<dyn Classifier>,
    data: TrainData,
    unseen: Vec<usize>,
    class_names: Vec<String>,
    rng: ChaCha8Rng,
    opt_g: Adam,
    opt_d: Adam,
    opt_am: Adam,
    step: usize,
    ema_stats_fixed: bool,
    /// The step whose EMA weights the standing statistics were last computed for: previews,
    /// the collapse guard and checkpoints of one step share one computation.
    ema_stats_at: std::cell::Cell<Option<usize>>,
    classifier_info: ClassifierInfo,
    last_logs: BTreeMap<String, f64>,
    diversity_watch: DiversityWatch,
    /// Classes the guard flagged at the last preview (a warning is printed when this changes).
    collapsed: Vec<usize>,
    pub timings: Timings,
    /// Show a progress bar (off in tests).
    pub progress: bool,
}

/// Resolve class names or indices to indices.
pub fn resolve_classes(names: &[String], wanted: &[String]) -> Result<Vec<usize>> {
    let mut out = vec![];
    for w in wanted {
        let i = names
            .iter()
            .position(|n| n == w)
            .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(w)))
            .or_else(|| w.parse::<usize>().ok().filter(|&i| i < names.len()));
        match i {
            Some(i) if !out.contains(&i) => out.push(i),
            Some(_) => {}
            None => bail!(
                "data.unseen: unknown class `{w}`; classes are: {}",
                names.join(", ")
            ),
        }
    }
    Ok(out)
}

impl Trainer {
    /// A fresh run. `dataset` is the full training set (all classes; the method filters);
    /// its class names must match the classifier's.
    pub fn new(
        config: Config,
        dataset: &Dataset,
        classifier: Arc<dyn Classifier>,
        classifier_info: ClassifierInfo,
        device: &Device,
    ) -> Result<Trainer> {
        config.validate()?;
        let class_names = classifier.class_names().to_vec();
        if dataset.class_names.len() != class_names.len() {
            bail!(
                "the data has {} classes ({}) but the classifier has {} ({})",
                dataset.class_names.len(),
                dataset.class_names.join(", "),
                class_names.len(),
                class_names.join(", ")
            );
        }
        let unseen = resolve_classes(&class_names, &config.data.unseen)?;
        let method = methods::build(&config.run.method, &config)?;
        let real_classes = method.real_classes(class_names.len(), &unseen);
        let dataset = if config.data.max_per_class > 0 {
            dataset.stratified_subset(config.data.max_per_class, config.run.seed)
        } else {
            dataset.clone()
        };
        let data = TrainData::from_dataset(
            &dataset,
            &real_classes,
            config.model.resolution,
            config.model.channels,
            device,
        )?;
        let k = class_names.len();
        let diversity_watch = DiversityWatch::new(&data, k, config.run.collapse_fraction)?;
        let seed = config.run.seed;
        let g_store = ParamStore::new(device, seed ^ 0x6e6e_0001);
        let g = Generator::new(&g_store.root(), &config.model, k)?;
        let ema_store = ParamStore::new(device, seed ^ 0x6e6e_0001);
        let g_ema = Generator::new(&ema_store.root(), &config.model, k)?;
        ema_store.copy_from(&g_store)?;
        let d_store = ParamStore::new(device, seed ^ 0x6e6e_0002);
        let mut d = Discriminator::new(&d_store.root(), &config.model, k)?;
        methods::stabilisers::add_discriminator_heads(&mut d, &d_store.root(), &config.loss)?;
        let t = &config.train;
        let opt_g = Adam::new(g_store.trainable(), t.lr_g, t.beta1, t.beta2)?;
        let opt_d = Adam::new(d_store.trainable(), t.lr_d, t.beta1, t.beta2)?;
        let emb = vec![(
            "embedding.weight".to_string(),
            g_ema.embedding.table.clone(),
        )];
        let opt_am = Adam::new(emb, config.am.lr, 0.9, 0.999)?;
        let nets = Nets {
            g,
            g_store,
            g_ema,
            ema_store,
            d,
            d_store,
        };
        let run_dir = config.run.out_dir.clone();
        let mut trainer = Trainer {
            rng: ChaCha8Rng::seed_from_u64(seed),
            config,
            run_dir,
            nets,
            method,
            classifier,
            data,
            unseen,
            class_names,
            opt_g,
            opt_d,
            opt_am,
            step: 0,
            ema_stats_fixed: false,
            ema_stats_at: std::cell::Cell::new(None),
            classifier_info,
            last_logs: BTreeMap::new(),
            diversity_watch,
            collapsed: vec![],
            timings: Timings::default(),
            progress: false,
        };
        trainer.with_method(|method, ctx| method.prepare(ctx))?;
        Ok(trainer)
    }

    pub fn step(&self) -> usize {
        self.step
    }

    pub fn nets(&self) -> &Nets {
        &self.nets
    }

    pub fn unseen(&self) -> &[usize] {
        &self.unseen
    }

    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Call the method with a fresh step context. Borrows the fields one by one, so the
    /// method and the context it reads can be used together.
    fn with_method<R>(
        &mut self,
        call: impl FnOnce(&mut dyn Method, &mut StepContext) -> Result<R>,
    ) -> Result<R> {
        let mut ctx = StepContext {
            nets: &self.nets,
            classifier: self.classifier.as_ref(),
            data: &self.data,
            rng: &mut self.rng,
            config: &self.config,
            unseen: &self.unseen,
            step: self.step,
        };
        call(self.method.as_mut(), &mut ctx)
    }

    /// Write run.json and config.toml (a fresh run), or check them (resume).
    pub fn init_run_dir(&self) -> Result<()> {
        std::fs::create_dir_all(&self.run_dir)
            .with_context(|| format!("creating run dir {}", self.run_dir.display()))?;
        let info = self.run_info()?;
        info.save(&self.run_dir)?;
        write_atomic(
            &self.run_dir.join("config.toml"),
            self.config.to_toml()?.as_bytes(),
        )?;
        Ok(())
    }

    fn run_info(&self) -> Result<RunInfo> {
        Ok(RunInfo {
            method: self.config.run.method.clone(),
            seed: self.config.run.seed,
            class_names: self.class_names.clone(),
            unseen: self
                .unseen
                .iter()
                .map(|&i| self.class_names[i].clone())
                .collect(),
            unseen_indices: self.unseen.clone(),
            stats_classes: self.stats_classes(),
            classifier: self.classifier_info.clone(),
            net: self.config.model.clone(),
            config: serde_json::to_value(&self.config)?,
        })
    }

    /// BN statistics of the EMA generator come from these classes. AM keeps them to the seen
    /// classes: its second phase optimises the new embedding against exactly those.
    fn stats_classes(&self) -> Vec<usize> {
        if self.config.run.method == "am" {
            (0..self.class_names.len())
                .filter(|c| !self.unseen.contains(c))
                .collect()
        } else {
            (0..self.class_names.len()).collect()
        }
    }

    /// One generator step (with its discriminator steps). Returns the step's logged scalars.
    pub fn train_step(&mut self) -> Result<BTreeMap<String, f64>> {
        let mut logs = BTreeMap::new();
        let d_steps = self.method.d_steps(self.step, &self.config);
        let update = self.method.g_update(self.step, &self.config);
        let t0 = Instant::now();
        for _ in 0..d_steps {
            let terms = self.with_method(|method, ctx| method.d_loss(ctx))?;
            self.guard("discriminator", &terms)?;
            let grads = terms.total.backward()?;
            self.opt_d.step(&grads)?;
            for (k, v) in terms.logs {
                logs.insert(k, v);
            }
        }
        let t1 = Instant::now();
        if update == GUpdate::EmaClassEmbedding && !self.ema_stats_fixed {
            self.refresh_ema_stats()?;
            self.ema_stats_fixed = true;
        }
        let terms = self.with_method(|method, ctx| method.g_loss(ctx))?;
        self.guard("generator", &terms)?;
        let grads = terms.total.backward()?;
        match update {
            GUpdate::Generator => self.opt_g.step(&grads)?,
            GUpdate::EmaClassEmbedding => self.opt_am.step(&grads)?,
        }
        for (k, v) in terms.logs {
            logs.insert(k, v);
        }
        let t2 = Instant::now();
        if update == GUpdate::Generator {
            let decay = if self.step < self.config.train.ema_start {
                0.0
            } else {
                self.config.train.ema_decay
            };
            ema_update(&self.nets.ema_store, &self.nets.g_store, decay)?;
        }
        let t3 = Instant::now();
        self.timings.d_s += (t1 - t0).as_secs_f64();
        self.timings.g_s += (t2 - t1).as_secs_f64();
        self.timings.ema_s += (t3 - t2).as_secs_f64();
        self.timings.steps += 1;
        self.step += 1;
        self.last_logs = logs.clone();
        Ok(logs)
    }

    /// Stop with a clear message when a loss is not finite; the caller leaves the last good
    /// checkpoint untouched.
    fn guard(&self, who: &str, terms: &LossTerms) -> Result<()> {
        let total = terms
            .total
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
        if !total.is_finite() {
            let bad: Vec<String> = terms
                .logs
                .iter()
                .filter(|(_, v)| !v.is_finite())
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let last = list_checkpoints(&self.run_dir)
                .ok()
                .and_then(|c| c.last().map(|(_, p)| p.display().to_string()));
            bail!(
                "training diverged at step {}: the {who} loss is {total} ({}). The last good checkpoint is {}; \
                 try a lower learning rate (train.lr_g / train.lr_d) and `--resume`",
                self.step,
                if bad.is_empty() { "all logged terms finite".to_string() } else { bad.join(", ") },
                last.unwrap_or_else(|| "none (no checkpoint was written yet)".into())
            );
        }
        Ok(())
    }

    /// All parameters finite (checked before a checkpoint is written).
    fn params_finite(&self) -> Result<bool> {
        for store in [&self.nets.g_store, &self.nets.d_store, &self.nets.ema_store] {
            for (_, v) in store.all() {
                let s = v
                    .as_detached_tensor()
                    .sum_all()?
                    .to_dtype(candle_core::DType::F64)?
                    .to_scalar::<f64>()?;
                if !s.is_finite() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Standing statistics for the EMA generator, from a fixed seed (never the run's RNG).
    fn refresh_ema_stats(&self) -> Result<()> {
        if self.ema_stats_fixed || self.ema_stats_at.get() == Some(self.step) {
            return Ok(());
        }
        let classes = self.stats_classes();
        let n = self.config.train.batch_size;
        let zd = self.config.model.z_dim;
        let dev = self.nets.g_store.device().clone();
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.run.seed ^ 0x5747_a7d5);
        self.nets.g_ema.standing_stats(8, |_| {
            let z: Vec<f32> = (0..n * zd)
                .map(|_| crate::nets::params::gaussian(&mut rng) as f32)
                .collect();
            let y: Vec<u32> = (0..n).map(|i| classes[i % classes.len()] as u32).collect();
            Ok((
                Tensor::from_vec(z, (n, zd), &dev)?,
                Tensor::from_vec(y, n, &dev)?,
            ))
        })?;
        self.ema_stats_at.set(Some(self.step));
        Ok(())
    }

    /// Mean classifier probability of the unseen classes on EMA samples (fixed noise).
    pub fn unseen_probability(&self, n: usize) -> Result<Option<f64>> {
        if self.unseen.is_empty() {
            return Ok(None);
        }
        let dev = self.nets.g_store.device();
        let zd = self.config.model.z_dim;
        let mut rng = ChaCha8Rng::seed_from_u64(0x0b5e_47ed);
        let mut total = 0.0;
        for &c in &self.unseen {
            let z: Vec<f32> = (0..n * zd)
                .map(|_| crate::nets::params::gaussian(&mut rng) as f32)
                .collect();
            let z = Tensor::from_vec(z, (n, zd), dev)?;
            let y = Tensor::from_vec(vec![c as u32; n], n, dev)?;
            let x = self.nets.g_ema.forward(&z, &y, Mode::EVAL)?;
            let logits = self.classifier.logits(&x)?.detach();
            let p = crate::losses::log_softmax(&logits)?
                .exp()?
                .narrow(1, c, 1)?
                .mean_all()?;
            total += p.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        }
        Ok(Some(total / self.unseen.len() as f64))
    }

    /// Grid of EMA samples, one row per class (fixed noise, so grids compare across steps).
    pub fn write_samples(&self) -> Result<PathBuf> {
        self.refresh_ema_stats()?;
        let cols = self.config.run.grid_columns;
        let k = self.class_names.len();
        let dev = self.nets.g_store.device();
        let zd = self.config.model.z_dim;
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.run.seed ^ 0x9e1d);
        let z: Vec<f32> = (0..k * cols * zd)
            .map(|_| crate::nets::params::gaussian(&mut rng) as f32)
            .collect();
        let z = Tensor::from_vec(z, (k * cols, zd), dev)?;
        let y: Vec<u32> = (0..k * cols).map(|i| (i / cols) as u32).collect();
        let y = Tensor::from_vec(y, k * cols, dev)?;
        let x = self.nets.g_ema.forward(&z, &y, Mode::EVAL)?;
        let path = self
            .run_dir
            .join("samples")
            .join(format!("step_{:06}.png", self.step));
        save_class_grid(&x, cols, &self.unseen, &path)?;
        Ok(path)
    }

    /// The collapse guard's reading: 32 EMA samples per class (fixed noise, evaluation mode,
    /// standing statistics, as the grids are drawn).
    pub fn read_diversity(&self) -> Result<DiversityReading> {
        self.refresh_ema_stats()?;
        const PER_CLASS: usize = 32;
        let dev = self.nets.g_store.device();
        let zd = self.config.model.z_dim;
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.run.seed ^ 0xd1e5);
        self.diversity_watch.read(|class| {
            let z: Vec<f32> = (0..PER_CLASS * zd)
                .map(|_| crate::nets::params::gaussian(&mut rng) as f32)
                .collect();
            let z = Tensor::from_vec(z, (PER_CLASS, zd), dev)?;
            let y = Tensor::from_vec(vec![class as u32; PER_CLASS], PER_CLASS, dev)?;
            Ok(self.nets.g_ema.forward(&z, &y, Mode::EVAL)?)
        })
    }

    /// Write a checkpoint of the current step (atomic; keeps the newest K).
    pub fn save_checkpoint(&self) -> Result<PathBuf> {
        if !self.params_finite()? {
            bail!(
                "step {}: parameters are not finite; not overwriting the last good checkpoint",
                self.step
            );
        }
        self.refresh_ema_stats()?;
        let state = TrainState {
            step: self.step,
            rng: RngState::capture(&self.rng),
            opt_g_step: self.opt_g.step,
            opt_d_step: self.opt_d.step,
            opt_am_step: self.opt_am.step,
        };
        write_checkpoint(
            &self.run_dir,
            self.step,
            self.config.run.keep_checkpoints,
            |dir| {
                self.nets.g_store.save(&dir.join("generator.safetensors"))?;
                self.nets
                    .ema_store
                    .save(&dir.join("generator_ema.safetensors"))?;
                self.nets
                    .d_store
                    .save(&dir.join("discriminator.safetensors"))?;
                let mut opt = HashMap::new();
                self.opt_g.state_tensors("g", &mut opt);
                self.opt_d.state_tensors("d", &mut opt);
                self.opt_am.state_tensors("am", &mut opt);
                candle_core::safetensors::save(&opt, dir.join("optimizers.safetensors"))?;
                std::fs::write(
                    dir.join("state.json"),
                    serde_json::to_string_pretty(&state)?,
                )?;
                Ok(())
            },
        )
    }

    /// Continue from the newest checkpoint in the run dir. Returns its step.
    pub fn resume(&mut self) -> Result<usize> {
        let ckpt = super::checkpoint::latest_checkpoint(&self.run_dir).with_context(|| {
            format!("--resume: nothing to resume in {}", self.run_dir.display())
        })?;
        let info = RunInfo::load(&self.run_dir)?;
        if info.net != self.config.model || info.method != self.config.run.method {
            bail!(
                "--resume: {} was trained with method `{}` and a different [model] config; resume with the same config",
                self.run_dir.display(),
                info.method
            );
        }
        let state: TrainState = serde_json::from_str(
            &std::fs::read_to_string(ckpt.join("state.json"))
                .with_context(|| format!("reading {}/state.json", ckpt.display()))?,
        )
        .with_context(|| format!("{}/state.json: invalid", ckpt.display()))?;
        self.nets
            .g_store
            .load(&ckpt.join("generator.safetensors"))?;
        self.nets
            .ema_store
            .load(&ckpt.join("generator_ema.safetensors"))?;
        self.nets
            .d_store
            .load(&ckpt.join("discriminator.safetensors"))?;
        let opt_path = ckpt.join("optimizers.safetensors");
        let opt = candle_core::safetensors::load(&opt_path, self.nets.g_store.device())
            .with_context(|| format!("reading {}", opt_path.display()))?;
        let origin = opt_path.display().to_string();
        self.opt_g
            .load_state("g", &opt, state.opt_g_step, &origin)?;
        self.opt_d
            .load_state("d", &opt, state.opt_d_step, &origin)?;
        self.opt_am
            .load_state("am", &opt, state.opt_am_step, &origin)?;
        self.rng = state.rng.restore()?;
        self.step = state.step;
        self.ema_stats_at.set(None);
        // In AM's embedding phase the EMA statistics were fixed before this checkpoint.
        self.ema_stats_fixed = self.method.g_update(self.step, &self.config)
            == GUpdate::EmaClassEmbedding
            && self.step > self.config.run.steps.saturating_sub(self.config.am.steps);
        truncate_metrics(&self.run_dir.join("metrics.jsonl"), self.step)?;
        Ok(self.step)
    }

    /// Train until `run.steps` or until `stop` is set. Logs, samples and checkpoints on the
    /// configured schedule; always leaves a checkpoint of the final step.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<StopReason> {
        let total = self.config.run.steps;
        let bar = if self.progress {
            let b = indicatif::ProgressBar::new(total as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_position(self.step as u64);
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut metrics = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.run_dir.join("metrics.jsonl"))
            .with_context(|| format!("opening {}/metrics.jsonl", self.run_dir.display()))?;
        let start = Instant::now();
        let mut window = (Instant::now(), self.step);
        if self.step == 0 {
            let p = self.unseen_probability(32)?;
            let row = serde_json::json!({"step": 0, "p_unseen": p, "time_s": 0.0});
            writeln!(metrics, "{row}")?;
        }
        while self.step < total {
            if stop.load(Ordering::SeqCst) {
                let path = self.save_checkpoint()?;
                bar.abandon_with_message(format!("interrupted; checkpoint {}", path.display()));
                return Ok(StopReason::Interrupted);
            }
            let logs = self.train_step()?;
            bar.inc(1);
            let s = self.step;
            let preview = s % self.config.run.sample_every == 0 || s == total;
            let diversity = if preview {
                Some(self.read_diversity()?)
            } else {
                None
            };
            if let Some(reading) = &diversity {
                if reading.collapsed != self.collapsed && !reading.collapsed.is_empty() {
                    bar.println(format!(
                        "warning: step {s}: samples of {} have collapsed (pixel diversity below {:.0}% of real); \
                         this run's images of those classes are not evidence of what the classifier learned",
                        reading
                            .collapsed
                            .iter()
                            .map(|&c| format!("{} ({:.2})", self.class_names[c], reading.ratios[c]))
                            .collect::<Vec<_>>()
                            .join(", "),
                        100.0 * self.config.run.collapse_fraction
                    ));
                }
                self.collapsed = reading.collapsed.clone();
            }
            if s % self.config.run.log_every == 0 || s == total || preview {
                let elapsed = window.0.elapsed().as_secs_f64();
                let it_s = (s - window.1) as f64 / elapsed.max(1e-9);
                window = (Instant::now(), s);
                let p = self.unseen_probability(32)?;
                let mut row = serde_json::Map::new();
                row.insert("step".into(), s.into());
                for (k, v) in &logs {
                    row.insert(k.clone(), serde_json::json!(v));
                }
                row.insert("p_unseen".into(), serde_json::json!(p));
                row.insert("it_per_s".into(), serde_json::json!(it_s));
                row.insert(
                    "time_s".into(),
                    serde_json::json!(start.elapsed().as_secs_f64()),
                );
                if let Some(reading) = &diversity {
                    let per_class: serde_json::Map<String, serde_json::Value> = reading
                        .ratios
                        .iter()
                        .enumerate()
                        .map(|(c, r)| (self.class_names[c].clone(), serde_json::json!(r)))
                        .collect();
                    row.insert("diversity".into(), per_class.into());
                    let names: Vec<&str> = reading
                        .collapsed
                        .iter()
                        .map(|&c| self.class_names[c].as_str())
                        .collect();
                    row.insert("collapsed".into(), serde_json::json!(names));
                }
                writeln!(metrics, "{}", serde_json::Value::Object(row))?;
                metrics.flush()?;
                let short: Vec<String> = logs
                    .iter()
                    .filter(|(k, _)| !k.ends_with("drift"))
                    .map(|(k, v)| format!("{k} {v:.3}"))
                    .collect();
                bar.set_message(format!(
                    "{it_s:.2} it/s  p_unseen {}  {}",
                    p.map(|p| format!("{p:.3}")).unwrap_or("-".into()),
                    short.join("  ")
                ));
            }
            if preview {
                self.write_samples()?;
            }
            if s % self.config.run.checkpoint_every == 0 || s == total {
                self.save_checkpoint()?;
            }
        }
        bar.finish();
        Ok(StopReason::Finished)
    }
}

/// Drop metric lines after `step` (a resumed run rewrites them).
fn truncate_metrics(path: &Path, step: usize) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                .is_some_and(|s| s as usize <= step)
        })
        .collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    write_atomic(path, out.as_bytes())
}
