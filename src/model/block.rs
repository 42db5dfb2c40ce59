//! One transformer block (pre-norm attention + MLP), written once for dense and routed use.
//!
//! The block computes `f(X̃)` for whichever tokens it is given; routing (which tokens, and the
//! router weight that scales `f`) lives in `routing.rs`. A dense block is a routed block that
//! is given every token with weight 1.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Int, Tensor};

use super::ModelConfig;
use super::kernels;
use super::rope::Rope;
use super::routing::Router;
use crate::flops::{Term, counter};

#[derive(Module, Debug)]
pub struct Block {
    pub(crate) norm_attn: LayerNorm,
    pub(crate) qkv: Linear,
    pub(crate) out: Linear,
    pub(crate) norm_mlp: LayerNorm,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
    /// Present on routed blocks only.
    pub(crate) router: Option<Router>,
    pub(crate) index: usize,
    pub(crate) n_heads: usize,
}

/// Keys and values of the tokens a block processed, in position order: the KV cache.
#[derive(Clone, Debug)]
pub struct KeyValues {
    pub keys: Tensor<4>,
    pub values: Tensor<4>,
}

impl Block {
    pub fn new(cfg: &ModelConfig, index: usize, device: &burn::tensor::Device) -> Self {
        let d = cfg.d_model;
        Self {
            norm_attn: LayerNormConfig::new(d).init(device),
            qkv: LinearConfig::new(d, 3 * d).init(device),
            out: LinearConfig::new(d, d).init(device),
            norm_mlp: LayerNormConfig::new(d).init(device),
            up: LinearConfig::new(d, cfg.d_mlp).init(device),
            down: LinearConfig::new(cfg.d_mlp, d).init(device),
            router: cfg.is_routed(index).then(|| Router::new(cfg, device)),
            index,
            n_heads: cfg.n_heads,
        }
    }

    /// `f(X̃)`: attention among the given tokens (causal, at their true `positions`, after any
    /// cached `past` keys) plus the MLP. Returns the update to add to the residual stream, and
    /// the keys and values of all attended tokens (past and new).
    pub fn residual(
        &self,
        x: Tensor<3>,
        positions: &Tensor<2, Int>,
        rope: &Rope,
        past: Option<&KeyValues>,
    ) -> (Tensor<3>, KeyValues) {
        let [b, n, d] = x.dims();
        let (h, hd) = (self.n_heads, d / self.n_heads);
        let qkv = counted(&self.qkv, self.norm_attn.forward(x.clone()), self.index, Term::Projections);
        let heads = |i: usize| qkv.clone().narrow(2, i * d, d).reshape([b, n, h, hd]).swap_dims(1, 2);
        let q = rope.apply(heads(0), positions);
        let mut k = rope.apply(heads(1), positions);
        let mut v = heads(2);
        if let Some(past) = past {
            k = Tensor::cat(vec![past.keys.clone(), k], 2);
            v = Tensor::cat(vec![past.values.clone(), v], 2);
        }
        let keys = k.dims()[2];
        counter::record(Some(self.index), Term::Attention, 4 * (b * n * keys * d) as u64);
        // Causal from the bottom-right corner: new token i sits at key index (keys - n + i) and
        // sees every key up to itself. On plain CPU tensors the kernel scores only those keys;
        // elsewhere burn's fused op (autodiff falls back to the same maths in separate ops).
        let attended = kernels::causal_attention(&q, &k, &v).unwrap_or_else(|| {
            let causal = AttentionModuleOptions { scale: None, softcap: None, is_causal: true };
            attention(q, k.clone(), v.clone(), None, None, causal).swap_dims(1, 2).reshape([b, n, d])
        });
        let a = counted(&self.out, attended, self.index, Term::Projections);

        let hidden = x + a.clone();
        let up = counted(&self.up, self.norm_mlp.forward(hidden), self.index, Term::Mlp);
        let m = counted(&self.down, kernels::gelu(&up).unwrap_or_else(|| gelu(up)), self.index, Term::Mlp);
        (a + m, KeyValues { keys: k, values: v })
    }
}

/// A linear layer whose matrix product is recorded as `term` of `layer`.
pub(crate) fn counted(linear: &Linear, x: Tensor<3>, layer: usize, term: Term) -> Tensor<3> {
    let [b, n, _] = x.dims();
    let [d_in, d_out] = linear.weight.dims();
    counter::record(Some(layer), term, 2 * (b * n * d_in * d_out) as u64);
    self::linear(linear, x)
}

/// `linear.forward(x)`, by [`kernels::linear`] where it applies.
pub(crate) fn linear(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    let bias = linear.bias.as_ref().map(|b| b.val());
    kernels::linear(&x, &linear.weight.val(), bias.as_ref()).unwrap_or_else(|| linear.forward(x))
}
