//! FLOPs accounting, following the project's convention (one multiply-add = 2 FLOPs; embeddings,
//! norms, softmax, activations and top-k are not counted).
//!
//! [`formula`] is the pure function the UI and the CLI show; [`counter`] records what the model
//! actually executes at each matrix-product call site, so tests can prove the two agree.

pub mod counter;
pub mod formula;

pub use formula::{FlopsBreakdown, LayerFlops, Routing, decode_step_flops, forward_flops, training_step_flops};

/// The kinds of matrix products the convention counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Term {
    Projections,
    Attention,
    Mlp,
    Router,
    Predictor,
    LmHead,
}
