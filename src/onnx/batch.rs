//! Which values provably carry the batch as dimension 0. Real exports often declare batch 1
//! and bake it into shape constants (`Reshape(x, [1, -1])`); knowing which values are
//! batch-major lets those constants be rewritten so any batch size runs.

use super::ops::NodeInfo;

/// Whether output 0 of a node is batch-major, given which inputs are.
pub fn output_is_batch_major(info: &NodeInfo) -> bool {
    let bm = |i: usize| info.batch_major.get(i).copied().unwrap_or(false);
    let a = &info.attrs;
    let axis_not_zero =
        |name: &str, default: i64| a.int(name, default).map(|v| v != 0).unwrap_or(false);
    let list_avoids_zero = |v: Option<Vec<i64>>| v.map(|v| !v.contains(&0)).unwrap_or(false);
    // Every non-batch-major input must be a load-time constant for broadcasting to keep dim 0.
    let others_const = || {
        (0..info.node.input.len())
            .all(|i| !info.has_input(i) || bm(i) || info.const_input(i).is_some())
    };
    match info.node.op_type.as_str() {
        "Conv"
        | "ConvTranspose"
        | "MaxPool"
        | "AveragePool"
        | "GlobalAveragePool"
        | "GlobalMaxPool"
        | "BatchNormalization"
        | "InstanceNormalization"
        | "LayerNormalization"
        | "LRN"
        | "Relu"
        | "LeakyRelu"
        | "PRelu"
        | "Elu"
        | "Selu"
        | "Sigmoid"
        | "HardSigmoid"
        | "HardSwish"
        | "Tanh"
        | "Softplus"
        | "Clip"
        | "Erf"
        | "Gelu"
        | "Sqrt"
        | "Exp"
        | "Log"
        | "Neg"
        | "Abs"
        | "Reciprocal"
        | "Identity"
        | "Dropout"
        | "Cast"
        | "Pad"
        | "Resize"
        | "Upsample"
        | "Softsign"
        | "Celu" => bm(0),
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Sum" | "Mean" => {
            (0..info.node.input.len()).any(bm) && others_const() && const_ranks_not_above(info)
        }
        "Gemm" => bm(0) && !axis_not_zero("transA", 0),
        "MatMul" => bm(0) && others_const(),
        "Flatten" => bm(0) && axis_not_zero("axis", 1),
        "Softmax" | "LogSoftmax" => {
            bm(0) && axis_not_zero("axis", if info.opset < 13 { 1 } else { -1 })
        }
        "Transpose" => {
            bm(0)
                && a.opt_ints("perm")
                    .ok()
                    .flatten()
                    .is_some_and(|p| p.first() == Some(&0))
        }
        "Concat" => bm(0) && axis_not_zero("axis", 0),
        "Reshape" => {
            // After a rewrite (or an explicit 0) the leading dim is copied from the input.
            bm(0)
                && info
                    .const_i64s(1)
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.len() >= 2 && (s[0] == 0 || s[0] == 1))
        }
        "Squeeze" | "Unsqueeze" => {
            bm(0)
                && list_avoids_zero(if info.opset < 13 {
                    a.opt_ints("axes").ok().flatten()
                } else {
                    info.const_i64s(1).ok().flatten()
                })
        }
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceL2" => {
            let from_input = info.opset
                >= if info.node.op_type == "ReduceSum" {
                    13
                } else {
                    18
                };
            let axes = if from_input {
                info.const_i64s(1).ok().flatten()
            } else {
                a.opt_ints("axes").ok().flatten()
            };
            bm(0) && list_avoids_zero(axes.filter(|v| !v.is_empty()))
        }
        "Slice" => {
            bm(0)
                && list_avoids_zero(if info.opset < 10 {
                    a.opt_ints("axes").ok().flatten()
                } else {
                    info.const_i64s(3).ok().flatten()
                })
        }
        _ => false,
    }
}

/// Broadcasting keeps dim 0 the batch unless a constant reaches that dim with a size other
/// than 1; batch-major values here are at most 4-D (images, spectrograms), so a constant of
/// rank <= 3 or with a leading 1 is safe.
fn const_ranks_not_above(info: &NodeInfo) -> bool {
    info.consts
        .iter()
        .flatten()
        .all(|c| c.rank() <= 3 || c.dims()[0] == 1)
}
