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
pub fn unsupported_nodes(graph: &pb::GraphProto, opset: i64) -> Vec<String> {
    graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            !(n.domain.is_empty() || n.domain == "ai.onnx")
                || ops::constructor(&n.op_type).is_none()
        })
        .map(|(i, n)| {
            let domain = if n.domain.is_empty() {
                "ai.onnx".to_string()
            } else {
                n.domain.clone()
            };
            format!(
                "{}: op {} (domain {domain}, opset {opset})",
                node_label(n, i),
                n.op_type
            )
        })
        .collect()
}

/// Check names and return the node indices in a valid execution order.
pub fn validate_and_order(graph: &pb::GraphProto) -> Result<Vec<usize>> {
    let mut defined: HashSet<&str> = HashSet::new();
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
        for inp in n.input.iter().filter(|s| !s.is_empty()) {
            if !defined.contains(inp.as_str()) && !producer.contains_key(inp.as_str()) {
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
        let deps: HashSet<usize> = node
            .input
            .iter()
            .filter_map(|s| producer.get(s.as_str()).copied())
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
