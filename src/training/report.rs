//! The model card's numbers: held-out losses, routing statistics, FLOPs, samples, and the
//! loss-against-training-FLOPs plot. Everything is measured here; nothing is typed in by hand.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use super::corpus::Corpus;
use super::evaluate::{Evaluation, evaluate, windows};
use crate::flops::{Routing, forward_flops};
use crate::model::{Model, RoutingMode, load_weights};
use crate::runtime::backend;
use crate::runtime::generate::Generator;
use crate::runtime::sample::Rng;
use crate::tokenizer::Tokenizer;

/// Windows in the fixed held-out slice that the test suite re-checks (kept small so tests are fast).
pub const CHECK_WINDOWS: usize = 8;
/// Windows in the larger evaluation the card reports.
pub const REPORT_WINDOWS: usize = 128;

#[derive(Serialize)]
struct ModelReport {
    config: crate::model::ModelConfig,
    parameters: usize,
    weights_bytes: u64,
    training_flops: f64,
    training_steps: usize,
    forward_flops_256: u64,
    /// Validation loss on the first CHECK_WINDOWS windows, in the mode the card names.
    check_slice_loss: f64,
    validation_topk: Evaluation,
    validation_causal: Evaluation,
    samples: Vec<String>,
}

#[derive(Serialize)]
struct Report {
    tokenizer_vocab: usize,
    validation_tokens: usize,
    models: BTreeMap<String, ModelReport>,
    /// MoD routed layers: for each token class, the fraction of its tokens processed (top-k).
    processed_by_token_class: BTreeMap<String, f64>,
    /// Tokens processed most often by routed blocks (at least 30 occurrences), with their rate.
    most_processed_tokens: Vec<(String, f64)>,
    least_processed_tokens: Vec<(String, f64)>,
    /// Correlation of a token's depth with its next-token entropy, over the held-out slice.
    depth_entropy_correlation: Option<f64>,
}

const PROMPTS: [&str; 3] = [
    "It is a truth universally acknowledged, that",
    "\"My dear Mr. Bennet,\" said his lady to him one day,",
    "Anne had",
];

fn class_of(text: &str) -> &'static str {
    let trimmed = text.trim_start_matches(' ');
    if text.contains('\n') {
        "newline"
    } else if trimmed.chars().all(|c| c.is_ascii_punctuation()) && !trimmed.is_empty() {
        "punctuation"
    } else if text.starts_with(' ') && trimmed.chars().next().is_some_and(char::is_uppercase) {
        "capitalised word start"
    } else if text.starts_with(' ') {
        "word start"
    } else {
        "word continuation"
    }
}

fn read_log(path: &Path) -> Result<Vec<(f64, f64)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split(',').collect();
            Some((cols.get(2)?.parse().ok()?, cols.get(4)?.parse().ok()?))
        })
        .collect())
}

fn plot(curves: &[(&str, Vec<(f64, f64)>)], path: &Path) -> Result<(), String> {
    let max_x = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.0)).fold(1.0, f64::max);
    let ys: Vec<f64> = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.1)).collect();
    let (min_y, max_y) = (ys.iter().copied().fold(f64::MAX, f64::min), ys.iter().copied().fold(f64::MIN, f64::max));
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Validation loss against training FLOPs", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..max_x * 1.02, (min_y - 0.05)..(max_y.min(min_y + 3.0) + 0.05))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("training FLOPs")
        .y_desc("validation loss (nats/token)")
        .x_label_formatter(&|x| format!("{x:.1e}"))
        .draw()
        .map_err(|e| e.to_string())?;
    // Blue and orange: distinguishable with the common colour-vision deficiencies.
    for ((name, curve), colour) in curves.iter().zip([RGBColor(0, 114, 178), RGBColor(230, 159, 0)]) {
        chart
            .draw_series(LineSeries::new(curve.iter().copied(), colour.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn samples(model: &Model, tok: &Tokenizer) -> Result<Vec<String>, String> {
    let device = backend::cpu();
    PROMPTS
        .iter()
        .map(|prompt| {
            let mut generator = pollster::block_on(Generator::new(model, &tok.encode(prompt), &device)).map_err(|e| e.to_string())?;
            let mut rng = Rng::new(7);
            let mut out = Vec::new();
            while out.len() < 60 {
                match pollster::block_on(generator.next(0.8, 40, &mut rng)).map_err(|e| e.to_string())? {
                    Some((t, _)) => out.push(t),
                    None => break,
                }
            }
            Ok(format!("{prompt}{}", tok.decode(&out)))
        })
        .collect()
}

/// Loads `runs/{mod,dense}/model.safetensors`, measures everything, writes `out/report.json` and
/// `out/loss_vs_flops.svg`.
pub fn write(tok: &Tokenizer, corpus: &Corpus, runs: &Path, out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let device = backend::cpu();
    let val_ids = tok.encode(&corpus.validation);
    let mut models = BTreeMap::new();
    let mut curves = Vec::new();
    let mut class_rates = BTreeMap::new();
    let (mut most, mut least) = (Vec::new(), Vec::new());
    let mut correlation = None;
    for name in ["mod", "dense"] {
        let path = runs.join(name).join("model.safetensors");
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let model = load_weights(&bytes, &device).map_err(|e| e.to_string())?;
        let cfg = model.config().clone();
        let report_windows = windows(&val_ids, cfg.context, REPORT_WINDOWS);
        let topk = RoutingMode::TopK { capacity: cfg.capacity };
        let validation_topk = evaluate(&model, &report_windows, 8, topk, &device).map_err(|e| e.to_string())?;
        let validation_causal = evaluate(&model, &report_windows, 8, RoutingMode::Causal, &device).map_err(|e| e.to_string())?;
        let check = evaluate(&model, &report_windows[..CHECK_WINDOWS], 8, topk, &device).map_err(|e| e.to_string())?;
        let log = read_log(&runs.join(name).join("log.csv"))?;
        let progress: serde_json::Value = serde_json::from_slice(
            &std::fs::read(runs.join(name).join("checkpoint/progress.json")).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        if name == "mod" {
            let stats = routing_statistics(&model, tok, &report_windows[..32], &device)?;
            (class_rates, most, least, correlation) = stats;
        }
        curves.push((if name == "mod" { "MoD (12.5%, every other block)" } else { "dense baseline" }, log));
        models.insert(
            name.to_string(),
            ModelReport {
                parameters: parameter_count(&cfg),
                weights_bytes: bytes.len() as u64,
                training_flops: progress["training_flops"].as_f64().unwrap_or(0.0),
                training_steps: progress["step"].as_u64().unwrap_or(0) as usize,
                forward_flops_256: forward_flops(&cfg, cfg.context, &Routing::TopK { capacity: cfg.capacity }).total(),
                check_slice_loss: check.loss,
                validation_topk,
                validation_causal,
                samples: samples(&model, tok)?,
                config: cfg,
            },
        );
    }
    plot(&curves, &out.join("loss_vs_flops.svg"))?;
    let report = Report {
        tokenizer_vocab: tok.vocab_size(),
        validation_tokens: val_ids.len(),
        models,
        processed_by_token_class: class_rates,
        most_processed_tokens: most,
        least_processed_tokens: least,
        depth_entropy_correlation: correlation,
    };
    std::fs::write(out.join("report.json"), serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    Ok(())
}

fn parameter_count(cfg: &crate::model::ModelConfig) -> usize {
    let (d, h, v, p) = (cfg.d_model, cfg.d_mlp, cfg.vocab_size, cfg.predictor_width);
    let block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * h + h) + (h * d + d);
    let router = d + (d * p + p) + (p + 1);
    v * d + cfg.n_layers * block + cfg.routed_layers.len() * router + 2 * d + d * v
}

type Stats = (BTreeMap<String, f64>, Vec<(String, f64)>, Vec<(String, f64)>, Option<f64>);

/// Which tokens the routed blocks pick (top-k), and whether depth tracks next-token entropy.
fn routing_statistics(model: &Model, tok: &Tokenizer, slice: &[Vec<u32>], device: &burn::tensor::Device) -> Result<Stats, String> {
    let mut by_class: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut by_token: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
    let (mut depths, mut entropies) = (Vec::new(), Vec::new());
    for w in slice {
        let tokens = &w[..w.len() - 1];
        let a = pollster::block_on(crate::runtime::session::analyse(
            model,
            tokens,
            RoutingMode::TopK { capacity: model.config().capacity },
            device,
        ))
        .map_err(|e| e.to_string())?;
        for l in a.trace.layers.iter().filter(|l| l.routed) {
            for (i, &t) in tokens.iter().enumerate() {
                let hit = f64::from(u8::from(l.processed[i]));
                let c = by_class.entry(class_of(&tok.token_text(t)).to_string()).or_default();
                c.0 += hit;
                c.1 += 1.0;
                let e = by_token.entry(t).or_default();
                e.0 += hit;
                e.1 += 1.0;
            }
        }
        depths.extend(a.trace.depth().iter().map(|&d| d as f64));
        entropies.extend(a.entropy.iter().map(|&e| e as f64));
    }
    let rates: BTreeMap<String, f64> = by_class.into_iter().map(|(k, (h, n))| (k, h / n)).collect();
    let mut tokens: Vec<(String, f64)> = by_token
        .into_iter()
        .filter(|(_, (_, n))| *n >= 30.0 * 4.0)
        .map(|(t, (h, n))| (tok.token_text(t), h / n))
        .collect();
    tokens.sort_by(|a, b| b.1.total_cmp(&a.1));
    let most = tokens.iter().take(12).cloned().collect();
    let least = tokens.iter().rev().take(12).cloned().collect();
    Ok((rates, most, least, crate::runtime::session::correlation(&depths, &entropies)))
}
