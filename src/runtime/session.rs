//! Turning text into what the page and the CLI show: the window of tokens the model sees, the
//! routing trace, per-token next-token entropy, the next-token top-5, and the FLOPs.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData, Transaction};
use serde::{Deserialize, Serialize};

use crate::flops::{FlopsBreakdown, Routing, forward_flops};
use crate::model::{Model, ModelError, RoutingMode, RoutingTrace, kernels};
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

/// Where one run's time went, in milliseconds. On the CPU every step runs when it is called; on
/// WebGPU the forward pass only queues work, which then runs during the read-back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stages {
    /// The model's forward pass.
    pub forward_ms: f64,
    /// Reading the statistics and the routing trace back from the device.
    pub readback_ms: f64,
    /// Entropy and top-5 from the logits, and assembling the trace and the FLOPs.
    pub analysis_ms: f64,
}

impl Stages {
    pub fn total_ms(&self) -> f64 {
        self.forward_ms + self.readback_ms + self.analysis_ms
    }
}

/// Milliseconds on a monotonic clock, for [`analyse`] natively (the browser passes
/// `performance.now()`).
#[cfg(not(target_arch = "wasm32"))]
pub fn monotonic_ms() -> f64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1e3
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Analysis {
    pub trace: RoutingTrace,
    /// Entropy (nats) of the model's next-token distribution at each position.
    pub entropy: Vec<f32>,
    /// Most likely next tokens after the last position, with probabilities.
    pub top5: Vec<(u32, f32)>,
    pub flops: FlopsBreakdown,
    pub stages: Stages,
}

/// Runs one model over one window and reads everything back in two transactions (the trace,
/// then the per-token statistics), timing each stage by `clock` (milliseconds).
pub async fn analyse(model: &Model, tokens: &[u32], mode: RoutingMode, device: &Device, clock: &dyn Fn() -> f64) -> Result<Analysis, ModelError> {
    if tokens.is_empty() {
        return Err(ModelError::EmptyInput);
    }
    let t = tokens.len();
    let ids: Vec<i64> = tokens.iter().map(|&i| i as i64).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, t]), device);
    let started = clock();
    let forward = model.forward(input, mode).await?;
    let forwarded = clock();
    let vocab = model.config().vocab_size;
    // On the CPU the logits are already in memory: the statistics are one pass over them. On a
    // GPU they are computed there and only T + 10 numbers come back.
    let on_cpu = kernels::with_values(&forward.logits, |logits| {
        let (entropy, log_z) = kernels::entropy_and_log_normaliser(logits, vocab);
        let last = &logits[(t - 1) * vocab..t * vocab];
        let by_logit = |a: &usize, b: &usize| last[*b].total_cmp(&last[*a]).then(a.cmp(b));
        let keep = 5.min(vocab);
        let mut order: Vec<usize> = (0..vocab).collect();
        if keep < vocab {
            order.select_nth_unstable_by(keep - 1, by_logit);
        }
        order.truncate(keep);
        order.sort_by(by_logit);
        let top5 = order.iter().map(|&i| (i as u32, (last[i] - log_z[t - 1]).exp())).collect();
        (entropy, top5)
    });
    let (statistics, reading) = match on_cpu {
        Some(statistics) => (statistics, clock()),
        None => {
            let reading = clock();
            (statistics_on_device(forward.logits, t, vocab).await?, reading)
        }
    };
    let (entropy, top5) = statistics;
    let trace = forward.trace.read().await?.remove(0);
    let read_back = clock();
    let routing = match mode {
        RoutingMode::TopK { capacity } => Routing::TopK { capacity },
        RoutingMode::Causal => Routing::Processed(trace.processed_counts()),
    };
    let flops = forward_flops(model.config(), t, &routing);
    let stages = Stages {
        forward_ms: forwarded - started,
        readback_ms: read_back - reading,
        analysis_ms: (reading - forwarded) + (clock() - read_back),
    };
    Ok(Analysis { flops, trace, entropy, top5, stages })
}

/// Entropy per position and the top-5 after the last, computed on the device and read back in
/// one transaction. One pass of exponentials over [T, V]: with p = softmax(x) and Z its
/// normaliser, log Z = max(x) − log max(p), so the entropy −Σ p log p = log Z − Σ p·x and the
/// top-5 log-probabilities x − log Z need no log-softmax. max(p) ≥ 1/V, so its log is always
/// well conditioned.
async fn statistics_on_device(logits: Tensor<3>, t: usize, vocab: usize) -> Result<(Vec<f32>, Vec<(u32, f32)>), ModelError> {
    let probs = softmax(logits.clone(), 2);
    let log_z = logits.clone().max_dim(2) - probs.clone().max_dim(2).log();
    let entropy = (log_z.clone() - (probs * logits.clone()).sum_dim(2)).reshape([t]);
    let last_log_z = log_z.narrow(1, t - 1, 1).reshape([1]);
    let (top_logits, top_ids) = logits.narrow(1, t - 1, 1).reshape([vocab]).topk_with_indices(5.min(vocab), 0);
    let top_lp = top_logits - last_log_z;
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
    Ok((entropy, top_ids.iter().zip(&top_lp).map(|(&i, &lp)| (i as u32, lp.exp())).collect()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    /// The one-pass entropy and top-5 agree with −Σ p log p and log p computed the long way.
    #[test]
    fn entropy_and_top5_match_the_definition() {
        let device = Device::flex();
        let cfg = ModelConfig { vocab_size: 300, d_model: 32, n_heads: 2, n_layers: 2, d_mlp: 64, context: 32, routed_layers: vec![1], capacity: 0.5, predictor_width: 8, update_weight: Default::default() };
        let model = Model::new(&cfg, &device).unwrap();
        let tokens: Vec<u32> = (0..20).map(|i| (i * 37) % 300).collect();
        let mode = RoutingMode::TopK { capacity: 0.5 };
        let a = pollster::block_on(analyse(&model, &tokens, mode, &device, &monotonic_ms)).unwrap();
        // Stage times are measured, not asserted on: only that each is a real, non-negative time
        // (a coarse clock may read 0 for a fast stage).
        let s = &a.stages;
        assert!([s.forward_ms, s.readback_ms, s.analysis_ms].iter().all(|t| t.is_finite() && *t >= 0.0), "{s:?}");
        let ids: Vec<i64> = tokens.iter().map(|&i| i as i64).collect();
        let f = pollster::block_on(model.forward(Tensor::from_data(TensorData::new(ids, [1, 20]), &device), mode)).unwrap();
        let logits = f.logits.into_data().convert::<f64>().try_to_vec::<f64>().unwrap();
        for (i, row) in logits.chunks(300).enumerate() {
            let max = row.iter().cloned().fold(f64::MIN, f64::max);
            let log_z = max + row.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
            let entropy: f64 = row.iter().map(|x| -(x - log_z).exp() * (x - log_z)).sum();
            assert!((a.entropy[i] as f64 - entropy).abs() < 1e-4, "position {i}: {} vs {entropy}", a.entropy[i]);
            if i == 19 {
                let mut order: Vec<usize> = (0..300).collect();
                order.sort_by(|&x, &y| row[y].total_cmp(&row[x]));
                for (k, &(id, p)) in a.top5.iter().enumerate() {
                    assert_eq!(id as usize, order[k]);
                    assert!((p as f64 - (row[order[k]] - log_z).exp()).abs() < 1e-5);
                }
            }
        }
    }
}
