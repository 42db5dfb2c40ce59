//! The page's model runtime, kept out of the components: it fetches the assets, builds the two
//! models on a device (WebGPU or the CPU), and answers "analyse this text" and "next token".
//!
//! The browser is single-threaded and models are not shared across threads, so the engine lives
//! in a thread-local; components only ever see plain result data.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use burn::tensor::Device;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::model::{Model, RoutingMode, load_weights};
use crate::runtime::backend::{self, BackendKind};
use crate::runtime::session::{Analysis, Window, analyse, window};
use crate::tokenizer::Tokenizer;

pub struct Models {
    pub routed: Model,
    pub dense: Model,
    pub device: Device,
    pub kind: BackendKind,
}

struct Engine {
    tokenizer: Tokenizer,
    routed_bytes: Vec<u8>,
    dense_bytes: Vec<u8>,
    cpu: Option<Rc<Models>>,
    webgpu: Option<Rc<Models>>,
    /// WebGPU can be initialised once per page: remember the outcome, success or reason.
    webgpu_device: Option<Result<Device, String>>,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// Set while one instance fetches the assets or starts WebGPU, so others wait for it
    /// instead of fetching twice or initialising WebGPU a second time (which fails).
    static LOADING: Cell<bool> = const { Cell::new(false) };
    static BUILDING: Cell<bool> = const { Cell::new(false) };
}

/// One run of both models over the current text, as the components draw it.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub pieces: Vec<String>,
    pub window: Window,
    pub routed: Analysis,
    pub dense: Analysis,
    pub routed_ms: f64,
    pub dense_ms: f64,
    pub backend: BackendKind,
    pub routed_top5: Vec<(String, f32)>,
    pub dense_top5: Vec<(String, f32)>,
}

pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response = JsFuture::from(window.fetch_with_str(url)).await.map_err(|e| format!("{url}: {e:?}"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| format!("{url}: not a response"))?;
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(|e| format!("{e:?}"))?).await.map_err(|e| format!("{e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Fetches the tokenizer and both weight files from `base` (the folder holding `models/`).
pub async fn load(base: &str, mut progress: impl FnMut(&str)) -> Result<(), String> {
    while LOADING.with(Cell::get) {
        sleep_ms(20).await;
    }
    if ENGINE.with(|e| e.borrow().is_some()) {
        return Ok(());
    }
    LOADING.with(|l| l.set(true));
    let loaded = fetch_all(base, &mut progress).await;
    LOADING.with(|l| l.set(false));
    loaded
}

async fn fetch_all(base: &str, progress: &mut impl FnMut(&str)) -> Result<(), String> {
    progress("Fetching the tokenizer…");
    let tokenizer_json = fetch_bytes(&format!("{base}models/tokenizer.json")).await?;
    let tokenizer = Tokenizer::from_json(&String::from_utf8_lossy(&tokenizer_json)).map_err(|e| e.to_string())?;
    progress("Fetching the MoD model's weights…");
    let routed_bytes = fetch_bytes(&format!("{base}models/mod.safetensors")).await?;
    progress("Fetching the dense model's weights…");
    let dense_bytes = fetch_bytes(&format!("{base}models/dense.safetensors")).await?;
    ENGINE.with(|e| {
        *e.borrow_mut() = Some(Engine { tokenizer, routed_bytes, dense_bytes, cpu: None, webgpu: None, webgpu_device: None })
    });
    Ok(())
}

/// Whether the browser offers a WebGPU adapter (checked before burn is asked, so a missing one
/// is a message, not a failure inside the backend).
async fn webgpu_adapter() -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let gpu = js_sys::Reflect::get(&window.navigator(), &"gpu".into()).map_err(|_| "navigator.gpu unreadable")?;
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser has no WebGPU (navigator.gpu is missing)".into());
    }
    let request = js_sys::Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or("navigator.gpu.requestAdapter is missing")?;
    let promise: js_sys::Promise = request.call0(&gpu).map_err(|e| format!("{e:?}"))?.dyn_into().map_err(|_| "requestAdapter did not return a promise")?;
    let adapter = JsFuture::from(promise).await.map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("no WebGPU adapter is available".into());
    }
    Ok(())
}

/// The models on the requested backend, building them on first use. Falls back to an error
/// message (never a panic) when WebGPU cannot start.
pub async fn models(kind: BackendKind) -> Result<Rc<Models>, String> {
    while BUILDING.with(Cell::get) {
        sleep_ms(20).await;
    }
    BUILDING.with(|b| b.set(true));
    let built = build_models(kind).await;
    BUILDING.with(|b| b.set(false));
    built
}

async fn build_models(kind: BackendKind) -> Result<Rc<Models>, String> {
    let cached = ENGINE.with(|e| {
        let e = e.borrow();
        let e = e.as_ref()?;
        match kind {
            BackendKind::WebGpu => e.webgpu.clone(),
            _ => e.cpu.clone(),
        }
    });
    if let Some(m) = cached {
        return Ok(m);
    }
    let device = match kind {
        BackendKind::WebGpu => {
            let known = ENGINE.with(|e| e.borrow().as_ref().and_then(|e| e.webgpu_device.clone()));
            let result = match known {
                Some(r) => r,
                None => {
                    let r = match webgpu_adapter().await {
                        Ok(()) => backend::webgpu().await,
                        Err(why) => Err(why),
                    };
                    ENGINE.with(|e| {
                        if let Some(e) = e.borrow_mut().as_mut() {
                            e.webgpu_device = Some(r.clone());
                        }
                    });
                    r
                }
            };
            result?
        }
        _ => backend::cpu(),
    };
    let built = ENGINE.with(|e| -> Result<Models, String> {
        let e = e.borrow();
        let e = e.as_ref().ok_or("the model files are not loaded yet")?;
        Ok(Models {
            routed: load_weights(&e.routed_bytes, &device).map_err(|e| e.to_string())?,
            dense: load_weights(&e.dense_bytes, &device).map_err(|e| e.to_string())?,
            device: device.clone(),
            kind,
        })
    })?;
    let built = Rc::new(built);
    ENGINE.with(|e| {
        if let Some(e) = e.borrow_mut().as_mut() {
            match kind {
                BackendKind::WebGpu => e.webgpu = Some(built.clone()),
                _ => e.cpu = Some(built.clone()),
            }
        }
    });
    Ok(built)
}

/// Forgets a backend's models (after a device failure) so the next use rebuilds or falls back.
pub fn drop_backend(kind: BackendKind) {
    ENGINE.with(|e| {
        if let Some(e) = e.borrow_mut().as_mut() {
            match kind {
                BackendKind::WebGpu => e.webgpu = None,
                _ => e.cpu = None,
            }
        }
    });
}

pub fn with_tokenizer<R>(f: impl FnOnce(&Tokenizer) -> R) -> Option<R> {
    ENGINE.with(|e| e.borrow().as_ref().map(|e| f(&e.tokenizer)))
}

/// Runs both models over `text` on `models`' device.
pub async fn run(models: &Models, text: &str, capacity: f64, causal: bool) -> Result<Arc<RunResult>, String> {
    let context = models.routed.config().context;
    let (win, pieces) = with_tokenizer(|t| {
        let w = window(t, text, context);
        let pieces = w.tokens.iter().map(|&id| t.token_text(id)).collect::<Vec<_>>();
        (w, pieces)
    })
    .ok_or("the tokenizer is not loaded yet")?;
    if win.tokens.is_empty() {
        return Err("Type some text to see how the router treats it.".into());
    }
    let mode = if causal { RoutingMode::Causal } else { RoutingMode::TopK { capacity } };
    let start = now_ms();
    let routed = analyse(&models.routed, &win.tokens, mode, &models.device).await.map_err(|e| e.to_string())?;
    let mid = now_ms();
    let dense = analyse(&models.dense, &win.tokens, RoutingMode::TopK { capacity: 1.0 }, &models.device)
        .await
        .map_err(|e| e.to_string())?;
    let end = now_ms();
    let top = |a: &Analysis| with_tokenizer(|t| a.top5.iter().map(|&(id, p)| (t.token_text(id), p)).collect()).unwrap_or_default();
    Ok(Arc::new(RunResult {
        routed_top5: top(&routed),
        dense_top5: top(&dense),
        pieces,
        window: win,
        routed,
        dense,
        routed_ms: mid - start,
        dense_ms: end - mid,
        backend: models.kind,
    }))
}
