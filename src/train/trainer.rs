//! The `Trainer`: building a run from a config (or a caller's method), one step of the
//! method's schedule with the NaN guard and EMA updates, and the loop that logs, previews and
//! checkpoints on the configured schedule until the end or Ctrl-C.

use super::config::Config;
use super::diversity_watch::DiversityWatch;
use super::optim::Adam;
use crate::classifier::Classifier;
use crate::data::Dataset;
use crate::data::{ClassSpace, TrainData};
use crate::methods::{self, LossTerms, Method, RealImages, Settings, StepContext};
use crate::nets::EmaPairs;
use crate::run::{
    list_checkpoints, write_atomic, ClassifierInfo, MetricsRow, RunInfo, CONFIG_TOML, METRICS,
};
use anyhow::{bail, Context, Result};
use candle_core::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
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
pub(super) struct Group {
    pub(super) name: &'static str,
    pub(super) adam: Adam,
    pub(super) ema: Option<EmaPairs>,
    pub(super) legacy: Option<methods::LegacyOptimizerKeys>,
}

pub struct Trainer {
    pub config: Config,
    pub run_dir: PathBuf,
    pub(super) method: Box<dyn Method>,
    pub(super) groups: Vec<Group>,
    pub(super) settings: Settings,
    pub(super) classifier: Arc<dyn Classifier>,
    pub(super) data: TrainData,
    pub(super) unseen: Vec<usize>,
    pub(super) class_names: Vec<String>,
    pub(super) rng: ChaCha8Rng,
    pub(super) step: usize,
    pub(super) classifier_info: ClassifierInfo,
    pub(super) last_logs: BTreeMap<String, f64>,
    pub(super) diversity_watch: DiversityWatch,
    /// Classes the guard flagged at the last preview (a warning is printed when this changes).
    pub(super) collapsed: Vec<usize>,
    pub timings: Timings,
    /// Show a progress bar (off in tests).
    pub progress: bool,
}

/// Resolve class names or indices to indices (`data.unseen`'s classes).
pub fn resolve_classes(names: &[String], wanted: &[String]) -> Result<Vec<usize>> {
    ClassSpace::new(names.to_vec()).indices(wanted, "data.unseen")
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
        let class_names = classifier.class_names();
        let unseen = resolve_classes(class_names, &config.data.unseen)?;
        let method = methods::build(
            &config.method,
            &super::setup::method_settings(&config)?,
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
        let k = class_names.len();
        let unseen = resolve_classes(&class_names, &config.data.unseen)?;
        let real_images = method.real_images(k, &unseen);
        let substrates = real_images == RealImages::Substrates;
        if !substrates && dataset.class_names.len() != class_names.len() {
            bail!(
                "the data has {} classes ({}) but the classifier has {} ({})",
                dataset.class_names.len(),
                dataset.class_names.join(", "),
                class_names.len(),
                class_names.join(", ")
            );
        }
        let settings = super::setup::method_settings(&config)?;
        // Substrates: every image of the data, whatever folder (class) it came from.
        let real_classes = match real_images {
            RealImages::Classes(c) => c,
            RealImages::Substrates => (0..dataset.class_names.len()).collect(),
        };
        let dataset = if config.data.max_per_class > 0 {
            dataset.stratified_subset(config.data.max_per_class, config.run.seed)
        } else {
            dataset.clone()
        };
        let data = TrainData::from_dataset(
            &dataset,
            &real_classes,
            config.model.dims(),
            config.model.channels,
            device,
        )?;
        let diversity_watch = if substrates {
            DiversityWatch::against_all(&data, k, config.run.collapse_fraction)?
        } else {
            DiversityWatch::new(&data, k, config.run.collapse_fraction)?
        };
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
    pub(super) fn call_method<R>(
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

    /// Train until `run.steps` or until `stop` is set. Logs, samples and checkpoints on the
    /// configured schedule; always leaves a checkpoint of the final step.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<StopReason> {
        let total = self.config.run.steps;
        let bar = if self.progress {
            let b = indicatif::ProgressBar::new(total as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_position(self.step as u64);
            // A resumed run starts at its step: the ETA must not count that jump as speed.
            b.reset_eta();
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
