//! Closed-form FLOPs of a forward pass, per layer and per term.

use serde::{Deserialize, Serialize};

use super::Term;
use crate::model::{ModelConfig, capacity_k};

/// How many tokens each routed layer processes.
#[derive(Clone, Debug, PartialEq)]
pub enum Routing {
    /// Expert-choice top-k: `ceil(capacity × T)` tokens in every routed layer.
    TopK { capacity: f64 },
    /// Causal predictor: the number of tokens it chose, one entry per layer (dense layers ignored).
    Processed(Vec<usize>),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerFlops {
    pub layer: usize,
    pub routed: bool,
    /// Tokens that went through attention and the MLP.
    pub tokens_processed: usize,
    pub projections: u64,
    pub attention: u64,
    pub mlp: u64,
    pub router: u64,
    pub predictor: u64,
}

impl LayerFlops {
    pub fn total(&self) -> u64 {
        self.projections + self.attention + self.mlp + self.router + self.predictor
    }

    pub fn term(&self, term: Term) -> u64 {
        match term {
            Term::Projections => self.projections,
            Term::Attention => self.attention,
            Term::Mlp => self.mlp,
            Term::Router => self.router,
            Term::Predictor => self.predictor,
            Term::LmHead => 0,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlopsBreakdown {
    pub tokens: usize,
    pub layers: Vec<LayerFlops>,
    pub lm_head: u64,
}

impl FlopsBreakdown {
    pub fn body(&self) -> u64 {
        self.layers.iter().map(LayerFlops::total).sum()
    }

    pub fn total(&self) -> u64 {
        self.body() + self.lm_head
    }

    /// The same numbers keyed as [`super::counter`] records them, zero terms left out.
    pub fn by_call_site(&self) -> std::collections::BTreeMap<(Option<usize>, Term), u64> {
        let mut out = std::collections::BTreeMap::new();
        for l in &self.layers {
            for term in [Term::Projections, Term::Attention, Term::Mlp, Term::Router, Term::Predictor] {
                if l.term(term) > 0 {
                    out.insert((Some(l.layer), term), l.term(term));
                }
            }
        }
        out.insert((None, Term::LmHead), self.lm_head);
        out
    }

    pub fn term(&self, term: Term) -> u64 {
        match term {
            Term::LmHead => self.lm_head,
            _ => self.layers.iter().map(|l| l.term(term)).sum(),
        }
    }
}

/// One layer processing `n` of `t` tokens, attending over `keys` of them (a square `n × n` in a
/// full forward pass; the cache length when decoding).
fn layer(cfg: &ModelConfig, layer: usize, t: usize, n: usize, keys: usize) -> LayerFlops {
    let (d, h, p) = (cfg.d_model as u64, cfg.d_mlp as u64, cfg.predictor_width as u64);
    let (t, n64, keys) = (t as u64, n as u64, keys as u64);
    let routed = cfg.is_routed(layer);
    LayerFlops {
        layer,
        routed,
        tokens_processed: n,
        projections: 8 * n64 * d * d,
        attention: 4 * n64 * keys * d,
        mlp: 4 * n64 * d * h,
        router: if routed { 2 * t * d } else { 0 },
        predictor: if routed { 2 * t * (d * p + p) } else { 0 },
    }
}

/// FLOPs of one forward pass over `t` tokens.
pub fn forward_flops(cfg: &ModelConfig, t: usize, routing: &Routing) -> FlopsBreakdown {
    let layers = (0..cfg.n_layers)
        .map(|l| {
            let n = match routing {
                _ if !cfg.is_routed(l) => t,
                Routing::TopK { capacity } => capacity_k(*capacity, t),
                Routing::Processed(counts) => counts.get(l).copied().unwrap_or(t).min(t),
            };
            layer(cfg, l, t, n, n)
        })
        .collect();
    FlopsBreakdown { tokens: t, layers, lm_head: 2 * (t * cfg.d_model * cfg.vocab_size) as u64 }
}

/// FLOPs of decoding one token with a KV cache. `cached[l]` is the number of keys layer `l`
/// attends over (its cache after this token was added, if processed); `processed[l]` says whether
/// the layer processed the token (always true for dense layers).
pub fn decode_step_flops(cfg: &ModelConfig, cached: &[usize], processed: &[bool]) -> FlopsBreakdown {
    let layers = (0..cfg.n_layers)
        .map(|l| {
            let on = !cfg.is_routed(l) || processed.get(l).copied().unwrap_or(false);
            let keys = cached.get(l).copied().unwrap_or(0);
            layer(cfg, l, 1, usize::from(on), if on { keys } else { 0 })
        })
        .collect();
    FlopsBreakdown { tokens: 1, layers, lm_head: 2 * (cfg.d_model * cfg.vocab_size) as u64 }
}

/// Training FLOPs of one sequence of `t` tokens: the backward pass costs twice the forward (the
/// usual 1 + 2 convention), so a step costs three forward passes.
pub fn training_step_flops(cfg: &ModelConfig, t: usize) -> u64 {
    3 * forward_flops(cfg, t, &Routing::TopK { capacity: cfg.capacity }).total()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ModelConfig {
        ModelConfig::mod_default(2048)
    }

    #[test]
    fn dense_layer_matches_the_reference_closed_form() {
        let c = cfg().dense_twin();
        let (t, d) = (256u64, c.d_model as u64);
        let f = forward_flops(&c, 256, &Routing::TopK { capacity: 0.125 });
        for l in &f.layers {
            assert_eq!(l.total(), 24 * t * d * d + 4 * t * t * d);
        }
    }

    #[test]
    fn routed_layer_matches_the_reference_closed_form() {
        let c = cfg();
        let (t, d, p) = (256u64, c.d_model as u64, c.predictor_width as u64);
        let k = 32u64;
        let f = forward_flops(&c, 256, &Routing::TopK { capacity: 0.125 });
        let routed = &f.layers[1];
        assert!(routed.routed);
        assert_eq!(routed.total(), 24 * k * d * d + 4 * k * k * d + 2 * t * d + 2 * t * (d * p + p));
    }

    #[test]
    fn full_capacity_costs_dense_plus_router_and_predictor() {
        let c = cfg();
        let m = forward_flops(&c, 100, &Routing::TopK { capacity: 1.0 });
        let d = forward_flops(&c.dense_twin(), 100, &Routing::TopK { capacity: 1.0 });
        let extra = m.term(Term::Router) + m.term(Term::Predictor);
        assert!(extra > 0);
        assert_eq!(m.body(), d.body() + extra);
    }

    #[test]
    fn every_other_block_at_one_eighth_saves_about_forty_percent() {
        let c = cfg();
        let m = forward_flops(&c, 256, &Routing::TopK { capacity: 0.125 }).total() as f64;
        let d = forward_flops(&c.dense_twin(), 256, &Routing::TopK { capacity: 0.125 }).total() as f64;
        let ratio = m / d;
        assert!(ratio > 0.5 && ratio < 0.62, "ratio {ratio}");
    }

    #[test]
    fn decode_skipped_token_costs_only_router_and_predictor() {
        let c = cfg();
        let f = decode_step_flops(&c, &[10; 8], &[true, false, true, false, true, false, true, false]);
        let skipped = &f.layers[1];
        assert_eq!(skipped.projections + skipped.attention + skipped.mlp, 0);
        assert!(skipped.router > 0 && skipped.predictor > 0);
        let d = c.d_model as u64;
        assert_eq!(f.layers[0].total(), 24 * d * d + 4 * 10 * d);
    }
}
