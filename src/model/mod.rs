//! The Mixture-of-Depths transformer: one definition for training, the CLI and the browser.
//!
//! Read in this order: `config` (the shape), `block` (attention + MLP, `f(X̃)`), `routing`
//! (router, predictor, top-k), this file (the forward pass), `decode` (KV-cache sampling),
//! `trace` (what the page draws), `weights` (safetensors on disk), `kernels` (faster CPU versions
//! of three ops, used where the tensors allow).

mod block;
mod config;
mod decode;
pub mod kernels;
mod rope;
mod routing;
mod trace;
mod weights;

#[cfg(test)]
mod tests;

pub use block::KeyValues;
pub use config::{ModelConfig, UpdateWeight, capacity_k};
pub use decode::{DecodeState, DecodeStep};
pub use routing::RoutingMode;
pub use trace::{LayerTrace, PredictorCounts, RoutingTrace, TraceTensors};
pub use weights::{FORMAT_VERSION, config_of, load_weights, load_weights_with_digest, quantize_int8, save_weights, tensor_bytes_start, weights_to_bytes};

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor};

use block::Block;
use rope::Rope;
use routing::{select_causal, select_top_k};
use trace::RoutedLayerTensors;

use crate::flops::{Term, counter};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("invalid model config: {0}")]
    Config(String),
    #[error("the input is empty: type at least one character")]
    EmptyInput,
    #[error("{len} tokens is longer than the model's context of {context}")]
    TooLong { len: usize, context: usize },
    #[error("the backend failed: {0}")]
    Backend(String),
    #[error("bad weights file: {0}")]
    Weights(String),
}

#[derive(Module, Debug)]
pub struct Model {
    embed: Embedding,
    blocks: Vec<Block>,
    final_norm: LayerNorm,
    lm_head: Linear,
    #[module(skip)]
    config: ModelConfig,
}

/// What a forward pass returns.
pub struct Forward {
    /// Next-token logits [B, T, V].
    pub logits: Tensor<3>,
    pub trace: TraceTensors,
    /// Per routed layer, (predictor logits, top-k membership) [B, T]: the predictor's training pair.
    pub predictor_targets: Vec<(Tensor<2>, Tensor<2>)>,
    /// Per layer, keys and values of the tokens it processed (seeds a [`DecodeState`]).
    pub cache: Vec<Option<KeyValues>>,
    /// The residual stream entering each layer, then leaving the last one.
    pub residuals: Vec<Tensor<3>>,
}

impl Model {
    pub fn new(config: &ModelConfig, device: &Device) -> Result<Self, ModelError> {
        config.validate()?;
        Ok(Self {
            embed: EmbeddingConfig::new(config.vocab_size, config.d_model).init(device),
            blocks: (0..config.n_layers).map(|l| Block::new(config, l, device)).collect(),
            final_norm: LayerNormConfig::new(config.d_model).init(device),
            lm_head: LinearConfig::new(config.d_model, config.vocab_size).with_bias(false).init(device),
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub(crate) fn rope(&self, device: &Device) -> Rope {
        Rope::new(self.config.context, self.config.head_dim(), device)
    }

    /// Runs the model over `tokens` [B, T]. Async because causal routing reads the predictor's
    /// decisions back from the device (synchronous reads are impossible in the browser).
    pub async fn forward(&self, tokens: Tensor<2, Int>, mode: RoutingMode) -> Result<Forward, ModelError> {
        let [b, t] = tokens.dims();
        if t == 0 || b == 0 {
            return Err(ModelError::EmptyInput);
        }
        if t > self.config.context {
            return Err(ModelError::TooLong { len: t, context: self.config.context });
        }
        let device = tokens.device();
        let rope = self.rope(&device);
        let capacity = match mode {
            RoutingMode::TopK { capacity } => capacity,
            RoutingMode::Causal => self.config.capacity,
        };
        let all_positions = Tensor::<1, Int>::arange(0..t as i64, &device).reshape([1, t]).expand([b, t]);

        let mut x = self.embed.forward(tokens);
        let mut trace_layers = Vec::with_capacity(self.blocks.len());
        let mut predictor_targets = Vec::new();
        let mut cache = Vec::with_capacity(self.blocks.len());
        let mut residuals = Vec::with_capacity(self.blocks.len() + 1);
        for block in &self.blocks {
            residuals.push(x.clone());
            let Some(router) = &block.router else {
                let (delta, kv) = block.residual(x.clone(), &all_positions, &rope, None);
                x = x + delta;
                trace_layers.push(None);
                cache.push(Some(kv));
                continue;
            };
            let logits = router.scores(x.clone(), block.index);
            let predictor_logits = router.predictor_logits(x.clone(), block.index);
            let selection = match mode {
                RoutingMode::TopK { capacity } => Some(select_top_k(&logits, capacity_k(capacity, t))),
                RoutingMode::Causal => {
                    let probs = read_rows(sigmoid(predictor_logits.clone())).await?;
                    select_causal(&probs, &device)
                }
            };
            let Some(selection) = selection else {
                // No token chosen anywhere in the batch: the block is skipped entirely.
                trace_layers.push(Some(RoutedLayerTensors {
                    logits,
                    processed: Tensor::zeros([b, t], &device),
                    predictor_logits,
                }));
                cache.push(None);
                continue;
            };
            let n = selection.indices.dims()[1];
            let d = self.config.d_model;
            let gather_index = selection.indices.clone().reshape([b, n, 1]).expand([b, n, d]);
            let chosen = x.clone().gather(1, gather_index.clone());
            let (delta, kv) = block.residual(chosen, &selection.indices, &rope, None);
            let mut weight = routing::update_weight(self.config.update_weight, logits.clone()).gather(1, selection.indices.clone());
            if let Some(valid) = selection.valid {
                weight = weight * valid;
            }
            // x_i ← x_i + w(r_i) · f(X̃)_i on the chosen tokens; the rest are not touched at all.
            x = x.scatter(1, gather_index, delta * weight.reshape([b, n, 1]), IndexingUpdateOp::Add);
            if matches!(mode, RoutingMode::TopK { .. }) {
                predictor_targets.push((predictor_logits.clone(), selection.member.clone()));
            }
            trace_layers.push(Some(RoutedLayerTensors { logits, processed: selection.member, predictor_logits }));
            cache.push(Some(kv));
        }
        residuals.push(x.clone());
        let logits = self.head(x);
        let trace = TraceTensors { layers: trace_layers, mode, capacity, update_weight: self.config.update_weight, batch: b, tokens: t };
        Ok(Forward { logits, trace, predictor_targets, cache, residuals })
    }

    fn head(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, n, d] = x.dims();
        counter::record(None, Term::LmHead, 2 * (b * n * d * self.config.vocab_size) as u64);
        block::linear(&self.lm_head, self.final_norm.forward(x))
    }
}

/// Reads a [B, T] tensor back as rows.
async fn read_rows(t: Tensor<2>) -> Result<Vec<Vec<f32>>, ModelError> {
    let [_, cols] = t.dims();
    let data = t.into_data_async().await.map_err(|e| ModelError::Backend(format!("{e:?}")))?;
    let flat = data.convert::<f32>().try_to_vec::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))?;
    Ok(flat.chunks(cols).map(<[f32]>::to_vec).collect())
}
