//! The browser page: one component per panel, state in signals owned by `Demo`, and the model
//! runtime behind `engine`'s small async interface. The same `Demo` is the standalone page and
//! each embedded `<mod-demo>` element; all instances share one engine (models and device).

mod charts;
mod controls;
mod engine;
mod explainer;
mod export;
mod flops_table;
mod generation;
mod heatmap;
mod predictor;
mod state;
mod study;
mod worker;

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::runtime::backend::BackendKind;
use engine::{Routing, RunResult};
use state::{Options, Panels, RawOptions, Settings};

/// What an instance is doing, shown in its status line.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Loading(String),
    Running,
    /// The heatmap is drawn; the dense twin, for the comparison, is still running.
    Comparing,
    Ready,
    Failed(String),
}

/// One instance's state, provided through context so panels stay small.
#[derive(Clone, Copy)]
pub struct PageState {
    pub options: StoredValue<Options>,
    pub settings: RwSignal<Settings>,
    pub theme: RwSignal<Option<String>>,
    pub backend: RwSignal<BackendKind>,
    pub backend_note: RwSignal<String>,
    pub webgpu_ok: RwSignal<Option<bool>>,
    /// The reader picked the backend in the badge: the page's own choice no longer overrides it.
    pub backend_by_hand: RwSignal<bool>,
    pub status: RwSignal<Status>,
    /// The MoD model's latest run, drawn by the heatmap and the routing panels as soon as it
    /// arrives; `result` adds the dense twin's run over the same text a little later.
    pub routing: RwSignal<Option<Arc<Routing>>>,
    pub result: RwSignal<Option<Arc<RunResult>>>,
    pub message: RwSignal<Option<String>>,
    /// (token, layer) under the pointer or keyboard focus.
    pub selected: RwSignal<Option<(usize, Option<usize>)>>,
    /// Heatmaps drawn so far (tests and the benchmark wait on it).
    pub runs: RwSignal<u64>,
    /// Latest requested run and generation: older ones see a newer number and give up.
    run_seq: StoredValue<u64>,
    pub generation_seq: StoredValue<u64>,
}

/// Bytes of wasm linear memory held by the page and its workers (for the memory benchmark).
#[wasm_bindgen]
pub async fn memory_bytes() -> f64 {
    engine::memory_bytes().await
}

/// Bytes of linear memory this instance of the module holds.
pub fn wasm_memory_bytes() -> f64 {
    use wasm_bindgen::JsCast;
    wasm_bindgen::memory().dyn_into::<js_sys::WebAssembly::Memory>().map_or(0.0, |m| {
        m.buffer().dyn_into::<js_sys::ArrayBuffer>().map_or(0.0, |b| b.byte_length() as f64)
    })
}

/// The standalone page (`index.html` marks its body with `data-modscope="page"`).
pub fn start() {
    console_error_panic_hook::set_once();
    let is_page = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
        .and_then(|b| b.get_attribute("data-modscope"))
        .is_some_and(|v| v == "page");
    if is_page {
        if let Some(shell) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("shell")) {
            shell.remove();
        }
        let options = Options::from_location();
        // The CPU-only build's workers are made (and handed the module) and the weights fetched
        // before the page is mounted, so the workers instantiate it and receive their weights
        // while the page draws its first screen. A worker's thread starts only after several
        // tasks of this one, so the mount (~170 ms on one core) waits until the workers are up
        // and their weights posted (or half a second), instead of holding them back.
        #[cfg(not(feature = "webgpu"))]
        let booted = {
            let base = options.asset_base.clone();
            let booted = engine::boot_workers();
            wasm_bindgen_futures::spawn_local(async move {
                let _ = engine::load(&base, |_| {}).await;
            });
            booted
        };
        wasm_bindgen_futures::spawn_local(async move {
            #[cfg(not(feature = "webgpu"))]
            if let Some(booted) = booted {
                futures_util::future::select(booted, std::pin::pin!(engine::sleep_ms(500))).await;
                engine::sleep_ms(0).await;
            }
            leptos::mount::mount_to_body(move || view! { <Demo options=options.clone()/> });
        });
    }
}

/// Fetches the tokenizer and weights once for every element on the page.
#[wasm_bindgen]
pub async fn preload(asset_base: String) -> Result<(), wasm_bindgen::JsValue> {
    engine::load(&asset_base, |_| {}).await.map_err(|e| e.into())
}

thread_local! {
    /// Every mounted `<mod-demo>`'s state, by the id `mount_demo` returned, for live attribute changes.
    static INSTANCES: std::cell::RefCell<Vec<PageState>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Mounts a demo into `parent` (an element's shadow root container). `options` holds the
/// element's attributes as strings; `page_url` is the full page that share links open. Returns
/// the instance's id for [`update_demo`].
#[wasm_bindgen]
pub fn mount_demo(parent: web_sys::HtmlElement, options: wasm_bindgen::JsValue, asset_base: String, page_url: String) -> u32 {
    console_error_panic_hook::set_once();
    let raw: RawOptions = js_sys::JSON::stringify(&options)
        .ok()
        .and_then(|s| s.as_string())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let options = Options::from_raw(raw, asset_base, page_url, false);
    leptos::mount::mount_to(parent, move || view! { <Demo options=options.clone()/> }).forget();
    // `Demo` registered itself while mounting, synchronously: it is the last one.
    INSTANCES.with(|i| i.borrow().len().saturating_sub(1) as u32)
}

/// Applies a changed attribute of a mounted `<mod-demo>` live: `text`, `capacity`, `mode` and
/// `theme` (parsed as on first mount). Returns false for the others, which are read only when
/// the element is connected.
#[wasm_bindgen]
pub fn update_demo(id: u32, name: String, value: Option<String>) -> bool {
    let Some(page) = INSTANCES.with(|i| i.borrow().get(id as usize).copied()) else { return false };
    let parsed = |raw: RawOptions| Options::from_raw(raw, String::new(), String::new(), false);
    match name.as_str() {
        "text" => page.settings.update(|s| s.text = parsed(RawOptions { text: value, ..Default::default() }).settings.text),
        "capacity" => page.settings.update(|s| s.capacity = parsed(RawOptions { capacity: value, ..Default::default() }).settings.capacity),
        "mode" => page.settings.update(|s| s.causal = parsed(RawOptions { mode: value, ..Default::default() }).settings.causal),
        "theme" => {
            page.theme.set(parsed(RawOptions { theme: value, ..Default::default() }).theme);
            return true;
        }
        _ => return false,
    }
    schedule_run(page, 0);
    true
}

/// Debounced re-run: a newer request supersedes older ones, whose results are dropped.
pub fn schedule_run(page: PageState, delay_ms: i32) {
    page.run_seq.update_value(|n| *n += 1);
    let id = page.run_seq.get_value();
    let is_current = move || page.run_seq.try_get_value() == Some(id);
    spawn_local(async move {
        engine::sleep_ms(delay_ms).await;
        if !is_current() {
            return;
        }
        while state::busy() {
            engine::sleep_ms(4).await;
            if !is_current() {
                return;
            }
        }
        let settings = page.settings.get_untracked();
        if settings.text.is_empty() {
            page.message.set(Some("Type some text to see how the router treats it.".into()));
            page.status.set(Status::Ready);
            return;
        }
        let kind = page.backend.get_untracked();
        state::set_busy(true);
        page.status.set(Status::Running);
        let show_routing = move |routing: Arc<Routing>| {
            if is_current() {
                page.message.set(None);
                page.routing.set(Some(routing));
                page.runs.update(|n| *n += 1);
                page.status.set(Status::Comparing);
            }
        };
        let outcome = engine::run(kind, engine::Input::Text(&settings.text), settings.capacity, settings.causal, show_routing).await;
        state::set_busy(false);
        match outcome {
            // The comparison that belongs to the heatmap on show lands even when a newer run is
            // already waiting; the panels never pair one text's routing with another's.
            Ok(result) if page.routing.with_untracked(|r| r.as_ref().is_some_and(|r| Arc::ptr_eq(r, &result.routing))) => {
                page.result.set(Some(result));
                if is_current() {
                    page.status.set(Status::Ready);
                }
            }
            Ok(_) => {}
            Err(e) if kind == BackendKind::WebGpu => {
                // The GPU failed mid-session: keep the reader's text and settings, move to the CPU.
                engine::drop_backend(BackendKind::WebGpu);
                page.webgpu_ok.set(Some(false));
                page.backend.set(BackendKind::Cpu);
                // Backend errors carry a cause chain and a backtrace: the first cause says enough.
                let cause = e.split(" Caused by").next().unwrap_or(&e);
                page.backend_note.set(format!("WebGPU failed ({cause}); switched to the CPU"));
                schedule_run(page, 0);
            }
            Err(e) => page.status.set(Status::Failed(e)),
        }
    });
}

/// Starts over after a failure: forgets whatever was fetched or built and loads again, keeping
/// the reader's text and settings.
pub fn retry(page: PageState) {
    engine::reset();
    page.message.set(None);
    page.status.set(Status::Loading("Trying again…".into()));
    spawn_local(start_up(page));
}

/// Loads the shared engine and draws the first heatmap on the CPU, which needs no shaders; then,
/// where WebGPU starts, warms it up on this text behind the page and times both backends here
/// (interleaved, warm) and keeps the faster, saying which and why in the badge. `backend=cpu`
/// skips WebGPU; `backend=webgpu` uses it without the comparison. A backend chosen by hand in
/// the meantime is kept.
async fn start_up(page: PageState) {
    let options = page.options.get_value();
    let progress = move |s: &str| {
        page.status.try_set(Status::Loading(s.to_string()));
    };
    if let Err(e) = engine::load(&options.asset_base, progress).await {
        page.status.set(Status::Failed(format!("Could not load the models: {e}")));
        return;
    }
    page.status.set(Status::Loading("Starting the models…".into()));
    let threads = match engine::workers().await {
        Ok(_) => "in two workers".to_string(),
        Err(_) => "on the page's thread".to_string(),
    };
    let (force_cpu, force_webgpu) = (options.settings.force_cpu, options.settings.force_webgpu);
    page.backend.set(BackendKind::Cpu);
    let mut timed = !force_cpu;
    if force_cpu {
        page.backend_note.set(format!("CPU requested: running {threads}"));
    } else if force_webgpu {
        // Asked for by name: WebGPU from the first run, not timed against the CPU.
        timed = false;
        match engine::models(BackendKind::WebGpu).await {
            Ok(_) => {
                page.webgpu_ok.set(Some(true));
                page.backend.set(BackendKind::WebGpu);
                page.backend_note.set("WebGPU, as requested".into());
            }
            Err(why) => {
                page.webgpu_ok.set(Some(false));
                page.backend_note.set(format!("{why}: running on the CPU, {threads}"));
            }
        }
    } else {
        page.backend_note.set(format!("running on the CPU, {threads}"));
    }
    if options.autorun {
        schedule_run(page, 0);
        // The first heatmap comes first: WebGPU starts (and compiles its shaders) after it.
        while page.runs.get_untracked() == 0 {
            if matches!(page.status.get_untracked(), Status::Failed(_)) {
                return;
            }
            engine::sleep_ms(20).await;
        }
    } else {
        page.status.set(Status::Ready);
        page.message.set(Some("Press Run to route this text.".into()));
    }
    if !timed {
        return;
    }
    match engine::models(BackendKind::WebGpu).await {
        Err(why) => {
            page.webgpu_ok.set(Some(false));
            page.backend_note.set(format!("{why}: running on the CPU, {threads}"));
        }
        Ok(_) => {
            page.webgpu_ok.set(Some(true));
            if !page.backend_by_hand.get_untracked() {
                page.backend_note.set(format!("CPU {threads}, while WebGPU is timed on this machine…"));
            }
            choose_faster(page).await;
        }
    }
}

/// Warm runs per backend when choosing one: enough for a median, few enough to be done in
/// a second or two on the CPU.
const CHOICE_RUNS: usize = 3;

/// Times the CPU and WebGPU on the reader's text (one warm-up run each, then interleaved runs)
/// and moves to WebGPU if its median is lower; the badge says what was measured.
async fn choose_faster(page: PageState) {
    let chosen_by_hand = move || page.backend_by_hand.get_untracked();
    let text = page.settings.with_untracked(|s| if s.text.is_empty() { crate::runtime::options::EXAMPLE_TEXT.to_string() } else { s.text.clone() });
    let (capacity, causal) = page.settings.with_untracked(|s| (s.capacity, s.causal));
    let mut times = [Vec::new(), Vec::new()];
    let kinds = [BackendKind::Cpu, BackendKind::WebGpu];
    for round in 0..=CHOICE_RUNS {
        for (i, &kind) in kinds.iter().enumerate() {
            match flops_table::run_when_free(kind, engine::Input::Text(&text), capacity, causal).await {
                // Round 0 warms up (WebGPU compiles its shaders there): not counted.
                Ok(r) if round > 0 => times[i].push(r.routed_stages.total_ms() + r.dense.stages.total_ms()),
                Ok(_) => {}
                Err(e) => {
                    if kind == BackendKind::WebGpu {
                        engine::drop_backend(BackendKind::WebGpu);
                        page.webgpu_ok.set(Some(false));
                        if !chosen_by_hand() {
                            let cause = e.split(" Caused by").next().unwrap_or(&e).to_string();
                            page.backend_note.set(format!("WebGPU failed while being timed ({cause}); using the CPU"));
                        }
                    }
                    return;
                }
            }
        }
    }
    if chosen_by_hand() {
        return;
    }
    let choice = crate::runtime::backend::choose(&times[0], &times[1]);
    page.backend_note.set(choice.note);
    if choice.kind == BackendKind::WebGpu {
        page.backend.set(BackendKind::WebGpu);
        schedule_run(page, 0);
    }
}

#[component]
pub fn Demo(options: Options) -> impl IntoView {
    let page = PageState {
        settings: RwSignal::new(options.settings.clone()),
        theme: RwSignal::new(options.theme.clone()),
        backend: RwSignal::new(BackendKind::Cpu),
        backend_note: RwSignal::new("starting…".into()),
        webgpu_ok: RwSignal::new(None),
        backend_by_hand: RwSignal::new(false),
        status: RwSignal::new(Status::Loading("Loading the page…".into())),
        routing: RwSignal::new(None),
        result: RwSignal::new(None),
        message: RwSignal::new(None),
        selected: RwSignal::new(options.focus),
        runs: RwSignal::new(0),
        run_seq: StoredValue::new(0),
        generation_seq: StoredValue::new(0),
        options: StoredValue::new(options.clone()),
    };
    provide_context(page);
    if !options.standalone {
        INSTANCES.with(|i| i.borrow_mut().push(page));
    }
    spawn_local(start_up(page));
    let full = options.panels == Panels::Full;
    let flops = options.panels != Panels::Heatmap;
    // `scale` zooms the whole instance: the grid measures its width in its own (zoomed) pixels,
    // so its lines are cut to fit as they are at the page's size.
    let zoom = (options.scale != 1.0).then(|| format!("zoom:{}", options.scale));
    let height = options.height.as_ref().map(|h| format!("max-height:{h};overflow:auto"));
    let style = [zoom, height].into_iter().flatten().reduce(|a, b| format!("{a};{b}"));
    // Nothing was ever drawn and the last attempt failed: loading (or the first run) failed.
    let load_failed = move || matches!(page.status.get(), Status::Failed(_)) && page.routing.with(Option::is_none);
    if options.figure {
        // A figure: the heatmap and its key, as tall as they are, a caption from the host page,
        // and the status line only while there is something to say (loading, a failure).
        return view! {
            <figure class="modscope figure" data-theme=move || page.theme.get() style=style>
                {move || (!matches!(page.status.get(), Status::Ready | Status::Comparing) || page.message.get().is_some()).then(|| view! { <controls::StatusLine/> })}
                <heatmap::Heatmap/>
                <figcaption><slot name="caption"></slot></figcaption>
            </figure>
        }
        .into_any();
    }
    view! {
        <div class="modscope" class:page=options.standalone class:framed=options.framed data-theme=move || page.theme.get() style=style>
            // An embed of one or two panels carries no page furniture (badge, theme, share).
            {(full || options.standalone).then(|| view! {
                <header class="top">
                    {options.standalone.then(|| view! { <h1>"modscope"</h1> })}
                    <p class="tagline">"Watch a Mixture-of-Depths transformer decide which tokens each block processes."</p>
                    <controls::BackendBadge/>
                    <controls::ThemeToggle/>
                    <export::ShareButton/>
                </header>
            })}
            <main>
                // The first screen is the demonstration: the text box, then the live grid. The
                // explainer is one sentence until opened; the controls and the instrument follow.
                // A load that failed replaces every panel with one message and Retry.
                {move || load_failed().then(|| view! { <div class="panel load-failed" role="alert"><controls::StatusLine/></div> })}
                <div class="panels" class:hidden=load_failed>
                    <div class:intro=full>
                        <div class="input-column">
                            {full.then(|| view! { <explainer::Presets/> })}
                            // A read-only embed shows its text in the grid; a text box would only look editable.
                            {(!options.readonly || full).then(|| view! { <controls::TextInput/> })}
                            {move || (!load_failed()).then(|| view! { <controls::StatusLine/> })}
                        </div>
                        {full.then(|| view! { <explainer::Explainer/> })}
                    </div>
                    <heatmap::Heatmap/>
                    {full.then(|| view! {
                        <controls::RoutingControls/>
                        <predictor::PredictorPanel/>
                        <charts::WeightHistograms/>
                        <charts::EntropyByDepth/>
                    })}
                    {flops.then(|| view! { <flops_table::FlopsPanel/> })}
                    {full.then(|| view! { <generation::GenerationPanel/> <study::StudyPanel/> })}
                </div>
            </main>
            {options.standalone.then(|| view! {
                <footer>
                    "A Mixture-of-Depths model and a dense model trained with the same compute, 8 layers each, both trained on Jane Austen by this project. "
                    <a href="https://arxiv.org/abs/2404.02258">"Raposo et al., 2024"</a>
                </footer>
            })}
        </div>
    }
    .into_any()
}
