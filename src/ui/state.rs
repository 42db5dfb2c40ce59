//! The reader's settings and an instance's fixed options, read from the page URL or from a
//! custom element's attributes (the same names in both), and the run bookkeeping.

use std::cell::Cell;

use serde::Deserialize;

pub const EXAMPLE_TEXT: &str = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.";

/// What the reader can change; a share link reproduces exactly these.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub text: String,
    pub capacity: f64,
    pub causal: bool,
    pub force_cpu: bool,
}

/// Which panels an instance shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panels {
    Heatmap,
    HeatmapAndFlops,
    Full,
}

/// How an instance is set up: from the URL (`?text=…&capacity=…&mode=topk|causal&backend=cpu&
/// panels=heatmap|flops|full&theme=light|dark&readonly=1&autorun=0&height=…`) or the same-named
/// attributes of `<mod-demo>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub settings: Settings,
    pub panels: Panels,
    pub theme: Option<String>,
    pub readonly: bool,
    pub autorun: bool,
    pub height: Option<String>,
    /// Folder holding `models/`.
    pub asset_base: String,
    /// The full page that share links open.
    pub page_url: String,
    /// The standalone page (true) or an embedded element (false).
    pub standalone: bool,
}

/// Raw key/value options, as the URL or an element's attributes give them.
#[derive(Default, Deserialize)]
pub struct RawOptions {
    pub text: Option<String>,
    pub capacity: Option<String>,
    pub mode: Option<String>,
    pub backend: Option<String>,
    pub panels: Option<String>,
    pub theme: Option<String>,
    pub readonly: Option<String>,
    pub autorun: Option<String>,
    pub height: Option<String>,
}

fn flag(v: &Option<String>, default: bool) -> bool {
    match v.as_deref() {
        None => default,
        Some(v) => !matches!(v, "0" | "false" | "no" | "off"),
    }
}

impl Options {
    pub fn from_raw(raw: RawOptions, asset_base: String, page_url: String, standalone: bool) -> Self {
        let settings = Settings {
            text: raw.text.unwrap_or_else(|| EXAMPLE_TEXT.into()),
            capacity: raw.capacity.and_then(|c| c.parse::<f64>().ok()).filter(|c| c.is_finite()).unwrap_or(0.125).clamp(0.125, 1.0),
            causal: raw.mode.as_deref() == Some("causal"),
            force_cpu: raw.backend.as_deref() == Some("cpu"),
        };
        let panels = match raw.panels.as_deref() {
            Some("heatmap") => Panels::Heatmap,
            Some("flops") => Panels::HeatmapAndFlops,
            _ => Panels::Full,
        };
        let theme = raw.theme.filter(|t| t == "light" || t == "dark");
        // Only a CSS length: digits with a unit, so an attribute cannot inject other styles.
        let height = raw.height.filter(|h| {
            let digits = h.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || c == '.') && h.len() - digits.len() <= 3
        });
        Options {
            settings,
            panels,
            theme,
            readonly: flag(&raw.readonly, false),
            autorun: flag(&raw.autorun, true),
            height,
            asset_base,
            page_url,
            standalone,
        }
    }

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
            };
        }
        Options::from_raw(raw, base, format!("{origin}{path}"), true)
    }

    /// A link to the full page reproducing `settings`.
    pub fn share_link(&self, settings: &Settings) -> String {
        let Ok(params) = web_sys::UrlSearchParams::new() else { return self.page_url.clone() };
        params.append("text", &settings.text);
        params.append("capacity", &settings.capacity.to_string());
        params.append("mode", if settings.causal { "causal" } else { "topk" });
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
