//! Rotary position embeddings, applied at each token's *true* position (a gathered token keeps
//! the position it had in the sequence, not its slot among the chosen).

use burn::tensor::{Device, Int, Tensor, TensorData};

pub struct Rope {
    cos: Tensor<2>,
    sin: Tensor<2>,
    half: usize,
}

impl Rope {
    pub fn new(context: usize, head_dim: usize, device: &Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(context * half);
        let mut sin = Vec::with_capacity(context * half);
        for pos in 0..context {
            for i in 0..half {
                let freq = 10_000f64.powf(-((2 * i) as f64) / head_dim as f64);
                let angle = pos as f64 * freq;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        Self {
            cos: Tensor::from_data(TensorData::new(cos, [context, half]), device),
            sin: Tensor::from_data(TensorData::new(sin, [context, half]), device),
            half,
        }
    }

    /// Rotates `x` [B, H, n, head_dim] by the positions [B, n] of its tokens.
    pub fn apply(&self, x: Tensor<4>, positions: &Tensor<2, Int>) -> Tensor<4> {
        let [b, _h, n, _] = x.dims();
        let flat = positions.clone().reshape([b * n]);
        let cos = self.cos.clone().select(0, flat.clone()).reshape([b, 1, n, self.half]);
        let sin = self.sin.clone().select(0, flat).reshape([b, 1, n, self.half]);
        let x1 = x.clone().narrow(3, 0, self.half);
        let x2 = x.narrow(3, self.half, self.half);
        Tensor::cat(
            vec![
                x1.clone() * cos.clone() - x2.clone() * sin.clone(),
                x1 * sin + x2 * cos,
            ],
            3,
        )
    }
}
