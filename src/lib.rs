//! modscope: a Mixture-of-Depths transformer you can watch route.
//!
//! Data flows one way: `ui` → `runtime` → `model`; `training` → `model`; the CLI → `model`.
//! `flops` and `tokenizer` are pure and depend on nothing else here.

pub mod flops;
pub mod model;
pub mod runtime;
pub mod tokenizer;

#[cfg(feature = "train")]
pub mod training;

#[cfg(feature = "web")]
pub mod ui;
