//! The CPU path off the main thread: two Web Workers, one per model, each running this same wasm
//! module (compiled once, handed over as a `WebAssembly.Module`) with one model on burn's CPU
//! backend. The page never freezes while a model runs, and the MoD model and its dense twin run
//! in parallel on two cores. Plain module workers from a blob: no headers a blog host would have
//! to set, and nothing to copy next to the bundle.
//!
//! Protocol: the first message carries the module; then `{ id, kind, body, bytes? }` requests,
//! answered `{ id, ok }` or `{ id, error }` (bodies are JSON).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{JsFuture, spawn_local};

use crate::model::{Model, RoutingMode, load_weights, load_weights_with_digest, tensor_bytes_start};
use crate::runtime::backend;
use crate::runtime::session::{Analysis, analyse};

#[wasm_bindgen]
extern "C" {
    /// The URL of the wasm-bindgen glue module this code was loaded through.
    #[wasm_bindgen(thread_local_v2, js_namespace = ["import", "meta"], js_name = url)]
    static GLUE_URL: String;
}

#[derive(Serialize, Deserialize)]
struct AnalyseRequest {
    tokens: Vec<u32>,
    mode: RoutingMode,
}

// ---- Inside a worker.

thread_local! {
    static MODEL: RefCell<Option<Model>> = const { RefCell::new(None) };
}

fn worker_now() -> f64 {
    js_sys::global().dyn_into::<web_sys::WorkerGlobalScope>().ok().and_then(|g| g.performance()).map_or(0.0, |p| p.now())
}

/// Installs the worker's message handler (called by the worker's bootstrap once the module is up).
#[wasm_bindgen]
pub fn worker_start() {
    let Ok(scope) = js_sys::global().dyn_into::<web_sys::DedicatedWorkerGlobalScope>() else { return };
    let reply_to = scope.clone();
    let handler = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        let scope = reply_to.clone();
        spawn_local(async move {
            let data = event.data();
            let id = Reflect::get(&data, &"id".into()).unwrap_or(JsValue::NULL);
            let reply = Object::new();
            let _ = Reflect::set(&reply, &"id".into(), &id);
            match handle(&data).await {
                Ok(body) => Reflect::set(&reply, &"ok".into(), &body.into()),
                Err(e) => Reflect::set(&reply, &"error".into(), &e.into()),
            }
            .ok();
            let _ = scope.post_message(&reply);
        });
    });
    scope.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
}

async fn handle(data: &JsValue) -> Result<String, String> {
    let field = |name: &str| Reflect::get(data, &name.into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
    match field("kind").as_str() {
        "load" => {
            let bytes = Reflect::get(data, &"bytes".into()).map_err(|_| "no weights sent")?;
            let array = bytes.dyn_into::<Uint8Array>().map_err(|_| "weights are not bytes")?;
            let bytes = array.to_vec();
            let start = tensor_bytes_start(&bytes).map_err(|e| e.to_string())?;
            let model = match browser_sha256(&array.subarray(start as u32, array.length())).await {
                Some(digest) => load_weights_with_digest(&bytes, &digest, &backend::cpu()),
                None => load_weights(&bytes, &backend::cpu()),
            }
            .map_err(|e| e.to_string())?;
            MODEL.with(|m| *m.borrow_mut() = Some(model));
            Ok(String::new())
        }
        "analyse" => {
            let request: AnalyseRequest = serde_json::from_str(&field("body")).map_err(|e| e.to_string())?;
            let model = MODEL.with(|m| m.borrow_mut().take()).ok_or("no model loaded in this worker")?;
            let result = analyse(&model, &request.tokens, request.mode, &backend::cpu(), &worker_now).await;
            MODEL.with(|m| *m.borrow_mut() = Some(model));
            serde_json::to_string(&result.map_err(|e| e.to_string())?).map_err(|e| e.to_string())
        }
        "memory" => Ok(crate::ui::wasm_memory_bytes().to_string()),
        other => Err(format!("unknown request {other:?}")),
    }
}

/// SHA-256 by the browser's SubtleCrypto, or `None` where it is missing (it exists only in secure
/// contexts: https and localhost).
async fn browser_sha256(data: &Uint8Array) -> Option<[u8; 32]> {
    let subtle = Reflect::get(&Reflect::get(&js_sys::global(), &"crypto".into()).ok()?, &"subtle".into()).ok()?;
    let digest: Function = Reflect::get(&subtle, &"digest".into()).ok()?.dyn_into().ok()?;
    let promise: Promise = digest.call2(&subtle, &"SHA-256".into(), data).ok()?.dyn_into().ok()?;
    let buffer = JsFuture::from(promise).await.ok()?;
    Uint8Array::new(&buffer).to_vec().try_into().ok()
}

// ---- On the page.

thread_local! {
    static PENDING: RefCell<HashMap<u32, (Function, Function)>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<u32> = const { Cell::new(1) };
}

/// One worker holding one model.
pub struct ModelWorker {
    worker: web_sys::Worker,
}

impl Drop for ModelWorker {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

fn on_reply(event: web_sys::MessageEvent) {
    let data = event.data();
    let Some(id) = Reflect::get(&data, &"id".into()).ok().and_then(|v| v.as_f64()) else { return };
    let Some((resolve, reject)) = PENDING.with(|p| p.borrow_mut().remove(&(id as u32))) else { return };
    match Reflect::get(&data, &"error".into()).ok().and_then(|e| e.as_string()) {
        Some(error) => reject.call1(&JsValue::NULL, &error.into()),
        None => resolve.call1(&JsValue::NULL, &Reflect::get(&data, &"ok".into()).unwrap_or(JsValue::NULL)),
    }
    .ok();
}

/// Posts `message` (its `id` set here) and returns a promise of the reply's `ok` string.
fn request(worker: &web_sys::Worker, message: &Object, transfer: Option<&Array>) -> Promise {
    let id = NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    let _ = Reflect::set(message, &"id".into(), &id.into());
    let promise = Promise::new(&mut |resolve, reject| {
        PENDING.with(|p| p.borrow_mut().insert(id, (resolve, reject)));
    });
    let posted = match transfer {
        Some(t) => worker.post_message_with_transfer(message, t),
        None => worker.post_message(message),
    };
    if let Err(e) = posted {
        if let Some((_, reject)) = PENDING.with(|p| p.borrow_mut().remove(&id)) {
            let _ = reject.call1(&JsValue::NULL, &e);
        }
    }
    promise
}

/// A JavaScript error as text.
pub fn js_error(e: JsValue) -> String {
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

impl ModelWorker {
    /// Starts a worker on this page's wasm module (no model yet: see [`ModelWorker::load`]).
    pub async fn spawn() -> Result<Self, String> {
        let glue = GLUE_URL.with(String::clone);
        // The glue's URL is a plain http(s) URL; quoting it as JSON keeps the source well-formed.
        let glue = serde_json::to_string(&glue).map_err(|e| e.to_string())?;
        let source = format!(
            "import init, {{ worker_start }} from {glue};\n\
             self.onmessage = async ({{ data }}) => {{\n\
               self.onmessage = null;\n\
               try {{ await init({{ module_or_path: data.module }}); worker_start(); self.postMessage({{ id: data.id, ok: '' }}); }}\n\
               catch (e) {{ self.postMessage({{ id: data.id, error: String(e) }}); }}\n\
             }};"
        );
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("text/javascript");
        let blob = web_sys::Blob::new_with_str_sequence_and_options(&Array::of1(&source.into()), &options).map_err(js_error)?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(js_error)?;
        let worker_options = web_sys::WorkerOptions::new();
        worker_options.set_type(web_sys::WorkerType::Module);
        let worker = web_sys::Worker::new_with_options(&url, &worker_options).map_err(js_error);
        let _ = web_sys::Url::revoke_object_url(&url);
        let worker = Self { worker: worker? };
        let handler = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(on_reply);
        worker.worker.set_onmessage(Some(handler.as_ref().unchecked_ref()));
        handler.forget();
        let boot = Object::new();
        let _ = Reflect::set(&boot, &"module".into(), &wasm_bindgen::module());
        JsFuture::from(request(&worker.worker, &boot, None)).await.map_err(|e| format!("the worker did not start: {}", js_error(e)))?;
        Ok(worker)
    }

    /// Loads the model in `weights` into the worker.
    pub async fn load(&self, weights: &[u8]) -> Result<(), String> {
        let load = Object::new();
        let bytes = Uint8Array::from(weights);
        let _ = Reflect::set(&load, &"kind".into(), &"load".into());
        let _ = Reflect::set(&load, &"bytes".into(), &bytes);
        JsFuture::from(request(&self.worker, &load, Some(&Array::of1(&bytes.buffer())))).await.map_err(js_error)?;
        Ok(())
    }

    /// Asks for an analysis; the promise resolves to the JSON of an [`Analysis`] (its stages timed
    /// inside the worker).
    pub fn analyse(&self, tokens: &[u32], mode: RoutingMode) -> Result<Promise, String> {
        let body = serde_json::to_string(&AnalyseRequest { tokens: tokens.to_vec(), mode }).map_err(|e| e.to_string())?;
        let message = Object::new();
        let _ = Reflect::set(&message, &"kind".into(), &"analyse".into());
        let _ = Reflect::set(&message, &"body".into(), &body.into());
        Ok(request(&self.worker, &message, None))
    }

    /// Bytes of linear memory the worker's instance holds.
    pub async fn memory_bytes(&self) -> f64 {
        let message = Object::new();
        let _ = Reflect::set(&message, &"kind".into(), &"memory".into());
        JsFuture::from(request(&self.worker, &message, None))
            .await
            .ok()
            .and_then(|v| v.as_string())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0)
    }
}

/// Reads a worker's reply as an [`Analysis`].
pub fn parse_analysed(reply: &JsValue) -> Result<Analysis, String> {
    let json = reply.as_string().ok_or("the worker sent no analysis")?;
    serde_json::from_str(&json).map_err(|e| e.to_string())
}
