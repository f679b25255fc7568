//! A method the crate does not know, defined only here: an image-to-image "painter" with its
//! own tiny networks (a residual conv net conditioned on an input image and a class, its EMA
//! copy, and a linear critic). It trains through the public loop (`Trainer::with_method`),
//! gets previews and the collapse guard, checkpoints, resumes bit-identically and samples —
//! with nothing under `src/train` knowing it exists.

use anyhow::{bail, Result};
use candle_core::{Device, Tensor, Var, D};
use probegan::data::Dataset;
use probegan::losses;
use probegan::methods::testing::PooledLinearClassifier;
use probegan::methods::{
    AdamSettings, Condition, LossTerms, Method, ParamGroup, Phase, Sampler, StepContext,
};
use probegan::nets::{EmaPairs, Init, ParamStore, Scope};
use probegan::run::{list_checkpoints, ClassifierInfo};
use probegan::train::{Config, StopReason, Trainer};
use rand::SeedableRng;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const CLASSES: usize = 10;
const WIDTH: usize = 4;

/// conv3x3(1 + K -> WIDTH), ReLU, conv3x3(WIDTH -> 1); output tanh(input + that).
struct PainterNet {
    w1: Var,
    b1: Var,
    w2: Var,
    b2: Var,
}

impl PainterNet {
    fn new(s: &Scope) -> Result<Self> {
        let fan1 = (1 + CLASSES) * 9;
        Ok(PainterNet {
            w1: s.param(
                "w1",
                &[WIDTH, 1 + CLASSES, 3, 3],
                Init::Normal(1.0 / (fan1 as f64).sqrt()),
            )?,
            b1: s.param("b1", &[1, WIDTH, 1, 1], Init::Zeros)?,
            w2: s.param("w2", &[1, WIDTH, 3, 3], Init::Normal(0.1))?,
            b2: s.param("b2", &[1, 1, 1, 1], Init::Zeros)?,
        })
    }

    /// `x` [N, 1, H, W] in [-1, 1], `classes` [N] -> painted [N, 1, H, W].
    fn forward(&self, x: &Tensor, classes: &[u32]) -> Result<Tensor> {
        let (n, _, h, w) = x.dims4()?;
        let mut planes = vec![0f32; n * CLASSES * h * w];
        for (i, &c) in classes.iter().enumerate() {
            let start = (i * CLASSES + c as usize) * h * w;
            planes[start..start + h * w].fill(1.0);
        }
        let planes = Tensor::from_vec(planes, (n, CLASSES, h, w), x.device())?;
        let input = Tensor::cat(&[x, &planes], 1)?;
        let hidden = input
            .conv2d(self.w1.as_tensor(), 1, 1, 1, 1)?
            .broadcast_add(self.b1.as_tensor())?
            .relu()?;
        let delta = hidden
            .conv2d(self.w2.as_tensor(), 1, 1, 1, 1)?
            .broadcast_add(self.b2.as_tensor())?;
        Ok((x + delta)?.tanh()?)
    }
}

struct Painter {
    net_store: ParamStore,
    net: PainterNet,
    ema_store: ParamStore,
    ema: PainterNet,
    critic_store: ParamStore,
    critic: Var,
    /// Inputs that `Condition::Class` samples paint onto (the first real images).
    inputs: Option<Tensor>,
}

impl Painter {
    fn new(device: &Device) -> Result<Self> {
        let net_store = ParamStore::new(device, 11);
        let net = PainterNet::new(&net_store.root())?;
        let ema_store = ParamStore::new(device, 11);
        let ema = PainterNet::new(&ema_store.root())?;
        ema_store.copy_from(&net_store)?;
        let critic_store = ParamStore::new(device, 12);
        let critic = critic_store
            .root()
            .param("w", &[64, 1], Init::Normal(0.1))?;
        Ok(Painter {
            net_store,
            net,
            ema_store,
            ema,
            critic_store,
            critic,
            inputs: None,
        })
    }

    /// A linear critic on 4x4-pooled pixels: [N, 1, 32, 32] -> [N].
    fn critic(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0)?;
        let pooled = x
            .reshape((n, 1, 8, 4, 8, 4))?
            .mean(5)?
            .mean(3)?
            .flatten_from(1)?;
        Ok(pooled.matmul(self.critic.as_tensor())?.squeeze(1)?)
    }
}

impl Sampler for Painter {
    fn sample(&self, condition: &Condition, n: usize, seed: u64) -> Result<Tensor> {
        let (image, class) = match condition {
            Condition::OnImage { image, target } => match target.as_slice() {
                [(class, _)] => (image.repeat((n, 1, 1, 1))?, *class),
                _ => bail!("the painter paints exactly one class"),
            },
            Condition::Class(c) => {
                let inputs = self.inputs.as_ref().expect("prepared");
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                let rows: Vec<u32> = (0..n)
                    .map(|_| rand::Rng::random_range(&mut rng, 0..inputs.dim(0).unwrap()) as u32)
                    .collect();
                let rows = Tensor::from_vec(rows, n, inputs.device())?;
                (inputs.index_select(&rows, 0)?, *c)
            }
            Condition::Mix(_) | Condition::Group { .. } => {
                bail!("the painter paints one class at a time")
            }
        };
        self.ema.forward(&image, &vec![class as u32; n])
    }
}

impl Method for Painter {
    fn name(&self) -> &'static str {
        "painter"
    }

    fn prepare(&mut self, ctx: &mut StepContext) -> Result<()> {
        self.inputs = Some(ctx.data.images.narrow(0, 0, 16)?.copy()?);
        Ok(())
    }

    fn param_groups(&self) -> Result<Vec<ParamGroup>> {
        let adam = AdamSettings {
            lr: 1e-2,
            beta1: 0.5,
            beta2: 0.999,
        };
        Ok(vec![
            ParamGroup {
                name: "critic",
                params: self.critic_store.trainable(),
                adam,
                ema: None,
                legacy: None,
            },
            ParamGroup {
                name: "painter",
                params: self.net_store.trainable(),
                adam,
                ema: Some(EmaPairs::new(&self.ema_store, &self.net_store)?),
                legacy: None,
            },
        ])
    }

    fn stores(&self) -> Vec<(&'static str, &ParamStore)> {
        vec![
            ("painter", &self.net_store),
            ("painter_ema", &self.ema_store),
            ("critic", &self.critic_store),
        ]
    }

    fn schedule(&self, _step: usize) -> Vec<Phase> {
        vec![
            Phase {
                group: "critic",
                repeats: 1,
            },
            Phase {
                group: "painter",
                repeats: 1,
            },
        ]
    }

    fn loss(&mut self, group: &'static str, ctx: &mut StepContext) -> Result<LossTerms> {
        let n = ctx.config.train.batch_size;
        let substrates = ctx.data.sample(ctx.rng, n)?;
        let targets: Vec<u32> = (0..n)
            .map(|_| rand::Rng::random_range(&mut *ctx.rng, 0..CLASSES as u32))
            .collect();
        let painted = self.net.forward(&substrates.images, &targets)?;
        let (total, logs) = match group {
            "critic" => {
                let real = losses::hinge_d_real(&self.critic(&substrates.images)?, None)?;
                let fake = losses::hinge_d_fake(&self.critic(&painted.detach())?, None)?;
                ((&real + &fake)?, vec![("critic_hinge", (real + fake)?)])
            }
            "painter" => {
                let adv = losses::hinge_g(&self.critic(&painted)?, None)?;
                let labels = Tensor::from_vec(targets, n, painted.device())?;
                let ce = losses::cross_entropy(&ctx.classifier.logits(&painted)?, &labels)?;
                let stay = (&painted - &substrates.images)?.abs()?.mean_all()?;
                let total = ((&adv + &ce)? + (&stay * 0.1)?)?;
                (total, vec![("painter_ce", ce), ("painter_l1", stay)])
            }
            other => bail!("painter: no group `{other}`"),
        };
        Ok(LossTerms {
            total,
            logs: logs
                .into_iter()
                .map(|(k, v)| Ok((k.to_string(), v.to_scalar::<f32>()? as f64)))
                .collect::<Result<_>>()?,
        })
    }
}

const CONFIG: &str = r#"
[run]
out_dir = "OUT"
seed = 5
steps = 6
log_every = 2
sample_every = 3
checkpoint_every = 3
keep_checkpoints = 2
grid_columns = 3

[method]
name = "naive"

[data]
source = "embedded"
unseen = ["Trouser"]
max_per_class = 20

[classifier]
adapter = "test"

[model]
resolution = 32
channels = 1
z_dim = 8
embed_dim = 8
g_widths = [8, 8, 8, 8]
d_widths = [8, 8, 8]

[train]
batch_size = 8
d_steps = 1
lr_g = 1e-3
lr_d = 1e-3
ema_decay = 0.5
"#;

fn setup() -> (Dataset, Arc<PooledLinearClassifier>) {
    probegan::init();
    let ds = probegan::embedded::fashion_mnist_subset()
        .unwrap()
        .stratified_subset(20, 1);
    let clf = PooledLinearClassifier::random(ds.class_names.clone(), (1, 32, 32), 3, &Device::Cpu)
        .unwrap();
    (ds, Arc::new(clf))
}

fn painter_trainer(
    dir: &std::path::Path,
    steps: usize,
    ds: &Dataset,
    clf: &Arc<PooledLinearClassifier>,
) -> Trainer {
    let text = CONFIG.replace("OUT", &dir.join("run").display().to_string());
    let config = Config::from_toml_str(&text, &[format!("run.steps={steps}")]).unwrap();
    let info = ClassifierInfo {
        adapter: "test".into(),
        model: None,
    };
    let method = Box::new(Painter::new(&Device::Cpu).unwrap());
    let t = Trainer::with_method(config, ds, clf.clone(), info, method, &Device::Cpu).unwrap();
    t.init_run_dir().unwrap();
    t
}

fn weights(t: &Trainer) -> Vec<(String, Vec<u32>)> {
    let mut out = vec![];
    for (store, params) in t.method().stores() {
        for (name, v) in params.all() {
            let bits = v
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            out.push((
                format!("{store}.{name}"),
                bits.iter().map(|x| x.to_bits()).collect(),
            ));
        }
    }
    out
}

#[test]
fn a_method_of_its_own_trains_checkpoints_resumes_and_samples() {
    let (ds, clf) = setup();
    let a_dir = tempfile::tempdir().unwrap();
    let mut a = painter_trainer(a_dir.path(), 6, &ds, &clf);
    let before = weights(&a);
    assert_eq!(
        a.run(&AtomicBool::new(false)).unwrap(),
        StopReason::Finished
    );
    assert_ne!(weights(&a), before, "training changed the weights");

    // The loop's contract, for a method it has never heard of.
    let run = a.run_dir.clone();
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(metrics.contains("painter_ce") && metrics.contains("critic_hinge"));
    assert!(
        metrics.contains("\"diversity\""),
        "the collapse guard read the samples"
    );
    assert!(run.join("samples/step_000006.png").is_file());
    let ckpt = run.join("checkpoints/step_000006");
    for file in ["painter", "painter_ema", "critic"] {
        assert!(ckpt.join(format!("{file}.safetensors")).is_file(), "{file}");
    }
    let opt =
        candle_core::safetensors::load(ckpt.join("optimizers.safetensors"), &Device::Cpu).unwrap();
    assert!(opt.keys().any(|k| k.starts_with("painter.m.")));
    assert!(opt.keys().any(|k| k.starts_with("critic.v.")));
    let info = probegan::run::RunInfo::load(&run).unwrap();
    assert_eq!(info.method, "painter");

    // Three steps, a fresh process's worth of state, three more: the same bits.
    let b_dir = tempfile::tempdir().unwrap();
    let mut b = painter_trainer(b_dir.path(), 3, &ds, &clf);
    b.run(&AtomicBool::new(false)).unwrap();
    drop(b);
    let mut c = painter_trainer(b_dir.path(), 6, &ds, &clf);
    assert_eq!(c.resume().unwrap(), 3);
    c.run(&AtomicBool::new(false)).unwrap();
    assert_eq!(weights(&c), weights(&a), "resumed run differs");
    let steps: Vec<usize> = list_checkpoints(&c.run_dir)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(steps, vec![3, 6]);

    // Sampling: on an image of the caller's, and by class; deterministic, in [-1, 1].
    let image = ds_image(&ds);
    let method = c.method();
    let x = method
        .sample(
            &Condition::OnImage {
                image: image.clone(),
                target: vec![(1, 1.0)],
            },
            2,
            0,
        )
        .unwrap();
    assert_eq!(x.dims(), &[2, 1, 32, 32]);
    let again = method
        .sample(
            &Condition::OnImage {
                image,
                target: vec![(1, 1.0)],
            },
            2,
            0,
        )
        .unwrap();
    let diff = (&x - &again)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(diff, 0.0);
    let by_class = method.sample(&Condition::Class(3), 4, 7).unwrap();
    let max = by_class
        .abs()
        .unwrap()
        .max_keepdim(D::Minus1)
        .unwrap()
        .max_all()
        .unwrap();
    assert!(max.to_scalar::<f32>().unwrap() <= 1.0);
    let e = method
        .sample(&Condition::Mix(vec![(0, 0.5), (1, 0.5)]), 1, 0)
        .unwrap_err();
    assert!(e.to_string().contains("one class at a time"));
}

/// One real image, [1, 1, 32, 32] in generator space.
fn ds_image(ds: &Dataset) -> Tensor {
    let td = probegan::data::TrainData::from_dataset(ds, &[0], (32, 32), 1, &Device::Cpu).unwrap();
    td.images.narrow(0, 0, 1).unwrap()
}
