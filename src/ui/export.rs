//! Getting results out of the page: a share link that reproduces the text and settings, the
//! heatmap as SVG or PNG, and the FLOPs table as CSV.

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use super::PageState;
use super::engine::RunResult;
use super::heatmap::{visible, weight_colour};

const CELL: f64 = 12.0;
const COLUMN: f64 = 44.0;
const PER_ROW: usize = 24;

fn xml_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&apos;".into(),
            c if (c as u32) < 0x20 => format!("&#x{:X};", c as u32 + 0x2400),
            c => c.to_string(),
        })
        .collect()
}

/// The heatmap as a standalone SVG: every token with its per-layer cells, rows of 24 tokens.
pub fn heatmap_svg(r: &RunResult) -> String {
    let trace = &r.routed.trace;
    let layers = trace.layers.len();
    let band = 18.0 + layers as f64 * (CELL + 1.0) + 10.0;
    let rows = r.pieces.len().div_ceil(PER_ROW).max(1);
    let (w, h) = (PER_ROW as f64 * COLUMN + 20.0, rows as f64 * band + 30.0);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="monospace" font-size="10">"#
    );
    out.push_str(&format!(
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="14" font-size="11">Mixture-of-Depths routing, {} tokens; rows of cells are layers 0–{}; blue = processed (darker = larger router weight), grey = dense block, white = skipped</text>"#,
        r.pieces.len(),
        layers - 1
    ));
    for (i, piece) in r.pieces.iter().enumerate() {
        let x = 10.0 + (i % PER_ROW) as f64 * COLUMN;
        let y = 30.0 + (i / PER_ROW) as f64 * band;
        out.push_str(&format!(r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#, x + COLUMN / 2.0 - 1.0, y + 10.0, xml_escape(&visible(piece))));
        for (l, layer) in trace.layers.iter().enumerate() {
            let fill = match (layer.routed, layer.processed[i]) {
                (false, _) => "#7a7a7a".to_string(),
                (true, true) => weight_colour(layer.router_weight[i]),
                (true, false) => "white".to_string(),
            };
            out.push_str(&format!(
                r##"<rect x="{x}" y="{}" width="{}" height="{CELL}" fill="{fill}" stroke="#c4c8ce"/>"##,
                y + 16.0 + l as f64 * (CELL + 1.0),
                COLUMN - 2.0
            ));
        }
    }
    out.push_str("</svg>");
    out
}

/// The FLOPs comparison as CSV: one row per layer, then the LM head and the totals.
pub fn flops_csv(r: &RunResult) -> String {
    let (m, d) = (&r.routed.flops, &r.dense.flops);
    let mut out = String::from("layer,block,tokens_processed,tokens,mod_flops,dense_flops,mod_projections,mod_attention,mod_mlp,mod_router,mod_predictor\n");
    for (lm, ld) in m.layers.iter().zip(&d.layers) {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            lm.layer,
            if lm.routed { "routed" } else { "dense" },
            lm.tokens_processed,
            m.tokens,
            lm.total(),
            ld.total(),
            lm.projections,
            lm.attention,
            lm.mlp,
            lm.router,
            lm.predictor
        ));
    }
    out.push_str(&format!("head,lm_head,{},{},{},{},,,,,\n", m.tokens, m.tokens, m.lm_head, d.lm_head));
    out.push_str(&format!("total,,,{},{},{},,,,,\n", m.tokens, m.total(), d.total()));
    out
}

/// Offers `contents` as a file download.
fn download(name: &str, mime: &str, contents: &str) -> Result<(), JsValue> {
    let parts = js_sys::Array::of1(&JsValue::from_str(contents));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)?;
    download_url(name, &web_sys::Url::create_object_url_with_blob(&blob)?)
}

fn download_url(name: &str, url: &str) -> Result<(), JsValue> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a")?.dyn_into()?;
    a.set_href(url);
    a.set_download(name);
    a.click();
    Ok(())
}

/// Rasterises the SVG on a canvas at twice its size and downloads it as PNG.
fn download_png(svg: String, name: &'static str) -> Result<(), JsValue> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let image: web_sys::HtmlImageElement = document.create_element("img")?.dyn_into()?;
    let source = image.clone();
    let onload = wasm_bindgen::closure::Closure::once_into_js(move || {
        let draw = || -> Result<(), JsValue> {
            let canvas: web_sys::HtmlCanvasElement = document.create_element("canvas")?.dyn_into()?;
            canvas.set_width(source.natural_width() * 2);
            canvas.set_height(source.natural_height() * 2);
            let context: web_sys::CanvasRenderingContext2d = canvas.get_context("2d")?.ok_or("no 2d context")?.dyn_into()?;
            context.scale(2.0, 2.0)?;
            context.draw_image_with_html_image_element(&source, 0.0, 0.0)?;
            download_url(name, &canvas.to_data_url_with_type("image/png")?)
        };
        if let Err(e) = draw() {
            web_sys::console::warn_1(&e);
        }
    });
    image.set_onload(Some(onload.unchecked_ref()));
    let encoded = js_sys::encode_uri_component(&svg);
    image.set_src(&format!("data:image/svg+xml;charset=utf-8,{}", String::from(encoded)));
    Ok(())
}

fn report(page: PageState, outcome: Result<(), JsValue>) {
    if let Err(e) = outcome {
        page.message.set(Some(format!("Export failed: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")))));
    }
}

#[component]
pub fn HeatmapExport() -> impl IntoView {
    let page = expect_context::<PageState>();
    let svg = move |_| {
        if let Some(r) = page.result.get_untracked() {
            report(page, download("modscope-heatmap.svg", "image/svg+xml", &heatmap_svg(&r)));
        }
    };
    let png = move |_| {
        if let Some(r) = page.result.get_untracked() {
            report(page, download_png(heatmap_svg(&r), "modscope-heatmap.png"));
        }
    };
    view! {
        <div class="exports">
            <button class="export-svg" on:click=svg>"Download SVG"</button>
            <button class="export-png" on:click=png>"Download PNG"</button>
        </div>
    }
}

#[component]
pub fn FlopsExport() -> impl IntoView {
    let page = expect_context::<PageState>();
    let csv = move |_| {
        if let Some(r) = page.result.get_untracked() {
            report(page, download("modscope-flops.csv", "text/csv", &flops_csv(&r)));
        }
    };
    view! { <button class="export-csv" on:click=csv>"Download CSV"</button> }
}

/// Copies a link to the full page with this text and these settings (and shows it, for browsers
/// that refuse clipboard access).
#[component]
pub fn ShareButton() -> impl IntoView {
    let page = expect_context::<PageState>();
    let link = RwSignal::new(None::<String>);
    let share = move |_| {
        let url = page.options.with_value(|o| o.share_link(&page.settings.get_untracked()));
        let clipboard = web_sys::window()
            .and_then(|w| js_sys::Reflect::get(&w.navigator(), &"clipboard".into()).ok())
            .filter(|c| !c.is_undefined());
        if let Some(clipboard) = clipboard
            && let Ok(write) = js_sys::Reflect::get(&clipboard, &"writeText".into()).and_then(|f| f.dyn_into::<js_sys::Function>())
        {
            // A refused permission rejects the promise; the link stays visible either way.
            if let Ok(promise) = write.call1(&clipboard, &JsValue::from_str(&url)).and_then(|p| p.dyn_into::<js_sys::Promise>()) {
                leptos::task::spawn_local(async move {
                    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
                });
            }
        }
        link.set(Some(url));
    };
    view! {
        <button class="share" on:click=share aria-label="Copy a link to this text and these settings">"Share link"</button>
        {move || link.get().map(|l| view! {
            <input class="share-link" readonly aria-label="Share link" prop:value=l on:focus=|ev| {
                if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                    input.select();
                }
            }/>
        })}
    }
}
