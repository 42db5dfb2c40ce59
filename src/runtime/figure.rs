//! The routing heatmap's drawing rules, shared by the page, its exports and the CLI: the colour
//! scale, how tokens are shown and laid out in lines, and the heatmap as a standalone SVG figure.
//! Pure functions of a [`RoutingTrace`], so they are the same natively and in the browser.

use crate::model::{RoutingMode, RoutingTrace, capacity_k};

/// Viridis at nine stops (perceptually uniform, readable with the common colour-vision
/// deficiencies and in greyscale, since its lightness rises monotonically).
const VIRIDIS: [(f32, f32, f32); 9] = [
    (68.0, 1.0, 84.0),
    (72.0, 40.0, 120.0),
    (62.0, 73.0, 137.0),
    (49.0, 104.0, 142.0),
    (38.0, 130.0, 142.0),
    (31.0, 158.0, 137.0),
    (53.0, 183.0, 121.0),
    (110.0, 206.0, 88.0),
    (253.0, 231.0, 37.0),
];

fn viridis(t: f32) -> (u8, u8, u8) {
    let x = t.clamp(0.0, 1.0) * 8.0;
    let i = (x.floor() as usize).min(7);
    let f = x - i as f32;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let lerp = |p: f32, q: f32| (p + (q - p) * f).round() as u8;
    (lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

/// The colour of a processed cell for update weight `w`: a larger weight stands out more from the
/// background in either theme (darker on light, brighter on dark). Each theme uses the part of
/// viridis that keeps at least 3:1 contrast against its panel for every weight.
pub fn weight_colour(w: f32, dark: bool) -> String {
    let w = if w.is_finite() { w.clamp(0.0, 1.0) } else { 0.0 };
    let (r, g, b) = if dark { viridis(0.45 + 0.55 * w) } else { viridis(0.55 * (1.0 - w)) };
    format!("rgb({r},{g},{b})")
}

/// Token text made visible: spaces as a faint dot, newlines as ↵, other controls as their code.
pub fn visible(piece: &str) -> String {
    piece
        .chars()
        .map(|c| match c {
            ' ' => "·".to_string(),
            '\n' => "↵".to_string(),
            '\t' => "⇥".to_string(),
            c if c.is_control() || ('\u{200b}'..='\u{200f}').contains(&c) || c == '\u{feff}' => format!("U+{:04X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// Width of a token's column in CSS pixels: its text in the grid's monospace font (wide East Asian
/// characters and emoji take two cells), at least a square cell.
pub fn column_px(label: &str) -> f64 {
    let cells: usize = label.chars().map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 }).sum();
    (cells as f64 * 7.8 + 4.0).max(16.0)
}

/// Width of the layer labels at the start of every line, and the gap between columns.
pub const LABELS_PX: f64 = 78.0;
const GAP_PX: f64 = 2.0;

/// Splits the tokens into lines that fit a panel `width` pixels wide (its padding and a
/// scrollbar's width taken off).
pub fn lines(labels: &[String], width: f64) -> Vec<std::ops::Range<usize>> {
    let available = (width - LABELS_PX - 48.0).max(120.0);
    let (mut out, mut start, mut used) = (Vec::new(), 0, 0.0);
    for (i, label) in labels.iter().enumerate() {
        let w = column_px(label) + GAP_PX;
        if used + w > available && i > start {
            out.push(start..i);
            (start, used) = (i, 0.0);
        }
        used += w;
    }
    if start < labels.len() {
        out.push(start..labels.len());
    }
    out
}

const CELL: f64 = 10.0;
/// The exported figure's width: fits a slide or a printed column.
pub const FIGURE_WIDTH: f64 = 1000.0;

pub fn xml_escape(s: &str) -> String {
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

/// The settings a figure or file was made with, in words.
pub fn settings_caption(trace: &RoutingTrace) -> String {
    let k = capacity_k(trace.capacity, trace.tokens);
    let mode = match trace.mode {
        RoutingMode::TopK { .. } => format!("top-k routing at {:.1}% capacity (k = {k} of {} tokens)", trace.capacity * 100.0, trace.tokens),
        RoutingMode::Causal => format!("causal predictor routing ({} tokens)", trace.tokens),
    };
    let routed: Vec<String> = trace.layers.iter().filter(|l| l.routed).map(|l| l.layer.to_string()).collect();
    format!("modscope MoD model ({} blocks, routed blocks {}), {mode}", trace.layers.len(), routed.join(", "))
}

/// The heatmap as a standalone, light-themed SVG for slides and papers: a caption of the
/// settings, the key with its colour bar, then lines of tokens each labelled with its layers.
pub fn heatmap_svg(trace: &RoutingTrace, pieces: &[String]) -> String {
    let labels: Vec<String> = pieces.iter().map(|p| visible(p)).collect();
    let depth = trace.routed_depth();
    let lines = lines(&labels, FIGURE_WIDTH);
    let rows = trace.layers.len();
    let band = 16.0 + rows as f64 * (CELL + 2.0) + 22.0;
    let top = 64.0;
    let h = top + lines.len() as f64 * band + 10.0;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{FIGURE_WIDTH}" height="{h}" viewBox="0 0 {FIGURE_WIDTH} {h}" font-family="monospace" font-size="10">"#
    );
    out.push_str(r##"<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="2" height="4" fill="#767676"/></pattern></defs><rect width="100%" height="100%" fill="white"/>"##);
    out.push_str(&format!(
        r#"<text x="10" y="16" font-size="12" font-family="sans-serif">{}</text>"#,
        xml_escape(&settings_caption(trace))
    ));
    // The key: processed (filled), skipped (outlined), dense (hatched rule), and the colour bar.
    out.push_str(&format!(
        r##"<g font-family="sans-serif" font-size="10"><rect x="10" y="28" width="10" height="10" fill="{}"/><text x="24" y="37">processed</text><rect x="90.5" y="28.5" width="9" height="9" fill="none" stroke="#767676"/><text x="104" y="37">skipped</text><rect x="160" y="32" width="14" height="3" fill="url(#hatch)"/><text x="178" y="37">dense block (every token)</text><text x="330" y="37">update weight 0</text>"##,
        weight_colour(0.9, false)
    ));
    for i in 0..40 {
        out.push_str(&format!(r#"<rect x="{}" y="28" width="3" height="10" fill="{}"/>"#, 410 + i * 3, weight_colour(i as f32 / 39.0, false)));
    }
    for l in trace.layers.iter() {
        if let Some(t) = l.topk_threshold.filter(|_| matches!(trace.mode, RoutingMode::TopK { .. })) {
            out.push_str(&format!(r#"<rect x="{:.1}" y="25" width="1.5" height="16" fill="black"><title>layer {} threshold {t:.3}</title></rect>"#, 410.0 + t.clamp(0.0, 1.0) as f64 * 120.0, l.layer));
        }
    }
    out.push_str(r#"<text x="534" y="37">1 (ticks: top-k thresholds; the number under a column: routed blocks that took it)</text></g>"#);
    for (line, range) in lines.iter().enumerate() {
        let y0 = top + line as f64 * band;
        for (l, layer) in trace.layers.iter().enumerate() {
            let label = if layer.routed { format!("L{l} · k {}", layer.processed_count()) } else { format!("L{l} dense") };
            out.push_str(&format!(r##"<text x="10" y="{:.1}" font-size="8" fill="#555">{label}</text>"##, y0 + 16.0 + l as f64 * (CELL + 2.0) + 8.0));
        }
        let mut x = 78.0;
        for i in range.clone() {
            let w = column_px(&labels[i]);
            out.push_str(&format!(r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, x + w / 2.0, y0 + 11.0, xml_escape(&labels[i])));
            for (l, layer) in trace.layers.iter().enumerate() {
                let y = y0 + 16.0 + l as f64 * (CELL + 2.0);
                out.push_str(&match (layer.routed, layer.processed[i]) {
                    (false, _) => format!(r#"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="3" fill="url(#hatch)"/>"#, y + 3.5),
                    (true, true) => format!(r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{CELL}" fill="{}"/>"#, weight_colour(layer.router_score[i], false)),
                    (true, false) => format!(r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{}" fill="none" stroke="#767676"/>"##, x + 0.5, y + 0.5, w - 1.0, CELL - 1.0),
                });
            }
            out.push_str(&format!(r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="8" fill="#555">{}</text>"##, x + w / 2.0, y0 + 16.0 + rows as f64 * (CELL + 2.0) + 8.0, depth[i]));
            x += w + 2.0;
        }
    }
    out.push_str("</svg>");
    out
}

