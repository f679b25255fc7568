//! Compile a validated ONNX graph once into a plan — one step per node, constants decoded once
//! and placed on the device, constant subgraphs folded at load time — and run it many times.

use super::attrs::Attrs;
use super::graph::{
    implicit_inputs, node_label, onnx_opset, unsupported_nodes, validate_and_order_in,
};
use super::ops::{self, shape::place, NodeInfo, Op};
use super::proto::{elem_kind_of_value_info, tensor_from_proto, value_info_dims, Kind};
use super::value::{Ctx, Value};
use super::{batch, Dim, IoInfo};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use tract_onnx::pb;

struct Step {
    op: Box<dyn Op>,
    inputs: Vec<Option<usize>>,
    outputs: Vec<Option<usize>>,
    label: String,
}

pub struct InputSlot {
    pub id: usize,
    pub info: IoInfo,
    pub kind: Kind,
    /// Dim 0 is the batch and accepts any size (declared 1 or symbolic).
    pub free_batch: bool,
    /// The batch the file itself fixes (1 when the engine frees a declared batch of 1):
    /// other runtimes hold the model to it.
    pub file_batch: Option<usize>,
}

pub struct Plan {
    pub ctx: Ctx,
    names: Vec<String>,
    ids: HashMap<String, usize>,
    steps: Vec<Step>,
    consts: Vec<(usize, Value)>,
    pub inputs: Vec<InputSlot>,
    pub outputs: Vec<(usize, IoInfo)>,
    /// Index of the last step reading each value (values not read by any step: none).
    last_use: Vec<Option<usize>>,
    /// Enclosing-scope values fed per run (a subgraph's): (position in `run_scoped`'s
    /// argument, value id).
    outer: Vec<(usize, usize)>,
    pub notes: Vec<String>,
    pub folded: usize,
}

/// A value a subgraph reads from an enclosing scope.
pub struct OuterValue {
    pub name: String,
    /// Its value when known at load time (on the CPU); otherwise it is fed per run.
    pub konst: Option<Tensor>,
    pub batch_major: bool,
}

pub fn compile(
    model: &pb::ModelProto,
    base_dir: Option<&Path>,
    device: &Device,
    dtype: DType,
) -> Result<Plan> {
    let graph = model.graph.as_ref().context("the model has no graph")?;
    let ctx = Ctx {
        device: device.clone(),
        dtype,
    };
    compile_subgraph(graph, onnx_opset(model), base_dir, &ctx, &[])
}

/// Compile a graph: the model's (`outer` empty), or a subgraph such as an If branch, whose
/// values read from enclosing scopes are `outer`, constants folded in, the rest passed to
/// `run_scoped`.
pub fn compile_subgraph(
    graph: &pb::GraphProto,
    opset: i64,
    base_dir: Option<&Path>,
    ctx: &Ctx,
    outer: &[OuterValue],
) -> Result<Plan> {
    let dtype = ctx.dtype;
    let outer_names: Vec<&str> = outer.iter().map(|o| o.name.as_str()).collect();
    let unsupported = unsupported_nodes(graph, opset);
    if !unsupported.is_empty() {
        bail!(
            "{} unsupported node(s):\n  {}",
            unsupported.len(),
            unsupported.join("\n  ")
        );
    }
    validate_and_order_in(graph, &outer_names)?;
    let fused = super::fuse::fold_conv_batch_norm(graph, base_dir)?;
    let mut fold_note = None;
    let mut notes_act = None;
    let graph = match &fused {
        Some((g, n)) => {
            fold_note = Some(format!(
                "{n} BatchNormalization node(s) folded into the preceding Conv"
            ));
            g
        }
        None => graph,
    };
    let act_fused = super::fuse::fuse_conv_activation(graph, opset)?;
    let graph = match &act_fused {
        Some((g, n)) => {
            notes_act = Some(format!(
                "{n} Relu/Clip node(s) fused into the preceding Conv"
            ));
            g
        }
        None => graph,
    };
    let order = validate_and_order_in(graph, &outer_names)?;
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut id_of = |name: &str, ids: &mut HashMap<String, usize>| -> usize {
        *ids.entry(name.to_string()).or_insert_with(|| {
            names.push(name.to_string());
            names.len() - 1
        })
    };
    let cpu_ctx = Ctx {
        device: Device::Cpu,
        dtype,
    };

    let mut consts: HashMap<usize, Tensor> = HashMap::new();
    for t in &graph.initializer {
        let what = format!("initializer '{}'", t.name);
        let id = id_of(&t.name, &mut ids);
        consts.insert(id, tensor_from_proto(t, base_dir, dtype, &what)?);
    }
    let mut notes = Vec::new();
    let mut batch_major: HashMap<usize, bool> = HashMap::new();
    let mut outer_slots = Vec::new();
    for (pos, o) in outer.iter().enumerate() {
        // A subgraph's own initializer of the same name wins.
        if ids.contains_key(&o.name) {
            continue;
        }
        let id = id_of(&o.name, &mut ids);
        match &o.konst {
            Some(t) => {
                consts.insert(id, t.clone());
            }
            None => outer_slots.push((pos, id)),
        }
        if o.batch_major {
            batch_major.insert(id, true);
        }
    }
    let mut inputs = Vec::new();
    for vi in graph
        .input
        .iter()
        .filter(|i| !graph.initializer.iter().any(|t| t.name == i.name))
    {
        let id = id_of(&vi.name, &mut ids);
        let (elem_type, dims) = value_info_dims(vi);
        let kind = elem_kind_of_value_info(vi).unwrap_or(Kind::Float);
        let mut dims = dims.unwrap_or_default();
        let file_batch = match dims.first() {
            Some(Dim::Fixed(k)) if dims.len() >= 2 => Some(*k),
            _ => None,
        };
        let free_batch = dims.len() >= 2 && matches!(dims[0], Dim::Fixed(1) | Dim::Free(_));
        if free_batch {
            if dims[0] == Dim::Fixed(1) {
                notes.push(format!(
                    "input '{}' declares batch 1; the batch dimension is treated as free",
                    vi.name
                ));
                dims[0] = Dim::Free("N".into());
            }
            batch_major.insert(id, true);
        }
        inputs.push(InputSlot {
            id,
            info: IoInfo {
                name: vi.name.clone(),
                dims,
                elem_type,
            },
            kind,
            free_batch,
            file_batch,
        });
    }

    notes.extend(fold_note);
    notes.extend(notes_act);
    let notes_cell = RefCell::new(notes);
    let mut steps = Vec::new();
    let mut folded = 0;
    for &ni in &order {
        let node = &graph.node[ni];
        let label = node_label(node, ni);
        // Declared inputs, then the values its subgraphs read from this scope.
        let in_ids: Vec<Option<usize>> = node
            .input
            .iter()
            .map(String::as_str)
            .chain(implicit_inputs(node))
            .map(|s| {
                if s.is_empty() {
                    None
                } else {
                    Some(id_of(s, &mut ids))
                }
            })
            .collect();
        let out_ids: Vec<Option<usize>> = node
            .output
            .iter()
            .map(|s| {
                if s.is_empty() {
                    None
                } else {
                    Some(id_of(s, &mut ids))
                }
            })
            .collect();
        let info = NodeInfo {
            node,
            opset,
            attrs: Attrs::new(node),
            consts: in_ids
                .iter()
                .map(|i| i.and_then(|i| consts.get(&i).cloned()))
                .collect(),
            batch_major: in_ids
                .iter()
                .map(|i| i.is_some_and(|i| batch_major.get(&i) == Some(&true)))
                .collect(),
            notes: &notes_cell,
            ctx,
            base_dir,
        };
        let ctor = super::fuse::fused_constructor(&node.op_type)
            .or_else(|| ops::constructor(&node.op_type))
            .with_context(|| format!("{label}: unsupported op"))?;
        let op = ctor(&info).with_context(|| format!("{label} (opset {opset})"))?;
        if output_is_batch_major(&info) {
            if let Some(Some(o)) = out_ids.first() {
                batch_major.insert(*o, true);
            }
        }
        let foldable = in_ids.iter().flatten().all(|i| consts.contains_key(i));
        if foldable {
            let vals: Vec<Option<Value>> = in_ids
                .iter()
                .map(|i| i.map(|i| place(&consts[&i], &cpu_ctx)).transpose())
                .collect::<Result<_>>()?;
            let outs = op
                .run(&cpu_ctx, &vals)
                .with_context(|| format!("{label}: folding a constant subgraph"))?;
            for (o, v) in out_ids.iter().zip(outs) {
                if let Some(o) = o {
                    // Constants live on the CPU (a folded If's branch computed on the device).
                    consts.insert(*o, v.tensor().to_device(&Device::Cpu)?);
                }
            }
            folded += 1;
            continue;
        }
        steps.push(Step {
            op,
            inputs: in_ids,
            outputs: out_ids,
            label,
        });
    }

    let mut outputs = Vec::new();
    for vi in &graph.output {
        let id = id_of(&vi.name, &mut ids);
        let (elem_type, dims) = value_info_dims(vi);
        let mut dims = dims.unwrap_or_default();
        if batch_major.get(&id) == Some(&true) && dims.first() == Some(&Dim::Fixed(1)) {
            dims[0] = Dim::Free("N".into());
        }
        outputs.push((
            id,
            IoInfo {
                name: vi.name.clone(),
                dims,
                elem_type,
            },
        ));
    }
    let mut last_use = vec![None; names.len()];
    for (si, s) in steps.iter().enumerate() {
        for i in s.inputs.iter().flatten() {
            last_use[*i] = Some(si);
        }
    }
    let needed: Vec<usize> = steps
        .iter()
        .flat_map(|s| s.inputs.iter().flatten().copied())
        .chain(outputs.iter().map(|(i, _)| *i))
        .collect();
    let mut placed = Vec::new();
    let mut done = std::collections::HashSet::new();
    for id in needed {
        if let Some(t) = consts.get(&id) {
            if done.insert(id) {
                placed.push((id, place(t, ctx)?));
            }
        }
    }
    Ok(Plan {
        ctx: ctx.clone(),
        names,
        ids,
        steps,
        consts: placed,
        inputs,
        outputs,
        last_use,
        outer: outer_slots,
        notes: notes_cell.into_inner(),
        folded,
    })
}

impl Plan {
    pub fn value_id(&self, name: &str) -> Option<usize> {
        self.ids.get(name).copied()
    }

    pub fn value_names(&self) -> &[String] {
        &self.names
    }

    pub fn num_steps(&self) -> usize {
        self.steps.len()
    }

    fn bind_input(&self, slot: &InputSlot, t: &Tensor) -> Result<Value> {
        let name = &slot.info.name;
        let dims = &slot.info.dims;
        if !dims.is_empty() {
            let shown: Vec<String> = dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => n.to_string(),
                    Dim::Free(s) => s.clone(),
                })
                .collect();
            let ok = t.rank() == dims.len()
                && dims
                    .iter()
                    .zip(t.dims())
                    .enumerate()
                    .all(|(i, (d, &n))| match d {
                        Dim::Fixed(f) => *f == n || (i == 0 && slot.free_batch),
                        Dim::Free(_) => true,
                    });
            if !ok {
                bail!(
                    "input '{name}': expected shape [{}], got {:?}",
                    shown.join(", "),
                    t.dims()
                );
            }
        }
        Ok(match slot.kind {
            Kind::Float => {
                if !t.dtype().is_float() {
                    bail!(
                        "input '{name}': expected a float tensor, got {:?}",
                        t.dtype()
                    );
                }
                Value::Device(Value::Device(t.clone()).float(&self.ctx)?)
            }
            Kind::Int => Value::Host(t.to_device(&Device::Cpu)?.to_dtype(DType::I64)?),
            Kind::Bool => Value::Host(t.to_device(&Device::Cpu)?.to_dtype(DType::U8)?),
        })
    }

    /// Evaluate; returns the values with ids `want` (graph outputs or intermediates).
    pub fn run(&self, inputs: &[Tensor], want: &[usize]) -> Result<Vec<Value>> {
        self.run_inner(inputs, &[], want, None)
    }

    /// Evaluate a subgraph: `outer` are the values of the `OuterValue`s it was compiled with,
    /// in that order (constant ones are ignored); returns its outputs.
    pub fn run_scoped(&self, outer: &[Option<Value>]) -> Result<Vec<Value>> {
        let want: Vec<usize> = self.outputs.iter().map(|(id, _)| *id).collect();
        self.run_inner(&[], outer, &want, None)
    }

    /// As `run`, also recording each step's label and wall seconds (for profiling: on CPU every
    /// op is synchronous; on CUDA the times are launch times unless the device is synchronised).
    pub fn run_timed(
        &self,
        inputs: &[Tensor],
        want: &[usize],
    ) -> Result<(Vec<Value>, Vec<(String, f64)>)> {
        let mut times = Vec::with_capacity(self.steps.len());
        let vals = self.run_inner(inputs, &[], want, Some(&mut times))?;
        Ok((vals, times))
    }

    fn run_inner(
        &self,
        inputs: &[Tensor],
        outer: &[Option<Value>],
        want: &[usize],
        mut times: Option<&mut Vec<(String, f64)>>,
    ) -> Result<Vec<Value>> {
        if inputs.len() != self.inputs.len() {
            let names: Vec<&str> = self.inputs.iter().map(|s| s.info.name.as_str()).collect();
            bail!(
                "the model takes {} input(s) ({}), got {}",
                self.inputs.len(),
                names.join(", "),
                inputs.len()
            );
        }
        let mut slots: Vec<Option<Value>> = vec![None; self.names.len()];
        for (id, v) in &self.consts {
            slots[*id] = Some(v.clone());
        }
        for (slot, t) in self.inputs.iter().zip(inputs) {
            slots[slot.id] = Some(self.bind_input(slot, t)?);
        }
        for &(pos, id) in &self.outer {
            let v = outer.get(pos).cloned().flatten().with_context(|| {
                format!("enclosing-scope value '{}' is missing", self.names[id])
            })?;
            slots[id] = Some(v);
        }
        let keep = |id: usize| want.contains(&id);
        for (si, step) in self.steps.iter().enumerate() {
            let ins: Vec<Option<Value>> = step
                .inputs
                .iter()
                .map(|i| i.and_then(|i| slots[i].clone()))
                .collect();
            let started = times.as_ref().map(|_| std::time::Instant::now());
            let outs = step
                .op
                .run(&self.ctx, &ins)
                .with_context(|| step.label.clone())?;
            if let (Some(t), Some(s)) = (times.as_deref_mut(), started) {
                t.push((step.label.clone(), s.elapsed().as_secs_f64()));
            }
            if outs.len() < step.outputs.iter().filter(|o| o.is_some()).count() {
                bail!(
                    "{}: produced {} outputs, {} declared",
                    step.label,
                    outs.len(),
                    step.outputs.len()
                );
            }
            for (o, v) in step.outputs.iter().zip(outs) {
                if let Some(o) = o {
                    slots[*o] = Some(v);
                }
            }
            // Free what no later step reads, so inference holds only live activations.
            for i in step.inputs.iter().flatten() {
                if self.last_use[*i] == Some(si) && !keep(*i) {
                    slots[*i] = None;
                }
            }
        }
        want.iter()
            .map(|&id| {
                slots[id]
                    .clone()
                    .with_context(|| format!("value '{}' was not computed", self.names[id]))
            })
            .collect()
    }
}

/// `batch::output_is_batch_major`, asked of a fused node as of the op it replaced (a fused
/// Conv+activation keeps the batch where Conv does).
fn output_is_batch_major(info: &NodeInfo) -> bool {
    match super::fuse::unfused_op_type(&info.node.op_type) {
        Some(base) => {
            let mut node = info.node.clone();
            node.op_type = base.to_string();
            batch::output_is_batch_major(&NodeInfo {
                node: &node,
                opset: info.opset,
                attrs: Attrs::new(&node),
                consts: info.consts.clone(),
                batch_major: info.batch_major.clone(),
                notes: info.notes,
                ctx: info.ctx,
                base_dir: info.base_dir,
            })
        }
        None => batch::output_is_batch_major(info),
    }
}
