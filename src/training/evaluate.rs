//! Losses, and the held-out measurements the model card reports.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Serialize;

use crate::model::{Model, ModelError, PredictorCounts, RoutingMode, RoutingTrace};

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

/// Consecutive windows of `t + 1` tokens from the start of `tokens`: a fixed held-out slice
/// (`usize::MAX` windows: the whole text).
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
    /// Tokens scored (windows × context).
    pub tokens: usize,
    /// Fraction of routed decisions where the predictor agrees with top-k (None when dense).
    pub predictor_agreement: Option<f64>,
    /// Mean fraction of tokens processed, per layer.
    pub processed_fraction: Vec<f64>,
    /// Per routed layer, the predictor (p > 0.5) scored against top-k membership; top-k mode only.
    pub predictor_by_layer: Vec<PredictorScore>,
}

/// How well the causal predictor finds the tokens top-k chose, in one routed layer.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PredictorScore {
    pub layer: usize,
    pub precision: f64,
    pub recall: f64,
    pub agreement: f64,
    /// What a predictor that skips every token would score: the fraction top-k skipped.
    pub all_skip_agreement: f64,
}

impl From<&PredictorCounts> for PredictorScore {
    fn from(c: &PredictorCounts) -> Self {
        Self {
            layer: c.layer,
            precision: c.precision().unwrap_or(0.0),
            recall: c.recall().unwrap_or(0.0),
            agreement: c.agreement().unwrap_or(0.0),
            all_skip_agreement: c.all_skip_agreement().unwrap_or(0.0),
        }
    }
}

/// Validation loss over `windows` (in batches of `batch`) with the given routing.
pub fn evaluate(model: &Model, windows: &[Vec<u32>], batch: usize, mode: RoutingMode, device: &Device) -> Result<Evaluation, ModelError> {
    evaluate_with(model, windows, batch, mode, device, |_, _| {})
}

/// [`evaluate`], also handing each window's input tokens and routing trace to `visit`.
pub fn evaluate_with(
    model: &Model,
    windows: &[Vec<u32>],
    batch: usize,
    mode: RoutingMode,
    device: &Device,
    mut visit: impl FnMut(&[u32], &RoutingTrace),
) -> Result<Evaluation, ModelError> {
    let (mut loss_sum, mut n, mut tokens) = (0.0, 0usize, 0usize);
    let (mut agree, mut agree_n) = (0.0, 0usize);
    let n_layers = model.config().n_layers;
    let mut processed = vec![0.0; n_layers];
    let mut confusion: Vec<PredictorCounts> = (0..n_layers).map(|layer| PredictorCounts { layer, ..Default::default() }).collect();
    for chunk in windows.chunks(batch.max(1)) {
        let (input, target) = batch_tensors(chunk, device);
        let f = pollster::block_on(model.forward(input, mode))?;
        let loss = cross_entropy(f.logits, target).into_scalar::<f32>() as f64;
        loss_sum += loss * chunk.len() as f64;
        n += chunk.len();
        for (trace, window) in pollster::block_on(f.trace.read())?.iter().zip(chunk) {
            tokens += trace.tokens;
            if let Some(a) = trace.predictor_agreement() {
                agree += a;
                agree_n += 1;
            }
            for (p, c) in processed.iter_mut().zip(trace.processed_counts()) {
                *p += c as f64 / trace.tokens as f64;
            }
            if matches!(mode, RoutingMode::TopK { .. }) {
                for c in trace.predictor_counts() {
                    confusion[c.layer].add(&c);
                }
            }
            visit(&window[..window.len() - 1], trace);
        }
    }
    let loss = loss_sum / n.max(1) as f64;
    Ok(Evaluation {
        loss,
        perplexity: loss.exp(),
        tokens,
        predictor_agreement: (agree_n > 0).then(|| agree / agree_n as f64),
        processed_fraction: processed.iter().map(|p| p / n.max(1) as f64).collect(),
        predictor_by_layer: confusion.iter().filter(|c| c.total > 0).map(PredictorScore::from).collect(),
    })
}
