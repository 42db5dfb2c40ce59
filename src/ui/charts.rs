//! The paper's two side pictures: the histogram of router weights (its figure 5), one per routed
//! layer with that layer's own threshold, and each token's next-token entropy against its routed
//! depth.

use leptos::prelude::*;

use super::flops_table::{run_exclusive, run_when_free};
use super::{PageState, engine};
use crate::model::RoutingMode;
use crate::runtime::session::correlation;

const W: f64 = 220.0;
const H: f64 = 130.0;
/// Left and bottom margins for the axes' labels.
const LEFT: f64 = 26.0;
const BOTTOM: f64 = 18.0;
const BINS: usize = 20;

#[component]
pub fn WeightHistograms() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <section class="panel" aria-labelledby="hist-title">
            <h2 id="hist-title">"Router scores, per routed layer"</h2>
            {move || page.result.get().map(|r| {
                let trace = &r.routed.trace;
                let topk = matches!(trace.mode, RoutingMode::TopK { .. });
                let charts = trace.layers.iter().filter(|l| l.routed).map(|l| {
                    let mut counts = [0usize; BINS];
                    for &w in &l.router_score {
                        counts[((w.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1)] += 1;
                    }
                    let max = counts.iter().copied().max().unwrap_or(1).max(1);
                    let (pw, ph) = (W - LEFT - 4.0, H - BOTTOM - 6.0);
                    let x = move |v: f64| LEFT + v * pw;
                    let bars = counts.iter().enumerate().map(|(i, &c)| {
                        let h = c as f64 / max as f64 * ph;
                        view! { <rect class="bar" x=format!("{:.1}", x(i as f64 / BINS as f64) + 0.5) y=format!("{:.1}", 6.0 + ph - h)
                            width=format!("{:.1}", pw / BINS as f64 - 1.0) height=format!("{h:.1}")>
                            <title>{format!("{:.2}–{:.2}: {c} tokens", i as f64 / BINS as f64, (i + 1) as f64 / BINS as f64)}</title></rect> }
                    }).collect_view();
                    let threshold = l.topk_threshold.filter(|_| topk).map(|t| {
                        let tx = format!("{:.1}", x(t.clamp(0.0, 1.0) as f64));
                        view! { <line class="mark topk" x1=tx.clone() x2=tx y1="6" y2=format!("{}", 6.0 + ph)/> }
                    });
                    let processed = l.processed_count();
                    let label = format!("Layer {}: {} router scores, {processed} processed{}", l.layer, l.router_score.len(),
                        l.topk_threshold.filter(|_| topk).map(|t| format!(", top-k threshold {t:.3}")).unwrap_or_default());
                    view! {
                        <figure class="small-multiple">
                            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=label>
                                <line class="axis" x1=LEFT x2=W - 4.0 y1=6.0 + ph y2=6.0 + ph/>
                                <line class="axis" x1=LEFT x2=LEFT y1="6" y2=6.0 + ph/>
                                {bars}
                                {threshold}
                                <text x=LEFT - 3.0 y="12" text-anchor="end">{max}</text>
                                <text x=LEFT - 3.0 y=6.0 + ph text-anchor="end">"0"</text>
                                <text x=x(0.0) y=H - 4.0 text-anchor="middle">"0"</text>
                                <text x=x(0.5) y=H - 4.0 text-anchor="middle">"0.5"</text>
                                <text x=x(1.0) y=H - 4.0 text-anchor="middle">"1"</text>
                            </svg>
                            <figcaption>{format!("L{}: n = {}, {processed} processed", l.layer, l.router_score.len())}</figcaption>
                        </figure>
                    }
                }).collect_view();
                view! {
                    <div class="multiples">{charts}</div>
                    <p class="note">{if topk {
                        "Router score σ(r) of every token (x), count of tokens (y, top number is the tallest bar). Dashed: the layer's top-k threshold; tokens right of it were processed."
                    } else {
                        "Router score σ(r) of every token. In causal mode the predictor, not a threshold on these scores, decides which tokens are processed."
                    }}</p>
                    <super::export::ChartExport name="modscope-router-weights" title="Router scores per routed layer"/>
                }
            })}
        </section>
    }
}

/// A 95% interval for a correlation coefficient (Fisher's z), when there are enough points.
pub fn correlation_interval(r: f64, n: usize) -> Option<(f64, f64)> {
    if n < 4 || !r.is_finite() || r.abs() >= 1.0 {
        return None;
    }
    let (z, se) = (r.atanh(), 1.0 / ((n - 3) as f64).sqrt());
    Some(((z - 1.96 * se).tanh(), (z + 1.96 * se).tanh()))
}

#[component]
pub fn EntropyByDepth() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <section class="panel" aria-labelledby="entropy-title">
            <h2 id="entropy-title">"Routed depth against next-token entropy"</h2>
            {move || page.result.get().map(|r| {
                let (w, h) = (2.0 * W, H + 20.0);
                let routed = r.routed.trace.layers.iter().filter(|l| l.routed).count();
                let depth: Vec<f64> = r.routed.trace.routed_depth().iter().map(|&d| d as f64).collect();
                let entropy: Vec<f64> = r.routed.entropy.iter().map(|&e| e as f64).collect();
                let max_e = entropy.iter().copied().fold(1.0, f64::max).ceil();
                let (pw, ph) = (w - LEFT - 10.0, h - BOTTOM - 6.0);
                let x = move |d: f64| LEFT + 10.0 + d / routed.max(1) as f64 * (pw - 20.0);
                let y = move |e: f64| 6.0 + ph - e / max_e * ph;
                let r_value = correlation(&depth, &entropy);
                let points = depth.iter().zip(&entropy).enumerate().map(|(i, (&d, &e))| {
                    // A small deterministic jitter keeps equal depths from hiding each other.
                    let jitter = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
                    view! { <circle class="dot" cx=format!("{:.1}", x(d) + jitter * 14.0) cy=format!("{:.1}", y(e)) r="2.5">
                        <title>{format!("“{}”: routed depth {d}, entropy {e:.2}", r.pieces[i])}</title></circle> }
                }).collect_view();
                let ticks = (0..=routed).map(|d| view! { <text x=x(d as f64) y=h - 4.0 text-anchor="middle">{d}</text> }).collect_view();
                let y_ticks = [0.0, max_e / 2.0, max_e].map(|e| view! { <text x=LEFT - 3.0 y=y(e) + 3.0 text-anchor="end">{format!("{e:.1}")}</text> });
                view! {
                    <svg class="scatter" viewBox=format!("0 0 {w} {h}") role="img" aria-label=format!("Scatter of {} tokens: routed depth (0 to {routed}) against next-token entropy", depth.len())>
                        <line class="axis" x1=LEFT x2=w - 4.0 y1=6.0 + ph y2=6.0 + ph/>
                        <line class="axis" x1=LEFT x2=LEFT y1="6" y2=6.0 + ph/>
                        {points}{ticks}{y_ticks.into_iter().collect_view()}
                    </svg>
                    <p class="note" id="correlation">{match r_value {
                        Some(c) => {
                            let interval = correlation_interval(c, depth.len())
                                .map(|(lo, hi)| format!(", 95% interval {lo:.2} to {hi:.2}"))
                                .unwrap_or_default();
                            format!("x: routed blocks that processed the token (0–{routed}); y: entropy of its next-token prediction (nats). n = {} tokens, r = {c:.2}{interval}. The paper reports that tokens using more blocks have higher-entropy predictions.", depth.len())
                        }
                        None => "Too few tokens (or no variation in depth) to correlate.".into(),
                    }}</p>
                    <super::export::ChartExport name="modscope-depth-entropy" title="Routed depth against next-token entropy"/>
                }
            })}
            <PoolPassages/>
        </section>
    }
}

/// One text is a few hundred tokens: too few to settle a correlation. This pools the held-out
/// passages the model card measures it on (`models/heldout.json`) at the current settings, so a
/// reader can check the card's number, and see how it moves with capacity and mode.
#[component]
fn PoolPassages() -> impl IntoView {
    let page = expect_context::<PageState>();
    let note = RwSignal::new(None::<String>);
    let running = RwSignal::new(false);
    let start = move |_| {
        run_exclusive(running, async move {
            let outcome = pool(page, note).await;
            note.set(Some(outcome.unwrap_or_else(|e| format!("Pooling stopped: {e}"))));
        });
    };
    view! {
        <div class="pool">
            <button id="pool-passages" on:click=start disabled=move || running.get()>"Pool the held-out passages"</button>
            <span id="pooled" class="note" role="status">{move || note.get()}</span>
        </div>
    }
}

async fn pool(page: PageState, note: RwSignal<Option<String>>) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Passages {
        passages: Vec<Vec<u32>>,
        model_card_correlation: Option<f64>,
    }
    let url = format!("{}models/heldout.json", page.options.with_value(|o| o.asset_base.clone()));
    let json = engine::fetch_bytes(&url).await?;
    let Passages { passages, model_card_correlation } = serde_json::from_slice(&json).map_err(|e| format!("models/heldout.json: {e}"))?;
    let settings = page.settings.get_untracked();
    let kind = page.backend.get_untracked();
    let (mut depth, mut entropy) = (Vec::new(), Vec::new());
    for (i, passage) in passages.iter().enumerate() {
        note.set(Some(format!("Pooling: passage {} of {}…", i + 1, passages.len())));
        let r = run_when_free(kind, engine::Input::Tokens(passage), settings.capacity, settings.causal).await?;
        depth.extend(r.routed.trace.routed_depth().iter().map(|&d| d as f64));
        entropy.extend(r.routed.entropy.iter().map(|&e| e as f64));
    }
    let mode = if settings.causal { "causal predictor".to_string() } else { format!("top-k at {:.1}% capacity", settings.capacity * 100.0) };
    Ok(match correlation(&depth, &entropy) {
        Some(r) => {
            let interval = correlation_interval(r, depth.len()).map(|(lo, hi)| format!(", 95% interval {lo:.3} to {hi:.3}")).unwrap_or_default();
            let card = model_card_correlation
                .map(|c| format!(" The model card reports r = {c:.3} for the same passages, top-k at the trained capacity, with the f16 weights (the page runs the 8-bit ones)."))
                .unwrap_or_default();
            format!("Pooled over {} held-out passages of Persuasion (n = {} tokens, {mode}): r = {r:.3}{interval}.{card}", passages.len(), depth.len())
        }
        None => format!("Pooled over {} passages ({mode}): no variation in depth to correlate.", passages.len()),
    })
}
