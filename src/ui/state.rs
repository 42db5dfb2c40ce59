//! Plain page state: the reader's settings (also read from the URL) and the run bookkeeping.

use std::cell::Cell;

pub const EXAMPLE_TEXT: &str = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.";

#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub text: String,
    pub capacity: f64,
    pub causal: bool,
    pub force_cpu: bool,
}

impl Settings {
    /// Defaults, overridden by `?text=…&capacity=…&mode=topk|causal&backend=cpu`.
    pub fn from_url() -> Self {
        let mut s = Settings { text: EXAMPLE_TEXT.into(), capacity: 0.125, causal: false, force_cpu: false };
        let Some(search) = web_sys::window().and_then(|w| w.location().search().ok()) else { return s };
        let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else { return s };
        if let Some(t) = params.get("text") {
            s.text = t;
        }
        if let Some(c) = params.get("capacity").and_then(|c| c.parse::<f64>().ok()) {
            s.capacity = c.clamp(0.125, 1.0);
        }
        s.causal = params.get("mode").as_deref() == Some("causal");
        s.force_cpu = params.get("backend").as_deref() == Some("cpu");
        s
    }
}

/// The folder holding `models/`: the page's own folder, so the app works under any sub-path.
pub fn asset_base() -> String {
    web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .map(|p| p[..p.rfind('/').map_or(0, |i| i + 1)].to_string())
        .unwrap_or_else(|| "./".into())
}

thread_local! {
    static LATEST_RUN: Cell<u64> = const { Cell::new(0) };
    static BUSY: Cell<bool> = const { Cell::new(false) };
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

pub fn begin_run() -> u64 {
    LATEST_RUN.with(|c| {
        c.set(c.get() + 1);
        c.get()
    })
}

pub fn is_current(id: u64) -> bool {
    LATEST_RUN.with(|c| c.get() == id)
}

pub fn busy() -> bool {
    BUSY.with(Cell::get)
}

pub fn set_busy(b: bool) {
    BUSY.with(|c| c.set(b));
}

/// Generations are numbered; "stop" (or a new generation) bumps the number.
pub fn begin_generation() -> u64 {
    GENERATION.with(|c| {
        c.set(c.get() + 1);
        c.get()
    })
}

pub fn generation_is_current(id: u64) -> bool {
    GENERATION.with(|c| c.get() == id)
}
