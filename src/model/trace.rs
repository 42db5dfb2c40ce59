//! The routing trace: per layer and token, what the router decided. This is what the page draws.

use burn::tensor::{Tensor, Transaction};
use serde::{Deserialize, Serialize};

use super::{ModelError, RoutingMode, UpdateWeight, capacity_k};

/// Device-side trace of one forward pass; [`TraceTensors::read`] brings it back in one transaction.
pub struct TraceTensors {
    pub(crate) layers: Vec<Option<RoutedLayerTensors>>,
    pub(crate) mode: RoutingMode,
    pub(crate) capacity: f64,
    pub(crate) update_weight: UpdateWeight,
    pub(crate) batch: usize,
    pub(crate) tokens: usize,
}

pub(crate) struct RoutedLayerTensors {
    pub logits: Tensor<2>,
    pub processed: Tensor<2>,
    pub predictor_logits: Tensor<2>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LayerTrace {
    pub layer: usize,
    pub routed: bool,
    /// Router logit `r_i` (routed layers; empty for dense ones).
    pub router_logit: Vec<f32>,
    /// The weight that scales the block's output: `σ(r_i)`, or `r_i` for a raw-weight model.
    pub router_weight: Vec<f32>,
    /// The router's score squashed into (0, 1), `σ(r_i)`, whatever the update weight: what the
    /// heatmap colours by and the histograms bin. Monotonic in `r`, so it ranks as top-k does.
    #[serde(default)]
    pub router_score: Vec<f32>,
    /// 0 for the highest-scoring token of the sequence.
    pub rank: Vec<usize>,
    pub processed: Vec<bool>,
    pub predictor_prob: Vec<f32>,
    /// Router score `σ(r)` of the last token top-k admits at the trace's capacity.
    pub topk_threshold: Option<f32>,
}

impl LayerTrace {
    pub fn processed_count(&self) -> usize {
        self.processed.iter().filter(|&&p| p).count()
    }
}

/// The routing of one sequence through every layer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RoutingTrace {
    pub tokens: usize,
    pub mode: RoutingMode,
    pub capacity: f64,
    /// What scales a routed block's output in this model (traces written before it said: σ(r)).
    #[serde(default)]
    pub update_weight: UpdateWeight,
    pub layers: Vec<LayerTrace>,
}

impl RoutingTrace {
    /// How many blocks processed each token.
    pub fn depth(&self) -> Vec<usize> {
        (0..self.tokens).map(|i| self.layers.iter().filter(|l| l.processed[i]).count()).collect()
    }

    /// How many of the routed blocks processed each token (dense blocks always do).
    pub fn routed_depth(&self) -> Vec<usize> {
        (0..self.tokens).map(|i| self.layers.iter().filter(|l| l.routed && l.processed[i]).count()).collect()
    }

    /// Tokens processed per layer.
    pub fn processed_counts(&self) -> Vec<usize> {
        self.layers.iter().map(LayerTrace::processed_count).collect()
    }

    /// Fraction of (routed layer, token) pairs where the predictor (p > 0.5) agrees with top-k
    /// membership at this trace's capacity. `None` for a dense model.
    pub fn predictor_agreement(&self) -> Option<f64> {
        let mut all = PredictorCounts::default();
        self.predictor_counts().iter().for_each(|c| all.add(c));
        all.agreement()
    }

    /// Per routed layer, the causal predictor (p > 0.5) scored against top-k membership at this
    /// trace's capacity (read from the ranks, so it holds in causal mode too).
    pub fn predictor_counts(&self) -> Vec<PredictorCounts> {
        let k = capacity_k(self.capacity, self.tokens);
        self.layers
            .iter()
            .filter(|l| l.routed)
            .map(|l| {
                let mut c = PredictorCounts { layer: l.layer, ..Default::default() };
                for (&rank, &p) in l.rank.iter().zip(&l.predictor_prob) {
                    let (chosen, predicted) = (rank < k, p > 0.5);
                    c.true_pos += usize::from(chosen && predicted);
                    c.false_pos += usize::from(!chosen && predicted);
                    c.false_neg += usize::from(chosen && !predicted);
                    c.total += 1;
                }
                c
            })
            .collect()
    }
}

/// The causal predictor against top-k in one routed layer, as counts that add up across texts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PredictorCounts {
    pub layer: usize,
    pub true_pos: usize,
    pub false_pos: usize,
    pub false_neg: usize,
    pub total: usize,
}

impl PredictorCounts {
    pub fn add(&mut self, other: &Self) {
        self.true_pos += other.true_pos;
        self.false_pos += other.false_pos;
        self.false_neg += other.false_neg;
        self.total += other.total;
    }

    fn ratio(a: usize, b: usize) -> Option<f64> {
        (b > 0).then(|| a as f64 / b as f64)
    }

    /// Tokens top-k chose.
    pub fn chosen(&self) -> usize {
        self.true_pos + self.false_neg
    }

    /// Tokens the predictor chose.
    pub fn predicted(&self) -> usize {
        self.true_pos + self.false_pos
    }

    pub fn precision(&self) -> Option<f64> {
        Self::ratio(self.true_pos, self.predicted())
    }

    pub fn recall(&self) -> Option<f64> {
        Self::ratio(self.true_pos, self.chosen())
    }

    pub fn agreement(&self) -> Option<f64> {
        Self::ratio(self.total - self.false_pos - self.false_neg, self.total)
    }

    /// What a predictor that skipped every token would score: the share top-k skipped.
    pub fn all_skip_agreement(&self) -> Option<f64> {
        Self::ratio(self.total - self.chosen(), self.total)
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl TraceTensors {
    /// Reads every routed layer's tensors back in one transaction; one trace per sequence.
    pub async fn read(self) -> Result<Vec<RoutingTrace>, ModelError> {
        let mut tx = Transaction::default();
        for l in self.layers.iter().flatten() {
            tx = tx.register(l.logits.clone()).register(l.processed.clone()).register(l.predictor_logits.clone());
        }
        let mut data = tx.execute_async().await.map_err(|e| ModelError::Backend(format!("{e:?}")))?.into_iter();
        let mut next = || -> Result<Vec<f32>, ModelError> {
            let d = data.next().ok_or_else(|| ModelError::Backend("trace read returned too few tensors".into()))?;
            d.convert::<f32>().try_to_vec::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))
        };
        let (b, t) = (self.batch, self.tokens);
        let k = capacity_k(self.capacity, t);
        let mut traces: Vec<RoutingTrace> = (0..b)
            .map(|_| RoutingTrace { tokens: t, mode: self.mode, capacity: self.capacity, update_weight: self.update_weight, layers: Vec::new() })
            .collect();
        for (layer, routed) in self.layers.iter().enumerate() {
            let Some(_) = routed else {
                for trace in &mut traces {
                    trace.layers.push(LayerTrace {
                        layer,
                        routed: false,
                        router_logit: Vec::new(),
                        router_weight: Vec::new(),
                        router_score: Vec::new(),
                        rank: Vec::new(),
                        processed: vec![true; t],
                        predictor_prob: Vec::new(),
                        topk_threshold: None,
                    });
                }
                continue;
            };
            let (logits, processed, predictor) = (next()?, next()?, next()?);
            for (s, trace) in traces.iter_mut().enumerate() {
                let row = s * t..(s + 1) * t;
                let logit = logits[row.clone()].to_vec();
                let mut order: Vec<usize> = (0..t).collect();
                // Stable: equal scores rank by position, as top-k breaks ties here.
                order.sort_by(|&a, &b| logit[b].total_cmp(&logit[a]));
                let mut rank = vec![0; t];
                for (r, &i) in order.iter().enumerate() {
                    rank[i] = r;
                }
                trace.layers.push(LayerTrace {
                    layer,
                    routed: true,
                    router_weight: logit.iter().map(|&r| self.update_weight.apply(r)).collect(),
                    router_score: logit.iter().map(|&r| sigmoid(r)).collect(),
                    topk_threshold: order.get(k.saturating_sub(1)).map(|&i| sigmoid(logit[i])),
                    router_logit: logit,
                    rank,
                    processed: processed[row.clone()].iter().map(|&p| p > 0.5).collect(),
                    predictor_prob: predictor[row].iter().map(|&p| sigmoid(p)).collect(),
                });
            }
        }
        Ok(traces)
    }
}
