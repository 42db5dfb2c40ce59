//! Routing: the router that scores tokens, the causal predictor, and the two ways of choosing
//! which tokens a routed block processes.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor, TensorData};

use super::{ModelConfig, UpdateWeight};
use super::block::counted;
use crate::flops::Term;

/// How a routed block picks its tokens.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RoutingMode {
    /// Expert-choice top-k over the whole sequence (training; not causal).
    TopK { capacity: f64 },
    /// The causal predictor decides token by token: processed when its probability > 0.5.
    Causal,
}

/// The factor each token's block output is scaled by, from its router score (any shape).
pub fn update_weight<const D: usize>(kind: UpdateWeight, scores: Tensor<D>) -> Tensor<D> {
    match kind {
        UpdateWeight::Sigmoid => sigmoid(scores),
        UpdateWeight::Raw => scores,
    }
}

#[derive(Module, Debug)]
pub struct Router {
    /// `r_i = w · x_i`, one scalar per token.
    pub(crate) score: Linear,
    /// Predictor MLP d → p → 1, fed with stop-gradient inputs.
    pub(crate) predictor_hidden: Linear,
    pub(crate) predictor_out: Linear,
}

impl Router {
    pub fn new(cfg: &ModelConfig, device: &Device) -> Self {
        Self {
            score: LinearConfig::new(cfg.d_model, 1).with_bias(false).init(device),
            predictor_hidden: LinearConfig::new(cfg.d_model, cfg.predictor_width).init(device),
            predictor_out: LinearConfig::new(cfg.predictor_width, 1).init(device),
        }
    }

    /// Router logits [B, T].
    pub fn scores(&self, x: Tensor<3>, layer: usize) -> Tensor<2> {
        counted(&self.score, x, layer, Term::Router).squeeze_dim(2)
    }

    /// Predictor logits [B, T]. The input is detached so the predictor never shapes the LM.
    pub fn predictor_logits(&self, x: Tensor<3>, layer: usize) -> Tensor<2> {
        let hidden = relu(counted(&self.predictor_hidden, x.detach(), layer, Term::Predictor));
        counted(&self.predictor_out, hidden, layer, Term::Predictor).squeeze_dim(2)
    }
}

/// The tokens a routed block processes: indices [B, n] in original (ascending) order, plus a
/// [B, n] weight mask that is 0 on padding slots (only causal batches of unequal counts pad).
pub struct Selection {
    pub indices: Tensor<2, Int>,
    pub valid: Option<Tensor<2>>,
    /// Top-k membership [B, T] as 0/1 (the predictor's training target in top-k mode).
    pub member: Tensor<2>,
}

/// Expert-choice top-k: each sequence keeps its `k` highest-scoring tokens.
///
/// Ties are broken one way everywhere: among equal scores, the earlier position wins (the trace's
/// ranks and the predictor's agreement use the same rule). Backends' top-k kernels order ties
/// as they like, so only the k-th largest *value* is taken from top-k; membership is decided by
/// comparisons and a running count of tied tokens. Everything stays on the device (no sort,
/// which would read back on WebGPU), and the chosen positions come out in ascending order by
/// scattering each member to its slot, `(members up to and including it) − 1`.
pub fn select_top_k(scores: &Tensor<2>, k: usize) -> Selection {
    let [b, t] = scores.dims();
    let device = scores.device();
    let scores = scores.clone().detach();
    let threshold = scores.clone().topk(k, 1).narrow(1, k - 1, 1).expand([b, t]);
    let above = scores.clone().greater(threshold.clone()).float();
    let tied = scores.equal(threshold).float();
    let room = above.clone().sum_dim(1).neg().add_scalar(k as f64).expand([b, t]);
    let member = above + tied.clone() * tied.cumsum(1).lower_equal(room).float();
    let slot = (member.clone().cumsum(1).sub_scalar(1.0) * member.clone() - member.clone().sub_scalar(1.0).mul_scalar(k as f64)).int();
    let positions = Tensor::<1, Int>::arange(0..t as i64, &device).reshape([1, t]).expand([b, t]);
    let indices = Tensor::<2, Int>::zeros([b, k + 1], &device).scatter(1, slot, positions, IndexingUpdateOp::Add).narrow(1, 0, k);
    Selection { indices, valid: None, member }
}

/// Causal selection from the predictor's probabilities (already read back, [B][T]).
///
/// Sequences that chose fewer tokens than the longest choice are padded at the end with their
/// last position and a zero weight; as padding comes last, causal attention keeps real tokens
/// from ever seeing it.
pub fn select_causal(probs: &[Vec<f32>], device: &Device) -> Option<Selection> {
    let chosen: Vec<Vec<i64>> = probs
        .iter()
        .map(|p| p.iter().enumerate().filter(|&(_, &p)| p > 0.5).map(|(i, _)| i as i64).collect())
        .collect();
    let n = chosen.iter().map(Vec::len).max().unwrap_or(0);
    if n == 0 {
        return None;
    }
    let (b, t) = (probs.len(), probs[0].len());
    let mut indices = Vec::with_capacity(b * n);
    let mut valid = Vec::with_capacity(b * n);
    let mut member = vec![0f32; b * t];
    for (s, c) in chosen.iter().enumerate() {
        for slot in 0..n {
            indices.push(c.get(slot).or(c.last()).copied().unwrap_or(0));
            valid.push(if slot < c.len() { 1f32 } else { 0f32 });
        }
        for &i in c {
            member[s * t + i as usize] = 1.0;
        }
    }
    let padded = chosen.iter().any(|c| c.len() < n);
    Some(Selection {
        indices: Tensor::from_data(TensorData::new(indices, [b, n]), device),
        valid: padded.then(|| Tensor::from_data(TensorData::new(valid, [b, n]), device)),
        member: Tensor::from_data(TensorData::new(member, [b, t]), device),
    })
}
