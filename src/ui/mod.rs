//! The browser page: one component per panel, state in signals owned by `App`, and the model
//! runtime behind `engine`'s small async interface.

mod charts;
mod controls;
mod engine;
mod flops_table;
mod generation;
mod heatmap;
mod state;

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::runtime::backend::BackendKind;
use engine::RunResult;
use state::{Settings, begin_run, is_current};

pub use state::EXAMPLE_TEXT;

/// What the page is doing, shown in the status line.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Loading(String),
    Running,
    Ready,
    Failed(String),
}

/// Page-wide state, provided through context so panels stay small.
#[derive(Clone, Copy)]
pub struct PageState {
    pub settings: RwSignal<Settings>,
    pub backend: RwSignal<BackendKind>,
    pub backend_note: RwSignal<String>,
    pub webgpu_ok: RwSignal<Option<bool>>,
    pub status: RwSignal<Status>,
    pub result: RwSignal<Option<Arc<RunResult>>>,
    pub message: RwSignal<Option<String>>,
    /// (token, layer) under the pointer or keyboard focus.
    pub selected: RwSignal<Option<(usize, Option<usize>)>>,
    /// Runs shown so far (tests and the benchmark page wait on it).
    pub runs: RwSignal<u64>,
}

/// Bytes of linear memory the wasm module holds (for the memory benchmark).
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    use wasm_bindgen::JsCast;
    wasm_bindgen::memory().dyn_into::<js_sys::WebAssembly::Memory>().map_or(0.0, |m| {
        m.buffer().dyn_into::<js_sys::ArrayBuffer>().map_or(0.0, |b| b.byte_length() as f64)
    })
}

pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// Debounced re-run: a newer request supersedes older ones, whose results are dropped.
pub fn schedule_run(page: PageState, delay_ms: i32) {
    let id = begin_run();
    spawn_local(async move {
        engine::sleep_ms(delay_ms).await;
        if !is_current(id) {
            return;
        }
        while state::busy() {
            engine::sleep_ms(4).await;
            if !is_current(id) {
                return;
            }
        }
        let settings = page.settings.get_untracked();
        if settings.text.is_empty() {
            page.message.set(Some("Type some text to see how the router treats it.".into()));
            page.result.set(None);
            return;
        }
        let kind = page.backend.get_untracked();
        state::set_busy(true);
        page.status.set(Status::Running);
        let outcome = match engine::models(kind).await {
            Ok(models) => engine::run(&models, &settings.text, settings.capacity, settings.causal).await,
            Err(e) => Err(e),
        };
        state::set_busy(false);
        match outcome {
            Ok(result) if is_current(id) => {
                page.message.set(None);
                page.result.set(Some(result));
                page.runs.update(|n| *n += 1);
                page.status.set(Status::Ready);
            }
            Ok(_) => {}
            Err(e) if kind == BackendKind::WebGpu => {
                // The GPU failed mid-session: keep the reader's text and settings, move to the CPU.
                engine::drop_backend(BackendKind::WebGpu);
                page.webgpu_ok.set(Some(false));
                page.backend.set(BackendKind::Cpu);
                page.backend_note.set(format!("WebGPU failed ({e}); switched to the CPU"));
                schedule_run(page, 0);
            }
            Err(e) => {
                page.status.set(Status::Failed(e.clone()));
                page.message.set(Some(e));
            }
        }
    });
}

#[component]
fn App() -> impl IntoView {
    let page = PageState {
        settings: RwSignal::new(Settings::from_url()),
        backend: RwSignal::new(BackendKind::Cpu),
        backend_note: RwSignal::new("starting…".into()),
        webgpu_ok: RwSignal::new(None),
        status: RwSignal::new(Status::Loading("Loading the page…".into())),
        result: RwSignal::new(None),
        message: RwSignal::new(None),
        selected: RwSignal::new(None),
        runs: RwSignal::new(0),
    };
    provide_context(page);
    spawn_local(async move {
        let progress = move |s: &str| page.status.set(Status::Loading(s.to_string()));
        if let Err(e) = engine::load(&state::asset_base(), progress).await {
            page.status.set(Status::Failed(format!("Could not load the models: {e}")));
            return;
        }
        let wants_cpu = page.settings.get_untracked().force_cpu;
        page.status.set(Status::Loading("Starting the backend and compiling kernels…".into()));
        let webgpu = if wants_cpu { Err("CPU requested in the URL".to_string()) } else { engine::models(BackendKind::WebGpu).await.map(|_| ()) };
        match webgpu {
            Ok(()) => {
                page.webgpu_ok.set(Some(true));
                page.backend.set(BackendKind::WebGpu);
                page.backend_note.set("WebGPU adapter found".into());
            }
            Err(why) => {
                page.webgpu_ok.set(if wants_cpu { None } else { Some(false) });
                page.backend.set(BackendKind::Cpu);
                page.backend_note.set(format!("{why}: running on the CPU"));
            }
        }
        // The first run doubles as the warm-up: kernels compile here, not on the first keystroke.
        schedule_run(page, 0);
    });

    view! {
        <header class="top">
            <h1>"modscope"</h1>
            <p class="tagline">"Watch a Mixture-of-Depths transformer decide which tokens each block processes."</p>
            <controls::BackendBadge/>
            <controls::ThemeToggle/>
        </header>
        <main>
            <controls::TextInput/>
            <controls::StatusLine/>
            <controls::RoutingControls/>
            <heatmap::Heatmap/>
            <div class="row">
                <charts::WeightHistogram/>
                <charts::EntropyByDepth/>
            </div>
            <flops_table::FlopsPanel/>
            <generation::GenerationPanel/>
        </main>
        <footer>
            "A 8-layer model trained on Jane Austen by this project; every other block is routed. "
            <a href="https://arxiv.org/abs/2404.02258">"Raposo et al., 2024"</a>
        </footer>
    }
}
