//! The shared training loop: D steps, G step, EMA, logging, samples, checkpoints, resume,
//! NaN guard, interruption.

use super::checkpoint::{write_checkpoint, TrainState};
use super::config::Config;
use super::diversity_watch::{DiversityReading, DiversityWatch};
use super::grid::save_class_grid;
use super::optim::Adam;
use super::rng_state::RngState;
use crate::classifier::Classifier;
use crate::data::Dataset;
use crate::data::TrainData;
use crate::methods::{self, Condition, LossTerms, Method, Settings, StepContext};
use crate::nets::EmaPairs;
use crate::run::{
    list_checkpoints, sample_grid_path, write_atomic, ClassifierInfo, MetricsRow, RunInfo,
    CONFIG_TOML, METRICS,
};
use anyhow::{bail, Context, Result};
use candle_core::Device;
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

/// Seconds spent per parameter group (its losses, backward passes and updates) and on EMA
/// updates since the trainer started (for the benchmark and the log).
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub group_s: BTreeMap<&'static str, f64>,
    pub ema_s: f64,
    pub steps: usize,
}

impl Timings {
    pub fn total_s(&self) -> f64 {
        self.group_s.values().sum::<f64>() + self.ema_s
    }

    /// `1.230 s/step (discriminator 0.899, generator 0.331, EMA 0.000)`.
    pub fn per_step_summary(&self) -> String {
        let n = self.steps.max(1) as f64;
        let parts: Vec<String> = self
            .group_s
            .iter()
            .map(|(g, s)| format!("{g} {:.3}", s / n))
            .chain(std::iter::once(format!("EMA {:.3}", self.ema_s / n)))
            .collect();
        format!("{:.3} s/step ({})", self.total_s() / n, parts.join(", "))
    }
}

/// One parameter group of the method, with the optimiser and EMA the loop keeps for it.
struct Group {
    name: &'static str,
    adam: Adam,
    ema: Option<EmaPairs>,
    legacy: Option<methods::LegacyOptimizerKeys>,
}

pub struct Trainer {
    pub config: Config,
    pub run_dir: PathBuf,
    method: Box<dyn Method>,
    groups: Vec<Group>,
    settings: Settings,
    classifier: Arc<dyn Classifier>,
    data: TrainData,
    unseen: Vec<usize>,
    class_names: Vec<String>,
    rng: ChaCha8Rng,
    step: usize,
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
    /// A fresh run of the method `config.method` names. `dataset` is the full training set
    /// (all classes; the method filters); its class names must match the classifier's.
    pub fn new(
        config: Config,
        dataset: &Dataset,
        classifier: Arc<dyn Classifier>,
        classifier_info: ClassifierInfo,
        device: &Device,
    ) -> Result<Trainer> {
        config.validate()?;
        let class_names = classifier.class_names();
        let unseen = resolve_classes(class_names, &config.data.unseen)?;
        let method = methods::build(
            &config.method,
            &config.settings(),
            class_names.len(),
            &unseen,
            device,
        )?;
        Self::with_method(config, dataset, classifier, classifier_info, method, device)
    }

    /// A fresh run of a method built by the caller (one the config cannot name, such as a
    /// method of the caller's own). `config.method` is then not read.
    pub fn with_method(
        config: Config,
        dataset: &Dataset,
        classifier: Arc<dyn Classifier>,
        classifier_info: ClassifierInfo,
        method: Box<dyn Method>,
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
        let settings = config.settings();
        let k = class_names.len();
        let real_classes = method.real_classes(k, &unseen);
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
        let diversity_watch = DiversityWatch::new(&data, k, config.run.collapse_fraction)?;
        let mut groups: Vec<Group> = vec![];
        for g in method.param_groups()? {
            if groups.iter().any(|h| h.name == g.name) {
                bail!(
                    "method `{}` declares parameter group `{}` twice",
                    method.name(),
                    g.name
                );
            }
            groups.push(Group {
                name: g.name,
                adam: Adam::new(g.params, g.adam.lr, g.adam.beta1, g.adam.beta2)?,
                ema: g.ema,
                legacy: g.legacy,
            });
        }
        let run_dir = config.run.out_dir.clone();
        let mut trainer = Trainer {
            rng: ChaCha8Rng::seed_from_u64(config.run.seed),
            config,
            run_dir,
            method,
            groups,
            settings,
            classifier,
            data,
            unseen,
            class_names,
            step: 0,
            classifier_info,
            last_logs: BTreeMap::new(),
            diversity_watch,
            collapsed: vec![],
            timings: Timings::default(),
            progress: false,
        };
        trainer.call_method(|method, ctx| method.prepare(ctx))?;
        Ok(trainer)
    }

    pub fn step(&self) -> usize {
        self.step
    }

    /// The method being trained (its networks, and its sampler).
    pub fn method(&self) -> &dyn Method {
        self.method.as_ref()
    }

    pub fn unseen(&self) -> &[usize] {
        &self.unseen
    }

    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Call the method with a fresh step context. Borrows the fields one by one, so the
    /// method and the context it reads can be used together.
    fn call_method<R>(
        &mut self,
        call: impl FnOnce(&mut dyn Method, &mut StepContext) -> Result<R>,
    ) -> Result<R> {
        let mut ctx = StepContext {
            classifier: self.classifier.as_ref(),
            data: &self.data,
            rng: &mut self.rng,
            config: &self.settings,
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
            &self.run_dir.join(CONFIG_TOML),
            self.config.to_toml()?.as_bytes(),
        )?;
        Ok(())
    }

    fn run_info(&self) -> Result<RunInfo> {
        Ok(RunInfo {
            method: self.method.name().to_string(),
            seed: self.config.run.seed,
            class_names: self.class_names.clone(),
            unseen: self
                .unseen
                .iter()
                .map(|&i| self.class_names[i].clone())
                .collect(),
            unseen_indices: self.unseen.clone(),
            classifier: self.classifier_info.clone(),
            net: self.config.model.clone(),
            config: serde_json::to_value(&self.config)?,
        })
    }

    /// One step of the method's schedule (e.g. its discriminator steps, then its generator
    /// step). Returns the step's logged scalars.
    pub fn train_step(&mut self) -> Result<BTreeMap<String, f64>> {
        let mut logs = BTreeMap::new();
        let decay = if self.step < self.config.train.ema_start {
            0.0
        } else {
            self.config.train.ema_decay
        };
        for phase in self.method.schedule(self.step) {
            let gi = self
                .groups
                .iter()
                .position(|g| g.name == phase.group)
                .with_context(|| {
                    format!(
                        "method `{}` scheduled parameter group `{}`, which it does not declare",
                        self.method.name(),
                        phase.group
                    )
                })?;
            for _ in 0..phase.repeats {
                let t0 = Instant::now();
                let terms = self.call_method(|method, ctx| method.loss(phase.group, ctx))?;
                self.guard(phase.group, &terms)?;
                let grads = terms.total.backward()?;
                self.groups[gi].adam.step(&grads)?;
                for (k, v) in terms.logs {
                    logs.insert(k, v);
                }
                let t1 = Instant::now();
                if let Some(ema) = &self.groups[gi].ema {
                    ema.update(decay)?;
                }
                *self.timings.group_s.entry(phase.group).or_default() += (t1 - t0).as_secs_f64();
                self.timings.ema_s += t1.elapsed().as_secs_f64();
            }
        }
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
        for (_, store) in self.method.stores() {
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

    /// Mean classifier probability of the unseen classes on the method's samples (fixed noise).
    pub fn unseen_probability(&self, n: usize) -> Result<Option<f64>> {
        if self.unseen.is_empty() {
            return Ok(None);
        }
        let mut total = 0.0;
        for &c in &self.unseen {
            let x = self
                .method
                .sample(&Condition::Class(c), n, 0x0b5e_47ed ^ c as u64)?;
            let logits = self.classifier.logits(&x)?.detach();
            let p = crate::losses::log_softmax(&logits)?
                .exp()?
                .narrow(1, c, 1)?
                .mean_all()?;
            total += p.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        }
        Ok(Some(total / self.unseen.len() as f64))
    }

    /// Grid of samples, one row per class (fixed noise, so grids compare across steps).
    pub fn write_samples(&self) -> Result<PathBuf> {
        self.method.before_snapshot(self.step)?;
        let cols = self.config.run.grid_columns;
        let seed = self.config.run.seed ^ 0x9e1d;
        let rows = (0..self.class_names.len())
            .map(|c| {
                self.method
                    .sample(&Condition::Class(c), cols, seed ^ c as u64)
            })
            .collect::<Result<Vec<_>>>()?;
        let x = candle_core::Tensor::cat(&rows, 0)?;
        let path = sample_grid_path(&self.run_dir, self.step);
        save_class_grid(&x, cols, &self.unseen, &path)?;
        Ok(path)
    }

    /// The collapse guard's reading: 32 samples per class (fixed noise, as the grids are drawn).
    pub fn read_diversity(&self) -> Result<DiversityReading> {
        self.method.before_snapshot(self.step)?;
        const PER_CLASS: usize = 32;
        let seed = self.config.run.seed ^ 0xd1e5;
        self.diversity_watch.read(|class| {
            self.method
                .sample(&Condition::Class(class), PER_CLASS, seed ^ class as u64)
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
        self.method.before_snapshot(self.step)?;
        let state = TrainState {
            step: self.step,
            rng: RngState::capture(&self.rng),
            optimizer_steps: self
                .groups
                .iter()
                .map(|g| (g.name.to_string(), g.adam.step))
                .collect(),
            legacy: Default::default(),
        };
        write_checkpoint(
            &self.run_dir,
            self.step,
            self.config.run.keep_checkpoints,
            |dir| {
                for (name, store) in self.method.stores() {
                    store.save(&dir.join(format!("{name}.safetensors")))?;
                }
                let mut opt = HashMap::new();
                for g in &self.groups {
                    g.adam.state_tensors(g.name, &mut opt);
                }
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
        let ckpt = crate::run::latest_checkpoint(&self.run_dir).with_context(|| {
            format!("--resume: nothing to resume in {}", self.run_dir.display())
        })?;
        let info = RunInfo::load(&self.run_dir)?;
        if info.net != self.config.model || info.method != self.method.name() {
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
        for (name, store) in self.method.stores() {
            store.load(&ckpt.join(format!("{name}.safetensors")))?;
        }
        let opt_path = ckpt.join("optimizers.safetensors");
        let device = self.data.images.device().clone();
        let opt = candle_core::safetensors::load(&opt_path, &device)
            .with_context(|| format!("reading {}", opt_path.display()))?;
        let origin = opt_path.display().to_string();
        for g in &mut self.groups {
            let (prefix, step) = state.optimizer_state_of(g.name, g.legacy, &opt, &origin)?;
            g.adam.load_state(&prefix, &opt, step, &origin)?;
        }
        self.rng = state.rng.restore()?;
        self.step = state.step;
        truncate_metrics(&self.run_dir.join(METRICS), self.step)?;
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
            .open(self.run_dir.join(METRICS))
            .with_context(|| format!("opening {}/{METRICS}", self.run_dir.display()))?;
        let start = Instant::now();
        let mut window = (Instant::now(), self.step);
        if self.step == 0 {
            let row = MetricsRow {
                step: 0,
                p_unseen: self.unseen_probability(32)?,
                time_s: Some(0.0),
                ..Default::default()
            };
            writeln!(metrics, "{}", serde_json::to_string(&row)?)?;
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
                let mut row = MetricsRow {
                    step: s as u64,
                    p_unseen: p,
                    it_per_s: Some(it_s),
                    time_s: Some(start.elapsed().as_secs_f64()),
                    values: logs.clone(),
                    ..Default::default()
                };
                if let Some(reading) = &diversity {
                    let name = |c: usize| self.class_names[c].clone();
                    row.diversity = Some(
                        reading
                            .ratios
                            .iter()
                            .enumerate()
                            .map(|(c, &r)| (name(c), r))
                            .collect(),
                    );
                    row.collapsed = Some(reading.collapsed.iter().map(|&c| name(c)).collect());
                }
                writeln!(metrics, "{}", serde_json::to_string(&row)?)?;
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
            serde_json::from_str::<MetricsRow>(l).is_ok_and(|row| row.step as usize <= step)
        })
        .collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    write_atomic(path, out.as_bytes())
}
