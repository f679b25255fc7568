//! How a network call behaves: training statistics, and whether gradients reach its weights.

/// Passed to every forward call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// Batch-norm uses (and records) batch statistics; spectral norm runs a power iteration
    /// unless the weights are also frozen.
    pub train: bool,
    /// Weights enter the graph detached: no gradient is computed for them. Used for the
    /// discriminator during the generator step (and vice versa), so backward skips them.
    pub frozen: bool,
}

impl Mode {
    pub const TRAIN: Mode = Mode {
        train: true,
        frozen: false,
    };
    /// Training statistics, weights not differentiated (the other player's step).
    pub const TRAIN_FROZEN: Mode = Mode {
        train: true,
        frozen: true,
    };
    pub const EVAL: Mode = Mode {
        train: false,
        frozen: true,
    };
}

/// The tensor a layer computes with: the variable itself, or a detached view of it.
pub(crate) fn weight(v: &candle_core::Var, mode: Mode) -> candle_core::Tensor {
    if mode.frozen {
        v.as_detached_tensor()
    } else {
        v.as_tensor().clone()
    }
}
