//! The paper's two side pictures: the histogram of router weights (figure 5) and each token's
//! next-token entropy against its depth.

use leptos::prelude::*;

use super::PageState;
use crate::runtime::session::correlation;

const W: f64 = 320.0;
const H: f64 = 150.0;
const BINS: usize = 20;

#[component]
pub fn WeightHistogram() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <section class="panel half" aria-labelledby="hist-title">
            <h2 id="hist-title">"Router weights"</h2>
            {move || page.result.get().map(|r| {
                let weights: Vec<f32> = r.routed.trace.layers.iter().filter(|l| l.routed).flat_map(|l| l.router_weight.iter().copied()).collect();
                let mut counts = [0usize; BINS];
                for &w in &weights {
                    counts[((w * BINS as f32) as usize).min(BINS - 1)] += 1;
                }
                let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
                let above = weights.iter().filter(|&&w| w > 0.5).count() as f64 / weights.len().max(1) as f64;
                let thresholds: Vec<f32> = r.routed.trace.layers.iter().filter_map(|l| l.topk_threshold).collect();
                let threshold = thresholds.iter().sum::<f32>() / thresholds.len().max(1) as f32;
                let bars = counts.iter().enumerate().map(|(i, &c)| {
                    let h = c as f64 / max * (H - 20.0);
                    view! { <rect class="bar" x=format!("{:.1}", i as f64 * W / BINS as f64 + 1.0) y=format!("{:.1}", H - 20.0 - h)
                        width=format!("{:.1}", W / BINS as f64 - 2.0) height=format!("{h:.1}")><title>{format!("{:.2}–{:.2}: {c}", i as f64 / BINS as f64, (i + 1) as f64 / BINS as f64)}</title></rect> }
                }).collect_view();
                let x = |v: f64| format!("{:.1}", v * W);
                view! {
                    <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=format!("Histogram of {} router weights; {:.1}% above 0.5", weights.len(), above * 100.0)>
                        {bars}
                        <line class="mark" x1=x(0.5) x2=x(0.5) y1="0" y2=format!("{}", H - 20.0)/>
                        <line class="mark topk" x1=x(threshold as f64) x2=x(threshold as f64) y1="0" y2=format!("{}", H - 20.0)/>
                        <text x="0" y=format!("{}", H - 4.0)>"0"</text>
                        <text x=x(0.5) y=format!("{}", H - 4.0) text-anchor="middle">"0.5"</text>
                        <text x=format!("{W}") y=format!("{}", H - 4.0) text-anchor="end">"1"</text>
                    </svg>
                    <p class="note">{format!("{:.1}% of routed weights lie above 0.5 (solid line); the dashed line is the mean top-k threshold ({threshold:.3}).", above * 100.0)}</p>
                }
            })}
        </section>
    }
}

#[component]
pub fn EntropyByDepth() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <section class="panel half" aria-labelledby="entropy-title">
            <h2 id="entropy-title">"Depth against next-token entropy"</h2>
            {move || page.result.get().map(|r| {
                let depth: Vec<f64> = r.routed.trace.depth().iter().map(|&d| d as f64).collect();
                let entropy: Vec<f64> = r.routed.entropy.iter().map(|&e| e as f64).collect();
                let layers = r.routed.trace.layers.len() as f64;
                let max_e = entropy.iter().copied().fold(1.0, f64::max);
                let r_value = correlation(&depth, &entropy);
                let points = depth.iter().zip(&entropy).enumerate().map(|(i, (&d, &e))| {
                    // A small deterministic jitter keeps equal depths from hiding each other.
                    let jitter = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
                    let cx = 20.0 + (d + jitter * 0.5) / layers * (W - 30.0);
                    let cy = H - 20.0 - e / max_e * (H - 30.0);
                    view! { <circle class="dot" cx=format!("{cx:.1}") cy=format!("{cy:.1}") r="2.5"><title>{format!("“{}”: depth {d}, entropy {e:.2}", r.pieces[i])}</title></circle> }
                }).collect_view();
                view! {
                    <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label="Scatter of token depth against next-token entropy">
                        {points}
                        <text x="20" y=format!("{}", H - 4.0)>"depth 0"</text>
                        <text x=format!("{W}") y=format!("{}", H - 4.0) text-anchor="end">{format!("depth {layers}")}</text>
                        <text x="0" y="12">{format!("{max_e:.1} nats")}</text>
                    </svg>
                    <p class="note" id="correlation">{match r_value {
                        Some(c) => format!("Correlation for this text: r = {c:.2} (the paper reports that tokens using more blocks have higher-entropy predictions)."),
                        None => "Too few tokens (or no variation in depth) to correlate.".into(),
                    }}</p>
                }
            })}
        </section>
    }
}
