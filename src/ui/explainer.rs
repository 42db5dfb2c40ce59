//! What Mixture-of-Depths is, in place: a short explanation, a diagram of one routed block tied to
//! the heatmap's rows, example texts, and what to look for in them.

use leptos::prelude::*;

use super::{PageState, schedule_run};
use crate::model::{UpdateWeight, capacity_k};

/// Example texts, each chosen to show something different about the router.
const PRESETS: [(&str, &str); 4] = [
    ("Austen", crate::runtime::options::EXAMPLE_TEXT),
    (
        "Dialogue",
        "\"Oh! Mr. Darcy,\" cried Elizabeth, \"you are very much mistaken.\"\n\n\"Am I?\" said he. \"Then tell me, Miss Bennet, where I was wrong.\"\n\n\"Everywhere!\"",
    ),
    ("Lists and numbers", "Chapter 1. Chapter 2. Chapter 3.\n1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12.\nMonday, Tuesday, Wednesday, Thursday, Friday."),
    ("Not English", "Café, naïve, façade. Der schnelle braune Fuchs springt über den faulen Hund. 東京は日本の首都です。 🙂"),
];

#[component]
pub fn Explainer() -> impl IntoView {
    let page = expect_context::<PageState>();
    let k_text = move || {
        page.routing.with(|r| {
            r.as_ref().map(|r| {
                let t = r.window.tokens.len();
                let c = page.settings.with(|s| s.capacity);
                format!("k = {} of these {t} tokens", capacity_k(c, t))
            })
        })
    };
    // Which blocks this model routes, read from the loaded model's trace.
    let blocks_text = move || {
        page.routing.with(|r| {
            r.as_ref().map(|r| {
                let layers = &r.routed.trace.layers;
                let routed: Vec<String> = layers.iter().filter(|l| l.routed).map(|l| l.layer.to_string()).collect();
                let rows: Vec<String> = routed.iter().map(|l| format!("L{l}")).collect();
                format!(
                    "This model has {} blocks; blocks {} are routed (rows {} of the heatmap), the others are dense.",
                    layers.len(),
                    routed.join(", "),
                    rows.join(", ")
                )
            })
        })
    };
    // Closed: its summary is the one sentence a first look needs, so the heatmap stays on the
    // first screen; the rest, and the diagram, are one click away.
    view! {
        <details class="panel explainer">
            <summary><h2>"What am I looking at?"</h2>" "
                <span class="gist">"In each routed block a router scores every token and only the top "<strong>"k"</strong>
                    " are processed; the rest skip the block at no cost. The grid shows, per token, which blocks took it."</span>
            </summary>
            <div class="explain-row">
                <div class="explain-text">
                    <p>
                        "A transformer normally runs every token through every block. In a "
                        <strong>"Mixture-of-Depths"</strong>" model some blocks are "<strong>"routed"</strong>
                        ": a tiny "<strong>"router"</strong>" gives each token a score "<var>"r"</var>
                        ", and the block processes only the "<strong>"k"</strong>" highest-scoring tokens ("
                        {move || k_text().unwrap_or_else(|| "k of the text's tokens".into())}
                        "). The rest skip the block: their vector passes through unchanged, so the block costs a fraction of its usual compute."
                    </p>
                    <details class="more">
                        <summary>"More: capacity, the causal predictor, what to look for"</summary>
                        <p>
                            <strong>"Capacity"</strong>" sets k as a share of the text (12.5% here, as in the paper). "
                            {move || blocks_text().unwrap_or_default()}
                        </p>
                        <p>
                            "Choosing the top k needs the whole text, which a model generating one token at a time does not have. So a small "
                            <strong>"causal predictor"</strong>" learns to guess, token by token, whether top-k would take it; switch the mode to see its choices."
                        </p>
                        <ul class="notice">
                            <li>"Which rows take the paragraph breaks, quotes and capitalised words, and which take almost nothing you would call a pattern?"</li>
                            <li>"Drag capacity to 100%: every routed block then processes every token, and MoD costs as much as dense (see the FLOPs panel)."</li>
                            <li>"Switch to the causal predictor and turn on the disagreement outlines: where does guessing without the future go wrong?"</li>
                        </ul>
                    </details>
                </div>
                <RoutedBlockDiagram raw_weight=Signal::derive(move || page.routing.with(|r| r.as_ref().is_some_and(|r| r.routed.trace.update_weight == UpdateWeight::Raw)))/>
            </div>
        </details>
    }
}

/// Example texts, one click each, next to the text box.
#[component]
pub fn Presets() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <div class="presets" role="group" aria-label="Example texts">
            <span class="label-inline">"Try: "</span>
            {PRESETS.iter().map(|&(name, text)| view! {
                <button class="preset" on:click=move |_| {
                    page.settings.update(|s| s.text = text.to_string());
                    schedule_run(page, 0);
                }>{name}</button>
            }).collect_view()}
        </div>
    }
}

/// One routed block: tokens enter, the router scores them, top-k picks k, the block runs on those
/// and its output (scaled by the router weight) joins the residual; the others skip.
#[component]
fn RoutedBlockDiagram(
    /// The model scales a block's output by the router's raw score `r`, not by `σ(r)`.
    raw_weight: Signal<bool>,
) -> impl IntoView {
    let weight = move || if raw_weight.get() { "r" } else { "σ(r)" };
    view! {
        <svg class="diagram" viewBox="0 0 300 190" role="img" aria-labelledby="diagram-title">
            <title id="diagram-title">{move || format!("A routed block: the router scores each token, top-k sends the k best through attention and MLP, whose output, times {}, is added to the token's vector; the other tokens skip the block unchanged.", weight())}</title>
            <defs>
                <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
                    <path d="M0,0 L10,5 L0,10 z" class="diagram-ink"/>
                </marker>
            </defs>
            <text x="150" y="14" text-anchor="middle" class="diagram-label">"tokens in (x)"</text>
            <line x1="150" y1="20" x2="150" y2="38" class="diagram-line" marker-end="url(#arrow)"/>
            <rect x="95" y="40" width="110" height="24" rx="4" class="diagram-box"/>
            <text x="150" y="56" text-anchor="middle" class="diagram-label">"router: r = w·x"</text>
            <line x1="150" y1="64" x2="150" y2="80" class="diagram-line" marker-end="url(#arrow)"/>
            <rect x="105" y="82" width="90" height="22" rx="4" class="diagram-box"/>
            <text x="150" y="97" text-anchor="middle" class="diagram-label">"top-k of r"</text>
            <line x1="130" y1="104" x2="80" y2="124" class="diagram-line" marker-end="url(#arrow)"/>
            <text x="70" y="116" text-anchor="end" class="diagram-small">"k chosen"</text>
            <line x1="170" y1="104" x2="230" y2="160" class="diagram-line dashed" marker-end="url(#arrow)"/>
            <text x="236" y="120" class="diagram-small">"the rest skip"</text>
            <rect x="20" y="126" width="120" height="24" rx="4" class="diagram-box strong"/>
            <text x="80" y="142" text-anchor="middle" class="diagram-label">"attention + MLP"</text>
            <line x1="80" y1="150" x2="80" y2="164" class="diagram-line" marker-end="url(#arrow)"/>
            <text x="80" y="178" text-anchor="middle" class="diagram-label">{move || format!("x + {}·f(x)", weight())}</text>
            <text x="236" y="178" text-anchor="middle" class="diagram-label">"x unchanged"</text>
        </svg>
    }
}
