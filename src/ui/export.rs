//! Getting results out of the page: a share link that reproduces the text and settings, the
//! heatmap and the charts as SVG or PNG, the FLOPs table as CSV, and the full trace as JSON.

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use super::PageState;
use super::engine::RunResult;
use crate::model::RoutingMode;
use crate::runtime::figure::{FIGURE_WIDTH, heatmap_svg, settings_caption, xml_escape};

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// The FLOPs comparison as CSV: one row per layer, then the LM head and the totals; every row also
/// carries the settings and the measured times, so a row read on its own still says what it is.
pub fn flops_csv(r: &RunResult, text: &str) -> String {
    let (m, d) = (&r.routed.flops, &r.dense.flops);
    let mode = match r.routed.trace.mode {
        RoutingMode::TopK { .. } => "topk",
        RoutingMode::Causal => "causal",
    };
    let settings = format!("{},{mode},{},{:.3},{:.3},{}", r.routed.trace.capacity, r.backend.label(), r.routed_stages.total_ms(), r.dense.stages.total_ms(), csv_field(text));
    let mut out = String::from(
        "layer,block,tokens_processed,tokens,mod_flops,dense_flops,mod_projections,mod_attention,mod_mlp,mod_router,mod_predictor,capacity,mode,backend,mod_ms,dense_ms,text\n",
    );
    for (lm, ld) in m.layers.iter().zip(&d.layers) {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{settings}\n",
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
    out.push_str(&format!("head,lm_head,{},{},{},{},,,,,,{settings}\n", m.tokens, m.tokens, m.lm_head, d.lm_head));
    out.push_str(&format!("total,,,{},{},{},,,,,,{settings}\n", m.tokens, m.total(), d.total()));
    out
}

/// Everything one run produced, for a notebook: settings, tokens, both models' traces, entropies,
/// FLOPs, top-5 and times.
pub fn trace_json(r: &RunResult, text: &str) -> String {
    serde_json::json!({
        "text": text,
        "caption": settings_caption(&r.routed.trace),
        "backend": r.backend.label(),
        "tokens": r.window.tokens,
        "dropped_from_start": r.window.dropped,
        "pieces": r.pieces,
        "mod": { "analysis": r.routed, "ms": r.routed_stages.total_ms(), "top5": r.routed_top5 },
        "dense": { "analysis": r.dense, "ms": r.dense.stages.total_ms(), "top5": r.dense_top5 },
    })
    .to_string()
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
    let name = if name.ends_with(".png") { name.to_string() } else { format!("{name}.png") };
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
            download_url(&name, &canvas.to_data_url_with_type("image/png")?)
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
        if let Some(r) = page.routing.get_untracked() {
            report(page, download("modscope-heatmap.svg", "image/svg+xml", &heatmap_svg(&r.routed.trace, &r.pieces)));
        }
    };
    let png = move |_| {
        if let Some(r) = page.routing.get_untracked() {
            report(page, download_png(heatmap_svg(&r.routed.trace, &r.pieces), "modscope-heatmap.png"));
        }
    };
    let json = move |_| {
        if let Some(r) = page.result.get_untracked() {
            report(page, download("modscope-trace.json", "application/json", &trace_json(&r, &page.settings.get_untracked().text)));
        }
    };
    view! {
        <div class="exports">
            <button class="export-svg" on:click=svg>"Download SVG"</button>
            <button class="export-png" on:click=png>"Download PNG"</button>
            <button class="export-json" on:click=json>"Download trace (JSON)"</button>
        </div>
    }
}

/// Presentation properties a chart's CSS gives its SVG elements, written inline on export so the
/// file looks as the page did without the stylesheet.
const CHART_STYLE: [&str; 8] = ["fill", "fill-opacity", "stroke", "stroke-width", "stroke-dasharray", "opacity", "font-size", "font-family"];

/// The charts (each `svg` with its `figcaption`) in `panel`, side by side in one standalone SVG
/// under a title and a caption of the settings, their page styles inlined, the panel's notes under
/// them.
fn charts_svg(panel: &web_sys::Element, title: &str, caption: &str) -> Result<String, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let svgs = panel.query_selector_all("svg")?;
    let (gap, top) = (16.0, 48.0);
    let (mut x, mut y, mut row_height, mut body) = (10.0, top, 0.0f64, String::new());
    for i in 0..svgs.length() {
        let Some(svg) = svgs.item(i).and_then(|n| n.dyn_into::<web_sys::Element>().ok()) else { continue };
        let rect = svg.get_bounding_client_rect();
        let (w, h) = (rect.width().max(1.0), rect.height().max(1.0));
        if x + w > FIGURE_WIDTH && x > 10.0 {
            (x, y, row_height) = (10.0, y + row_height + gap, 0.0);
        }
        let copy: web_sys::Element = svg.clone_node_with_deep(true)?.dyn_into()?;
        let (originals, copies) = (svg.query_selector_all("*")?, copy.query_selector_all("*")?);
        for j in 0..originals.length().min(copies.length()) {
            let (Some(from), Some(to)) = (originals.item(j), copies.item(j)) else { continue };
            let (Ok(from), Ok(to)) = (from.dyn_into::<web_sys::Element>(), to.dyn_into::<web_sys::Element>()) else { continue };
            let Some(computed) = window.get_computed_style(&from)? else { continue };
            let style: String = CHART_STYLE.iter().filter_map(|p| computed.get_property_value(p).ok().map(|v| format!("{p}:{v};"))).collect();
            to.set_attribute("style", &style)?;
        }
        copy.set_attribute("x", &format!("{x:.0}"))?;
        copy.set_attribute("y", &format!("{y:.0}"))?;
        copy.set_attribute("width", &format!("{w:.0}"))?;
        copy.set_attribute("height", &format!("{h:.0}"))?;
        body.push_str(&copy.outer_html());
        let label = svg.parent_element().and_then(|f| f.query_selector("figcaption").ok().flatten()).and_then(|c| c.text_content());
        let mut used = h;
        if let Some(label) = label {
            body.push_str(&format!(r#"<text x="{x:.0}" y="{:.0}" font-size="11">{}</text>"#, y + h + 13.0, xml_escape(&label)));
            used += 18.0;
        }
        row_height = row_height.max(used);
        x += w + gap;
    }
    // The panel's notes (axes, n, r and its interval, the key) as lines under the charts.
    let mut y = y + row_height + 8.0;
    let notes = panel.query_selector_all("p.note")?;
    for i in 0..notes.length() {
        let text = notes.item(i).and_then(|n| n.text_content()).unwrap_or_default();
        for line in wrap(&text, 150) {
            y += 14.0;
            body.push_str(&format!(r#"<text x="10" y="{y:.0}" font-size="11">{}</text>"#, xml_escape(&line)));
        }
    }
    let height = y + 10.0;
    Ok(format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{FIGURE_WIDTH}" height="{height:.0}" viewBox="0 0 {FIGURE_WIDTH} {height:.0}" font-family="sans-serif" font-size="10"><rect width="100%" height="100%" fill="white"/><text x="10" y="18" font-size="14">{}</text><text x="10" y="36" font-size="11">{}</text>{body}</svg>"#,
        xml_escape(title),
        xml_escape(caption)
    ))
}

/// `text` cut at spaces into lines of at most `width` characters (SVG text does not wrap).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// SVG and PNG downloads of the charts beside the buttons (their `.sweep` block, else their panel).
#[component]
pub fn ChartExport(name: &'static str, title: &'static str) -> impl IntoView {
    let page = expect_context::<PageState>();
    let save = move |ev: leptos::ev::MouseEvent, png: bool| {
        let panel = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).and_then(|b| b.closest(".sweep, .panel").ok().flatten());
        let (Some(panel), Some(r)) = (panel, page.result.get_untracked()) else { return };
        let outcome = charts_svg(&panel, title, &settings_caption(&r.routed.trace)).and_then(|svg| {
            if png { download_png(svg, name) } else { download(&format!("{name}.svg"), "image/svg+xml", &svg) }
        });
        report(page, outcome);
    };
    view! {
        <div class="exports">
            <button class="chart-svg" on:click=move |ev| save(ev, false)>"Download chart (SVG)"</button>
            <button class="chart-png" on:click=move |ev| save(ev, true)>"Download chart (PNG)"</button>
        </div>
    }
}

#[component]
pub fn FlopsExport() -> impl IntoView {
    let page = expect_context::<PageState>();
    let csv = move |_| {
        if let Some(r) = page.result.get_untracked() {
            report(page, download("modscope-flops.csv", "text/csv", &flops_csv(&r, &page.settings.get_untracked().text)));
        }
    };
    view! { <button class="export-csv" on:click=csv>"Download CSV"</button> }
}

/// Writes `text` to the clipboard; false when the browser refuses (no permission, no API).
async fn copy_to_clipboard(text: &str) -> bool {
    let Some(clipboard) = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w.navigator(), &"clipboard".into()).ok())
        .filter(|c| !c.is_undefined())
    else {
        return false;
    };
    let Ok(write) = js_sys::Reflect::get(&clipboard, &"writeText".into()).and_then(|f| f.dyn_into::<js_sys::Function>()) else {
        return false;
    };
    match write.call1(&clipboard, &JsValue::from_str(text)).and_then(|p| p.dyn_into::<js_sys::Promise>()) {
        Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise).await.is_ok(),
        Err(_) => false,
    }
}

fn attribute_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;")
}

/// HTML that shows this state on any other page: an iframe of the full page, which needs nothing
/// from the host (a `<mod-demo>` element loads module scripts, which browsers fetch across
/// origins only with a CORS header; the README says how to serve `pkg/` for that).
pub fn embed_code(share_link: &str) -> String {
    format!(
        "<iframe src=\"{}\" title=\"modscope: Mixture-of-Depths routing, live\" width=\"100%\" height=\"720\" style=\"border:0\" loading=\"lazy\"></iframe>",
        attribute_escape(share_link)
    )
}

/// Copies a link to the full page with this text and these settings, or the embed code for it,
/// says whether the copy worked, and shows what was copied (for browsers that refuse clipboard
/// access).
#[component]
pub fn ShareButton() -> impl IntoView {
    let page = expect_context::<PageState>();
    let shown = RwSignal::new(None::<(String, String)>);
    let copy = move |what: &'static str| {
        let settings = page.settings.get_untracked();
        let focus = page.selected.get_untracked();
        let text = page.options.with_value(|o| if what == "link" { o.share_link(&settings, focus) } else { embed_code(&o.share_link(&settings, focus)) });
        leptos::task::spawn_local(async move {
            let copied = copy_to_clipboard(&text).await;
            let opens_on = match focus {
                Some((token, Some(layer))) => format!(" It opens on token {}, layer {layer}.", token + 1),
                Some((token, None)) => format!(" It opens on token {}.", token + 1),
                None => String::new(),
            };
            let note = match (what, copied) {
                ("link", true) => format!("Link copied.{opens_on}"),
                (_, true) => "Embed code copied: an iframe, which works on any site.".into(),
                _ => "Copy it from the box:".into(),
            };
            shown.set(Some((note, text)));
        });
    };
    view! {
        <button class="share" on:click=move |_| copy("link") aria-label="Share link: copy a link to this text and these settings, opening on the selected cell">"Share link"</button>
        <button class="embed-code" on:click=move |_| copy("embed") aria-label="Embed code: copy an iframe that shows this demo, with this text and these settings, on another page">"Embed code"</button>
        {move || shown.get().map(|(note, text)| view! {
            <span class="copied" role="status">{note}</span>
            <input class="share-link" readonly aria-label="What was copied" prop:value=text on:focus=|ev| {
                if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                    input.select();
                }
            }/>
        })}
    }
}
