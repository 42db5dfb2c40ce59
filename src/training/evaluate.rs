//! Losses, and the held-out measurements the model card reports.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Serialize;

use crate::model::{Model, ModelError, RoutingMode};

/// Mean next-token cross-entropy (nats) of logits [B, T, V] against targets [B, T].
pub fn cross_entropy(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<1> {
    let [b, t] = targets.dims();
    log_softmax(logits, 2).gather(2, targets.reshape([b, t, 1])).neg().mean()
}

/// Mean binary cross-entropy of logits against 0/1 targets, in the numerically stable form.
pub fn binary_cross_entropy(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let softplus_neg_abs = (logits.clone().abs().neg().exp() + 1.0).log();
    (logits.clone().clamp_min(0.0) - logits * targets + softplus_neg_abs).mean()
}

/// Consecutive windows of `t + 1` tokens from the start of `tokens`: a fixed held-out slice.
pub fn windows(tokens: &[u32], t: usize, count: usize) -> Vec<Vec<u32>> {
    tokens.chunks_exact(t + 1).take(count).map(<[u32]>::to_vec).collect()
}

/// Inputs and next-token targets for a batch of `t + 1`-token windows.
pub fn batch_tensors(windows: &[Vec<u32>], device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let (b, t) = (windows.len(), windows[0].len() - 1);
    let input: Vec<i64> = windows.iter().flat_map(|w| w[..t].iter().map(|&x| x as i64)).collect();
    let target: Vec<i64> = windows.iter().flat_map(|w| w[1..].iter().map(|&x| x as i64)).collect();
    (
        Tensor::from_data(TensorData::new(input, [b, t]), device),
        Tensor::from_data(TensorData::new(target, [b, t]), device),
    )
}

#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub loss: f64,
    pub perplexity: f64,
    /// Fraction of routed decisions where the predictor agrees with top-k (None when dense).
    pub predictor_agreement: Option<f64>,
    /// Mean fraction of tokens processed, per layer.
    pub processed_fraction: Vec<f64>,
}

/// Validation loss over `windows` (in batches of `batch`) with the given routing.
pub fn evaluate(model: &Model, windows: &[Vec<u32>], batch: usize, mode: RoutingMode, device: &Device) -> Result<Evaluation, ModelError> {
    let (mut loss_sum, mut n) = (0.0, 0usize);
    let (mut agree, mut agree_n) = (0.0, 0usize);
    let mut processed = vec![0.0; model.config().n_layers];
    for chunk in windows.chunks(batch.max(1)) {
        let (input, target) = batch_tensors(chunk, device);
        let f = pollster::block_on(model.forward(input, mode))?;
        let loss = cross_entropy(f.logits, target).into_scalar::<f32>() as f64;
        loss_sum += loss * chunk.len() as f64;
        n += chunk.len();
        for trace in pollster::block_on(f.trace.read())? {
            if let Some(a) = trace.predictor_agreement() {
                agree += a;
                agree_n += 1;
            }
            for (p, c) in processed.iter_mut().zip(trace.processed_counts()) {
                *p += c as f64 / trace.tokens as f64;
            }
        }
    }
    let loss = loss_sum / n.max(1) as f64;
    Ok(Evaluation {
        loss,
        perplexity: loss.exp(),
        predictor_agreement: (agree_n > 0).then(|| agree / agree_n as f64),
        processed_fraction: processed.iter().map(|p| p / n.max(1) as f64).collect(),
    })
}
