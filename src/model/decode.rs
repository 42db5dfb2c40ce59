//! Incremental decoding with a KV cache and causal routing.
//!
//! A routed layer caches only the tokens it processed; a skipped token costs only the router and
//! the predictor. Decoding a text token by token gives the logits of a full `Causal` forward.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Int, Tensor, TensorData, Transaction};

use super::rope::Rope;
use super::{Forward, KeyValues, Model, ModelError, RoutingMode};

pub struct DecodeState {
    caches: Vec<Option<KeyValues>>,
    position: usize,
    rope: Rope,
    device: Device,
}

/// One decoded token: its next-token logits [V] and what each layer did with it.
pub struct DecodeStep {
    pub logits: Tensor<1>,
    pub processed: Vec<bool>,
    /// The router's score `σ(r)` (what the page colours by, whatever the update weight) and the
    /// predictor's probability, for routed layers.
    pub router_score: Vec<Option<f32>>,
    pub predictor_prob: Vec<Option<f32>>,
    /// Keys each layer attended over (0 when skipped), for FLOPs accounting.
    pub attended: Vec<usize>,
}

impl DecodeState {
    pub fn new(model: &Model, device: &Device) -> Self {
        Self {
            caches: vec![None; model.config().n_layers],
            position: 0,
            rope: model.rope(device),
            device: device.clone(),
        }
    }

    /// Continues after a single-sequence `Causal` forward pass (the prompt's prefill).
    pub fn from_prefill(model: &Model, forward: &Forward, device: &Device) -> Result<Self, ModelError> {
        if forward.trace.mode != RoutingMode::Causal || forward.trace.batch != 1 {
            return Err(ModelError::Config("decoding continues only a causal forward of one sequence".into()));
        }
        let mut state = Self::new(model, device);
        state.caches = forward.cache.clone();
        state.position = forward.trace.tokens;
        Ok(state)
    }

    /// Tokens decoded so far (the next token's position).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Cached (processed) tokens per layer.
    pub fn cached(&self) -> Vec<usize> {
        self.caches.iter().map(|c| c.as_ref().map_or(0, |kv| kv.keys.dims()[2])).collect()
    }
}

impl Model {
    pub async fn decode_step(&self, state: &mut DecodeState, token: u32) -> Result<DecodeStep, ModelError> {
        if state.position >= self.config.context {
            return Err(ModelError::TooLong { len: state.position + 1, context: self.config.context });
        }
        let device = state.device.clone();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(vec![token as i64], [1, 1]), &device);
        let position = Tensor::<2, Int>::from_data(TensorData::new(vec![state.position as i64], [1, 1]), &device);
        let mut x = self.embed.forward(tokens);
        let n_layers = self.blocks.len();
        let mut out = DecodeStep {
            logits: Tensor::zeros([1], &device),
            processed: vec![true; n_layers],
            router_score: vec![None; n_layers],
            predictor_prob: vec![None; n_layers],
            attended: vec![0; n_layers],
        };
        for (l, block) in self.blocks.iter().enumerate() {
            let mut weight = None;
            if let Some(router) = &block.router {
                let scores = router.scores(x.clone(), l);
                let w = super::routing::update_weight(self.config.update_weight, scores.clone());
                let p = sigmoid(router.predictor_logits(x.clone(), l));
                let read = Transaction::default()
                    .register(sigmoid(scores))
                    .register(p)
                    .execute_async()
                    .await
                    .map_err(|e| ModelError::Backend(format!("{e:?}")))?;
                let scalar = |i: usize| read[i].clone().convert::<f32>().try_to_vec::<f32>().ok().and_then(|v| v.first().copied());
                let (w_host, p_host) = (scalar(0), scalar(1));
                out.router_score[l] = w_host;
                out.predictor_prob[l] = p_host;
                if p_host.unwrap_or(0.0) <= 0.5 {
                    out.processed[l] = false;
                    continue;
                }
                weight = Some(w.reshape([1, 1, 1]));
            }
            let (delta, kv) = block.residual(x.clone(), &position, &state.rope, state.caches[l].as_ref());
            out.attended[l] = kv.keys.dims()[2];
            state.caches[l] = Some(kv);
            x = match weight {
                Some(w) => x + delta * w,
                None => x + delta,
            };
        }
        out.logits = self.head(x).reshape([self.config.vocab_size]);
        state.position += 1;
        Ok(out)
    }
}
