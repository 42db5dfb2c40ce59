//! Turning text into what the page and the CLI show: the window of tokens the model sees, the
//! routing trace, per-token next-token entropy, the next-token top-5, and the FLOPs.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData, Transaction};
use serde::Serialize;

use crate::flops::{FlopsBreakdown, Routing, forward_flops};
use crate::model::{Model, ModelError, RoutingMode, RoutingTrace};
use crate::tokenizer::Tokenizer;

/// The tokens a model sees for a text: the last `context` tokens when the text is longer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Window {
    pub tokens: Vec<u32>,
    /// Tokens dropped from the start to fit the context (0 when it fits).
    pub dropped: usize,
}

pub fn window(tokenizer: &Tokenizer, text: &str, context: usize) -> Window {
    let all = tokenizer.encode(text);
    let dropped = all.len().saturating_sub(context);
    Window { tokens: all[dropped..].to_vec(), dropped }
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub trace: RoutingTrace,
    /// Entropy (nats) of the model's next-token distribution at each position.
    pub entropy: Vec<f32>,
    /// Most likely next tokens after the last position, with probabilities.
    pub top5: Vec<(u32, f32)>,
    pub flops: FlopsBreakdown,
}

/// Runs one model over one window and reads everything back in two transactions (the trace,
/// then the per-token statistics).
pub async fn analyse(model: &Model, tokens: &[u32], mode: RoutingMode, device: &Device) -> Result<Analysis, ModelError> {
    if tokens.is_empty() {
        return Err(ModelError::EmptyInput);
    }
    let t = tokens.len();
    let ids: Vec<i64> = tokens.iter().map(|&i| i as i64).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, t]), device);
    let forward = model.forward(input, mode).await?;
    let log_probs = log_softmax(forward.logits, 2);
    let entropy = (log_probs.clone().exp() * log_probs.clone()).sum_dim(2).neg().reshape([t]);
    let (top_lp, top_ids) = log_probs.narrow(1, t - 1, 1).reshape([model.config().vocab_size]).topk_with_indices(5, 0);
    let read = Transaction::default()
        .register(entropy)
        .register(top_lp)
        .register(top_ids)
        .execute_async()
        .await
        .map_err(|e| ModelError::Backend(format!("{e:?}")))?;
    let floats = |i: usize| read[i].clone().convert::<f32>().try_to_vec::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")));
    let entropy = floats(0)?;
    let top_lp = floats(1)?;
    let top_ids = read[2].clone().convert::<i64>().try_to_vec::<i64>().map_err(|e| ModelError::Backend(format!("{e:?}")))?;
    let trace = forward.trace.read().await?.remove(0);
    let routing = match mode {
        RoutingMode::TopK { capacity } => Routing::TopK { capacity },
        RoutingMode::Causal => Routing::Processed(trace.processed_counts()),
    };
    Ok(Analysis {
        flops: forward_flops(model.config(), t, &routing),
        trace,
        entropy,
        top5: top_ids.iter().zip(&top_lp).map(|(&i, &lp)| (i as u32, lp.exp())).collect(),
    })
}

/// Pearson correlation, for "tokens that use more blocks have higher-entropy predictions".
pub fn correlation(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len().min(ys.len());
    if n < 2 {
        return None;
    }
    let mean = |v: &[f64]| v[..n].iter().sum::<f64>() / n as f64;
    let (mx, my) = (mean(xs), mean(ys));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (xs[i] - mx, ys[i] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}
