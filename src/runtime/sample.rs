//! Next-token sampling: temperature and top-k over logits read back to the host.

/// A small deterministic generator (xorshift64*), so a seed reproduces a generation anywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks a token: greedy when `temperature` is 0, else from the `top_k` most likely (0 = all).
pub fn sample(logits: &[f32], temperature: f32, top_k: usize, rng: &mut Rng) -> u32 {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if temperature <= 0.0 || order.len() <= 1 {
        return order.first().map_or(0, |&i| i as u32);
    }
    let keep = if top_k == 0 { order.len() } else { top_k.min(order.len()) };
    let best = logits[order[0]];
    let weights: Vec<f64> = order[..keep].iter().map(|&i| (((logits[i] - best) / temperature) as f64).exp()).collect();
    let mut target = rng.next_f64() * weights.iter().sum::<f64>();
    for (w, &i) in weights.iter().zip(&order) {
        target -= w;
        if target < 0.0 {
            return i as u32;
        }
    }
    order[keep - 1] as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_largest_and_top_one_is_greedy() {
        let logits = [0.1, 3.0, -1.0, 2.9];
        let mut rng = Rng::new(1);
        assert_eq!(sample(&logits, 0.0, 0, &mut rng), 1);
        assert_eq!(sample(&logits, 1.0, 1, &mut rng), 1);
    }

    #[test]
    fn top_k_never_leaves_the_top_k() {
        let logits = [0.0, 5.0, 4.0, -3.0, 1.0];
        let mut rng = Rng::new(7);
        for _ in 0..200 {
            assert!([1, 2].contains(&sample(&logits, 5.0, 2, &mut rng)));
        }
    }
}
