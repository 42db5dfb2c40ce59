//! How a demo instance is configured: the reader's settings and the instance's fixed options,
//! parsed from the page URL or from a `<mod-demo>` element's attributes (the same names in both).
//! Pure parsing, so it is tested natively: anything a link or a host page can put there gives a
//! working demo.

use serde::Deserialize;

pub const EXAMPLE_TEXT: &str = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.";

/// What the reader can change; a share link reproduces exactly these.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub text: String,
    pub capacity: f64,
    pub causal: bool,
    pub force_cpu: bool,
    /// `backend=webgpu`: use WebGPU where it starts, without timing it against the CPU first.
    pub force_webgpu: bool,
}

/// Which panels an instance shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panels {
    Heatmap,
    HeatmapAndFlops,
    Full,
}

/// How an instance is set up: from the URL (`?text=…&capacity=…&mode=topk|causal&backend=cpu&
/// panels=heatmap|flops|full&theme=light|dark&readonly=1&autorun=0&height=…&chrome=none&scale=…&
/// heading=off&note=off`) or the same-named attributes of `<mod-demo>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub settings: Settings,
    pub panels: Panels,
    pub theme: Option<String>,
    pub readonly: bool,
    pub autorun: bool,
    pub height: Option<String>,
    /// `chrome="none"`: a figure for a slide or an article: the heatmap and its legend only, no
    /// controls, as tall as its content, with a caption slot.
    pub figure: bool,
    /// `scale`: how much larger than the page's own size the demo is drawn (a figure on a slide:
    /// `scale="1.4"` draws its row labels at 15 px), 0.5–4; 1 when absent or unreadable.
    pub scale: f64,
    /// `heading="off"`: no panel heading (the host page has its own title).
    pub heading: bool,
    /// `note="off"`: the key without its sentence of explanation.
    pub note: bool,
    /// Folder holding `models/`.
    pub asset_base: String,
    /// The full page that share links open.
    pub page_url: String,
    /// A deep link's cell: token index (0-based; `token=` counts from 1) and layer, if any.
    pub focus: Option<(usize, Option<usize>)>,
    /// The standalone page (true) or an embedded element (false).
    pub standalone: bool,
    /// The standalone page inside another page's iframe: its first screen is made compact, so
    /// the grid starts near the frame's top.
    pub framed: bool,
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
    pub chrome: Option<String>,
    pub scale: Option<String>,
    pub heading: Option<String>,
    pub note: Option<String>,
    pub token: Option<String>,
    pub layer: Option<String>,
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
            force_webgpu: raw.backend.as_deref() == Some("webgpu"),
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
        // Positions past the end of the text are clamped by the heatmap; layers past the model's are
        // ignored by it. Both are bounded here so a link cannot ask for absurd numbers.
        let number = |v: Option<String>, max: usize| v.and_then(|v| v.trim().parse::<usize>().ok()).filter(|n| *n <= max);
        let focus = number(raw.token, 1 << 20).filter(|t| *t >= 1).map(|t| (t - 1, number(raw.layer, 1 << 10)));
        Options {
            settings,
            panels,
            theme,
            readonly: flag(&raw.readonly, false),
            autorun: flag(&raw.autorun, true),
            height,
            figure: raw.chrome.as_deref() == Some("none"),
            scale: raw.scale.and_then(|s| s.trim().parse::<f64>().ok()).filter(|s| s.is_finite()).map_or(1.0, |s| s.clamp(0.5, 4.0)),
            heading: flag(&raw.heading, true),
            note: flag(&raw.note, true),
            asset_base,
            page_url,
            standalone,
            framed: false,
            focus,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(raw: RawOptions) -> Options {
        Options::from_raw(raw, "/".into(), "/index.html".into(), false)
    }

    #[test]
    fn named_values_are_read_and_the_rest_fall_back() {
        let raw = RawOptions {
            text: Some("Emma".into()),
            capacity: Some("0.5".into()),
            mode: Some("causal".into()),
            panels: Some("heatmap".into()),
            theme: Some("dark".into()),
            height: Some("640px".into()),
            ..Default::default()
        };
        let o = parse(raw);
        assert_eq!((o.settings.text.as_str(), o.settings.capacity, o.settings.causal), ("Emma", 0.5, true));
        assert_eq!((o.panels, o.theme.as_deref(), o.height.as_deref()), (Panels::Heatmap, Some("dark"), Some("640px")));
        assert!(!o.figure);
        assert!(parse(RawOptions { chrome: Some("none".into()), ..Default::default() }).figure);
        let o = parse(RawOptions {
            capacity: Some("NaN".into()),
            theme: Some("neon".into()),
            height: Some("1px;background:red".into()),
            ..Default::default()
        });
        assert_eq!((o.settings.capacity, o.theme, o.height), (0.125, None, None));
        assert_eq!(o.settings.text, EXAMPLE_TEXT);
        assert_eq!(o.focus, None);
        let deep = |token: &str, layer: Option<&str>| {
            parse(RawOptions { token: Some(token.into()), layer: layer.map(Into::into), ..Default::default() }).focus
        };
        assert_eq!(deep("5", Some("3")), Some((4, Some(3))));
        assert_eq!(deep("5", None), Some((4, None)));
        assert_eq!(deep("5", Some("x")), Some((4, None)));
        assert_eq!(deep("0", Some("3")), None);
        assert_eq!(deep("-2", None), None);
    }

    #[test]
    fn a_figure_scales_and_drops_its_heading_and_note_on_request() {
        let o = parse(RawOptions { scale: Some("1.6".into()), heading: Some("off".into()), note: Some("0".into()), ..Default::default() });
        assert_eq!((o.scale, o.heading, o.note), (1.6, false, false));
        let o = parse(RawOptions::default());
        assert_eq!((o.scale, o.heading, o.note), (1.0, true, true));
        for (raw, scale) in [("100", 4.0), ("0", 0.5), ("inf", 1.0), ("big", 1.0), (" 2 ", 2.0)] {
            assert_eq!(parse(RawOptions { scale: Some(raw.into()), ..Default::default() }).scale, scale, "{raw}");
        }
    }

    proptest! {
        /// Whatever a link or a host page puts in any attribute, the demo gets usable options:
        /// a capacity the model accepts, a known theme, and a height that is only a CSS length.
        #[test]
        fn any_attribute_values_give_usable_options(
            values in proptest::collection::vec(proptest::option::of(any::<String>()), 15),
        ) {
            let v = |i: usize| values[i].clone();
            let o = parse(RawOptions {
                text: v(0), capacity: v(1), mode: v(2), backend: v(3), panels: v(4), theme: v(5),
                readonly: v(6), autorun: v(7), height: v(8), chrome: v(9), token: v(10), layer: v(11),
                scale: v(12), heading: v(13), note: v(14),
            });
            prop_assert!((0.5..=4.0).contains(&o.scale));
            prop_assert_eq!(o.figure, v(9).as_deref() == Some("none"));
            prop_assert!((0.125..=1.0).contains(&o.settings.capacity));
            prop_assert!(o.theme.is_none() || matches!(o.theme.as_deref(), Some("light" | "dark")));
            if let Some(h) = &o.height {
                prop_assert!(h.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '%'), "height {h:?}");
            }
            prop_assert_eq!(o.settings.text, v(0).unwrap_or_else(|| EXAMPLE_TEXT.into()));
        }

        #[test]
        fn capacities_in_range_are_kept(c in 0.125f64..=1.0) {
            let o = parse(RawOptions { capacity: Some(c.to_string()), ..Default::default() });
            prop_assert_eq!(o.settings.capacity, c);
        }
    }
}
