//! If: each branch is compiled at load like the model's graph (`plan::compile_subgraph`) and
//! runs as one step. A condition known at load compiles and runs only the branch it picks.
//! Branches read enclosing-scope values by name; the plan passes them in as extra inputs of
//! the node (`graph::implicit_inputs`), so gradients flow through them like any input.

use super::{input, op, NodeInfo, Op};
use crate::onnx::graph::{implicit_inputs, outer_reads};
use crate::onnx::plan::{compile_subgraph, OuterValue, Plan};
use crate::onnx::value::Value;
use anyhow::{bail, Context, Result};

struct Branch {
    plan: Plan,
    /// For each enclosing-scope value the branch reads, its index in the node's inputs.
    feed: Vec<usize>,
}

impl Branch {
    fn run(&self, ins: &[Option<Value>]) -> Result<Vec<Value>> {
        let outer: Vec<Option<Value>> = self
            .feed
            .iter()
            .map(|&i| ins.get(i).cloned().flatten())
            .collect();
        self.plan.run_scoped(&outer)
    }
}

fn condition(v: &Value) -> Result<bool> {
    let c = v.to_i64s()?;
    if c.len() != 1 {
        bail!(
            "the condition must hold one element, got shape {:?}",
            v.dims()
        );
    }
    Ok(c[0] != 0)
}

pub fn if_op(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let name = info.name();
    let declared = info.node.input.len();
    if declared != 1 || !info.has_input(0) {
        bail!("If `{name}`: takes exactly one input (the condition), got {declared}");
    }
    let implicit = implicit_inputs(info.node);
    let branch = |attr: &str| -> Result<Branch> {
        let g = info
            .attrs
            .graph(attr)
            .with_context(|| format!("If `{name}`"))?;
        if !g.input.is_empty() {
            bail!(
                "If `{name}`: {attr} declares {} input(s); If branches take none",
                g.input.len()
            );
        }
        if g.output.len() != info.node.output.len() {
            bail!(
                "If `{name}`: {attr} has {} output(s), the node declares {}",
                g.output.len(),
                info.node.output.len()
            );
        }
        let mut feed = Vec::new();
        let mut outer = Vec::new();
        for r in outer_reads(g) {
            let k = declared
                + implicit
                    .iter()
                    .position(|n| *n == r)
                    .context("outer-scope read missing from the node's implicit inputs")?;
            feed.push(k);
            outer.push(OuterValue {
                name: r.to_string(),
                konst: info.consts.get(k).cloned().flatten(),
                batch_major: info.batch_major.get(k).copied().unwrap_or(false),
            });
        }
        let plan = compile_subgraph(g, info.opset, info.base_dir, info.ctx, &outer)
            .with_context(|| format!("If `{name}`: {attr}"))?;
        info.notes.borrow_mut().extend(
            plan.notes
                .iter()
                .map(|n| format!("If `{name}` {attr}: {n}")),
        );
        Ok(Branch { plan, feed })
    };
    if let Some(c) = info.const_input(0) {
        let attr = if condition(&Value::Host(c.clone())).with_context(|| format!("If `{name}`"))? {
            "then_branch"
        } else {
            "else_branch"
        };
        let b = branch(attr)?;
        info.notes.borrow_mut().push(format!(
            "If `{name}`: the condition is a constant; only {attr} is compiled"
        ));
        return op(move |_, ins| b.run(ins));
    }
    let (then_b, else_b) = (branch("then_branch")?, branch("else_branch")?);
    let label = format!("If `{name}`");
    op(move |_, ins| {
        let c = condition(input(ins, 0)?).with_context(|| label.clone())?;
        if c {
            then_b
                .run(ins)
                .with_context(|| format!("{label}: then_branch"))
        } else {
            else_b
                .run(ins)
                .with_context(|| format!("{label}: else_branch"))
        }
    })
}
