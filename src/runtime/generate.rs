//! Text continuation, one token at a time: a causal prefill of the prompt, then KV-cache steps.
//! Shared by the CLI, the report and the browser (which awaits each step to stream it).

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::sample::{Rng, sample};
use crate::model::{DecodeState, DecodeStep, Model, ModelError, RoutingMode};

pub struct Generator<'a> {
    model: &'a Model,
    state: DecodeState,
    logits: Vec<f32>,
}

async fn host(t: Tensor<1>) -> Result<Vec<f32>, ModelError> {
    let data = t.into_data_async().await.map_err(|e| ModelError::Backend(format!("{e:?}")))?;
    data.convert::<f32>().try_to_vec::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))
}

impl<'a> Generator<'a> {
    /// Prefills the prompt (at most the model's context) in one causal forward pass.
    pub async fn new(model: &'a Model, prompt: &[u32], device: &Device) -> Result<Self, ModelError> {
        if prompt.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        let t = prompt.len();
        let ids: Vec<i64> = prompt.iter().map(|&i| i as i64).collect();
        let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, t]), device);
        let prefill = model.forward(input, RoutingMode::Causal).await?;
        let last = prefill.logits.clone().narrow(1, t - 1, 1).reshape([model.config().vocab_size]);
        let state = DecodeState::from_prefill(model, &prefill, device)?;
        Ok(Self { model, state, logits: host(last).await? })
    }

    /// Room left in the context.
    pub fn remaining(&self) -> usize {
        self.model.config().context.saturating_sub(self.state.position())
    }

    /// Next-token logits after everything fed so far.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// Samples the next token and feeds it through the model, returning it with what each layer
    /// did with it; `None` when the context is full.
    pub async fn next(&mut self, temperature: f32, top_k: usize, rng: &mut Rng) -> Result<Option<(u32, DecodeStep)>, ModelError> {
        if self.remaining() == 0 {
            return Ok(None);
        }
        let token = sample(&self.logits, temperature, top_k, rng);
        let step = self.model.decode_step(&mut self.state, token).await?;
        self.logits = host(step.logits.clone()).await?;
        Ok(Some((token, step)))
    }
}
