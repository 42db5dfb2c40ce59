//! The routing heatmap: one column per token (its text, then one cell per layer, top to bottom),
//! and the details of the token or cell under the pointer or keyboard focus.

use leptos::prelude::*;

use super::PageState;
use super::engine::RunResult;
use crate::model::RoutingTrace;

/// Sequential blue for router weight (light → dark): readable with every common colour-vision
/// deficiency, with grey for dense blocks and an outline for skipped cells.
pub fn weight_colour(w: f32) -> String {
    let w = w.clamp(0.0, 1.0);
    let lerp = |a: f32, b: f32| (a + (b - a) * w).round() as u8;
    format!("rgb({},{},{})", lerp(198.0, 8.0), lerp(219.0, 48.0), lerp(239.0, 107.0))
}

/// Token text made visible: spaces as a faint dot, newlines as ↵, other controls as their code.
pub fn visible(piece: &str) -> String {
    piece
        .chars()
        .map(|c| match c {
            ' ' => "·".to_string(),
            '\n' => "↵".to_string(),
            '\t' => "⇥".to_string(),
            c if c.is_control() || ('\u{200b}'..='\u{200f}').contains(&c) || c == '\u{feff}' => format!("U+{:04X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

fn cell_label(trace: &RoutingTrace, layer: usize, token: usize) -> String {
    let l = &trace.layers[layer];
    if !l.routed {
        return format!("layer {layer}: dense block, processes every token");
    }
    format!(
        "layer {layer}: {} (router weight {:.3}, rank {})",
        if l.processed[token] { "processed" } else { "skipped" },
        l.router_weight[token],
        l.rank[token] + 1
    )
}

#[component]
pub fn Heatmap() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <section class="panel" id="heatmap" aria-labelledby="heatmap-title">
            <h2 id="heatmap-title">"Which tokens each block processed"</h2>
            <p class="legend">
                "Each column is a token; its cells are layers 0 (top) to 7 (bottom). "
                <span class="key dense"></span>" dense block "
                <span class="key" style=format!("background:{}", weight_colour(0.9))></span>" processed (darker = larger router weight) "
                <span class="key skipped"></span>" skipped. The number under a column is its depth: blocks that processed it."
            </p>
            {move || page.result.get().map(|r| view! { <Grid result=r/> })}
            <Details/>
            <super::export::HeatmapExport/>
        </section>
    }
}

#[component]
fn Grid(result: std::sync::Arc<RunResult>) -> impl IntoView {
    let page = expect_context::<PageState>();
    let trace = &result.routed.trace;
    let depth = trace.depth();
    let columns = result
        .pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let cells = trace
                .layers
                .iter()
                .enumerate()
                .map(|(l, layer)| {
                    let (class, style) = match (layer.routed, layer.processed[i]) {
                        (false, _) => ("cell dense", String::new()),
                        (true, true) => ("cell on", format!("background:{}", weight_colour(layer.router_weight[i]))),
                        (true, false) => ("cell skipped", String::new()),
                    };
                    let label = cell_label(trace, l, i);
                    view! {
                        <span class=class style=style title=label
                            on:mouseenter=move |_| page.selected.set(Some((i, Some(l))))></span>
                    }
                })
                .collect_view();
            let label = format!("token {}: “{}”, processed by {} of {} blocks", i + 1, piece, depth[i], trace.layers.len());
            view! {
                <div class="tok" tabindex="0" role="listitem" aria-label=label
                    on:focus=move |_| page.selected.set(Some((i, None)))
                    on:mouseenter=move |_| page.selected.set(Some((i, None)))>
                    <span class="tok-text">{visible(piece)}</span>
                    {cells}
                    <span class="depth">{depth[i]}</span>
                </div>
            }
        })
        .collect_view();
    // While a newer run is on its way the old heatmap stays, dimmed.
    let stale = move || page.status.get() == super::Status::Running;
    view! { <div class="grid" class:stale=stale data-run=move || page.runs.get() role="list" aria-label="Tokens with their per-layer routing">{columns}</div> }
}

#[component]
fn Details() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <div class="details" aria-live="polite">
            {move || {
                let (token, layer) = page.selected.get()?;
                let r = page.result.get()?;
                let trace = &r.routed.trace;
                let piece = r.pieces.get(token)?.clone();
                let rows = trace.layers.iter().filter(|l| layer.is_none_or(|x| x == l.layer)).map(|l| {
                    if !l.routed {
                        return view! { <tr><td>{l.layer}</td><td>"dense"</td><td>"processed"</td><td>"–"</td><td>"–"</td><td>"–"</td><td>"–"</td></tr> }.into_any();
                    }
                    view! {
                        <tr class:hit=l.processed[token]>
                            <td>{l.layer}</td><td>"routed"</td>
                            <td>{if l.processed[token] { "processed" } else { "skipped" }}</td>
                            <td>{format!("{:.3}", l.router_weight[token])}</td>
                            <td>{format!("{} of {}", l.rank[token] + 1, trace.tokens)}</td>
                            <td>{l.topk_threshold.map(|t| format!("{t:.3}")).unwrap_or_default()}</td>
                            <td>{format!("{:.3}", l.predictor_prob[token])}</td>
                        </tr>
                    }.into_any()
                }).collect_view();
                Some(view! {
                    <p>"Token " {token + 1} ": " <code class="tok-detail">{visible(&piece)}</code>
                       {format!(" — next-token entropy {:.2} nats", r.routed.entropy.get(token).copied().unwrap_or(0.0))}</p>
                    <table>
                        <thead><tr><th>"layer"</th><th>"block"</th><th>"decision"</th><th>"router weight"</th><th>"rank"</th><th>"top-k threshold"</th><th>"predictor p"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                })
            }}
        </div>
    }
}
