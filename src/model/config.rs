//! The model's shape, saved as JSON beside (inside) the weights.

use serde::{Deserialize, Serialize};

use super::ModelError;

/// Everything needed to build a model. A dense baseline is the same config with no routed blocks.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelConfig {
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_heads: usize,
    pub n_layers: usize,
    pub d_mlp: usize,
    /// Longest sequence the model accepts (RoPE tables are built for it).
    pub context: usize,
    /// Indices of the blocks that route their tokens (expert-choice top-k).
    pub routed_layers: Vec<usize>,
    /// Fraction of the sequence a routed block processes: `k = ceil(capacity × T)`, at least 1.
    pub capacity: f64,
    /// Hidden width of the causal predictor MLP (d → p → 1).
    pub predictor_width: usize,
    /// What scales a routed block's output: `σ(r)` (this project's default) or the paper's raw `r`.
    /// Files written before this field existed used `σ(r)`.
    #[serde(default)]
    pub update_weight: UpdateWeight,
}

/// The factor a routed block's output is multiplied by before it joins the residual stream.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UpdateWeight {
    /// `σ(r)`: bounded in (0, 1), the same quantity the predictor is trained against.
    #[default]
    Sigmoid,
    /// The router's raw score `r`, as written in the paper (`x + r · f(x̃)`).
    Raw,
}

impl UpdateWeight {
    pub fn apply(self, r: f32) -> f32 {
        match self {
            Self::Sigmoid => 1.0 / (1.0 + (-r).exp()),
            Self::Raw => r,
        }
    }
}

impl ModelConfig {
    /// The shipped MoD shape: every other block routed, the first block dense, 12.5% capacity.
    pub fn mod_default(vocab_size: usize) -> Self {
        let n_layers = 8;
        Self {
            vocab_size,
            d_model: 160,
            n_heads: 5,
            n_layers,
            d_mlp: 640,
            context: 256,
            routed_layers: (1..n_layers).step_by(2).collect(),
            capacity: 0.125,
            predictor_width: 32,
            update_weight: UpdateWeight::Sigmoid,
        }
    }

    /// The same family at another width: heads of 32, an MLP four times as wide.
    pub fn with_width(&self, d_model: usize) -> Self {
        Self { d_model, n_heads: (d_model / 32).max(1), d_mlp: 4 * d_model, ..self.clone() }
    }

    /// The same model with every block dense.
    pub fn dense_twin(&self) -> Self {
        Self { routed_layers: Vec::new(), ..self.clone() }
    }

    pub fn is_routed(&self, layer: usize) -> bool {
        self.routed_layers.contains(&layer)
    }

    pub fn is_dense(&self) -> bool {
        self.routed_layers.is_empty()
    }

    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads.max(1)
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |why: String| Err(ModelError::Config(why));
        if self.vocab_size == 0 || self.d_model == 0 || self.n_layers == 0 || self.d_mlp == 0 {
            return bad("vocab_size, d_model, n_layers and d_mlp must be positive".into());
        }
        if self.n_heads == 0 || self.d_model % self.n_heads != 0 || self.head_dim() % 2 != 0 {
            return bad(format!(
                "d_model ({}) must split into n_heads ({}) heads of even width (RoPE rotates pairs)",
                self.d_model, self.n_heads
            ));
        }
        if self.context == 0 {
            return bad("context must be positive".into());
        }
        if let Some(&l) = self.routed_layers.iter().find(|&&l| l >= self.n_layers) {
            return bad(format!("routed layer {l} does not exist (n_layers = {})", self.n_layers));
        }
        if !(self.capacity > 0.0 && self.capacity <= 1.0) {
            return bad(format!("capacity must be in (0, 1], got {}", self.capacity));
        }
        if !self.is_dense() && self.predictor_width == 0 {
            return bad("predictor_width must be positive when blocks are routed".into());
        }
        Ok(())
    }
}

/// Tokens a routed block takes from a sequence of `t`: `ceil(capacity × t)`, between 1 and `t`.
pub fn capacity_k(capacity: f64, t: usize) -> usize {
    if t == 0 {
        return 0;
    }
    // The epsilon keeps 0.3 × 10 = 3.0000000000000004 from rounding up to 4.
    let k = (capacity * t as f64 - 1e-9).ceil();
    (k.max(1.0) as usize).min(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_k_rounds_up_and_never_hits_zero() {
        assert_eq!(capacity_k(0.125, 256), 32);
        assert_eq!(capacity_k(0.125, 7), 1);
        assert_eq!(capacity_k(0.125, 9), 2);
        assert_eq!(capacity_k(0.3, 10), 3);
        assert_eq!(capacity_k(1.0, 5), 5);
        assert_eq!(capacity_k(0.01, 1), 1);
        assert_eq!(capacity_k(0.5, 0), 0);
    }

    #[test]
    fn default_routes_every_other_block_after_a_dense_first() {
        let c = ModelConfig::mod_default(2048);
        assert_eq!(c.routed_layers, vec![1, 3, 5, 7]);
        assert!(c.validate().is_ok());
        assert!(c.dense_twin().is_dense());
    }

    #[test]
    fn validate_rejects_bad_shapes() {
        let mut c = ModelConfig::mod_default(100);
        c.n_heads = 3;
        assert!(c.validate().is_err());
        let mut c = ModelConfig::mod_default(100);
        c.routed_layers = vec![9];
        assert!(c.validate().is_err());
        let mut c = ModelConfig::mod_default(100);
        c.capacity = 0.0;
        assert!(c.validate().is_err());
    }
}
