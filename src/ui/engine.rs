//! The page's model runtime, kept out of the components: it fetches the assets, builds the two
//! models on a device (WebGPU or the CPU), and answers "analyse this text" and "next token".
//!
//! The browser is single-threaded and models are not shared across threads, so the engine lives
//! in a thread-local; components only ever see plain result data.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use burn::tensor::Device;
use futures_util::FutureExt;
use futures_util::future::{LocalBoxFuture, Shared};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::worker::{ModelWorker, js_error, parse_analysed};
use crate::model::{Model, RoutingMode, config_of, load_weights};
use crate::runtime::backend::{self, BackendKind};
use crate::runtime::session::{Analysis, Stages, Window, analyse, window};
use crate::tokenizer::{Piece, Tokenizer};

pub struct Models {
    pub routed: Model,
    pub dense: Model,
    pub device: Device,
}

struct Engine {
    tokenizer: Tokenizer,
    /// The MoD model's context (from its weights' config): the window the page shows.
    context: usize,
    routed_bytes: Vec<u8>,
    dense_bytes: Vec<u8>,
    cpu: Option<Rc<Models>>,
    webgpu: Option<Rc<Models>>,
    /// The CPU path's two workers (MoD, dense) with their models loaded, or why they could not
    /// start: one shared future, awaited by every run.
    workers: Option<Pending<Rc<Workers>>>,
}

/// A result several callers await: the one owner of a resource that is still on its way.
type Pending<T> = Shared<LocalBoxFuture<'static, Result<T, String>>>;

/// The CPU path off the main thread: one worker per model, run in parallel.
pub struct Workers {
    routed: ModelWorker,
    dense: ModelWorker,
    /// Set once a run has finished in both: the module's code is compiled by then.
    warm: Cell<bool>,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// Set while one instance fetches the assets or starts WebGPU, so others wait for it
    /// instead of fetching twice or initialising WebGPU a second time (which fails).
    static LOADING: Cell<bool> = const { Cell::new(false) };
    static BUILDING: Cell<bool> = const { Cell::new(false) };
    /// The CPU path's two workers instantiating the module, started by [`boot_workers`] before
    /// the page mounts; [`fetch_all`] hands them the weights the moment they arrive.
    static BOOTED: RefCell<Option<Pending<Rc<Workers>>>> = const { RefCell::new(None) };
    /// WebGPU can be initialised once per page: the outcome, success or reason, outlives a reset.
    static WEBGPU_DEVICE: RefCell<Option<Result<Device, String>>> = const { RefCell::new(None) };
}

/// The MoD model's run over the current text: everything the heatmap and the routing panels draw,
/// shown as soon as it arrives, before the dense twin has finished.
#[derive(Clone, Debug)]
pub struct Routing {
    pub pieces: Vec<String>,
    pub window: Window,
    pub routed: Analysis,
    pub backend: BackendKind,
    /// The CPU path ran in two workers, in parallel (else on the page's own thread).
    pub in_workers: bool,
    pub routed_top5: Vec<(String, f32)>,
}

/// One run of both models over the current text: the routing and the dense twin it is compared
/// with (FLOPs, time, next-token predictions).
#[derive(Clone, Debug)]
pub struct RunResult {
    pub routing: Arc<Routing>,
    /// The MoD model's stage times set against the dense twin's: its own run's, except after the
    /// cold first run (see [`run`]).
    pub routed_stages: Stages,
    pub dense: Analysis,
    pub dense_top5: Vec<(String, f32)>,
}

impl std::ops::Deref for RunResult {
    type Target = Routing;
    fn deref(&self) -> &Routing {
        &self.routing
    }
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

pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let request = started_download(url).unwrap_or_else(|| window.fetch_with_str(url));
    let response = JsFuture::from(request).await.map_err(|e| format!("{url}: {e:?}"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| format!("{url}: not a response"))?;
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(|e| format!("{e:?}"))?).await.map_err(|e| format!("{e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Bytes received and expected so far by the bundle's loader (`globalThis.modscopeProgress`).
fn download_progress() -> Option<(f64, f64)> {
    let progress = js_sys::Reflect::get(&js_sys::global(), &"modscopeProgress".into()).ok().filter(|p| p.is_object())?;
    let number = |key: &str| js_sys::Reflect::get(&progress, &key.into()).ok()?.as_f64();
    Some((number("received")?, number("expected")?))
}

/// Tells `progress` how far the bundle's loader's downloads are, once it knows their size.
fn report_download(progress: &impl Fn(&str)) {
    if let Some((received, expected)) = download_progress().filter(|(_, expected)| *expected > 0.0) {
        progress(&format!("Fetching the two models' weights: {:.1} of {:.1} MB", received / 1e6, expected / 1e6));
    }
}

/// The download of `url` the bundle's loader started while the wasm compiled, handed over once
/// (a Retry fetches afresh): `globalThis.modscopeDownloads`, absolute URL → Promise<Response>.
fn started_download(url: &str) -> Option<js_sys::Promise> {
    let downloads: js_sys::Map = js_sys::Reflect::get(&js_sys::global(), &"modscopeDownloads".into()).ok()?.dyn_into().ok()?;
    let href = web_sys::window()?.document()?.base_uri().ok()??;
    let absolute = web_sys::Url::new_with_base(url, &href).ok()?.href();
    let started = downloads.get(&absolute.as_str().into()).dyn_into().ok()?;
    downloads.delete(&absolute.as_str().into());
    Some(started)
}

/// Fetches the tokenizer and both weight files from `base` (the folder holding `models/`).
pub async fn load(base: &str, progress: impl Fn(&str) + Clone + 'static) -> Result<(), String> {
    while LOADING.with(Cell::get) {
        report_download(&progress);
        sleep_ms(20).await;
    }
    if ENGINE.with(|e| e.borrow().is_some()) {
        return Ok(());
    }
    LOADING.with(|l| l.set(true));
    #[cfg(not(feature = "webgpu"))]
    let _ = boot_workers();
    let loaded = fetch_all(base, progress).await;
    LOADING.with(|l| l.set(false));
    loaded
}

/// The files the page downloads: the 8-bit weights (`modscope-train quantize` writes them from the
/// shipped f16 files and measures that routing and top-5 stay the same) and the tokenizer. The
/// bundle's loader starts these downloads while the wasm compiles (`www/modscope-loader.js`).
const ROUTED_FILE: &str = "models/mod.q8.safetensors";
const DENSE_FILE: &str = "models/dense.q8.safetensors";
const TOKENIZER_FILE: &str = "models/tokenizer.json";

async fn fetch_all(base: &str, progress: impl Fn(&str) + Clone + 'static) -> Result<(), String> {
    progress("Fetching the tokenizer and the two models' weights…");
    // The bundle's loader counts the bytes of its downloads; say how far they are.
    let report = progress.clone();
    wasm_bindgen_futures::spawn_local(async move {
        while LOADING.with(Cell::get) {
            report_download(&report);
            sleep_ms(200).await;
        }
    });
    let (tokenizer_json, routed_bytes, dense_bytes) = futures_util::future::join3(
        fetch_bytes(&format!("{base}{TOKENIZER_FILE}")),
        fetch_bytes(&format!("{base}{ROUTED_FILE}")),
        fetch_bytes(&format!("{base}{DENSE_FILE}")),
    )
    .await;
    let tokenizer = Tokenizer::from_json(&String::from_utf8_lossy(&tokenizer_json?)).map_err(|e| format!("{TOKENIZER_FILE}: {e}"))?;
    let (routed_bytes, dense_bytes) = (routed_bytes?, dense_bytes?);
    // The workers start on their weights now, while this thread reads the tokenizer.
    let workers = BOOTED.with(|b| b.borrow_mut().take()).map(|booted| load_in_workers(booted, &routed_bytes, &dense_bytes));
    let context = config_of(&routed_bytes).map_err(|e| format!("{ROUTED_FILE}: {e}"))?.context;
    ENGINE.with(|e| {
        *e.borrow_mut() = Some(Engine { tokenizer, context, routed_bytes, dense_bytes, cpu: None, webgpu: None, workers })
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
            let known = WEBGPU_DEVICE.with(|d| d.borrow().clone());
            let result = match known {
                Some(r) => r,
                None => {
                    let r = match webgpu_adapter().await {
                        Ok(()) => backend::webgpu().await,
                        Err(why) => Err(why),
                    };
                    WEBGPU_DEVICE.with(|d| *d.borrow_mut() = Some(r.clone()));
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
            routed: load_weights(&e.routed_bytes, &device).map_err(|e| format!("Could not load {ROUTED_FILE}: {e}"))?,
            dense: load_weights(&e.dense_bytes, &device).map_err(|e| format!("Could not load {DENSE_FILE}: {e}"))?,
            device: device.clone(),
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

/// Forgets the fetched files, the models and the workers, so the next use loads them again.
pub fn reset() {
    ENGINE.with(|e| *e.borrow_mut() = None);
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

/// The CPU path's workers with their models loaded, started on first use (the CPU-only build
/// starts them before the page mounts); an error (say, a page whose security policy forbids blob
/// workers) means the CPU path runs on the page's own thread instead.
pub async fn workers() -> Result<Rc<Workers>, String> {
    let pending = ENGINE.with(|e| {
        let mut e = e.borrow_mut();
        let e = e.as_mut().ok_or("the model files are not loaded yet")?;
        let pending = e.workers.get_or_insert_with(|| load_in_workers(spawn_pair(), &e.routed_bytes, &e.dense_bytes));
        Ok::<_, String>(pending.clone())
    })?;
    pending.await
}

/// Two workers with the module instantiated in each, side by side, driven to completion whether
/// or not anyone awaits them yet.
fn spawn_pair() -> Pending<Rc<Workers>> {
    let pair = async {
        let (routed, dense) = futures_util::future::join(ModelWorker::spawn(), ModelWorker::spawn()).await;
        Ok(Rc::new(Workers { routed: routed?, dense: dense?, warm: Cell::new(false) }))
    }
    .boxed_local()
    .shared();
    wasm_bindgen_futures::spawn_local(pair.clone().map(drop));
    pair
}

/// Hands each worker its model's weights, side by side (each loads on its own core).
fn load_in_workers(workers: Pending<Rc<Workers>>, routed_bytes: &[u8], dense_bytes: &[u8]) -> Pending<Rc<Workers>> {
    let (routed_bytes, dense_bytes) = (routed_bytes.to_vec(), dense_bytes.to_vec());
    let loaded = async move {
        let w = workers.await?;
        let (r, d) = futures_util::future::join(w.routed.load(&routed_bytes), w.dense.load(&dense_bytes)).await;
        r.map_err(|e| format!("Could not load {ROUTED_FILE}: {e}"))?;
        d.map_err(|e| format!("Could not load {DENSE_FILE}: {e}"))?;
        Ok(w)
    }
    .boxed_local()
    .shared();
    wasm_bindgen_futures::spawn_local(loaded.clone().map(drop));
    loaded
}

/// Starts the CPU path's two workers now, so that they instantiate the module while the weights
/// download and the page mounts; the weights go to them as soon as they arrive. The CPU-only
/// build, which always runs the models in workers, calls it before the page is mounted, and as
/// loading starts (for `<mod-demo>`).
/// Returns the workers' start, to wait on.
#[cfg(not(feature = "webgpu"))]
pub fn boot_workers() -> Option<Pending<Rc<Workers>>> {
    let running = ENGINE.with(|e| e.borrow().as_ref().is_some_and(|e| e.workers.is_some()));
    (!running).then(|| BOOTED.with(|b| b.borrow_mut().get_or_insert_with(spawn_pair).clone()))
}

/// Whether a run on `kind` would block the page's thread (the CPU path without its workers).
pub fn blocks_the_page(kind: BackendKind) -> bool {
    kind == BackendKind::Cpu && !ENGINE.with(|e| e.borrow().as_ref().and_then(|e| e.workers.as_ref()?.peek().cloned()).is_some_and(|w| w.is_ok()))
}

/// Bytes of wasm linear memory held by the page and its workers.
pub async fn memory_bytes() -> f64 {
    let mut total = super::wasm_memory_bytes();
    if let Some(Ok(w)) = ENGINE.with(|e| e.borrow().as_ref().and_then(|e| e.workers.as_ref()?.peek().cloned())) {
        total += w.routed.memory_bytes().await + w.dense.memory_bytes().await;
    }
    total
}

/// What a run reads: the reader's text, or token ids (the held-out passages the page pools).
#[derive(Clone, Copy)]
pub enum Input<'a> {
    Text(&'a str),
    Tokens(&'a [u32]),
}

/// Runs both models over the input on the `kind` backend: on the CPU in the two workers when they
/// run, else (WebGPU, or no workers) on this thread, one model after the other. `on_routing` gets
/// the MoD model's run as soon as it is known, while the dense twin may still be running. The
/// workers' first run is cold: the dense twin starts after the MoD model, and both are then timed
/// again, warm, for the comparison.
pub async fn run(
    kind: BackendKind,
    input: Input<'_>,
    capacity: f64,
    causal: bool,
    on_routing: impl FnOnce(Arc<Routing>),
) -> Result<Arc<RunResult>, String> {
    let context = ENGINE.with(|e| e.borrow().as_ref().map(|e| e.context)).ok_or("the models are not loaded yet")?;
    let (win, pieces) = with_tokenizer(|t| {
        let w = match input {
            Input::Text(text) => window(t, text, context),
            Input::Tokens(tokens) => Window { tokens: tokens[tokens.len().saturating_sub(context)..].to_vec(), dropped: tokens.len().saturating_sub(context) },
        };
        let pieces = t.pieces(&w.tokens).iter().map(Piece::label).collect::<Vec<_>>();
        (w, pieces)
    })
    .ok_or("the tokenizer is not loaded yet")?;
    if win.tokens.is_empty() {
        return Err("Type some text to see how the router treats it.".into());
    }
    let mode = if causal { RoutingMode::Causal } else { RoutingMode::TopK { capacity } };
    let dense_mode = RoutingMode::TopK { capacity: 1.0 };
    let top = |a: &Analysis| with_tokenizer(|t| a.top5.iter().map(|&(id, p)| (t.token_text(id), p)).collect()).unwrap_or_default();
    let workers = if kind == BackendKind::Cpu { workers().await.ok() } else { None };
    let in_workers = workers.is_some();
    let routing = |routed: Analysis| Arc::new(Routing { routed_top5: top(&routed), pieces, window: win.clone(), routed, backend: kind, in_workers });
    let (routing, routed_stages, dense) = match &workers {
        Some(w) => {
            // Warm, both requests go out at once (one core each); the MoD model, with fewer
            // FLOPs, usually answers first. Cold (the first run), V8 compiles each wasm function
            // on its first call, and two workers compiling the same code at once on two cores
            // delay the heatmap: the dense twin starts when the MoD model has answered, and then
            // finds the code compiled (measured: first heatmap ~100 ms sooner, and the
            // comparison sooner too).
            let warm = w.warm.get();
            let routed = w.routed.analyse(&win.tokens, mode)?;
            let dense = if warm { Some(w.dense.analyse(&win.tokens, dense_mode)?) } else { None };
            let routed = parse_analysed(&JsFuture::from(routed).await.map_err(js_error)?)?;
            let routing = routing(routed);
            on_routing(routing.clone());
            let dense = match dense {
                Some(dense) => dense,
                None => w.dense.analyse(&win.tokens, dense_mode)?,
            };
            let dense = parse_analysed(&JsFuture::from(dense).await.map_err(js_error)?)?;
            let (routed_stages, dense) = if warm {
                (routing.routed.stages, dense)
            } else {
                // The cold run's times are mostly V8 compiling, the MoD model's more than the
                // dense twin's: both are timed again, warm and side by side as every later run
                // is, for the comparison the page shows.
                let (routed, dense) = (w.routed.analyse(&win.tokens, mode)?, w.dense.analyse(&win.tokens, dense_mode)?);
                let routed = parse_analysed(&JsFuture::from(routed).await.map_err(js_error)?)?;
                (routed.stages, parse_analysed(&JsFuture::from(dense).await.map_err(js_error)?)?)
            };
            w.warm.set(true);
            (routing, routed_stages, dense)
        }
        None => {
            let models = models(kind).await?;
            let routed = analyse(&models.routed, &win.tokens, mode, &models.device, &now_ms).await.map_err(|e| e.to_string())?;
            let routing = routing(routed);
            on_routing(routing.clone());
            // Lets the page draw the heatmap before the dense twin takes this thread.
            sleep_ms(0).await;
            let dense = analyse(&models.dense, &win.tokens, dense_mode, &models.device, &now_ms).await.map_err(|e| e.to_string())?;
            let routed_stages = routing.routed.stages;
            (routing, routed_stages, dense)
        }
    };
    Ok(Arc::new(RunResult { dense_top5: top(&dense), routing, routed_stages, dense }))
}
