//! The 8-bit weight files the page downloads (`*.q8.safetensors`, written by
//! [`crate::model::quantize_int8`] from the shipped f16 files) and how far their model is from the
//! f16 one on the whole held-out book: routing decisions, predictor decisions, next-token top-1 and
//! top-5, and loss. The page ships them only because these stay (near) identical.

use std::path::Path;

use burn::tensor::{Int, Tensor};
use serde::Serialize;

use super::evaluate::{batch_tensors, cross_entropy, windows};
use crate::model::{Model, RoutingMode, TraceTensors, load_weights, quantize_int8};
use crate::runtime::backend;

/// One model's f16 file against its 8-bit file.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub model: String,
    pub f16_bytes: usize,
    pub int8_bytes: usize,
    pub tokens: usize,
    /// Routed-block decisions (token × routed layer) that are the same, top-k routing.
    pub topk_decisions_same: Option<f64>,
    /// The same with the causal predictor deciding.
    pub predictor_decisions_same: Option<f64>,
    /// Positions whose most likely next token is the same.
    pub top1_same: f64,
    /// Positions whose five most likely next tokens are the same set.
    pub top5_same: f64,
    /// Positions whose five most likely next tokens share at least four (a swap at the edge).
    pub top5_share_four: f64,
    pub f16_loss: f64,
    pub int8_loss: f64,
}

/// Agreement counters: (same, total).
#[derive(Default)]
struct Tally(usize, usize);

impl Tally {
    fn count(&mut self, same: bool) {
        self.0 += usize::from(same);
        self.1 += 1;
    }
    fn fraction(&self) -> Option<f64> {
        (self.1 > 0).then(|| self.0 as f64 / self.1 as f64)
    }
}

/// Writes `<name>.q8.safetensors` beside each shipped f16 file and compares the two models on
/// `heldout` (token ids of the held-out book).
pub fn quantize_and_compare(models: &Path, heldout: &[u32]) -> Result<Vec<Comparison>, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let device = backend::cpu();
    let mut comparisons = Vec::new();
    for name in ["mod", "dense"] {
        let path = models.join(format!("{name}.safetensors"));
        let f16_file = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let int8_file = quantize_int8(&f16_file).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(models.join(format!("{name}.q8.safetensors")), &int8_file).map_err(|e| err(&e))?;
        let full = load_weights(&f16_file, &device).map_err(|e| err(&e))?;
        let small = load_weights(&int8_file, &device).map_err(|e| err(&e))?;
        let book = windows(heldout, full.config().context, usize::MAX);
        let mut c = compare(&full, &small, &book)?;
        c.model = name.into();
        c.f16_bytes = f16_file.len();
        c.int8_bytes = int8_file.len();
        comparisons.push(c);
    }
    Ok(comparisons)
}

/// Runs both models over `book` and counts what stays the same (`model` and sizes left empty).
pub fn compare(full: &Model, small: &Model, book: &[Vec<u32>]) -> Result<Comparison, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let device = backend::cpu();
    let topk = RoutingMode::TopK { capacity: full.config().capacity };
    let routed = !full.config().is_dense();
    let (mut decisions, mut predicted) = (Tally::default(), Tally::default());
    let (mut top1, mut top5, mut top5_four) = (Tally::default(), Tally::default(), Tally::default());
    let (mut full_loss, mut small_loss) = (0.0, 0.0);
    for chunk in book.chunks(16) {
        let (input, target) = batch_tensors(chunk, &device);
        let run = |model: &Model, mode| pollster::block_on(model.forward(input.clone(), mode)).map_err(|e| err(&e));
        let (a, b) = (run(full, topk)?, run(small, topk)?);
        let ranked = |logits: Tensor<3>| -> Result<Vec<i64>, String> {
            let (_, ids): (Tensor<3>, Tensor<3, Int>) = logits.topk_with_indices(5, 2);
            ids.into_data().convert::<i64>().try_to_vec::<i64>().map_err(|e| format!("{e:?}"))
        };
        let (ra, rb) = (ranked(a.logits.clone())?, ranked(b.logits.clone())?);
        for (x, y) in ra.chunks(5).zip(rb.chunks(5)) {
            top1.count(x[0] == y[0]);
            let (mut x, mut y) = (x.to_vec(), y.to_vec());
            x.sort_unstable();
            y.sort_unstable();
            top5.count(x == y);
            top5_four.count(x.iter().filter(|t| y.contains(t)).count() >= 4);
        }
        full_loss += cross_entropy(a.logits, target.clone()).into_scalar::<f32>() as f64 * chunk.len() as f64;
        small_loss += cross_entropy(b.logits, target).into_scalar::<f32>() as f64 * chunk.len() as f64;
        let same_decisions = |tally: &mut Tally, a: TraceTensors, b: TraceTensors| -> Result<(), String> {
            let (a, b) = (pollster::block_on(a.read()).map_err(|e| err(&e))?, pollster::block_on(b.read()).map_err(|e| err(&e))?);
            for (ta, tb) in a.iter().zip(&b) {
                for (la, lb) in ta.layers.iter().zip(&tb.layers).filter(|(l, _)| l.routed) {
                    la.processed.iter().zip(&lb.processed).for_each(|(x, y)| tally.count(x == y));
                }
            }
            Ok(())
        };
        same_decisions(&mut decisions, a.trace, b.trace)?;
        if routed {
            let (a, b) = (run(full, RoutingMode::Causal)?, run(small, RoutingMode::Causal)?);
            same_decisions(&mut predicted, a.trace, b.trace)?;
        }
    }
    Ok(Comparison {
        model: String::new(),
        f16_bytes: 0,
        int8_bytes: 0,
        tokens: top1.1,
        topk_decisions_same: decisions.fraction(),
        predictor_decisions_same: predicted.fraction(),
        top1_same: top1.fraction().unwrap_or(0.0),
        top5_same: top5.fraction().unwrap_or(0.0),
        top5_share_four: top5_four.fraction().unwrap_or(0.0),
        f16_loss: full_loss / book.len() as f64,
        int8_loss: small_loss / book.len() as f64,
    })
}
