//! Training the shipped models: the corpus, the training loop, the model-card report, and the
//! 8-bit files the page downloads.

pub mod corpus;
pub mod evaluate;
pub mod quantization;
pub mod report;
pub mod study;
pub mod trainer;

pub use trainer::{TrainConfig, train};

#[cfg(test)]
mod tests;
