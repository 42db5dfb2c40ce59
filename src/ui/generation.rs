//! Continuing the text with both models, token by token (KV cache, causal routing), with the
//! MoD model's routing of each new token drawn as it arrives.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::PageState;
use super::engine::{self, now_ms, sleep_ms};
use crate::runtime::figure::{visible, weight_colour};
use crate::runtime::generate::Generator;
use crate::runtime::sample::Rng;
use crate::runtime::session::window;

#[derive(Clone, Debug, Default, PartialEq)]
struct Generation {
    running: bool,
    /// MoD tokens with, per layer, the router weight when processed (None when skipped).
    routed: Vec<(String, Vec<Option<f32>>)>,
    dense: String,
    routed_tps: f64,
    dense_tps: f64,
    error: Option<String>,
}

const MAX_NEW_TOKENS: usize = 64;

#[component]
pub fn GenerationPanel() -> impl IntoView {
    let page = expect_context::<PageState>();
    let state = RwSignal::new(Generation::default());
    let temperature = RwSignal::new(0.8f32);
    let top_k = RwSignal::new(40usize);

    let start = move |_| {
        page.generation_seq.update_value(|n| *n += 1);
        let id = page.generation_seq.get_value();
        state.set(Generation { running: true, ..Default::default() });
        spawn_local(async move {
            let outcome = generate(id, page, state, temperature.get_untracked(), top_k.get_untracked()).await;
            state.update(|g| {
                g.running = false;
                g.error = outcome.err();
            });
        });
    };
    let stop = move |_| {
        page.generation_seq.update_value(|n| *n += 1);
        state.update(|g| g.running = false);
    };
    view! {
        <section class="panel" aria-labelledby="gen-title">
            <h2 id="gen-title">"Continue the text"</h2>
            <div class="gen-controls">
                <label>"Temperature "
                    <input id="temperature" type="range" min="0" max="1.5" step="0.1" prop:value=move || temperature.get().to_string()
                        on:input=move |ev| temperature.set(event_target_value(&ev).parse().unwrap_or(0.8))/>
                    <output>{move || format!("{:.1}", temperature.get())}</output>
                </label>
                <label>"Top-k "
                    <input id="top-k" type="number" min="1" max="200" prop:value=move || top_k.get().to_string()
                        on:input=move |ev| top_k.set(event_target_value(&ev).parse::<usize>().unwrap_or(40).clamp(1, 200))/>
                </label>
                <button id="generate" on:click=start disabled=move || state.with(|g| g.running)>"Generate"</button>
                <button id="stop" on:click=stop disabled=move || !state.with(|g| g.running)>"Stop"</button>
            </div>
            <p class="note" id="gen-speed">{move || state.with(|g| (!g.routed.is_empty()).then(|| format!(
                "MoD {:.1} tokens/s, dense {:.1} tokens/s on {}{}", g.routed_tps, g.dense_tps, page.backend.get_untracked().label(),
                if g.running { " — generating…" } else { "" })))}</p>
            {move || state.with(|g| g.error.clone()).map(|e| view! { <p class="error">{e}</p> })}
            <div class="row">
                <div class="half">
                    <h3>"MoD (causal routing, per-token columns)"</h3>
                    <div class="grid small" id="gen-grid" role="list" aria-label="Generated tokens with their routing">
                        {move || state.with(|g| g.routed.iter().map(|(piece, cells)| {
                            let cells = cells.iter().enumerate().map(|(l, c)| match c {
                                Some(w) if *w < 0.0 => view! { <span class="cell dense" title=format!("layer {l}: dense")></span> }.into_any(),
                                Some(w) => view! { <span class="cell on" style=format!("background:{}", weight_colour(*w, super::heatmap::is_dark(page))) title=format!("layer {l}: processed")></span> }.into_any(),
                                None => view! { <span class="cell skipped" title=format!("layer {l}: skipped")></span> }.into_any(),
                            }).collect_view();
                            view! { <div class="tok" role="listitem"><span class="tok-text">{visible(piece)}</span>{cells}</div> }
                        }).collect_view())}
                    </div>
                </div>
                <div class="half">
                    <h3>"Dense twin"</h3>
                    <p class="gen-text" id="gen-dense">{move || state.with(|g| g.dense.clone())}</p>
                </div>
            </div>
            <NextTokens/>
        </section>
    }
}

async fn generate(id: u64, page: PageState, state: RwSignal<Generation>, temperature: f32, top_k: usize) -> Result<(), String> {
    let models = engine::models(page.backend.get_untracked()).await?;
    let text = page.settings.with_untracked(|s| s.text.clone());
    let context = models.routed.config().context;
    let prompt = engine::with_tokenizer(|t| window(t, &text, context - MAX_NEW_TOKENS).tokens).ok_or("models not loaded")?;
    if prompt.is_empty() {
        return Err("Type a prompt first.".into());
    }
    let mut routed = Generator::new(&models.routed, &prompt, &models.device).await.map_err(|e| e.to_string())?;
    let mut dense = Generator::new(&models.dense, &prompt, &models.device).await.map_err(|e| e.to_string())?;
    let (mut rng_routed, mut rng_dense) = (Rng::new(id), Rng::new(id));
    let (mut routed_ms, mut dense_ms) = (0.0, 0.0);
    for n in 1..=MAX_NEW_TOKENS {
        if page.generation_seq.try_get_value() != Some(id) {
            break;
        }
        let t0 = now_ms();
        let Some((token, step)) = routed.next(temperature, top_k, &mut rng_routed).await.map_err(|e| e.to_string())? else { break };
        let t1 = now_ms();
        let next_dense = dense.next(temperature, top_k, &mut rng_dense).await.map_err(|e| e.to_string())?;
        let t2 = now_ms();
        routed_ms += t1 - t0;
        dense_ms += t2 - t1;
        let piece = engine::with_tokenizer(|t| t.token_text(token)).unwrap_or_default();
        let dense_piece = next_dense.map(|(t, _)| engine::with_tokenizer(|tk| tk.token_text(t)).unwrap_or_default()).unwrap_or_default();
        let cells: Vec<Option<f32>> = step
            .processed
            .iter()
            .zip(&step.router_score)
            .map(|(&p, w)| match (p, w) {
                (true, Some(w)) => Some(*w),
                (true, None) => Some(-1.0),
                (false, _) => None,
            })
            .collect();
        state.update(|g| {
            g.routed.push((piece, cells));
            g.dense.push_str(&dense_piece);
            g.routed_tps = n as f64 / (routed_ms / 1e3).max(1e-9);
            g.dense_tps = n as f64 / (dense_ms / 1e3).max(1e-9);
        });
        // Let the page paint the new column before the next token.
        sleep_ms(0).await;
    }
    Ok(())
}

#[component]
fn NextTokens() -> impl IntoView {
    let page = expect_context::<PageState>();
    let list = |top: &[(String, f32)]| {
        top.iter().map(|(t, p)| view! { <li><code>{visible(t)}</code>{format!(" {:.1}%", p * 100.0)}</li> }).collect_view()
    };
    view! {
        <div class="row" id="top5">
            {move || page.result.get().map(|r| view! {
                <div class="half"><h3>"MoD: most likely next tokens"</h3><ol>{list(&r.routed_top5)}</ol></div>
                <div class="half"><h3>"Dense: most likely next tokens"</h3><ol>{list(&r.dense_top5)}</ol></div>
            })}
        </div>
    }
}
