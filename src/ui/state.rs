//! The page-side half of the options (read from the URL, written into share links) and the run
//! bookkeeping. Parsing itself is `runtime::options`.

use std::cell::Cell;

pub use crate::runtime::options::{Options, Panels, RawOptions, Settings};

impl Options {
    /// The standalone page's options, from its URL.
    pub fn from_location() -> Self {
        let location = web_sys::window().map(|w| w.location());
        let path = location.as_ref().and_then(|l| l.pathname().ok()).unwrap_or_else(|| "/".into());
        let origin = location.as_ref().and_then(|l| l.origin().ok()).unwrap_or_default();
        let base = path[..path.rfind('/').map_or(0, |i| i + 1)].to_string();
        let mut raw = RawOptions::default();
        if let Some(params) = location.and_then(|l| l.search().ok()).and_then(|s| web_sys::UrlSearchParams::new_with_str(&s).ok()) {
            raw = RawOptions {
                text: params.get("text"),
                capacity: params.get("capacity"),
                mode: params.get("mode"),
                backend: params.get("backend"),
                panels: params.get("panels"),
                theme: params.get("theme"),
                readonly: params.get("readonly"),
                autorun: params.get("autorun"),
                height: params.get("height"),
                chrome: params.get("chrome"),
                scale: params.get("scale"),
                heading: params.get("heading"),
                note: params.get("note"),
                token: params.get("token"),
                layer: params.get("layer"),
            };
        }
        let mut options = Options::from_raw(raw, base, format!("{origin}{path}"), true);
        let window = web_sys::window();
        let top = window.as_ref().and_then(|w| w.top().ok().flatten());
        options.framed = matches!((&window, &top), (Some(w), Some(t)) if !js_sys::Object::is(w, t));
        options
    }

    /// A link to the full page reproducing `settings`, opening on the `focus` cell (token, layer).
    pub fn share_link(&self, settings: &Settings, focus: Option<(usize, Option<usize>)>) -> String {
        let Ok(params) = web_sys::UrlSearchParams::new() else { return self.page_url.clone() };
        params.append("text", &settings.text);
        params.append("capacity", &settings.capacity.to_string());
        params.append("mode", if settings.causal { "causal" } else { "topk" });
        if let Some((token, layer)) = focus {
            params.append("token", &(token + 1).to_string());
            if let Some(layer) = layer {
                params.append("layer", &layer.to_string());
            }
        }
        if let Some(theme) = &self.theme {
            params.append("theme", theme);
        }
        format!("{}?{}", self.page_url, String::from(params.to_string()))
    }
}

thread_local! {
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// One model run at a time across every instance on the page: they share one device.
pub fn busy() -> bool {
    BUSY.with(Cell::get)
}

pub fn set_busy(b: bool) {
    BUSY.with(|c| c.set(b));
}
