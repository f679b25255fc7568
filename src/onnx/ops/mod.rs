//! ONNX operators, grouped by family (one small file each), wired through one registry from
//! op type to constructor. A constructor parses attributes and opset-dependent forms once, at
//! load time; `Op::run` only computes.

use super::attrs::Attrs;
use super::value::{Ctx, Value};
use anyhow::{bail, Result};
use candle_core::Tensor;
use std::cell::RefCell;
use std::path::Path;
use tract_onnx::pb;

pub mod activation;
pub mod control;
pub mod conv;
pub mod elementwise;
pub mod matmul;
pub mod norm;
pub mod pad;
pub mod pool;
pub mod recurrent;
pub mod reduce;
pub mod resize;
pub mod shape;
pub mod softmax;

/// A compiled node: runs on values, returns one value per declared output.
pub trait Op: Send + Sync {
    fn run(&self, ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>>;
}

/// What a constructor may know about its node at load time.
pub struct NodeInfo<'a> {
    pub node: &'a pb::NodeProto,
    pub opset: i64,
    pub attrs: Attrs<'a>,
    /// Input values known at load time (initializers and folded constants), on the CPU. After
    /// the declared inputs come the values its subgraphs read (`graph::implicit_inputs`).
    pub consts: Vec<Option<Tensor>>,
    /// Whether input i provably carries the batch as dimension 0.
    pub batch_major: Vec<bool>,
    /// Load-time remarks for `inspect` (e.g. batch-1 constants rewritten).
    pub notes: &'a RefCell<Vec<String>>,
    /// Where and in which precision the plan runs (for compiling subgraphs).
    pub ctx: &'a Ctx,
    /// The model file's folder (external data of subgraph initializers).
    pub base_dir: Option<&'a Path>,
}

impl NodeInfo<'_> {
    pub fn has_input(&self, i: usize) -> bool {
        self.node.input.get(i).is_some_and(|n| !n.is_empty())
    }

    pub fn const_input(&self, i: usize) -> Option<&Tensor> {
        self.consts.get(i).and_then(|c| c.as_ref())
    }

    pub fn const_i64s(&self, i: usize) -> Result<Option<Vec<i64>>> {
        match self.const_input(i) {
            None => Ok(None),
            Some(t) => Ok(Some(Value::Host(t.clone()).to_i64s()?)),
        }
    }

    pub fn const_f64s(&self, i: usize) -> Result<Option<Vec<f64>>> {
        match self.const_input(i) {
            None => Ok(None),
            Some(t) => Ok(Some(Value::Host(t.clone()).to_f64s()?)),
        }
    }

    pub fn name(&self) -> &str {
        &self.node.name
    }
}

pub type Ctor = fn(&NodeInfo) -> Result<Box<dyn Op>>;

/// The registry: every supported ONNX op type and its constructor.
pub fn constructor(op_type: &str) -> Option<Ctor> {
    use activation as a;
    use elementwise as e;
    use shape as s;
    let c: Ctor = match op_type {
        "Conv" => conv::conv,
        "ConvTranspose" => conv::conv_transpose,
        "MaxPool" => pool::max_pool,
        "AveragePool" => pool::avg_pool,
        "GlobalAveragePool" => pool::global_avg_pool,
        "GlobalMaxPool" => pool::global_max_pool,
        "BatchNormalization" => norm::batch_norm,
        "InstanceNormalization" => norm::instance_norm,
        "LayerNormalization" => norm::layer_norm,
        "LRN" => norm::lrn,
        "Gemm" => matmul::gemm,
        "MatMul" => matmul::matmul,
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Equal" | "Greater" | "Less" | "GreaterOrEqual"
        | "LessOrEqual" => e::binary,
        "Max" | "Min" | "Sum" | "Mean" => e::variadic,
        "Where" => e::where_op,
        "Not" => e::not,
        "Sqrt" | "Exp" | "Log" | "Neg" | "Abs" | "Reciprocal" | "Relu" | "Sigmoid" | "Tanh"
        | "Softplus" | "Erf" | "Floor" | "Ceil" | "Sin" | "Cos" | "Softsign" | "Sign" => a::unary,
        "LeakyRelu" | "Elu" | "Selu" | "HardSigmoid" | "HardSwish" | "Gelu" | "Celu"
        | "ThresholdedRelu" => a::parametric,
        "PRelu" => a::prelu,
        "Clip" => a::clip,
        "Softmax" | "LogSoftmax" => softmax::softmax,
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceL2" | "ReduceL1"
        | "ReduceSumSquare" | "ReduceProd" | "ReduceLogSumExp" => reduce::reduce,
        "Flatten" => s::flatten,
        "Reshape" => s::reshape,
        "Transpose" => s::transpose,
        "Squeeze" => s::squeeze,
        "Unsqueeze" => s::unsqueeze,
        "Concat" => s::concat,
        "Split" => s::split,
        "Slice" => s::slice,
        "Gather" => s::gather,
        "Shape" => s::shape,
        "Size" => s::size,
        "Constant" => s::constant,
        "ConstantOfShape" => s::constant_of_shape,
        "Identity" | "Dropout" => s::identity,
        "Cast" => s::cast,
        "Expand" => s::expand,
        "Tile" => s::tile,
        "Range" => s::range,
        "Pad" => pad::pad,
        "Resize" | "Upsample" => resize::resize,
        "LSTM" => recurrent::lstm,
        "GRU" => recurrent::gru,
        "RNN" => recurrent::rnn,
        "If" => control::if_op,
        _ => return None,
    };
    Some(c)
}

/// The op types the registry knows, for `inspect` and docs.
pub const SUPPORTED: &[&str] = &[
    "Abs",
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Celu",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Cos",
    "Div",
    "Dropout",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "GRU",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "If",
    "InstanceNormalization",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "LRN",
    "LSTM",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "PRelu",
    "Pad",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "RNN",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Size",
    "Slice",
    "Softmax",
    "Softplus",
    "Softsign",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "ThresholdedRelu",
    "Tile",
    "Transpose",
    "Unsqueeze",
    "Upsample",
    "Where",
];

/// Input `i`, which the op requires.
pub fn input(inputs: &[Option<Value>], i: usize) -> Result<&Value> {
    match inputs.get(i) {
        Some(Some(v)) => Ok(v),
        _ => bail!("required input #{i} is missing"),
    }
}

pub fn opt_input(inputs: &[Option<Value>], i: usize) -> Option<&Value> {
    inputs.get(i).and_then(|v| v.as_ref())
}

/// ONNX axis (negative counts from the end) -> index, checked against the rank.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        bail!("axis {axis} is out of range for rank {rank}");
    }
    Ok(a as usize)
}

/// Numpy broadcasting of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => bail!("shapes {a:?} and {b:?} do not broadcast"),
        };
    }
    Ok(out)
}

/// An op defined by a closure over its inputs; most ops need nothing more.
pub struct FnOp<F>(pub F);

impl<F> Op for FnOp<F>
where
    F: Fn(&Ctx, &[Option<Value>]) -> Result<Vec<Value>> + Send + Sync,
{
    fn run(&self, ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
        (self.0)(ctx, inputs)
    }
}

pub fn op<F>(f: F) -> Result<Box<dyn Op>>
where
    F: Fn(&Ctx, &[Option<Value>]) -> Result<Vec<Value>> + Send + Sync + 'static,
{
    Ok(Box::new(FnOp(f)))
}
