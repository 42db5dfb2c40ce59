//! The model card's numbers: held-out losses on the whole held-out book, the predictor per layer,
//! which tokens each routed layer takes, FLOPs and measured time, the isoFLOP sweep with its
//! verdict, samples, and the plots. Everything is measured here; nothing is typed in by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Int, Tensor, TensorData};
use plotters::prelude::*;
use serde::Serialize;

use super::corpus::Corpus;
use super::evaluate::{Evaluation, evaluate, evaluate_with, windows};
use crate::flops::{Routing, forward_flops};
use crate::model::{Model, ModelConfig, RoutingMode, RoutingTrace, UpdateWeight, load_weights};
use crate::runtime::backend;
use crate::runtime::study::{BudgetVerdict, Study, StudyRun, verdicts};
use crate::runtime::generate::Generator;
use crate::runtime::sample::Rng;
use crate::tokenizer::{TokenClass, Tokenizer};

/// Windows in the fixed held-out slice that the test suite re-checks (kept small so tests are fast).
pub const CHECK_WINDOWS: usize = 8;
/// Windows the depth–entropy correlation is measured on (it needs a full analysis per window).
const CORRELATION_WINDOWS: usize = 32;

/// The held-out passages the depth–entropy correlation is measured on: the first
/// CORRELATION_WINDOWS windows of the held-out book, as the model's input (without the target
/// token). The page ships them (`heldout.json`) so a reader can pool them and check the number.
pub fn correlation_passages(heldout: &[u32], context: usize) -> Vec<Vec<u32>> {
    windows(heldout, context, CORRELATION_WINDOWS).into_iter().map(|w| w[..context].to_vec()).collect()
}

/// `heldout.json`, what the page pools: the passages, where they come from, and the correlation
/// the model card reports for them (the shipped f16 MoD model, top-k at its capacity).
pub fn passages_json(model: &Model, heldout: &[u32]) -> Result<String, String> {
    let context = model.config().context;
    let passages = correlation_passages(heldout, context);
    let r = depth_entropy_correlation(model, &passages, &backend::cpu())?;
    let json = serde_json::json!({
        "about": format!("The first {} windows of {context} tokens of the held-out book (Persuasion), as the model card's depth–entropy correlation reads them", passages.len()),
        "model_card_correlation": r,
        "passages": passages,
    });
    Ok(json.to_string() + "\n")
}
/// Interleaved timing runs per model for the native forward-pass time.
const TIMING_RUNS: usize = 15;

/// Where the report reads from and writes to.
pub struct Paths {
    /// The shipped weights (`mod.safetensors`, `dense.safetensors`).
    pub models: PathBuf,
    /// The shipped runs' logs and progress (`{mod,dense}-log.csv`, `-progress.json`); the sweep's
    /// logs are archived under `sweep/` here.
    pub logs: PathBuf,
    /// `scripts/isoflop_sweep.sh`'s runs: `<budget>/<run>/`.
    pub sweep: PathBuf,
    pub out: PathBuf,
}

#[derive(Serialize)]
struct ModelReport {
    config: ModelConfig,
    parameters: usize,
    weights_bytes: u64,
    training_flops: f64,
    training_steps: usize,
    training_tokens: usize,
    epochs: f64,
    /// Wall time of the training run and its speed, from the run's own log (not the probe).
    training_seconds: f64,
    training_tokens_per_second: f64,
    forward_flops_256: u64,
    /// Median wall time of one forward pass over 256 tokens on this machine's CPU (burn Flex).
    native_cpu_forward_ms_256: f64,
    /// Held-out loss on the first CHECK_WINDOWS windows (top-k): what the test suite re-checks.
    check_slice_loss: f64,
    /// The whole held-out book.
    heldout_topk: Evaluation,
    heldout_causal: Evaluation,
    samples: Vec<String>,
}

/// Which kinds of token one routed layer takes (top-k, whole held-out book).
#[derive(Serialize)]
struct LayerRouting {
    layer: usize,
    processed_by_token_class: BTreeMap<String, f64>,
    most_processed_tokens: Vec<(String, f64)>,
}

#[derive(Serialize)]
struct Report {
    tokenizer_vocab: usize,
    training_tokens: usize,
    validation_tokens: usize,
    models: BTreeMap<String, ModelReport>,
    /// Per routed layer of the shipped MoD model.
    routing_by_layer: Vec<LayerRouting>,
    /// All routed layers pooled: for each token class, the fraction of its tokens processed.
    processed_by_token_class: BTreeMap<String, f64>,
    /// Tokens processed most often by routed blocks (at least 30 occurrences), with their rate.
    most_processed_tokens: Vec<(String, f64)>,
    least_processed_tokens: Vec<(String, f64)>,
    /// Correlation of a token's depth with its next-token entropy (CORRELATION_WINDOWS windows).
    depth_entropy_correlation: Option<f64>,
    /// Its 95% interval from a bootstrap over the passages.
    depth_entropy_correlation_interval_95: Option<[f64; 2]>,
    sweep: Vec<StudyRun>,
    verdicts: Vec<BudgetVerdict>,
}

const PROMPTS: [&str; 3] = [
    "It is a truth universally acknowledged, that",
    "\"My dear Mr. Bennet,\" said his lady to him one day,",
    "Anne had",
];

/// (training FLOPs, validation loss) per logged evaluation, and the run's wall-clock time.
fn read_log(path: &Path) -> Result<(Vec<(f64, f64)>, f64), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows: Vec<Vec<f64>> =
        text.lines().skip(1).map(|l| l.split(',').map(|c| c.parse().unwrap_or(f64::NAN)).collect()).collect();
    let curve = rows.iter().filter(|r| r.len() > 4).map(|r| (r[2], r[4])).collect();
    // Each process logs seconds since it started: a resumed run's clock restarts, so its segments
    // are added up.
    let (mut seconds, mut previous) = (0.0, 0.0);
    for now in rows.iter().filter_map(|r| r.get(7).copied()) {
        if now < previous {
            seconds += previous;
        }
        previous = now;
    }
    Ok((curve, if rows.is_empty() { f64::NAN } else { seconds + previous }))
}

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    serde_json::from_slice(&std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?).map_err(|e| format!("{}: {e}", path.display()))
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
    RGBColor(0, 0, 0),
    RGBColor(153, 153, 153),
];

fn plot_training(curves: &[(String, Vec<(f64, f64)>)], path: &Path) -> Result<(), String> {
    let max_x = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.0)).fold(1.0, f64::max);
    let ys: Vec<f64> = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.1)).collect();
    let (min_y, max_y) = (ys.iter().copied().fold(f64::MAX, f64::min), ys.iter().copied().fold(f64::MIN, f64::max));
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Shipped pair: validation loss during training", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..max_x * 1.02, (min_y - 0.05)..(max_y.min(min_y + 3.0) + 0.05))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("training FLOPs")
        .y_desc("validation loss (nats/token)")
        .x_label_formatter(&|x| format!("{x:.1e}"))
        .draw()
        .map_err(err)?;
    for ((name, curve), colour) in curves.iter().zip(PALETTE) {
        chart
            .draw_series(LineSeries::new(curve.iter().copied(), colour.stroke_width(2)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(err)?;
    root.present().map_err(err)
}

fn label(cfg: &ModelConfig) -> String {
    if cfg.is_dense() {
        return format!("dense {}", cfg.d_model);
    }
    let every_other: Vec<usize> = (1..cfg.n_layers).step_by(2).collect();
    let routed = if cfg.routed_layers.len() + 1 == cfg.n_layers && !cfg.is_routed(0) {
        "all but first".to_string()
    } else if cfg.routed_layers == every_other {
        "every other".to_string()
    } else {
        format!("blocks {:?}", cfg.routed_layers)
    };
    let capacity = if cfg.capacity == 0.125 { String::new() } else { format!(", {}%", 100.0 * cfg.capacity) };
    let weight = if cfg.update_weight == UpdateWeight::Sigmoid { ", σ(r)" } else { "" };
    format!("MoD {} ({routed}{capacity}{weight})", cfg.d_model)
}

fn loss_range(runs: &[StudyRun]) -> std::ops::Range<f64> {
    let lo = runs.iter().map(|r| r.heldout_loss).fold(f64::MAX, f64::min);
    let hi = runs.iter().map(|r| r.heldout_loss).fold(f64::MIN, f64::max);
    (lo - 0.1)..(hi + 0.1)
}

/// The paper's figure 3 at this scale: held-out loss against training FLOPs, one line per model
/// family, the shipped pair marked.
fn plot_isoflop(runs: &[StudyRun], caption: &str, path: &Path) -> Result<(), String> {
    let root = SVGBackend::new(path, (760, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (x_lo, x_hi) = (
        runs.iter().map(|r| r.training_flops).fold(f64::MAX, f64::min) / 1.5,
        runs.iter().map(|r| r.training_flops).fold(f64::MIN, f64::max) * 1.5,
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), loss_range(runs))
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .x_desc("training FLOPs (log scale)")
        .y_desc("held-out loss, all of Persuasion (nats/token)")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .draw()
        .map_err(err)?;
    let mut families: Vec<String> = runs.iter().filter(|r| r.source == "sweep").map(|r| r.label.clone()).collect();
    families.sort();
    families.dedup();
    for (family, colour) in families.iter().zip(PALETTE.iter().cycle()) {
        let mut points: Vec<(f64, f64)> =
            runs.iter().filter(|r| r.source == "sweep" && &r.label == family).map(|r| (r.training_flops, r.heldout_loss)).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let colour = *colour;
        let is_mod = family.starts_with("MoD");
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(err)?
            .label(family.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
        // A second cue besides colour: triangles for MoD, circles for dense.
        if is_mod {
            chart.draw_series(points.iter().map(|&p| TriangleMarker::new(p, 6, colour.filled()))).map_err(err)?;
        } else {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, colour.filled()))).map_err(err)?;
        }
    }
    for run in runs.iter().filter(|r| r.source == "shipped") {
        let p = (run.training_flops, run.heldout_loss);
        chart.draw_series([Circle::new(p, 8, BLACK.stroke_width(2))]).map_err(err)?;
        chart
            .draw_series([Text::new(format!("shipped: {}", run.label), (p.0 / 7.5, p.1 - 0.015), ("sans-serif", 12))])
            .map_err(err)?;
    }
    chart.configure_series_labels().position(SeriesLabelPosition::UpperRight).border_style(BLACK).background_style(WHITE).draw().map_err(err)?;
    root.present().map_err(err)
}

/// The paper's figure 4 at this scale: held-out loss against forward FLOPs per token, per budget.
fn plot_forward(runs: &[StudyRun], path: &Path) -> Result<(), String> {
    let sweep: Vec<StudyRun> = runs.iter().filter(|r| r.source == "sweep").cloned().collect();
    let root = SVGBackend::new(path, (760, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let x_hi = sweep.iter().map(|r| r.forward_flops_per_token).fold(0.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption("Held-out loss against forward FLOPs per token, per training budget", ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_hi, loss_range(&sweep))
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .x_desc("forward FLOPs per token (T = 256)")
        .y_desc("held-out loss (nats/token)")
        .x_label_formatter(&|x| format!("{:.1}M", x / 1e6))
        .draw()
        .map_err(err)?;
    let mut budgets: Vec<f64> = sweep.iter().map(|r| r.budget).collect();
    budgets.sort_by(f64::total_cmp);
    budgets.dedup();
    for (&budget, colour) in budgets.iter().zip(PALETTE) {
        for model in ["dense", "mod"] {
            let mut points: Vec<(f64, f64)> = sweep
                .iter()
                .filter(|r| r.budget == budget && r.model == model)
                .map(|r| (r.forward_flops_per_token, r.heldout_loss))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let style = if model == "mod" { colour.stroke_width(2) } else { colour.mix(0.6).stroke_width(1) };
            let series = chart.draw_series(LineSeries::new(points.clone(), style)).map_err(err)?;
            if model == "dense" {
                series
                    .label(format!("{budget:.1e} FLOPs (dense ●, MoD ▲)"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, colour.filled()))).map_err(err)?;
            } else {
                chart.draw_series(points.iter().map(|&p| TriangleMarker::new(p, 6, colour.filled()))).map_err(err)?;
            }
        }
    }
    chart.configure_series_labels().position(SeriesLabelPosition::UpperRight).border_style(BLACK).background_style(WHITE).draw().map_err(err)?;
    root.present().map_err(err)
}

fn samples(model: &Model, tok: &Tokenizer) -> Result<Vec<String>, String> {
    let device = backend::cpu();
    PROMPTS
        .iter()
        .map(|prompt| {
            let mut generator = pollster::block_on(Generator::new(model, &tok.encode(prompt), &device)).map_err(err)?;
            let mut rng = Rng::new(7);
            let mut out = Vec::new();
            while out.len() < 60 {
                match pollster::block_on(generator.next(0.8, 40, &mut rng)).map_err(err)? {
                    Some((t, _)) => out.push(t),
                    None => break,
                }
            }
            Ok(format!("{prompt}{}", tok.decode(&out)))
        })
        .collect()
}

/// Median milliseconds of one forward pass (logits read back) over `tokens`, the models timed in
/// turn so that machine noise hits both alike.
fn time_forward(models: &[&Model], tokens: &[u32]) -> Result<Vec<f64>, String> {
    let device = backend::cpu();
    let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
    let mut times = vec![Vec::new(); models.len()];
    for run in 0..TIMING_RUNS + 2 {
        for (model, times) in models.iter().zip(&mut times) {
            let input = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [1, ids.len()]), &device);
            let started = Instant::now();
            let f = pollster::block_on(model.forward(input, RoutingMode::TopK { capacity: model.config().capacity })).map_err(err)?;
            f.logits.into_data();
            // The first two rounds warm caches and allocators.
            if run >= 2 {
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    Ok(times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect())
}

fn forward_flops_per_token(cfg: &ModelConfig) -> f64 {
    forward_flops(cfg, cfg.context, &Routing::TopK { capacity: cfg.capacity }).total() as f64 / cfg.context as f64
}

/// A run's whole-book held-out loss, measured once: kept beside its weights with their SHA-256
/// and the number of windows, and measured again if either changed.
fn cached_heldout_loss(dir: &Path, weights: &[u8], windows: usize, measure: impl FnOnce() -> Result<f64, String>) -> Result<f64, String> {
    use sha2::Digest;
    let path = dir.join("heldout_loss.json");
    let hash: String = sha2::Sha256::digest(weights).iter().map(|b| format!("{b:02x}")).collect();
    if let Ok(cached) = read_json(&path)
        && cached["weights_sha256"] == hash.as_str()
        && cached["windows"] == windows
        && let Some(loss) = cached["loss"].as_f64()
    {
        return Ok(loss);
    }
    let loss = measure()?;
    let json = serde_json::json!({ "weights_sha256": hash, "windows": windows, "loss": loss });
    std::fs::write(&path, json.to_string()).map_err(err)?;
    Ok(loss)
}

/// Evaluates every finished run of the sweep on the whole held-out book and archives its log.
fn sweep_runs(paths: &Paths, heldout: &[Vec<u32>], training_tokens: usize) -> Result<Vec<StudyRun>, String> {
    let device = backend::cpu();
    let mut runs = Vec::new();
    let Ok(budgets) = std::fs::read_dir(&paths.sweep) else {
        return Ok(runs);
    };
    let mut dirs: Vec<(f64, PathBuf)> = Vec::new();
    for budget_dir in budgets.flatten() {
        let Ok(budget) = budget_dir.file_name().to_string_lossy().parse::<f64>() else { continue };
        for run in std::fs::read_dir(budget_dir.path()).map_err(err)?.flatten() {
            dirs.push((budget, run.path()));
        }
    }
    dirs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let archive = paths.logs.join("isoflop");
    std::fs::create_dir_all(&archive).map_err(err)?;
    for (budget, dir) in dirs {
        let weights = dir.join("model.safetensors");
        if !weights.exists() {
            eprintln!("{}: not finished; left out", dir.display());
            continue;
        }
        let bytes = std::fs::read(&weights).map_err(err)?;
        let model = load_weights(&bytes, &device).map_err(err)?;
        let cfg = model.config().clone();
        let progress = read_json(&dir.join("checkpoint/progress.json"))?;
        let batch = progress["config"]["batch_size"].as_u64().unwrap_or(0) as usize;
        let seed = progress["config"]["seed"].as_u64().unwrap_or(0);
        let steps = progress["step"].as_u64().unwrap_or(0) as usize;
        let (_, seconds) = read_log(&dir.join("log.csv"))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        std::fs::copy(dir.join("log.csv"), archive.join(format!("{budget:e}-{name}.csv"))).map_err(err)?;
        let loss = cached_heldout_loss(&dir, &bytes, heldout.len(), || {
            evaluate(&model, heldout, 16, RoutingMode::TopK { capacity: cfg.capacity }, &device).map(|e| e.loss).map_err(err)
        })?;
        println!("{budget:e} {name}: held-out loss {loss:.4}");
        runs.push(StudyRun {
            budget,
            model: if cfg.is_dense() { "dense" } else { "mod" }.into(),
            label: label(&cfg),
            d_model: cfg.d_model,
            routed_layers: cfg.routed_layers.clone(),
            capacity: cfg.capacity,
            update_weight: cfg.update_weight,
            seed,
            source: "sweep".into(),
            parameters: parameter_count(&cfg),
            steps,
            batch,
            epochs: (steps * batch * cfg.context) as f64 / training_tokens as f64,
            training_flops: progress["training_flops"].as_f64().unwrap_or(f64::NAN),
            training_seconds: seconds,
            forward_flops_per_token: forward_flops_per_token(&cfg),
            heldout_loss: loss,
        });
    }
    Ok(runs)
}

/// Measures the shipped pair and the sweep; writes `report.json`, `loss_vs_flops.svg`,
/// `isoflop.svg` and `loss_vs_forward_flops.svg` into `paths.out`, and `study.json` beside the
/// shipped weights.
pub fn write(tok: &Tokenizer, corpus: &Corpus, paths: &Paths) -> Result<(), String> {
    std::fs::create_dir_all(&paths.out).map_err(err)?;
    let device = backend::cpu();
    let (train_ids, val_ids) = (tok.encode(&corpus.train), tok.encode(&corpus.validation));
    let mut loaded = BTreeMap::new();
    for name in ["mod", "dense"] {
        let path = paths.models.join(format!("{name}.safetensors"));
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let model = load_weights(&bytes, &device).map_err(err)?;
        loaded.insert(name, (model, bytes.len() as u64));
    }
    let context = loaded["mod"].0.config().context;
    let heldout = windows(&val_ids, context, usize::MAX);
    let timing = time_forward(&[&loaded["mod"].0, &loaded["dense"].0], &heldout[0][..context])?;

    let mut models = BTreeMap::new();
    let mut curves = Vec::new();
    let mut shipped_rows = Vec::new();
    let mut routing_by_layer = Vec::new();
    let mut pooled: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut by_token: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
    let mut correlation = None;
    let mut correlation_interval_95 = None;
    let classes: Vec<&str> = (0..tok.vocab_size() as u32).map(|t| TokenClass::of(&tok.token_text(t)).name()).collect();
    for (name, ms) in ["mod", "dense"].into_iter().zip(timing) {
        let (model, weights_bytes) = &loaded[name];
        let cfg = model.config().clone();
        let topk = RoutingMode::TopK { capacity: cfg.capacity };
        // Per layer: class → (processed, seen), token → (processed, seen).
        let mut layer_classes: BTreeMap<usize, BTreeMap<String, (f64, f64)>> = BTreeMap::new();
        let mut layer_tokens: BTreeMap<usize, BTreeMap<u32, (f64, f64)>> = BTreeMap::new();
        let heldout_topk = evaluate_with(model, &heldout, 16, topk, &device, |tokens, trace: &RoutingTrace| {
            for l in trace.layers.iter().filter(|l| l.routed) {
                for (&t, &hit) in tokens.iter().zip(&l.processed) {
                    let hit = f64::from(u8::from(hit));
                    for counts in [layer_classes.entry(l.layer).or_default().entry(classes[t as usize].to_string()).or_default(), pooled.entry(classes[t as usize].to_string()).or_default()] {
                        counts.0 += hit;
                        counts.1 += 1.0;
                    }
                    for counts in [layer_tokens.entry(l.layer).or_default().entry(t).or_default(), by_token.entry(t).or_default()] {
                        counts.0 += hit;
                        counts.1 += 1.0;
                    }
                }
            }
        })
        .map_err(err)?;
        let heldout_causal = evaluate(model, &heldout, 16, RoutingMode::Causal, &device).map_err(err)?;
        let check = evaluate(model, &heldout[..CHECK_WINDOWS], 8, topk, &device).map_err(err)?;
        if !cfg.is_dense() {
            for (layer, counts) in layer_classes {
                routing_by_layer.push(LayerRouting {
                    layer,
                    processed_by_token_class: counts.into_iter().map(|(k, (h, n))| (k, h / n)).collect(),
                    most_processed_tokens: ranked(tok, &layer_tokens[&layer], 30.0).into_iter().take(8).collect(),
                });
            }
            let per_passage = depths_and_entropies(model, &correlation_passages(&val_ids, context), &device)?;
            correlation = pooled_correlation(&per_passage, &(0..per_passage.len()).collect::<Vec<_>>());
            correlation_interval_95 = correlation_interval(&per_passage);
        }
        let (log, seconds) = read_log(&paths.logs.join(format!("{name}-log.csv")))?;
        let progress = read_json(&paths.logs.join(format!("{name}-progress.json")))?;
        let steps = progress["step"].as_u64().unwrap_or(0) as usize;
        let batch = progress["config"]["batch_size"].as_u64().unwrap_or(0) as usize;
        let training_tokens = steps * batch * cfg.context;
        let training_flops = progress["training_flops"].as_f64().unwrap_or(f64::NAN);
        curves.push((label(&cfg), log));
        shipped_rows.push(StudyRun {
            budget: training_flops,
            model: name.into(),
            label: label(&cfg),
            d_model: cfg.d_model,
            routed_layers: cfg.routed_layers.clone(),
            capacity: cfg.capacity,
            update_weight: cfg.update_weight,
            seed: progress["config"]["seed"].as_u64().unwrap_or(0),
            source: "shipped".into(),
            parameters: parameter_count(&cfg),
            steps,
            batch,
            epochs: training_tokens as f64 / train_ids.len() as f64,
            training_flops,
            training_seconds: seconds,
            forward_flops_per_token: forward_flops_per_token(&cfg),
            heldout_loss: heldout_topk.loss,
        });
        models.insert(
            name.to_string(),
            ModelReport {
                parameters: parameter_count(&cfg),
                weights_bytes: *weights_bytes,
                training_flops,
                training_steps: steps,
                training_tokens,
                epochs: training_tokens as f64 / train_ids.len() as f64,
                training_seconds: seconds,
                training_tokens_per_second: training_tokens as f64 / seconds,
                forward_flops_256: forward_flops(&cfg, cfg.context, &Routing::TopK { capacity: cfg.capacity }).total(),
                native_cpu_forward_ms_256: ms,
                check_slice_loss: check.loss,
                heldout_topk,
                heldout_causal,
                samples: samples(model, tok)?,
                config: cfg,
            },
        );
    }
    plot_training(&curves, &paths.out.join("loss_vs_flops.svg"))?;

    let mut sweep = sweep_runs(paths, &heldout, train_ids.len())?;
    let verdicts = verdicts(&sweep);
    sweep.extend(shipped_rows);
    if sweep.iter().any(|r| r.source == "sweep") {
        let held = |i: usize| verdicts.iter().filter(|v| v.thresholds[i].holds).count();
        let caption = format!(
            "MoD at or below the best dense loss with ≤ 60% of its forward FLOPs at {} of {n} budgets, with ≤ 50% at {}",
            held(0),
            held(1),
            n = verdicts.len()
        );
        plot_isoflop(&sweep, &caption, &paths.out.join("isoflop.svg"))?;
        plot_forward(&sweep, &paths.out.join("loss_vs_forward_flops.svg"))?;
    }
    // The page's "Did MoD pay off?" panel draws the study from beside the weights.
    let study = Study { runs: sweep.clone(), verdicts: verdicts.clone() };
    std::fs::write(paths.models.join("study.json"), serde_json::to_string(&study).map_err(err)? + "\n").map_err(err)?;
    for line in study.verdict_sentences() {
        eprintln!("{line}");
    }
    let pooled_rates = pooled.into_iter().map(|(k, (h, n))| (k, h / n)).collect();
    let ranked_tokens = ranked(tok, &by_token, 30.0 * 4.0);
    let report = Report {
        tokenizer_vocab: tok.vocab_size(),
        training_tokens: train_ids.len(),
        validation_tokens: val_ids.len(),
        models,
        routing_by_layer,
        processed_by_token_class: pooled_rates,
        most_processed_tokens: ranked_tokens.iter().take(12).cloned().collect(),
        least_processed_tokens: ranked_tokens.iter().rev().take(12).cloned().collect(),
        depth_entropy_correlation: correlation,
        depth_entropy_correlation_interval_95: correlation_interval_95,
        sweep,
        verdicts,
    };
    let json = serde_json::to_string_pretty(&report).map_err(err)?;
    std::fs::write(paths.out.join("report.json"), &json).map_err(err)?;
    println!("{json}");
    Ok(())
}

/// Tokens seen at least `min_seen` times, most often processed first, with their rate.
fn ranked(tok: &Tokenizer, counts: &BTreeMap<u32, (f64, f64)>, min_seen: f64) -> Vec<(String, f64)> {
    let mut tokens: Vec<(String, f64)> =
        counts.iter().filter(|(_, (_, n))| *n >= min_seen).map(|(&t, &(h, n))| (tok.token_text(t), h / n)).collect();
    tokens.sort_by(|a, b| b.1.total_cmp(&a.1));
    tokens
}

fn parameter_count(cfg: &ModelConfig) -> usize {
    let (d, h, v, p) = (cfg.d_model, cfg.d_mlp, cfg.vocab_size, cfg.predictor_width);
    let block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * h + h) + (h * d + d);
    let router = d + (d * p + p) + (p + 1);
    v * d + cfg.n_layers * block + cfg.routed_layers.len() * router + 2 * d + d * v
}

/// Whether the tokens that get more blocks are the ones whose next token is harder to predict.
fn depth_entropy_correlation(model: &Model, slice: &[Vec<u32>], device: &burn::tensor::Device) -> Result<Option<f64>, String> {
    let per_passage = depths_and_entropies(model, slice, device)?;
    Ok(pooled_correlation(&per_passage, &(0..per_passage.len()).collect::<Vec<_>>()))
}

/// Each passage's (depth, next-token entropy) per token.
fn depths_and_entropies(model: &Model, slice: &[Vec<u32>], device: &burn::tensor::Device) -> Result<Vec<(Vec<f64>, Vec<f64>)>, String> {
    let mode = RoutingMode::TopK { capacity: model.config().capacity };
    slice
        .iter()
        .map(|tokens| {
            let a = pollster::block_on(crate::runtime::session::analyse(model, tokens, mode, device, &crate::runtime::session::monotonic_ms))
                .map_err(err)?;
            Ok((a.trace.depth().iter().map(|&d| d as f64).collect(), a.entropy.iter().map(|&e| e as f64).collect()))
        })
        .collect()
}

/// The correlation over the tokens of the chosen passages (a passage may be chosen twice).
fn pooled_correlation(per_passage: &[(Vec<f64>, Vec<f64>)], chosen: &[usize]) -> Option<f64> {
    let (mut depths, mut entropies) = (Vec::new(), Vec::new());
    for &i in chosen {
        depths.extend(&per_passage[i].0);
        entropies.extend(&per_passage[i].1);
    }
    crate::runtime::session::correlation(&depths, &entropies)
}

/// Resamples of the passage-level bootstrap.
const BOOTSTRAP_RESAMPLES: usize = 2000;

/// A 95% interval for the depth–entropy correlation from a bootstrap over *passages*, not tokens:
/// the tokens of one passage share its context, so they are not independent draws.
fn correlation_interval(per_passage: &[(Vec<f64>, Vec<f64>)]) -> Option<[f64; 2]> {
    let mut rng = Rng::new(11);
    let n = per_passage.len();
    let mut rs: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .filter_map(|_| {
            let chosen: Vec<usize> = (0..n).map(|_| ((rng.next_f64() * n as f64) as usize).min(n - 1)).collect();
            pooled_correlation(per_passage, &chosen)
        })
        .collect();
    if rs.len() < BOOTSTRAP_RESAMPLES / 2 {
        return None;
    }
    rs.sort_by(f64::total_cmp);
    let at = |q: f64| rs[((q * rs.len() as f64) as usize).min(rs.len() - 1)];
    Some([at(0.025), at(0.975)])
}
