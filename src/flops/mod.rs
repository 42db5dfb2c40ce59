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

impl Term {
    pub const ALL: [Term; 6] = [Term::Projections, Term::Attention, Term::Mlp, Term::Router, Term::Predictor, Term::LmHead];

    /// Its name for readers (tables on the page and in the CLI).
    pub fn label(self) -> &'static str {
        match self {
            Term::Projections => "Q/K/V/O projections",
            Term::Attention => "attention",
            Term::Mlp => "MLP",
            Term::Router => "router",
            Term::Predictor => "predictor",
            Term::LmHead => "LM head",
        }
    }
}
