//! Structural validation of an ONNX graph: every name defined once, every input defined,
//! every op known, and a topological order (cycles are errors naming their nodes).

use super::ops;
use anyhow::{bail, Result};
use std::collections::{HashMap, HashSet, VecDeque};
use tract_onnx::pb;

/// The ai.onnx opset the model imports (default domain).
pub fn onnx_opset(model: &pb::ModelProto) -> i64 {
    model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(1)
}

pub fn node_label(n: &pb::NodeProto, i: usize) -> String {
    if n.name.is_empty() {
        format!("node #{i} ({})", n.op_type)
    } else {
        format!("node '{}' ({})", n.name, n.op_type)
    }
}

/// Nodes whose op (or domain) the engine cannot run: (node label, op type, domain, opset).
/// Nodes inside subgraphs (If branches) are included, labelled by the path to them.
pub fn unsupported_nodes(graph: &pb::GraphProto, opset: i64) -> Vec<String> {
    let mut out = Vec::new();
    collect_unsupported(graph, opset, "", &mut out);
    out
}

fn collect_unsupported(graph: &pb::GraphProto, opset: i64, prefix: &str, out: &mut Vec<String>) {
    for (i, n) in graph.node.iter().enumerate() {
        let known = (n.domain.is_empty() || n.domain == "ai.onnx")
            && ops::constructor(&n.op_type).is_some();
        if !known {
            let domain = if n.domain.is_empty() {
                "ai.onnx".to_string()
            } else {
                n.domain.clone()
            };
            out.push(format!(
                "{prefix}{}: op {} (domain {domain}, opset {opset})",
                node_label(n, i),
                n.op_type
            ));
        }
        for a in &n.attribute {
            for g in a.g.iter().chain(&a.graphs) {
                let inner = format!("{prefix}{} {}: ", node_label(n, i), a.name);
                collect_unsupported(g, opset, &inner, out);
            }
        }
    }
}

/// Names a node's subgraphs (If branches) read from enclosing scopes, in first-read order.
/// For ordering, liveness and fusion they are inputs of the node like its declared ones.
pub fn implicit_inputs(node: &pb::NodeProto) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for a in &node.attribute {
        for g in a.g.iter().chain(&a.graphs) {
            for name in outer_reads(g) {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// Names a graph reads without defining them (its enclosing scopes' values).
pub fn outer_reads(g: &pb::GraphProto) -> Vec<&str> {
    let local: HashSet<&str> = g
        .initializer
        .iter()
        .map(|t| t.name.as_str())
        .chain(g.input.iter().map(|i| i.name.as_str()))
        .chain(
            g.node
                .iter()
                .flat_map(|n| n.output.iter().map(String::as_str)),
        )
        .collect();
    let mut out: Vec<&str> = Vec::new();
    let reads = g
        .node
        .iter()
        .flat_map(|n| {
            n.input
                .iter()
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .chain(implicit_inputs(n))
        })
        .chain(g.output.iter().map(|o| o.name.as_str()));
    for name in reads {
        if !local.contains(name) && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Every value a node reads: its declared inputs, then its subgraphs' outer-scope reads.
fn node_reads(n: &pb::NodeProto) -> Vec<&str> {
    n.input
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .chain(implicit_inputs(n))
        .collect()
}

/// Check names and return the node indices in a valid execution order.
pub fn validate_and_order(graph: &pb::GraphProto) -> Result<Vec<usize>> {
    validate_and_order_in(graph, &[])
}

/// As `validate_and_order`, for a subgraph that may also read `outer` (enclosing scopes).
pub fn validate_and_order_in(graph: &pb::GraphProto, outer: &[&str]) -> Result<Vec<usize>> {
    let mut defined: HashSet<&str> = outer.iter().copied().collect();
    for t in &graph.initializer {
        if t.name.is_empty() {
            bail!("an initializer has no name");
        }
        defined.insert(&t.name);
    }
    for i in &graph.input {
        defined.insert(&i.name);
    }
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if defined.contains(o.as_str()) || producer.insert(o, i).is_some() {
                bail!(
                    "{}: output '{o}' is defined more than once",
                    node_label(n, i)
                );
            }
        }
    }
    for (i, n) in graph.node.iter().enumerate() {
        for inp in node_reads(n) {
            if !defined.contains(inp) && !producer.contains_key(inp) {
                bail!(
                    "{}: input '{inp}' is not defined by any node, initializer or graph input",
                    node_label(n, i)
                );
            }
        }
    }
    for o in &graph.output {
        if !defined.contains(o.name.as_str()) && !producer.contains_key(o.name.as_str()) {
            bail!("graph output '{}' is not produced by any node", o.name);
        }
    }
    // Kahn's algorithm over node -> node edges.
    let n = graph.node.len();
    let mut indegree = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in graph.node.iter().enumerate() {
        let deps: HashSet<usize> = node_reads(node)
            .into_iter()
            .filter_map(|s| producer.get(s).copied())
            .collect();
        indegree[i] = deps.len();
        for d in deps {
            users[d].push(i);
        }
    }
    let mut queue: VecDeque<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = queue.pop_front() {
        order.push(i);
        for &u in &users[i] {
            indegree[u] -= 1;
            if indegree[u] == 0 {
                queue.push_back(u);
            }
        }
    }
    if order.len() != n {
        let stuck: Vec<String> = (0..n)
            .filter(|&i| indegree[i] > 0)
            .take(8)
            .map(|i| node_label(&graph.node[i], i))
            .collect();
        bail!("the graph has a cycle through {}", stuck.join(", "));
    }
    Ok(order)
}
