//! Hand-written CPU kernels for the forward pass on plain (non-autodiff) Flex tensors: the
//! browser's CPU path and the CLI. Training (autodiff) and WebGPU keep burn's operations, so the
//! maths is still written once in `block.rs`; each kernel here is a faster way to compute the
//! same op and returns `None` when its inputs are not plain f32 Flex tensors (or, for the matrix
//! product, outside wasm, where gemm's AVX2/FMA kernels win).
//!
//! Why (profiles in BENCHMARKS.md): burn's CPU attention scores the whole square and
//! exponentiates the masked half with libm's scalar `expf`; GELU's `erff` does not vectorise;
//! gemm packs both operands on every call, while a model's weights can be packed once. The
//! matrix products share one 4 × 8 micro-kernel over [`F32x4`] lanes (SIMD128 in the browser,
//! with fused multiply-adds in the relaxed-SIMD build); the element-wise kernels are plain loops
//! LLVM vectorises. Either way the native tests run the code the page runs.

use std::cell::RefCell;
use std::rc::Rc;

use burn::backend::flex::{Flex, FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Shape, Tensor};

use lanes::F32x4;

/// Columns of the output one micro-kernel call computes (two SIMD128 vectors).
const NR: usize = 8;
/// Rows of the output one micro-kernel call computes: 4 × 8 accumulators stay in registers.
const MR: usize = 4;

/// Four f32 lanes, the unit of the micro-kernel: a SIMD128 vector in wasm, an array elsewhere
/// (which LLVM turns into SSE), so the native tests run the same kernel code the page runs.
#[cfg(target_arch = "wasm32")]
mod lanes {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct F32x4(v128);

    impl F32x4 {
        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            Self(f32x4_splat(x))
        }
        #[inline(always)]
        pub fn load(xs: &[f32]) -> Self {
            let xs: &[f32; 4] = xs[..4].try_into().expect("four lanes");
            // SAFETY: `xs` is four readable f32s; v128_load has no alignment requirement.
            Self(unsafe { v128_load(xs.as_ptr().cast()) })
        }
        #[inline(always)]
        pub fn store(self, out: &mut [f32]) {
            let out: &mut [f32; 4] = (&mut out[..4]).try_into().expect("four lanes");
            // SAFETY: `out` is four writable f32s; v128_store has no alignment requirement.
            unsafe { v128_store(out.as_mut_ptr().cast(), self.0) }
        }
        /// `self + a·b`: one fused multiply-add in the relaxed-SIMD build (the functions that
        /// inline it enable the feature), a multiply and an add otherwise.
        #[inline(always)]
        pub fn mul_add(self, a: Self, b: Self) -> Self {
            #[cfg(feature = "relaxed-simd")]
            return Self(f32x4_relaxed_madd(a.0, b.0, self.0));
            #[cfg(not(feature = "relaxed-simd"))]
            Self(f32x4_add(self.0, f32x4_mul(a.0, b.0)))
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod lanes {
    #[derive(Clone, Copy)]
    pub struct F32x4([f32; 4]);

    impl F32x4 {
        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            Self([x; 4])
        }
        #[inline(always)]
        pub fn load(xs: &[f32]) -> Self {
            Self(xs[..4].try_into().expect("four lanes"))
        }
        #[inline(always)]
        pub fn store(self, out: &mut [f32]) {
            out[..4].copy_from_slice(&self.0);
        }
        #[inline(always)]
        pub fn mul_add(self, a: Self, b: Self) -> Self {
            Self(std::array::from_fn(|i| self.0[i] + a.0[i] * b.0[i]))
        }
    }
}

/// The f32 Flex primitive behind `t`, if that is what it is (not autodiff, not a GPU tensor).
fn flex<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    let p = t.clone().try_into_primitive::<Flex>().ok()?;
    (p.dtype() == DType::F32).then_some(p)
}

/// The values of a Flex tensor in row-major order (copied only when it is a strided view).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    let n = t.layout().num_elements();
    match t.layout().contiguous_offsets() {
        Some((start, end)) if t.is_contiguous() && end - start == n => std::borrow::Cow::Borrowed(&t.storage::<f32>()[start..end]),
        _ => {
            let c = t.to_contiguous();
            let (start, end) = c.layout().contiguous_offsets().expect("to_contiguous is contiguous");
            std::borrow::Cow::Owned(c.storage::<f32>()[start..end].to_vec())
        }
    }
}

fn tensor<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
    let primitive = FlexTensor::new(Bytes::from_elems(data), Layout::contiguous(Shape::new(shape)), DType::F32);
    Tensor::from_primitive::<Flex>(primitive)
}

/// `x · W + b` for `x` [B, T, d_in] and `W` [d_in, d_out] (burn's `Linear` layout), in wasm.
/// Measured there (BENCHMARKS.md), with `W` packed once and cached: faster than burn's gemm at
/// every size the page runs, which packs both operands on every call. Natively gemm picks
/// AVX2/FMA kernels at run time, which these 4-wide loops do not beat.
pub fn linear(x: &Tensor<3>, weight: &Tensor<2>, bias: Option<&Tensor<1>>) -> Option<Tensor<3>> {
    if !cfg!(target_arch = "wasm32") {
        return None;
    }
    packed_linear(x, weight, bias)
}

fn packed_linear(x: &Tensor<3>, weight: &Tensor<2>, bias: Option<&Tensor<1>>) -> Option<Tensor<3>> {
    let (xp, wp) = (flex(x)?, flex(weight)?);
    let bias = match bias {
        Some(b) => Some(flex(b)?),
        None => None,
    };
    let [b, t, k] = x.dims();
    let [k_w, n] = weight.dims();
    if k != k_w {
        return None;
    }
    let bias_values = bias.as_ref().map(values);
    let out = matmul(&values(&xp), &packed_weight(&wp, k, n), bias_values.as_deref(), b * t, k, n);
    Some(tensor(out, [b, t, n]))
}

thread_local! {
    /// Weights packed by [`pack_columns`], each beside a clone of the tensor it was packed from.
    /// The clone shares, and so pins, that tensor's storage: while it is cached nothing can write
    /// the storage in place (Flex copies on write when storage is shared) or reuse its address,
    /// so the same storage address and layout mean the same values.
    static PACKED_WEIGHTS: RefCell<Vec<(FlexTensor, Rc<[f32]>)>> = const { RefCell::new(Vec::new()) };
}

/// `w` [k, n] packed for [`micro`], packed on first use and cached while its tensor lives.
fn packed_weight(w: &FlexTensor, k: usize, n: usize) -> Rc<[f32]> {
    PACKED_WEIGHTS.with_borrow_mut(|cache| {
        // Entries only the cache still holds belong to a dropped model (or a replaced weight).
        cache.retain(|(t, _)| !t.is_unique());
        let same = |t: &FlexTensor| t.storage::<f32>().as_ptr() == w.storage::<f32>().as_ptr() && t.layout() == w.layout();
        if let Some((_, packed)) = cache.iter().find(|(t, _)| same(t)) {
            return packed.clone();
        }
        let packed: Rc<[f32]> = pack_columns(&values(w), k, n).into();
        cache.push((w.clone(), packed.clone()));
        packed
    })
}

/// `b` [k, n] row-major as panels of `NR` columns, each `[k][NR]` (zero-padded on the right):
/// the micro-kernel then reads one contiguous run per step.
fn pack_columns(b: &[f32], k: usize, n: usize) -> Vec<f32> {
    let panels = n.div_ceil(NR);
    let mut packed = vec![0f32; panels * k * NR];
    for (kk, row) in b.chunks_exact(n).enumerate() {
        for (p, cols) in row.chunks(NR).enumerate() {
            let at = p * k * NR + kk * NR;
            packed[at..at + cols.len()].copy_from_slice(cols);
        }
    }
    packed
}

/// `a` [m, k] · `b` (packed by [`pack_columns`], n columns) + `bias`, row-major [m, n].
#[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
fn matmul(a: &[f32], packed: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
    let rows: Vec<&[f32]> = a.chunks_exact(k.max(1)).take(m).collect();
    // Panel by panel: one panel ([k][NR], at most 20 KB here) stays in L1 while every row passes.
    for (p, panel) in packed.chunks_exact(k * NR).enumerate() {
        let col = p * NR;
        let cols = NR.min(n - col);
        let mut init = [0f32; NR];
        if let Some(bias) = bias {
            init[..cols].copy_from_slice(&bias[col..col + cols]);
        }
        row_blocks(&rows, panel, k, init, |i, acc| out[i * n + col..][..cols].copy_from_slice(&acc[..cols]));
    }
    out
}

/// Every row of `rows` times one packed panel, `MR` rows per [`micro`] call and the last few one
/// at a time; `store(i, acc)` receives row `i`'s `NR` results.
#[inline(always)]
fn row_blocks(rows: &[&[f32]], panel: &[f32], k: usize, init: [f32; NR], mut store: impl FnMut(usize, &[f32; NR])) {
    let mut blocks = rows.chunks_exact(MR);
    for (block, block_rows) in blocks.by_ref().enumerate() {
        let acc = micro::<MR>(block_rows.try_into().expect("MR rows"), panel, k, init);
        acc.iter().enumerate().for_each(|(r, acc)| store(block * MR + r, acc));
    }
    let done = rows.len() - blocks.remainder().len();
    for (r, row) in blocks.remainder().iter().enumerate() {
        let [acc] = micro::<1>(&[row], panel, k, init);
        store(done + r, &acc);
    }
}

/// `R` rows of `A` (the first `k` values of each) times one packed panel `[k][NR]`, plus `init`.
#[inline(always)]
fn micro<const R: usize>(rows: &[&[f32]; R], panel: &[f32], k: usize, init: [f32; NR]) -> [[f32; NR]; R] {
    let mut acc = [[F32x4::load(&init[..4]), F32x4::load(&init[4..])]; R];
    let rows: [&[f32]; R] = std::array::from_fn(|r| &rows[r][..k]);
    for (kk, b) in panel[..k * NR].chunks_exact(NR).enumerate() {
        let (b0, b1) = (F32x4::load(&b[..4]), F32x4::load(&b[4..]));
        for r in 0..R {
            let a = F32x4::splat(rows[r][kk]);
            acc[r] = [acc[r][0].mul_add(a, b0), acc[r][1].mul_add(a, b1)];
        }
    }
    acc.map(|[lo, hi]| {
        let mut out = [0f32; NR];
        lo.store(&mut out[..4]);
        hi.store(&mut out[4..]);
        out
    })
}

/// Causal attention, `softmax(q·kᵀ/√d)·v`, for `q` [B, H, n, d] and `k`, `v` [B, H, keys, d]
/// with `keys ≥ n`: new query `i` sits at key index `keys − n + i` and sees every key up to
/// itself (the bottom-right convention of burn's `is_causal`). Only those keys are scored, so
/// the masked half of the square costs nothing. Returns [B, n, H·d]: each token's heads side by
/// side, as the output projection reads them.
#[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
pub fn causal_attention(q: &Tensor<4>, k: &Tensor<4>, v: &Tensor<4>) -> Option<Tensor<3>> {
    let (qp, kp, vp) = (flex(q)?, flex(k)?, flex(v)?);
    let [b, h, n, d] = q.dims();
    let keys = k.dims()[2];
    if k.dims() != [b, h, keys, d] || v.dims() != [b, h, keys, d] || keys < n || d == 0 {
        return None;
    }
    let (q, k, v) = (values(&qp), values(&kp), values(&vp));
    let scale = 1.0 / (d as f32).sqrt();
    let mut out = vec![0f32; b * n * h * d];
    let mut scores = vec![0f32; MR * keys.next_multiple_of(NR)];
    for head in 0..b * h {
        // Row i of this head's output goes to token i's slot for head `head % h` in [B, n, H·d].
        let (batch, head_in_batch) = (head / h, head % h);
        let q = &q[head * n * d..][..n * d];
        let k = &k[head * keys * d..][..keys * d];
        let v = &v[head * keys * d..][..keys * d];
        let scaled: Vec<f32> = q.iter().map(|x| x * scale).collect();
        let q_rows: Vec<&[f32]> = scaled.chunks_exact(d).collect();
        let k_panels = pack_rows_as_columns(k, keys, d);
        let v_panels = pack_columns(v, keys, d);
        let out = &mut out[batch * n * h * d..][..n * h * d];
        let mut i = 0;
        while i < n {
            let rows = if i + MR <= n { MR } else { 1 };
            // Keys visible to the last query of this block; the earlier ones see fewer.
            let visible = keys - n + i + rows;
            let stride = visible.next_multiple_of(NR);
            for p in 0..visible.div_ceil(NR) {
                let panel = &k_panels[p * d * NR..][..d * NR];
                row_blocks(&q_rows[i..i + rows], panel, d, [0.0; NR], |r, acc| scores[r * stride + p * NR..][..NR].copy_from_slice(acc));
            }
            for r in 0..rows {
                let row = &mut scores[r * stride..][..stride];
                let sees = keys - n + i + r + 1;
                softmax_in_place(&mut row[..sees]);
                row[sees..].fill(0.0);
            }
            let p_rows: Vec<&[f32]> = scores.chunks_exact(stride).take(rows).collect();
            for p in 0..d.div_ceil(NR) {
                let panel = &v_panels[p * keys * NR..][..keys * NR];
                let col = p * NR;
                let cols = NR.min(d - col);
                row_blocks(&p_rows, panel, visible, [0.0; NR], |r, acc| {
                    out[((i + r) * h + head_in_batch) * d + col..][..cols].copy_from_slice(&acc[..cols]);
                });
            }
            i += rows;
        }
    }
    Some(tensor(out, [b, n, h * d]))
}

/// `m` [rows, d] packed as the columns of its transpose ([d, rows]), for `q · mᵀ`.
fn pack_rows_as_columns(m: &[f32], rows: usize, d: usize) -> Vec<f32> {
    let panels = rows.div_ceil(NR);
    let mut packed = vec![0f32; panels * d * NR];
    for (j, row) in m.chunks_exact(d).enumerate() {
        let (p, jj) = (j / NR, j % NR);
        for (dd, &x) in row.iter().enumerate() {
            packed[p * d * NR + dd * NR + jj] = x;
        }
    }
    packed
}

/// Softmax of a row, in place, with the vectorised [`exp`].
fn softmax_in_place(row: &mut [f32]) {
    let max = lanes(row, f32::NEG_INFINITY, f32::max);
    row.iter_mut().for_each(|x| *x = exp(*x - max));
    let inv = 1.0 / lanes(row, 0.0, |a, b| a + b);
    row.iter_mut().for_each(|x| *x *= inv);
}

/// Folds a slice with `op` in `NR` independent lanes, then folds the lanes: without fast-math
/// LLVM will not reorder a float reduction, so a plain fold would run one element at a time.
#[inline(always)]
fn lanes(xs: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; NR];
    let chunks = xs.chunks_exact(NR);
    let tail = chunks.remainder().iter().fold(init, |a, &x| op(a, x));
    for chunk in chunks {
        for j in 0..NR {
            acc[j] = op(acc[j], chunk[j]);
        }
    }
    acc.iter().fold(tail, |a, &x| op(a, x))
}

/// GELU, `x · Φ(x)` with the exact (erf) form burn uses.
pub fn gelu(x: &Tensor<3>) -> Option<Tensor<3>> {
    let p = flex(x)?;
    let out = values(&p).iter().map(|&x| 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))).collect();
    Some(tensor(out, x.dims()))
}

/// For each row of `logits` [rows, vocab]: the entropy of its softmax and `log Z` (its
/// log-normaliser), from one pass of exponentials.
pub fn entropy_and_log_normaliser(logits: &[f32], vocab: usize) -> (Vec<f32>, Vec<f32>) {
    let mut shifted = vec![0f32; vocab];
    let mut exps = vec![0f32; vocab];
    logits
        .chunks_exact(vocab)
        .map(|row| {
            // With s = x − max and Z = Σ eˢ: log p = s − log Z, so the entropy −Σ p·log p is
            // log Z − Σ eˢ·s / Z, and the full log-normaliser is max + log Z.
            let max = lanes(row, f32::NEG_INFINITY, f32::max);
            shifted.iter_mut().zip(row).for_each(|(s, &x)| *s = x - max);
            exps.iter_mut().zip(&shifted).for_each(|(e, &s)| *e = exp(s));
            let z = lanes(&exps, 0.0, |a, b| a + b);
            exps.iter_mut().zip(&shifted).for_each(|(e, &s)| *e *= s);
            let weighted = lanes(&exps, 0.0, |a, b| a + b);
            (z.ln() - weighted / z, max + z.ln())
        })
        .unzip()
}

/// `f` of the values of `t` in row-major order, if `t` is a plain f32 Flex tensor (else `None`).
pub fn with_values<const D: usize, R>(t: &Tensor<D>, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    flex(t).map(|p| f(&values(&p)))
}

/// `e^x` for f32, branch-free so loops over it vectorise: `2^n · e^f` with `n = round(x / ln 2)`
/// and a degree-6 polynomial on `|f| ≤ ln 2 / 2` (relative error below 3e-7). NaN stays NaN;
/// below −87.5 the result is 0 (`f32::exp` gives a subnormal there) and above 88.8 it is +∞.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5·2²³: adding it rounds to the nearest integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(-87.5, 88.8);
    let n = (clamped * LOG2_E + ROUND) - ROUND;
    let f = (clamped - n * LN2_HI) - n * LN2_LO;
    let p = 1.0 + f * (1.0 + f * (0.5 + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    // 2^n in two halves so n up to 128 and down to −126 stay representable.
    let n = n as i32;
    let scale = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    let y = p * scale(n >> 1) * scale(n - (n >> 1));
    if x.is_nan() {
        x
    } else if x < -87.5 {
        0.0
    } else if x > 88.8 {
        f32::INFINITY
    } else {
        y
    }
}

/// `erf` for f32 from Abramowitz & Stegun 7.1.26 (absolute error below 5e-7 in f32, where the
/// cancellation in `1 − poly·e^(−x²)` near 0 adds to the formula's 1.5e-7) with the
/// vectorised [`exp`].
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_72 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    if x.is_nan() { x } else { y.copysign(x) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation::{gelu as burn_gelu, softmax};
    use burn::tensor::module::attention;
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::{Device, Distribution, TensorData};

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let a = a.into_data().try_to_vec::<f32>().unwrap();
        let b = b.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn linear_matches_burns_matmul() {
        let device = Device::flex();
        // Row counts around the 4-row blocks, widths around the 8-column panels, a strided input.
        for (rows, k, n) in [(1, 3, 5), (4, 8, 8), (7, 160, 481), (65, 33, 17), (256, 160, 2048)] {
            let x = Tensor::<3>::random([1, rows, k], Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<2>::random([k, n], Distribution::Normal(0.0, 1.0), &device);
            let bias = Tensor::<1>::random([n], Distribution::Normal(0.0, 1.0), &device);
            let expected = x.clone().matmul(w.clone().unsqueeze()) + bias.clone().unsqueeze();
            let got = packed_linear(&x, &w, Some(&bias)).expect("plain Flex tensors");
            assert!(max_diff(got, expected.clone()) < 1e-3 * (k as f32).sqrt(), "{rows}×{k}×{n}");
            let no_bias = packed_linear(&x, &w, None).unwrap();
            assert!(max_diff(no_bias + bias.unsqueeze(), expected) < 1e-3 * (k as f32).sqrt());
        }
        let wide = Tensor::<3>::random([1, 6, 20], Distribution::Normal(0.0, 1.0), &device);
        let strided = wide.clone().narrow(2, 4, 10);
        let w = Tensor::<2>::random([10, 9], Distribution::Normal(0.0, 1.0), &device);
        assert!(max_diff(packed_linear(&strided, &w, None).unwrap(), strided.matmul(w.unsqueeze())) < 1e-4);
    }

    #[test]
    fn packed_weights_follow_their_tensor() {
        let device = Device::flex();
        let cached = || PACKED_WEIGHTS.with_borrow(|cache| cache.len());
        let x = Tensor::<3>::random([1, 9, 16], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<2>::random([16, 24], Distribution::Normal(0.0, 1.0), &device);
        let before = cached();
        let first = packed_linear(&x, &w, None).unwrap();
        let again = packed_linear(&x, &w, None).unwrap();
        assert_eq!(cached(), before + 1, "one weight, packed once");
        assert_eq!(max_diff(first, again), 0.0);
        // New values in a new tensor (as after an optimiser step) are packed afresh, never served
        // stale; the old weight, dropped, leaves the cache on the next call.
        let updated = w.clone().mul_scalar(2.0);
        drop(w);
        let doubled = packed_linear(&x, &updated, None).unwrap();
        assert!(max_diff(doubled, x.clone().matmul(updated.clone().unsqueeze())) < 1e-4);
        assert_eq!(cached(), before + 1, "the dropped weight was evicted");
        // A view of the same storage with another layout is a different matrix.
        let transposed = updated.clone().narrow(1, 0, 16).transpose();
        let got = packed_linear(&x, &transposed, None).unwrap();
        assert!(max_diff(got, x.matmul(transposed.unsqueeze())) < 1e-4);
    }

    #[test]
    fn attention_matches_burns_causal_attention() {
        let device = Device::flex();
        let causal = AttentionModuleOptions { scale: None, softcap: None, is_causal: true };
        // Square, fewer queries than keys (a cache), one query, odd sizes, a strided view.
        for (b, h, n, keys, d) in [(1, 5, 64, 64, 32), (2, 3, 7, 7, 8), (1, 2, 5, 19, 32), (1, 1, 1, 40, 16), (1, 2, 33, 33, 12)] {
            let q = Tensor::<4>::random([b, h, n, d], Distribution::Normal(0.0, 2.0), &device);
            let k = Tensor::<4>::random([b, h, keys, d], Distribution::Normal(0.0, 2.0), &device);
            let v = Tensor::<4>::random([b, h, keys, d], Distribution::Normal(0.0, 1.0), &device);
            let expected = attention(q.clone(), k.clone(), v.clone(), None, None, causal).swap_dims(1, 2).reshape([b, n, h * d]);
            let got = causal_attention(&q, &k, &v).expect("plain Flex tensors");
            assert!(max_diff(got, expected) < 2e-5, "{b}×{h}×{n}×{keys}×{d}");
        }
        let q = Tensor::<4>::random([1, 8, 2, 32], Distribution::Normal(0.0, 1.0), &device).swap_dims(1, 2);
        let k = Tensor::<4>::random([1, 8, 2, 32], Distribution::Normal(0.0, 1.0), &device).swap_dims(1, 2);
        let expected = attention(q.clone(), k.clone(), k.clone(), None, None, causal).swap_dims(1, 2).reshape([1, 8, 2 * 32]);
        assert!(max_diff(causal_attention(&q, &k, &k).unwrap(), expected) < 2e-5);
    }

    #[test]
    fn gelu_and_statistics_match_burn() {
        let device = Device::flex();
        let x = Tensor::<3>::random([1, 50, 200], Distribution::Normal(0.0, 3.0), &device);
        assert!(max_diff(gelu(&x).unwrap(), burn_gelu(x.clone())) < 1e-6 * 10.0);
        let logits = x.clone().mul_scalar(4.0);
        let (entropy, log_z) = with_values(&logits, |v| entropy_and_log_normaliser(v, 200)).unwrap();
        let p = softmax(logits.clone(), 2);
        let expected_entropy = (p.clone().log() * p).sum_dim(2).neg().reshape([50]);
        let expected_log_z = logits.clone().exp().sum_dim(2).log().reshape([50]);
        assert!(max_diff(tensor(entropy, [50]), expected_entropy) < 1e-4);
        assert!(max_diff(tensor(log_z, [50]), expected_log_z) < 1e-4);
    }

    #[test]
    fn exp_and_erf_match_libm() {
        for i in -40_000..=40_000 {
            let x = i as f32 * 0.0025;
            let e = exp(x * 4.0);
            let want = (x * 4.0).exp();
            let tolerance = if want >= f32::MIN_POSITIVE { 3e-7 * want } else { f32::MIN_POSITIVE };
            assert!(e == want || (e - want).abs() <= tolerance, "exp({}) = {e}, libm {want}", x * 4.0);
            assert!((erf(x) - erf_f64(x as f64) as f32).abs() < 5e-7, "erf({x}) = {}, want {}", erf(x), erf_f64(x as f64));
        }
        assert!(exp(f32::NAN).is_nan() && erf(f32::NAN).is_nan());
        assert_eq!((exp(-1e4), exp(1e4), exp(f32::NEG_INFINITY), exp(f32::INFINITY)), (0.0, f32::INFINITY, 0.0, f32::INFINITY));
        assert_eq!((erf(1e4), erf(-1e4)), (1.0, -1.0));
        // Subnormal results: e^-87 is below f32's normal range but still representable.
        assert!((exp(-87.0) - (-87.0f32).exp()).abs() <= 1e-6 * (-87.0f32).exp());
    }

    /// erf to double precision by its Taylor series (|x| ≤ 3) or the continued fraction beyond.
    fn erf_f64(x: f64) -> f64 {
        if x.abs() > 3.0 {
            let a = x.abs();
            let mut f = 0.0;
            for n in (1..60).rev() {
                f = (n as f64 / 2.0) / (a + f);
            }
            let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + f);
            return (1.0 - erfc).copysign(x);
        }
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn kernels_decline_what_they_do_not_handle() {
        let device = Device::flex();
        let x = Tensor::<3>::from_data(TensorData::new(vec![1f32; 6], [1, 2, 3]), &device);
        let w = Tensor::<2>::from_data(TensorData::new(vec![1f32; 8], [4, 2]), &device);
        assert!(packed_linear(&x, &w, None).is_none(), "mismatched inner dimensions fall back to burn");
        let q = Tensor::<4>::zeros([1, 1, 5, 4], &device);
        let k = Tensor::<4>::zeros([1, 1, 3, 4], &device);
        assert!(causal_attention(&q, &k, &k).is_none(), "fewer keys than queries");
    }
}
