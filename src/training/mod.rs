//! Training the shipped models: the corpus, the training loop, and the model-card report.

pub mod corpus;
pub mod evaluate;
pub mod report;
pub mod trainer;

pub use trainer::{TrainConfig, train};

#[cfg(test)]
mod tests;
