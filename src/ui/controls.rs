//! The text box, the status line, the backend badge and the routing controls.

use leptos::prelude::*;

use super::{PageState, Status, schedule_run};
use crate::runtime::backend::BackendKind;

/// Debounce for typing when a run blocks the page (the CPU path on the page's own thread): long
/// enough to skip intermediate keystrokes, short enough to feel live. In workers or on the GPU a
/// keystroke runs at once; one typed during a run waits for it, and only the newest one runs.
const TYPING_DEBOUNCE_MS: i32 = 40;
/// Longest text accepted, in characters (the model only ever sees its last 256 tokens).
pub const MAX_CHARS: usize = 200_000;

#[component]
pub fn TextInput() -> impl IntoView {
    let page = expect_context::<PageState>();
    let on_input = move |ev| {
        let mut value = event_target_value(&ev);
        if value.chars().count() > MAX_CHARS {
            value = value.chars().take(MAX_CHARS).collect();
            page.message.set(Some(format!("Only the first {MAX_CHARS} characters are kept.")));
        }
        page.settings.update(|s| s.text = value);
        let blocking = super::engine::blocks_the_page(page.backend.get_untracked());
        schedule_run(page, if blocking { TYPING_DEBOUNCE_MS } else { 0 });
    };
    view! {
        <label for="text" class="label">"Your text"</label>
        <textarea
            id="text"
            rows="3"
            spellcheck="false"
            readonly=move || page.options.with_value(|o| o.readonly)
            aria-describedby="window-note"
            prop:value=move || page.settings.with(|s| s.text.clone())
            on:input=on_input
        ></textarea>
        {move || (!page.options.with_value(|o| o.autorun)).then(|| view! {
            <button class="run" on:click=move |_| schedule_run(page, 0)>"Run"</button>
        })}
        <p id="window-note" class="note">
            {move || page.routing.with(|r| match r {
                Some(r) if r.window.dropped > 0 => format!(
                    "The text is {} tokens; the model's context is {}, so it sees the last {} (the first {} are not shown).",
                    r.window.dropped + r.window.tokens.len(), r.window.tokens.len(), r.window.tokens.len(), r.window.dropped),
                Some(r) => format!("{} tokens.", r.window.tokens.len()),
                None => String::new(),
            })}
        </p>
    }
}

#[component]
pub fn StatusLine() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <div class="status" role="status" aria-live="polite" data-status=move || match page.status.get() {
            Status::Loading(_) => "loading", Status::Running => "running", Status::Comparing => "comparing", Status::Ready => "ready", Status::Failed(_) => "failed" }>
            {move || match page.status.get() {
                Status::Loading(s) => view! { <span class="spinner" aria-hidden="true"></span>{s} }.into_any(),
                Status::Running => view! { <span>"Running…"</span> }.into_any(),
                Status::Comparing => view! { <span>"Heatmap up to date; the dense model is finishing for the comparison…"</span> }.into_any(),
                Status::Ready => view! { <span>"Up to date."</span> }.into_any(),
                Status::Failed(e) => {
                    // The first clause says what failed; the cause (file, HTTP status, check) is
                    // one click away.
                    let (headline, cause) = e.split_once(": ").map_or((e.clone(), None), |(h, c)| (h.to_string(), Some(c.to_string())));
                    view! {
                        <span class="error" id="failure">{headline}"."
                            {cause.map(|c| view! { <details class="cause"><summary>"Why"</summary><code>{c}</code></details> })}
                        </span>
                        <button id="retry" on:click=move |_| super::retry(page)>"Retry"</button>
                    }.into_any()
                }
            }}
            {move || page.message.get().map(|m| view! { <span class="message">{m}</span> })}
        </div>
    }
}

#[component]
pub fn BackendBadge() -> impl IntoView {
    let page = expect_context::<PageState>();
    let switch = move |ev| {
        let kind = if event_target_value(&ev) == "webgpu" { BackendKind::WebGpu } else { BackendKind::Cpu };
        if kind != page.backend.get_untracked() {
            page.backend_by_hand.set(true);
            page.backend.set(kind);
            page.backend_note.set(match kind {
                BackendKind::WebGpu => "switched to WebGPU by hand".into(),
                _ => "switched to the CPU by hand".into(),
            });
            schedule_run(page, 0);
        }
    };
    view! {
        <div class="badge" data-backend=move || match page.backend.get() { BackendKind::WebGpu => "webgpu", _ => "cpu" }>
            <span class="badge-name">{move || page.backend.get().label()}</span>
            <span class="badge-note" title=move || page.backend_note.get()>{move || page.backend_note.get()}</span>
            <label class="sr-only" for="backend">"Backend"</label>
            <select id="backend" on:change=switch prop:value=move || match page.backend.get() { BackendKind::WebGpu => "webgpu", _ => "cpu" }>
                <option value="cpu">"CPU"</option>
                <option value="webgpu" disabled=move || page.webgpu_ok.get() != Some(true)>"WebGPU"</option>
            </select>
        </div>
    }
}

#[component]
pub fn ThemeToggle() -> impl IntoView {
    let page = expect_context::<PageState>();
    let toggle = move |_| {
        let dark = super::heatmap::is_dark(page);
        page.theme.set(Some(if dark { "light" } else { "dark" }.into()));
    };
    view! { <button class="theme" on:click=toggle aria-label="Switch between light and dark theme">"◐ Theme"</button> }
}

#[component]
pub fn RoutingControls() -> impl IntoView {
    let page = expect_context::<PageState>();
    let set_capacity = move |ev| {
        let c = event_target_value(&ev).parse::<f64>().unwrap_or(0.125).clamp(0.125, 1.0);
        page.settings.update(|s| s.capacity = c);
        schedule_run(page, 0);
    };
    // "12.5% → each routed block processes k = 13 of 103 tokens", live with the text.
    let capacity_words = move || {
        let c = page.settings.with(|s| s.capacity);
        match page.routing.with(|r| r.as_ref().map(|r| r.window.tokens.len())) {
            Some(t) => format!("{:.1}% → each routed block processes k = {} of {t} tokens", c * 100.0, crate::model::capacity_k(c, t)),
            None => format!("{:.1}%", c * 100.0),
        }
    };
    let set_mode = move |causal: bool| {
        page.settings.update(|s| s.causal = causal);
        schedule_run(page, 0);
    };
    view! {
        <fieldset class="controls">
            <legend>"Routing"</legend>
            <div class="capacity-row">
                <label for="capacity">"Capacity"</label>
                <input id="capacity" type="range" min="0.125" max="1" step="0.125"
                    disabled=move || page.settings.with(|s| s.causal)
                    aria-valuetext=capacity_words
                    prop:value=move || page.settings.with(|s| s.capacity).to_string()
                    on:input=set_capacity/>
                <output id="capacity-value" for="capacity">{capacity_words}</output>
            </div>
            <div role="radiogroup" aria-label="Routing mode" class="modes">
                <label><input type="radio" name="mode" id="mode-topk" prop:checked=move || !page.settings.with(|s| s.causal)
                    on:change=move |_| set_mode(false)/>" Top-k (sees the whole text, as in training)"</label>
                <label><input type="radio" name="mode" id="mode-causal" prop:checked=move || page.settings.with(|s| s.causal)
                    on:change=move |_| set_mode(true)/>" Causal predictor (token by token, as when sampling)"</label>
            </div>
            <p class="note">{move || page.settings.with(|s| s.causal).then_some("In causal mode the predictor decides, so the capacity slider does not apply.")}</p>
        </fieldset>
    }
}
