//! A scope in which backward passes compute input gradients only.
//!
//! The WGAN-GP penalty takes ∇ₓ D(x̂) with a first backward and then differentiates that
//! gradient again. candle's first backward also computes every weight gradient of D, which the
//! penalty never reads (the second backward reaches the weights through the input-gradient
//! ops, not through the weight gradients). Inside [`input_gradients_only`] the conv kernels
//! answer a weight-gradient request with zeros instead of a weight-gradient convolution: candle
//! needs *some* gradient for every tracked node it visits (a spectrally normalised weight is a
//! tracked intermediate, and a missing gradient there is an internal panic), and zeros of a
//! weight's size cost nothing next to the convolution they replace.

use std::cell::Cell;

thread_local! {
    static INPUT_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` (a backward pass) with weight gradients of the conv kernels replaced by zeros.
/// Only for gradients that are used solely as ∂/∂input: the weight gradients it returns are
/// wrong (zero) by design. candle runs a backward on the calling thread, so a thread-local
/// flag covers it.
pub fn input_gradients_only<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            INPUT_ONLY.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(INPUT_ONLY.with(|c| c.replace(true)));
    f()
}

/// Whether the current thread is inside [`input_gradients_only`].
pub(crate) fn weight_gradients_skipped() -> bool {
    INPUT_ONLY.with(|c| c.get())
}
