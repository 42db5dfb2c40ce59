//! The routing heatmap: one column per token (its text, then one cell per layer, top to bottom,
//! then its routed depth), wrapped into lines that each carry the layer labels; and the details of
//! the cell under the pointer or keyboard focus. For assistive technology it is an ARIA grid with
//! one Tab stop: each token is a row, each layer a cell, arrow keys move, Home/End jump.

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::PageState;
use super::engine::Routing;
use crate::model::{RoutingMode, RoutingTrace, UpdateWeight, capacity_k};
use crate::runtime::figure::{LABELS_PX, column_px, lines, visible, weight_colour};
use crate::runtime::notes::{highlights, layer_notes};

/// Whether the causal predictor (p > 0.5) and top-k at the trace's capacity disagree on a cell.
pub fn disagrees(trace: &RoutingTrace, layer: usize, token: usize) -> bool {
    let l = &trace.layers[layer];
    l.routed && (l.predictor_prob[token] > 0.5) != (l.rank[token] < capacity_k(trace.capacity, trace.tokens))
}

fn cell_label(trace: &RoutingTrace, layer: usize, token: usize) -> String {
    let l = &trace.layers[layer];
    if !l.routed {
        return format!("layer {layer}: dense block, processes every token");
    }
    format!(
        "layer {layer}: {}, router score {:.3}, rank {} of {}{}",
        if l.processed[token] { "processed" } else { "skipped" },
        l.router_score[token],
        l.rank[token] + 1,
        trace.tokens,
        if disagrees(trace, layer, token) { "; predictor and top-k disagree" } else { "" }
    )
}

/// What a screen reader says for a token: its text and which routed layers took it.
fn token_label(trace: &RoutingTrace, index: usize, piece: &str) -> String {
    let taken: Vec<String> = trace.layers.iter().filter(|l| l.routed && l.processed[index]).map(|l| l.layer.to_string()).collect();
    let routed = trace.layers.iter().filter(|l| l.routed).count();
    let which = if taken.is_empty() { "skipped by every routed layer".to_string() } else { format!("processed by routed layers {}", taken.join(", ")) };
    format!("token {}: “{}”, {which} ({} of {routed})", index + 1, visible(piece), taken.len())
}

/// Whether the page is drawn dark (the theme toggle, or the system setting when not forced).
pub fn is_dark(page: PageState) -> bool {
    page.theme.get().map_or_else(
        || web_sys::window().and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten()).is_some_and(|m| m.matches()),
        |t| t == "dark",
    )
}

const HEATMAP_TITLE: &str = "Which tokens each routed block processed";

#[component]
pub fn Heatmap() -> impl IntoView {
    let page = expect_context::<PageState>();
    let figure = page.options.with_value(|o| o.figure);
    let show_dense = RwSignal::new(true);
    let show_disagreement = RwSignal::new(false);
    let reading = RwSignal::new(false);
    // The cell under the pointer and where to put its popover (viewport x of its centre, y of its
    // bottom edge).
    let pointer = RwSignal::new(None::<Pointed>);
    let section = NodeRef::<leptos::html::Section>::new();
    // Lines are cut to the panel's width: measured on every run, and again when a resize changes
    // it noticeably (not on every resize event: each re-cut redraws the grid).
    let measured = RwSignal::new(0.0f64);
    let measure = move || section.get_untracked().map(|el| f64::from(el.client_width())).filter(|&w| w > 0.0);
    let resize = window_event_listener(ev::resize, move |_| {
        if let Some(w) = measure()
            && (w - measured.get_untracked()).abs() > 16.0
        {
            measured.set(w);
        }
    });
    on_cleanup(move || resize.remove());
    let width = move || {
        measured.track();
        let w = measure().unwrap_or(900.0);
        measured.update_untracked(|m| *m = w);
        w
    };
    view! {
        <section class="panel" id="heatmap" aria-label=HEATMAP_TITLE node_ref=section>
            {page.options.with_value(|o| o.heading).then(|| view! { <h2 id="heatmap-title">{HEATMAP_TITLE}</h2> })}
            <Legend/>
            // Until the first run the loading screen's picture of this grid holds its place, so
            // nothing below jumps when the live grid arrives.
            {move || page.routing.with(Option::is_none).then(|| {
                let src = page.options.with_value(|o| format!("{}shell.svg", o.asset_base));
                view! { <img class="grid-placeholder" src=src width="1000" alt="" aria-hidden="true"/> }
            })}
            {move || page.routing.get().map(|r| {
                if reading.get() {
                    return view! { <ReadingView result=r dark=is_dark(page)/> }.into_any();
                }
                let w = width();
                view! { <Grid result=r width=w dark=is_dark(page) show_dense=show_dense.get() show_disagreement=show_disagreement.get() pointer=pointer/> }.into_any()
            })}
            <Popover pointer=pointer/>
            {(!figure).then(|| view! { <Noticed/> })}
            {(!figure).then(|| view! {
                <div class="toggles">
                    <label><input type="checkbox" id="show-dense" prop:checked=move || show_dense.get()
                        on:change=move |ev| show_dense.set(event_target_checked(&ev))/>" show the dense blocks (thin hatched rows)"</label>
                    <label><input type="checkbox" id="show-disagreement" prop:checked=move || show_disagreement.get()
                        on:change=move |ev| show_disagreement.set(event_target_checked(&ev))/>" outline where the causal predictor disagrees with top-k"</label>
                    <label><input type="checkbox" id="reading-view" prop:checked=move || reading.get()
                        on:change=move |ev| reading.set(event_target_checked(&ev))/>" reading view: the text itself, a bar per routed layer under each token"</label>
                </div>
            })}
            {(!figure).then(|| view! { <Details/><super::export::HeatmapExport/> })}
        </section>
    }
}

/// What stands out in this routing, and what each routed layer took, computed from the trace.
#[component]
fn Noticed() -> impl IntoView {
    let page = expect_context::<PageState>();
    move || {
        page.routing.get().map(|r| {
            let trace = &r.routed.trace;
            let notes = layer_notes(trace, &r.pieces)
                .into_iter()
                .map(|n| view! { <li><strong>{format!("L{}", n.layer)}</strong>{format!(" took {}", n.caption())}</li> })
                .collect_view();
            view! {
                <div class="noticed" id="noticed">
                    <p class="highlights">{highlights(trace, &r.pieces).join(" ")}</p>
                    <ul class="layer-notes" aria-label="What each routed layer took in this text">{notes}</ul>
                </div>
            }
        })
    }
}

/// The key: what each kind of cell means, and the colour bar of update weights with each routed
/// layer's top-k threshold marked.
#[component]
fn Legend() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <div class="legend">
            <span><span class="key on" style=move || format!("background:{}", weight_colour(0.9, is_dark(page)))></span>" processed"</span>
            <span><span class="key skipped"></span>" skipped"</span>
            <span><span class="key dense"></span>" dense block (every token)"</span>
            <span class="colourbar-wrap">"router score σ(r): 0 "
                {move || {
                    let dark = is_dark(page);
                    let stops: Vec<String> = (0..=8).map(|i| weight_colour(i as f32 / 8.0, dark)).collect();
                    let marks = page.routing.get().map(|r| r.routed.trace.layers.iter().filter_map(|l| l.topk_threshold.map(|t| (l.layer, t))).map(|(layer, t)| view! {
                        <span class="threshold" style=format!("left:{:.1}%", t.clamp(0.0, 1.0) * 100.0) title=format!("layer {layer}: top-k threshold {t:.3}")></span>
                    }).collect_view());
                    view! { <span class="colourbar" style=format!("background:linear-gradient(90deg,{})", stops.join(","))>{marks}</span> }
                }}
                " 1"
            </span>
            {page.options.with_value(|o| o.note).then(|| view! {
                <span class="note">"Ticks on the bar: each routed layer's top-k threshold. The number under a column is its routed depth: how many of the routed blocks processed it."</span>
            })}
        </div>
    }
}

/// The id of a grid cell: row 0 is the token's text, rows 1… its layers.
fn cell_id(token: usize, row: usize) -> String {
    format!("hm-{token}-{row}")
}

/// A cell under the pointer: token, layer (None: the token's text), and the popover's anchor.
#[derive(Clone, Copy, PartialEq)]
struct Pointed {
    token: usize,
    layer: Option<usize>,
    x: f64,
    y: f64,
}

/// Points `pointer` at the cell the mouse entered.
fn point_at(pointer: RwSignal<Option<Pointed>>, ev: &web_sys::MouseEvent, token: usize, layer: Option<usize>) {
    if let Some(cell) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
        let r = cell.get_bounding_client_rect();
        pointer.set(Some(Pointed { token, layer, x: r.left() + r.width() / 2.0, y: r.bottom() }));
    }
}

#[component]
fn Grid(
    result: std::sync::Arc<Routing>,
    width: f64,
    dark: bool,
    show_dense: bool,
    show_disagreement: bool,
    pointer: RwSignal<Option<Pointed>>,
) -> impl IntoView {
    let page = expect_context::<PageState>();
    let trace = result.routed.trace.clone();
    let tokens = trace.tokens;
    let k = capacity_k(trace.capacity, tokens);
    let depth = trace.routed_depth();
    let labels: Vec<String> = result.pieces.iter().map(|p| visible(p)).collect();
    let visible_layers: Vec<usize> = trace.layers.iter().filter(|l| l.routed || show_dense).map(|l| l.layer).collect();
    let label_layers = visible_layers.clone();
    // The selected cell (a deep link's, or the keyboard's before this run) keeps its ring.
    let selected = page.selected.get_untracked();
    let ring = move |class: &str, cell: (usize, Option<usize>)| if selected == Some(cell) { format!("{class} active") } else { class.to_string() };
    let n_routed = trace.layers.iter().filter(|l| l.routed).count();
    let row_labels: Vec<(String, bool)> = label_layers
        .iter()
        .map(|&l| {
            let layer = &trace.layers[l];
            if layer.routed { (format!("L{l} · k {}", layer.processed_count()), true) } else { (format!("L{l} dense"), false) }
        })
        .collect();
    let label_column = move || {
        let rows = row_labels
            .iter()
            .map(|(text, routed)| view! { <span class=if *routed { "row-label" } else { "row-label dense" }>{text.clone()}</span> })
            .collect_view();
        view! {
            <div class="hm-labels" aria-hidden="true" style=format!("width:{LABELS_PX}px")>
                <span class="row-label text">"token"</span>
                {rows}
                <span class="row-label depth-label">"depth"</span>
            </div>
        }
    };
    let line_views = lines(&labels, width)
        .into_iter()
        .map(|range| {
            let columns = range
                .map(|i| {
                    let cells = label_layers
                        .iter()
                        .map(|&l| {
                            let layer = &trace.layers[l];
                            let (class, style) = match (layer.routed, layer.processed[i]) {
                                (false, _) => ("cell dense", String::new()),
                                (true, true) => ("cell on", format!("background:{}", weight_colour(layer.router_score[i], dark))),
                                (true, false) => ("cell skipped", String::new()),
                            };
                            let class = if show_disagreement && disagrees(&trace, l, i) { format!("{class} disagree") } else { class.to_string() };
                            let class = ring(&class, (i, Some(l)));
                            let label = cell_label(&trace, l, i);
                            view! {
                                <span class=class style=style id=cell_id(i, l + 1) role="gridcell" aria-label=label
                                    on:mouseenter=move |ev| {
                                        page.selected.set(Some((i, Some(l))));
                                        point_at(pointer, &ev, i, Some(l));
                                    }></span>
                            }
                        })
                        .collect_view();
                    let name = token_label(&trace, i, &result.pieces[i]);
                    view! {
                        <div class="tok" role="row" aria-rowindex=i + 1 style=format!("width:{}px", column_px(&labels[i]))
                            on:mouseenter=move |_| page.selected.set(Some((i, None)))
                            on:click=move |_| page.selected.set(Some((i, None)))>
                            <span class=ring("tok-text", (i, None)) role="rowheader" id=cell_id(i, 0) aria-label=name
                                on:mouseenter=move |ev| {
                                    page.selected.set(Some((i, None)));
                                    point_at(pointer, &ev, i, None);
                                }>{labels[i].clone()}</span>
                            {cells}
                            <span class="depth" aria-hidden="true">{depth[i]}</span>
                        </div>
                    }
                })
                .collect_view();
            view! { <div class="hm-line" role="rowgroup">{label_column()}{columns}</div> }
        })
        .collect_view();
    // Keyboard: one Tab stop; arrows move the active cell (announced through
    // aria-activedescendant), Home/End go to the first/last token. Row 0 is the token's text.
    let rows = visible_layers.len();
    let layers = StoredValue::new(visible_layers);
    let active = move || {
        page.selected.get().map_or((0, 0), |(t, l)| {
            let row = l.and_then(|l| layers.with_value(|v| v.iter().position(|&x| x == l))).map_or(0, |p| p + 1);
            (t.min(tokens.saturating_sub(1)), row)
        })
    };
    let id_of = move |t: usize, row: usize| cell_id(t, if row == 0 { 0 } else { layers.with_value(|v| v[row - 1]) + 1 });
    let on_key = move |ev: web_sys::KeyboardEvent| {
        let (t, row) = active();
        let (t, row) = match ev.key().as_str() {
            "ArrowRight" => ((t + 1).min(tokens.saturating_sub(1)), row),
            "ArrowLeft" => (t.saturating_sub(1), row),
            "ArrowDown" => (t, (row + 1).min(rows)),
            "ArrowUp" => (t, row.saturating_sub(1)),
            "Home" => (0, if ev.ctrl_key() { 0 } else { row }),
            "End" => (tokens.saturating_sub(1), row),
            _ => return,
        };
        ev.prevent_default();
        let layer = if row == 0 { None } else { Some(layers.with_value(|v| v[row - 1])) };
        page.selected.set(Some((t, layer)));
        // The keyboard's cell gets the pointer's popover, beside it rather than below the grid.
        if let Some(cell) = move_focus_ring(&ev, &id_of(t, row)) {
            let r = cell.get_bounding_client_rect();
            pointer.set(Some(Pointed { token: t, layer, x: r.left() + r.width() / 2.0, y: r.bottom() }));
        }
    };
    let active_id = move || {
        let (t, row) = active();
        id_of(t, row)
    };
    let description = format!(
        "{tokens} tokens, one row each; {n_routed} routed layers each process k = {k} of them (top-k) or those the predictor picks (causal). Arrow keys move, Home and End jump."
    );
    // A deep link (`?token=…&layer=…`) scrolls its cell into view on the first heatmap, once.
    if page.options.with_value(|o| o.focus).is_some() {
        page.options.update_value(|o| o.focus = None);
        let id = active_id();
        request_animation_frame(move || {
            if let Some(cell) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(&id)) {
                scroll_to(&cell);
            }
        });
    }
    // While a newer run is on its way the old heatmap stays, dimmed.
    let stale = move || page.status.get() == super::Status::Running;
    view! {
        <div class="grid" class:stale=stale data-run=move || page.runs.get() role="grid" tabindex="0"
            aria-label="Routing heatmap" aria-description=description aria-rowcount=tokens
            aria-activedescendant=active_id on:keydown=on_key
            on:mouseleave=move |_| pointer.set(None) on:scroll=move |_| pointer.set(None) on:blur=move |_| pointer.set(None)>
            {line_views}
        </div>
    }
}

/// The "highlighter" view for long passages: the text as it reads (spaces and line breaks kept),
/// with one thin bar per routed layer under each token, coloured by its update weight where
/// that layer processed it.
#[component]
fn ReadingView(result: std::sync::Arc<Routing>, dark: bool) -> impl IntoView {
    let trace = &result.routed.trace;
    let routed: Vec<&crate::model::LayerTrace> = trace.layers.iter().filter(|l| l.routed).collect();
    let tokens = result
        .pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let bars = routed
                .iter()
                .map(|l| match l.processed[i] {
                    true => view! { <i class="bar on" style=format!("background:{}", weight_colour(l.router_score[i], dark))></i> }.into_any(),
                    false => view! { <i class="bar"></i> }.into_any(),
                })
                .collect_view();
            // A line break inside a token breaks the line here too.
            let text = piece.replace('\n', "");
            let breaks = piece.matches('\n').count();
            view! {
                <span class="rt" aria-label=token_label(trace, i, piece)>
                    <span class="rt-text" aria-hidden="true">{if text.is_empty() { "\u{a0}".to_string() } else { text }}</span>
                    <span class="rt-bars" aria-hidden="true">{bars}</span>
                </span>
                {(0..breaks).map(|_| view! { <br/> }).collect_view()}
            }
        })
        .collect_view();
    let layers: Vec<String> = routed.iter().map(|l| format!("L{}", l.layer)).collect();
    view! {
        <p class="note">{format!("Bars under each token, top to bottom: routed layers {}; a coloured bar means that layer processed the token.", layers.join(", "))}</p>
        <div class="reading" role="group" aria-label="Reading view of the routing">{tokens}</div>
    }
}

/// Marks the keyboard's active cell and scrolls it into view; returns it.
fn move_focus_ring(ev: &web_sys::KeyboardEvent, id: &str) -> Option<web_sys::Element> {
    let grid = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok())?;
    if let Ok(Some(old)) = grid.query_selector(".active") {
        let _ = old.class_list().remove_1("active");
    }
    let cell = grid.query_selector(&format!("#{id}")).ok().flatten()?;
    let _ = cell.class_list().add_1("active");
    scroll_to(&cell);
    Some(cell)
}

fn scroll_to(cell: &web_sys::Element) {
    let options = web_sys::ScrollIntoViewOptions::new();
    options.set_block(web_sys::ScrollLogicalPosition::Nearest);
    options.set_inline(web_sys::ScrollLogicalPosition::Nearest);
    cell.scroll_into_view_with_scroll_into_view_options(&options);
}

/// What the cell under the pointer means, next to it: for a layer's cell its decision, weight,
/// rank, threshold and the predictor's view; for a token's text which routed layers took it.
/// (The details table below the grid says the same for the keyboard and screen readers.)
#[component]
fn Popover(pointer: RwSignal<Option<Pointed>>) -> impl IntoView {
    let page = expect_context::<PageState>();
    move || {
        let Pointed { token, layer, x, y } = pointer.get()?;
        let r = page.routing.get()?;
        let trace = &r.routed.trace;
        let piece = visible(r.pieces.get(token)?);
        let heading = format!("“{piece}” · token {} of {}", token + 1, trace.tokens);
        let lines: Vec<String> = match layer.map(|l| &trace.layers[l]) {
            Some(l) if !l.routed => vec![format!("Layer {}: dense block, processes every token", l.layer)],
            Some(l) => {
                let k = capacity_k(trace.capacity, trace.tokens);
                let decision = if l.processed[token] { "processed" } else { "skipped" };
                let mut lines = vec![
                    format!("Layer {}: {decision}", l.layer),
                    format!("router score σ(r) {:.3}, rank {} of {} (top-k takes {k})", l.router_score[token], l.rank[token] + 1, trace.tokens),
                ];
                if trace.update_weight == UpdateWeight::Raw && l.processed[token] {
                    lines.push(format!("the block's output is scaled by r = {:.3}", l.router_weight[token]));
                }
                if let Some(t) = l.topk_threshold.filter(|_| matches!(trace.mode, RoutingMode::TopK { .. })) {
                    lines.push(format!("this layer's threshold {t:.3}"));
                }
                let agrees = if disagrees(trace, l.layer, token) { "disagrees with top-k" } else { "agrees with top-k" };
                lines.push(format!("causal predictor p = {:.2}: {agrees}", l.predictor_prob[token]));
                lines
            }
            None => {
                let taken: Vec<String> = trace.layers.iter().filter(|l| l.routed && l.processed[token]).map(|l| format!("L{}", l.layer)).collect();
                let routed = trace.layers.iter().filter(|l| l.routed).count();
                vec![
                    if taken.is_empty() { format!("skipped by all {routed} routed blocks") } else { format!("processed by {} ({} of {routed} routed blocks)", taken.join(", "), taken.len()) },
                    format!("next-token entropy {:.2} nats", r.routed.entropy.get(token).copied().unwrap_or(0.0)),
                ]
            }
        };
        // Centred under the cell, kept inside the window (the popover is at most 300 px wide). A
        // zoomed instance (`scale`) places it in its own pixels, the cell's in the window's.
        let zoom = page.options.with_value(|o| o.scale);
        let inner = web_sys::window().and_then(|w| w.inner_width().ok()).and_then(|w| w.as_f64()).unwrap_or(1000.0) / zoom;
        let left = (x / zoom - 150.0).clamp(4.0, (inner - 304.0).max(4.0));
        Some(view! {
            <div class="popover" role="tooltip" style=format!("left:{left:.0}px;top:{:.0}px", y / zoom + 6.0)>
                <strong>{heading}</strong>
                {lines.into_iter().map(|line| view! { <span>{line}</span> }).collect_view()}
            </div>
        })
    }
}

#[component]
fn Details() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <div class="details" aria-live="polite">
            {move || {
                let (token, layer) = page.selected.get()?;
                let r = page.routing.get()?;
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
                            <td>{format!("{:.3}", l.router_score[token])}</td>
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
                        <thead><tr><th>"layer"</th><th>"block"</th><th>"decision"</th><th>"router score σ(r)"</th><th>"rank"</th><th>"top-k threshold"</th><th>"predictor p"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                })
            }}
        </div>
    }
}
