//! LSTM, GRU and RNN, unrolled over time as candle ops (matmul, sigmoid, tanh, narrow, stack),
//! so the backward pass is candle's autograd through every step.
//!
//! Both directions run over all `seq_length` steps; with `sequence_lens`, a step at or past a
//! sequence's length keeps that sequence's state and writes zeros to `Y`. Forward, that freezes
//! the state after the last valid step; reverse, it holds the initial state until the last
//! valid step and then runs back to step 0 — exactly the ONNX semantics in both cases.

use super::{input, op, opt_input, NodeInfo, Op};
use crate::onnx::value::{checked_elements, Ctx, Value};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cell {
    Rnn,
    Gru,
    Lstm,
}

impl Cell {
    /// Gate blocks stacked in W and R.
    fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru => 3,
            Cell::Lstm => 4,
        }
    }

    /// Activations per direction and their defaults.
    fn default_acts(self) -> &'static [Act] {
        match self {
            Cell::Rnn => &[Act::Tanh],
            Cell::Gru => &[Act::Sigmoid, Act::Tanh],
            Cell::Lstm => &[Act::Sigmoid, Act::Tanh, Act::Tanh],
        }
    }

    fn outputs(self) -> usize {
        if self == Cell::Lstm {
            3
        } else {
            2
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Act {
    Sigmoid,
    Tanh,
    Relu,
}

impl Act {
    fn parse(s: &str) -> Option<Act> {
        match s.to_ascii_lowercase().as_str() {
            "sigmoid" => Some(Act::Sigmoid),
            "tanh" => Some(Act::Tanh),
            "relu" => Some(Act::Relu),
            _ => None,
        }
    }

    fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Act::Sigmoid => candle_nn::ops::sigmoid(x)?,
            Act::Tanh => x.tanh()?,
            Act::Relu => x.relu()?,
        })
    }
}

struct Recurrent {
    cell: Cell,
    hidden: Option<usize>,
    /// One entry per direction: whether it runs backwards in time.
    reverse: Vec<bool>,
    /// Activations per direction (`cell.default_acts().len()` each).
    acts: Vec<Vec<Act>>,
    clip: Option<f64>,
    input_forget: bool,
    linear_before_reset: bool,
    batchwise: bool,
    want_y: bool,
    n_outputs: usize,
}

pub fn lstm(info: &NodeInfo) -> Result<Box<dyn Op>> {
    recurrent(info, Cell::Lstm)
}

pub fn gru(info: &NodeInfo) -> Result<Box<dyn Op>> {
    recurrent(info, Cell::Gru)
}

pub fn rnn(info: &NodeInfo) -> Result<Box<dyn Op>> {
    recurrent(info, Cell::Rnn)
}

fn recurrent(info: &NodeInfo, cell: Cell) -> Result<Box<dyn Op>> {
    let a = &info.attrs;
    let op_type = &info.node.op_type;
    let name = info.name();
    let direction = a.string("direction", "forward")?;
    let reverse = match direction.as_str() {
        "forward" => vec![false],
        "reverse" => vec![true],
        "bidirectional" => vec![false, true],
        other => bail!(
            "{op_type} `{name}`: direction `{other}` is not forward, reverse or bidirectional"
        ),
    };
    let hidden = match a.opt_int("hidden_size")? {
        None => None,
        Some(h) if h > 0 && h <= 1 << 20 => Some(h as usize),
        Some(h) => bail!("{op_type} `{name}`: hidden_size {h} is not a positive size"),
    };
    let per_dir = cell.default_acts().len();
    let acts = match a.opt_strings("activations")? {
        None => vec![cell.default_acts().to_vec(); reverse.len()],
        Some(names) => {
            if names.len() != per_dir * reverse.len() {
                bail!(
                    "{op_type} `{name}`: {} activations given, {} expected ({per_dir} per \
                     direction, {} direction(s))",
                    names.len(),
                    per_dir * reverse.len(),
                    reverse.len()
                );
            }
            let parsed = names
                .iter()
                .map(|s| {
                    Act::parse(s).with_context(|| {
                        format!(
                            "{op_type} `{name}`: activation `{s}` is not supported (Sigmoid, \
                             Tanh and Relu are)"
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            parsed.chunks(per_dir).map(|c| c.to_vec()).collect()
        }
    };
    let clip = match a.opt_float("clip")? {
        None => None,
        Some(c) if c > 0.0 && c.is_finite() => Some(c as f64),
        Some(c) => bail!("{op_type} `{name}`: clip {c} is not a positive threshold"),
    };
    let input_forget = cell == Cell::Lstm && a.int("input_forget", 0)? != 0;
    let linear_before_reset = cell == Cell::Gru && a.int("linear_before_reset", 0)? != 0;
    let batchwise = match a.int("layout", 0)? {
        0 => false,
        1 => true,
        l => bail!("{op_type} `{name}`: layout {l} is not 0 or 1"),
    };
    if info.node.output.len() > cell.outputs() {
        bail!(
            "{op_type} `{name}`: {} outputs declared, at most {} exist",
            info.node.output.len(),
            cell.outputs()
        );
    }
    let max_inputs = if cell == Cell::Lstm { 8 } else { 6 };
    if info.node.input.len() > max_inputs {
        bail!(
            "{op_type} `{name}`: {} inputs given, at most {max_inputs} exist",
            info.node.input.len()
        );
    }
    let want_y = info.node.output.first().is_some_and(|o| !o.is_empty());
    let n_outputs = info.node.output.len();
    let r = Recurrent {
        cell,
        hidden,
        reverse,
        acts,
        clip,
        input_forget,
        linear_before_reset,
        batchwise,
        want_y,
        n_outputs,
    };
    let label = format!("{op_type} `{name}`");
    op(move |ctx, ins| r.run(ctx, ins).with_context(|| label.clone()))
}

/// Check a tensor's shape, naming it.
fn expect_dims(t: &Tensor, want: &[usize], what: &str) -> Result<()> {
    if t.dims() != want {
        bail!("{what} has shape {:?}, expected {want:?}", t.dims());
    }
    Ok(())
}

impl Recurrent {
    fn clip(&self, x: Tensor) -> Result<Tensor> {
        Ok(match self.clip {
            Some(c) => x.clamp(-c, c)?,
            None => x,
        })
    }

    fn run(&self, ctx: &Ctx, ins: &[Option<Value>]) -> Result<Vec<Value>> {
        let nd = self.reverse.len();
        let g = self.cell.gates();
        let x = input(ins, 0)?.float(ctx)?;
        if x.rank() != 3 {
            bail!("X must be 3-D, got shape {:?}", x.dims());
        }
        // Internally time-major: [seq, batch, input].
        let x = if self.batchwise {
            x.transpose(0, 1)?.contiguous()?
        } else {
            x
        };
        let (steps, batch, isz) = x.dims3()?;
        let w = input(ins, 1)?.float(ctx)?;
        let r = input(ins, 2)?.float(ctx)?;
        if r.rank() != 3 {
            bail!("R must be 3-D, got shape {:?}", r.dims());
        }
        let h = self.hidden.unwrap_or(r.dims()[2]);
        if steps == 0 || batch == 0 || isz == 0 || h == 0 {
            bail!(
                "X {:?} (time-major) or the hidden size {h} is empty",
                x.dims()
            );
        }
        checked_elements(&[steps, nd, batch, g * h], "recurrent gates")?;
        expect_dims(&w, &[nd, g * h, isz], "W")?;
        expect_dims(&r, &[nd, g * h, h], "R")?;
        let bias = match opt_input(ins, 3) {
            Some(b) => {
                let b = b.float(ctx)?;
                expect_dims(&b, &[nd, 2 * g * h], "B")?;
                Some(b)
            }
            None => None,
        };
        let mask = match opt_input(ins, 4) {
            Some(l) => self.mask(&l.to_i64s()?, steps, batch, ctx)?,
            None => None,
        };
        let state = |i: usize, what: &str| -> Result<Option<Tensor>> {
            let Some(v) = opt_input(ins, i) else {
                return Ok(None);
            };
            let t = v.float(ctx)?;
            let t = if self.batchwise {
                expect_dims(&t, &[batch, nd, h], what)?;
                t.transpose(0, 1)?.contiguous()?
            } else {
                expect_dims(&t, &[nd, batch, h], what)?;
                t
            };
            Ok(Some(t))
        };
        let h0 = state(5, "initial_h")?;
        let (c0, peep) = if self.cell == Cell::Lstm {
            let p = match opt_input(ins, 7) {
                Some(p) => {
                    let p = p.float(ctx)?;
                    expect_dims(&p, &[nd, 3 * h], "P")?;
                    Some(p)
                }
                None => None,
            };
            (state(6, "initial_c")?, p)
        } else {
            (None, None)
        };
        let zeros = Tensor::zeros((batch, h), ctx.dtype, &ctx.device)?;
        let mut ys = Vec::with_capacity(nd);
        let mut hs = Vec::with_capacity(nd);
        let mut cs = Vec::with_capacity(nd);
        for d in 0..nd {
            let dir = Dir {
                x: &x,
                w: w.get(d)?,
                r: r.get(d)?,
                bias: bias.as_ref().map(|b| b.get(d)).transpose()?,
                peep: peep.as_ref().map(|p| p.get(d)).transpose()?,
                h0: h0
                    .as_ref()
                    .map(|t| t.get(d))
                    .transpose()?
                    .unwrap_or(zeros.clone()),
                c0: c0
                    .as_ref()
                    .map(|t| t.get(d))
                    .transpose()?
                    .unwrap_or(zeros.clone()),
                mask: mask.as_ref(),
                reverse: self.reverse[d],
                acts: &self.acts[d],
                hsz: h,
            };
            let (y, hl, cl) = self.direction(&dir)?;
            ys.extend(y);
            hs.push(hl);
            cs.push(cl);
        }
        let mut out = Vec::with_capacity(self.n_outputs);
        if self.n_outputs > 0 {
            out.push(if self.want_y {
                let y = Tensor::stack(&ys, 1)?; // [seq, nd, batch, h]
                Value::Device(if self.batchwise {
                    y.permute((2, 0, 1, 3))?.contiguous()?
                } else {
                    y
                })
            } else {
                // Not requested: the plan skips an output declared as "".
                Value::Device(Tensor::zeros(0, ctx.dtype, &ctx.device)?)
            });
        }
        let finals = |v: Vec<Tensor>| -> Result<Value> {
            let t = Tensor::stack(&v, 0)?; // [nd, batch, h]
            Ok(Value::Device(if self.batchwise {
                t.transpose(0, 1)?.contiguous()?
            } else {
                t
            }))
        };
        if self.n_outputs > 1 {
            out.push(finals(hs)?);
        }
        if self.n_outputs > 2 {
            out.push(finals(cs)?);
        }
        Ok(out)
    }

    /// Per-step validity masks `[seq, batch, 1]` (1 while `t < sequence_lens[b]`), or None
    /// when every sequence runs the full length.
    fn mask(&self, lens: &[i64], steps: usize, batch: usize, ctx: &Ctx) -> Result<Option<Tensor>> {
        if lens.len() != batch {
            bail!(
                "sequence_lens has {} entries for a batch of {batch}",
                lens.len()
            );
        }
        if let Some(l) = lens.iter().find(|&&l| l < 0 || l as usize > steps) {
            bail!("sequence_lens entry {l} is outside 0..={steps} (the sequence length)");
        }
        if lens.iter().all(|&l| l as usize == steps) {
            return Ok(None);
        }
        let m: Vec<f64> = (0..steps)
            .flat_map(|t| lens.iter().map(move |&l| ((t as i64) < l) as u8 as f64))
            .collect();
        let m = Tensor::from_vec(m, (steps, batch, 1), &Device::Cpu)?
            .to_dtype(ctx.dtype)?
            .to_device(&ctx.device)?;
        Ok(Some(m))
    }

    /// Run one direction: (per-step outputs `[batch, h]` in time order when Y is wanted, last
    /// hidden state, last cell state).
    fn direction(&self, d: &Dir) -> Result<(Option<Tensor>, Tensor, Tensor)> {
        let (steps, batch, isz) = d.x.dims3()?;
        let (g, h) = (self.cell.gates(), d.hsz);
        // Input projections for every step in one matmul: [seq, batch, g*h].
        let mut xw = d.x.reshape((steps * batch, isz))?.matmul(&d.w.t()?)?;
        let (wb, rb) = match &d.bias {
            Some(b) => (
                Some(b.narrow(0, 0, g * h)?),
                Some(b.narrow(0, g * h, g * h)?),
            ),
            None => (None, None),
        };
        if let Some(wb) = &wb {
            xw = xw.broadcast_add(wb)?;
        }
        let xw = xw.reshape((steps, batch, g * h))?;
        let rt = d.r.t()?; // [h, g*h]
        let (mut hp, mut cp) = (d.h0.clone(), d.c0.clone());
        let mut ys: Vec<Option<Tensor>> = vec![None; steps];
        let peep = |k: usize| -> Result<Option<Tensor>> {
            Ok(match &d.peep {
                Some(p) => Some(p.narrow(0, k * h, h)?),
                None => None,
            })
        };
        let (pi, po, pf) = (peep(0)?, peep(1)?, peep(2)?);
        for s in 0..steps {
            let t = if d.reverse { steps - 1 - s } else { s };
            let xt = xw.get(t)?;
            let (h_new, c_new) = match self.cell {
                Cell::Rnn => {
                    let mut pre = (xt + hp.matmul(&rt)?)?;
                    if let Some(rb) = &rb {
                        pre = pre.broadcast_add(rb)?;
                    }
                    (d.acts[0].apply(&self.clip(pre)?)?, cp.clone())
                }
                Cell::Lstm => {
                    let mut pre = (xt + hp.matmul(&rt)?)?;
                    if let Some(rb) = &rb {
                        pre = pre.broadcast_add(rb)?;
                    }
                    // Gate order in W, R and B: input, output, forget, cell.
                    let mut gi = pre.narrow(1, 0, h)?;
                    let mut go = pre.narrow(1, h, h)?;
                    let mut gf = pre.narrow(1, 2 * h, h)?;
                    let gc = pre.narrow(1, 3 * h, h)?;
                    if let Some(p) = &pi {
                        gi = (gi + cp.broadcast_mul(p)?)?;
                    }
                    if let Some(p) = &pf {
                        gf = (gf + cp.broadcast_mul(p)?)?;
                    }
                    let (f, gact, hact) = (d.acts[0], d.acts[1], d.acts[2]);
                    let i = f.apply(&self.clip(gi)?)?;
                    let fg = if self.input_forget {
                        i.affine(-1.0, 1.0)?
                    } else {
                        f.apply(&self.clip(gf)?)?
                    };
                    let c = gact.apply(&self.clip(gc)?)?;
                    let c_new = ((fg * &cp)? + (i * c)?)?;
                    if let Some(p) = &po {
                        go = (go + c_new.broadcast_mul(p)?)?;
                    }
                    let o = f.apply(&self.clip(go)?)?;
                    ((o * hact.apply(&c_new)?)?, c_new)
                }
                Cell::Gru => {
                    // Gate order: update (z), reset (r), hidden (h).
                    let r_zr = rt.narrow(1, 0, 2 * h)?;
                    let r_h = rt.narrow(1, 2 * h, h)?;
                    let mut zr = (xt.narrow(1, 0, 2 * h)? + hp.matmul(&r_zr)?)?;
                    if let Some(rb) = &rb {
                        zr = zr.broadcast_add(&rb.narrow(0, 0, 2 * h)?)?;
                    }
                    let (f, gact) = (d.acts[0], d.acts[1]);
                    let z = f.apply(&self.clip(zr.narrow(1, 0, h)?)?)?;
                    let rg = f.apply(&self.clip(zr.narrow(1, h, h)?)?)?;
                    let rbh = rb.as_ref().map(|b| b.narrow(0, 2 * h, h)).transpose()?;
                    let mut rec = if self.linear_before_reset {
                        hp.matmul(&r_h)?
                    } else {
                        (&rg * &hp)?.matmul(&r_h)?
                    };
                    if let Some(b) = &rbh {
                        rec = rec.broadcast_add(b)?;
                    }
                    if self.linear_before_reset {
                        rec = (&rg * rec)?;
                    }
                    let hh = gact.apply(&self.clip((xt.narrow(1, 2 * h, h)? + rec)?)?)?;
                    // (1 - z) * hh + z * h_prev = hh + z * (h_prev - hh)
                    let h_new = (&hh + (z * (&hp - &hh)?)?)?;
                    (h_new, cp.clone())
                }
            };
            match d.mask {
                Some(m) => {
                    let m = m.get(t)?; // [batch, 1]
                                       // Past a sequence's end: keep its state, emit zeros.
                    hp = (&hp + (&h_new - &hp)?.broadcast_mul(&m)?)?;
                    if self.cell == Cell::Lstm {
                        cp = (&cp + (&c_new - &cp)?.broadcast_mul(&m)?)?;
                    }
                    if self.want_y {
                        ys[t] = Some(h_new.broadcast_mul(&m)?);
                    }
                }
                None => {
                    if self.want_y {
                        ys[t] = Some(h_new.clone());
                    }
                    hp = h_new;
                    cp = c_new;
                }
            }
        }
        let y = if self.want_y {
            let ys: Vec<Tensor> = ys.into_iter().flatten().collect();
            if ys.is_empty() {
                Some(Tensor::zeros((0, batch, h), hp.dtype(), hp.device())?)
            } else {
                Some(Tensor::stack(&ys, 0)?)
            }
        } else {
            None
        };
        Ok((y, hp, cp))
    }
}

/// One direction's operands, already sliced out of the stacked inputs.
struct Dir<'a> {
    x: &'a Tensor,
    w: Tensor,
    r: Tensor,
    bias: Option<Tensor>,
    peep: Option<Tensor>,
    h0: Tensor,
    c0: Tensor,
    mask: Option<&'a Tensor>,
    reverse: bool,
    acts: &'a [Act],
    hsz: usize,
}
