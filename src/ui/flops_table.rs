//! The live compute comparison: FLOPs of the MoD model and its dense twin for the current text,
//! per layer and per term, with the measured time of each forward pass.

use leptos::prelude::*;
use leptos::task::spawn_local;

use std::sync::Arc;

use super::engine::RunResult;
use super::{PageState, engine, state};
use crate::flops::Term;
use crate::runtime::backend::BackendKind;
use crate::runtime::session::Stages;

/// Warm runs behind the headline's times: the keystrokes on this text so far, topped up by runs
/// in the background once the reader pauses.
const HEADLINE_RUNS: usize = 5;

/// Runs per "Time it": enough for a median and quartiles that one slow run cannot move.
const TIMING_RUNS: usize = 15;

/// One run of both models, once no other run holds the device (instances share one).
pub(super) async fn run_when_free(kind: BackendKind, input: engine::Input<'_>, capacity: f64, causal: bool) -> Result<Arc<RunResult>, String> {
    while state::busy() {
        engine::sleep_ms(4).await;
    }
    state::set_busy(true);
    let outcome = engine::run(kind, input, capacity, causal, |_| {}).await;
    state::set_busy(false);
    outcome
}

/// Starts `job` unless the last one is still running; `running` is true meanwhile (the tool's
/// button shows it disabled). For the tools that run the models many times.
pub(super) fn run_exclusive(running: RwSignal<bool>, job: impl std::future::Future<Output = ()> + 'static) {
    if running.get_untracked() {
        return;
    }
    running.set(true);
    spawn_local(async move {
        job.await;
        running.set(false);
    });
}

/// Median and quartiles of `v` (sorted in place).
fn quartiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.25), at(0.5), at(0.75))
}

/// "forward 12.3 ms, read-back 0.4 ms, analysis 1.2 ms": the median of each stage.
fn stage_medians(runs: &[Stages]) -> String {
    let median = |pick: fn(&Stages) -> f64| quartiles(&mut runs.iter().map(pick).collect::<Vec<_>>()).1;
    format!(
        "forward {:.1} ms, read-back {:.1} ms, analysis {:.1} ms",
        median(|s| s.forward_ms),
        median(|s| s.readback_ms),
        median(|s| s.analysis_ms)
    )
}

/// Times the current text TIMING_RUNS times (each run does both models, as the page does) and
/// reports medians with their spread next to the FLOPs ratio.
#[component]
fn RepeatedTiming() -> impl IntoView {
    let page = expect_context::<PageState>();
    let summary = RwSignal::new(None::<String>);
    let running = RwSignal::new(false);
    let start = move |_| {
        if running.get_untracked() {
            return;
        }
        summary.set(Some(format!("Timing {TIMING_RUNS} runs…")));
        run_exclusive(running, async move {
            let settings = page.settings.get_untracked();
            let kind = page.backend.get_untracked();
            let (mut routed, mut dense, mut flops_ratio) = (Vec::new(), Vec::new(), f64::NAN);
            let (mut routed_stages, mut dense_stages) = (Vec::new(), Vec::new());
            for _ in 0..TIMING_RUNS {
                match run_when_free(kind, engine::Input::Text(&settings.text), settings.capacity, settings.causal).await {
                    Ok(r) => {
                        routed.push(r.routed_stages.total_ms());
                        dense.push(r.dense.stages.total_ms());
                        routed_stages.push(r.routed_stages);
                        dense_stages.push(r.dense.stages);
                        flops_ratio = r.routed.flops.total() as f64 / r.dense.flops.total() as f64;
                    }
                    Err(e) => {
                        summary.set(Some(format!("Timing stopped: {e}")));
                        return;
                    }
                }
            }
            let mut ratios: Vec<f64> = routed.iter().zip(&dense).map(|(a, b)| a / b.max(1e-9)).collect();
            let ((r1, r2, r3), (d1, d2, d3), (q1, q2, q3)) = (quartiles(&mut routed), quartiles(&mut dense), quartiles(&mut ratios));
            summary.set(Some(format!(
                "{TIMING_RUNS} runs on {}: MoD median {r2:.1} ms (quartiles {r1:.1}–{r3:.1}), dense {d2:.1} ms ({d1:.1}–{d3:.1}); time ratio {q2:.2} ({q1:.2}–{q3:.2}) against a FLOPs ratio of {flops_ratio:.2}. Medians per stage, MoD: {}; dense: {}.{}",
                kind.label(),
                stage_medians(&routed_stages),
                stage_medians(&dense_stages),
                if kind == BackendKind::WebGpu { " (WebGPU queues the forward pass; it runs during the read-back.)" } else { "" }
            )));
        });
    };
    view! {
        <div class="timing">
            <button id="time-it" on:click=start disabled=move || running.get()>{format!("Time it ({TIMING_RUNS} runs)")}</button>
            <span id="timing" class="note" role="status">{move || summary.get()}</span>
        </div>
    }
}

pub fn human(f: u64) -> String {
    match f {
        f if f >= 1_000_000_000 => format!("{:.2} G", f as f64 / 1e9),
        f if f >= 1_000_000 => format!("{:.2} M", f as f64 / 1e6),
        f if f >= 1_000 => format!("{:.1} k", f as f64 / 1e3),
        f => f.to_string(),
    }
}

/// Runs per capacity in the sweep (their median is drawn).
const SWEEP_RUNS: usize = 3;

/// Runs the current text at every capacity the slider offers and draws MoD ÷ dense for FLOPs and
/// for measured time: where the FLOPs saving becomes time, and where it does not.
#[component]
fn CapacitySweep() -> impl IntoView {
    let page = expect_context::<PageState>();
    // (capacity, FLOPs ratio, time ratio's lower quartile, median, upper quartile)
    let points = RwSignal::new(Vec::<(f64, f64, f64, f64, f64)>::new());
    let note = RwSignal::new(None::<String>);
    let running = RwSignal::new(false);
    let start = move |_| {
        if running.get_untracked() {
            return;
        }
        points.set(Vec::new());
        note.set(Some("Sweeping capacity…".into()));
        run_exclusive(running, async move {
            let settings = page.settings.get_untracked();
            let kind = page.backend.get_untracked();
            for step in 1..=8 {
                let capacity = step as f64 / 8.0;
                let (mut ratios, mut flops) = (Vec::new(), f64::NAN);
                for _ in 0..SWEEP_RUNS {
                    match run_when_free(kind, engine::Input::Text(&settings.text), capacity, false).await {
                        Ok(r) => {
                            ratios.push(r.routed_stages.total_ms() / r.dense.stages.total_ms().max(1e-9));
                            flops = r.routed.flops.total() as f64 / r.dense.flops.total() as f64;
                        }
                        Err(e) => {
                            note.set(Some(format!("Sweep stopped: {e}")));
                            return;
                        }
                    }
                }
                let (q1, median, q3) = quartiles(&mut ratios);
                points.update(|p| p.push((capacity, flops, q1, median, q3)));
            }
            note.set(Some(format!("Top-k at each capacity, median of {SWEEP_RUNS} runs on {} (bars: quartiles).", kind.label())));
        });
    };
    let (w, h, left, bottom) = (360.0, 170.0, 34.0, 22.0);
    let x = move |c: f64| left + (c - 0.125) / 0.875 * (w - left - 10.0);
    // Every point and whisker inside the axes, with room above the highest.
    let y_max = move || points.with(|p| p.iter().map(|q| q.1.max(q.4) * 1.08).fold(1.2, f64::max));
    let y = move |v: f64| 8.0 + (1.0 - v / y_max()) * (h - bottom - 8.0);
    let path = move |pick: fn(&(f64, f64, f64, f64, f64)) -> f64| {
        points.with(|p| p.iter().enumerate().map(|(i, q)| format!("{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, x(q.0), y(pick(q)))).collect::<String>())
    };
    view! {
        <div class="sweep">
            <button id="sweep-capacity" on:click=start disabled=move || running.get()>"Sweep capacity"</button>
            <span class="note" role="status">{move || note.get()}</span>
            {move || (!points.with(Vec::is_empty)).then(|| view! {
                <svg class="sweep-chart" viewBox=format!("0 0 {w} {h}") role="img"
                    aria-label=move || points.with(|p| p.iter().map(|q| format!("capacity {:.1}%: FLOPs ratio {:.2}, time ratio {:.2} (quartiles {:.2}–{:.2})", q.0 * 100.0, q.1, q.3, q.2, q.4)).collect::<Vec<_>>().join("; "))>
                    <line class="axis" x1=left x2=w - 10.0 y1=h - bottom y2=h - bottom/>
                    <line class="axis" x1=left x2=left y1="8" y2=h - bottom/>
                    <line class="mark" stroke-dasharray="2 3" x1=left x2=w - 10.0 y1=move || y(1.0) y2=move || y(1.0)/>
                    <path class="line-flops" d=move || path(|q| q.1)/>
                    <path class="line-time" d=move || path(|q| q.3)/>
                    {move || points.with(|p| p.iter().map(|q| view! { <line class="whisker" x1=x(q.0) x2=x(q.0) y1=y(q.2) y2=y(q.4)/> }).collect_view())}
                    // The key inside the chart, so an exported copy carries it.
                    // (Top left: the ratios rise with capacity, so the lines stay clear of it.)
                    <line class="line-flops" x1=left + 8.0 x2=left + 28.0 y1="14" y2="14"/>
                    <text x=left + 32.0 y="17">"FLOPs"</text>
                    <line class="line-time" x1=left + 8.0 x2=left + 28.0 y1="28" y2="28"/>
                    <text x=left + 32.0 y="31">"measured time"</text>
                    <text x=left - 4.0 y=move || y(1.0) + 3.0 text-anchor="end">"1.0"</text>
                    <text x=left - 4.0 y=h - bottom text-anchor="end">"0"</text>
                    {[0.125, 0.5, 1.0].map(|c| view! { <text x=x(c) y=h - 6.0 text-anchor="middle">{format!("{:.1}%", c * 100.0)}</text> }).into_iter().collect_view()}
                </svg>
                <p class="note"><span class="swatch flops"></span>" FLOPs, MoD ÷ dense "<span class="swatch time"></span>" measured time, MoD ÷ dense (x: capacity)"</p>
                <super::export::ChartExport name="modscope-capacity-sweep" title="MoD ÷ dense: FLOPs and measured time against capacity"/>
            })}
        </div>
    }
}

/// Which runs may be pooled for the headline: same text length, backend and settings.
#[derive(Clone, Copy, PartialEq)]
struct SampleKey {
    tokens: usize,
    backend: BackendKind,
    capacity: f64,
    causal: bool,
}

/// Collects warm (MoD ms, dense ms) samples for the headline: every run after the first on a
/// backend, reset when the text length or settings change, and topped up to [`HEADLINE_RUNS`]
/// when the page is idle (a newer run stops the top-up).
fn headline_samples(page: PageState) -> RwSignal<Vec<(f64, f64)>> {
    let samples = RwSignal::new(Vec::new());
    let key = StoredValue::new(None::<SampleKey>);
    let warm = StoredValue::new(Vec::<BackendKind>::new());
    Effect::new(move |_| {
        let Some(r) = page.result.get() else { return };
        let settings = page.settings.get_untracked();
        let this = SampleKey { tokens: r.routed.flops.tokens, backend: r.routing.backend, capacity: settings.capacity, causal: settings.causal };
        if key.get_value() != Some(this) {
            key.set_value(Some(this));
            samples.set(Vec::new());
        }
        // A backend's first run compiles kernels (and the browser's JIT): never a headline.
        if warm.with_value(|w| w.contains(&this.backend)) {
            samples.update(|s| s.push((r.routed_stages.total_ms(), r.dense.stages.total_ms())));
        } else {
            warm.update_value(|w| w.push(this.backend));
        }
        let shown = page.runs.get_untracked();
        spawn_local(async move {
            engine::sleep_ms(300).await;
            while samples.with_untracked(Vec::len) < HEADLINE_RUNS && page.runs.get_untracked() == shown && key.get_value() == Some(this) {
                let text = page.settings.with_untracked(|s| s.text.clone());
                match run_when_free(this.backend, engine::Input::Text(&text), this.capacity, this.causal).await {
                    Ok(x) if page.runs.get_untracked() == shown && key.get_value() == Some(this) => {
                        samples.update(|s| s.push((x.routed_stages.total_ms(), x.dense.stages.total_ms())));
                    }
                    _ => break,
                }
            }
        });
    });
    samples
}

/// "MoD 31.2 ms, dense 40.1 ms (0.78× the time; median of 5 warm runs, 0.74–0.81)".
fn headline_times(samples: &[(f64, f64)]) -> String {
    if samples.is_empty() {
        return "timing warm runs…".into();
    }
    let (_, routed, _) = quartiles(&mut samples.iter().map(|s| s.0).collect::<Vec<_>>());
    let (_, dense, _) = quartiles(&mut samples.iter().map(|s| s.1).collect::<Vec<_>>());
    let (q1, ratio, q3) = quartiles(&mut samples.iter().map(|s| s.0 / s.1.max(1e-9)).collect::<Vec<_>>());
    let n = samples.len();
    let spread = if n >= 3 { format!(", quartiles {q1:.2}–{q3:.2}") } else { String::new() };
    let more = if n < HEADLINE_RUNS { "; more being timed" } else { "" };
    format!("MoD {routed:.1} ms, dense {dense:.1} ms ({ratio:.2}× the time; median of {n} warm run{}{spread}{more})", if n == 1 { "" } else { "s" })
}

#[component]
pub fn FlopsPanel() -> impl IntoView {
    let page = expect_context::<PageState>();
    let samples = headline_samples(page);
    view! {
        <section class="panel" aria-labelledby="flops-title">
            <h2 id="flops-title">"Compute: MoD against the dense model"</h2>
            {move || page.result.get().map(|r| {
                let (m, d) = (&r.routed.flops, &r.dense.flops);
                let saved = 1.0 - m.total() as f64 / d.total() as f64;
                let layer_rows = m.layers.iter().zip(&d.layers).map(|(lm, ld)| view! {
                    <tr><td>{lm.layer}</td><td>{if lm.routed { "routed" } else { "dense" }}</td>
                        <td>{format!("{} / {}", lm.tokens_processed, r.routed.flops.tokens)}</td>
                        <td>{human(lm.total())}</td><td>{human(ld.total())}</td></tr>
                }).collect_view();
                let term_rows = Term::ALL.into_iter().map(|t| view! {
                    <tr><td>{t.label()}</td><td>{human(m.term(t))}</td><td>{human(d.term(t))}</td></tr>
                }).collect_view();
                // Dimmed from the moment a newer heatmap is drawn until its dense twin has run.
                let routing = r.routing.clone();
                let stale = move || page.routing.with(|shown| shown.as_ref().is_some_and(|s| !std::sync::Arc::ptr_eq(s, &routing)));
                view! {
                    <div class="comparison" class:stale=stale>
                    <p class="headline" id="flops-total" data-routed-ms=r.routed_stages.total_ms() data-dense-ms=r.dense.stages.total_ms()
                        data-samples=move || samples.with(Vec::len)>
                        {format!("MoD: {} FLOPs, dense: {} FLOPs — {:.1}% saved ({:.2}× the FLOPs). Measured on {}: ",
                            human(m.total()), human(d.total()), saved * 100.0, 1.0 - saved,
                            if r.in_workers { format!("{}, one worker per model, in parallel", r.backend.label()) } else { r.backend.label().to_string() })}
                        {move || samples.with(|s| headline_times(s))}"."
                    </p>
                    <div class="row">
                        <table class="flops">
                            <caption>"Per layer"</caption>
                            <thead><tr><th>"layer"</th><th>"block"</th><th>"tokens"</th><th>"MoD"</th><th>"dense"</th></tr></thead>
                            <tbody>{layer_rows}<tr><td>"head"</td><td></td><td></td><td>{human(m.lm_head)}</td><td>{human(d.lm_head)}</td></tr></tbody>
                        </table>
                        <table class="flops">
                            <caption>"Per term"</caption>
                            <thead><tr><th>"term"</th><th>"MoD"</th><th>"dense"</th></tr></thead>
                            <tbody>{term_rows}</tbody>
                        </table>
                    </div>
                    </div>
                    <super::export::FlopsExport/>
                    <p class="note">"One multiply-add = 2 FLOPs. Counted: Q/K/V/O projections, attention scores and weighted sum, MLP, router, predictor, LM head. Not counted: embeddings, norms, softmax, activations, top-k. Times include reading the results back."</p>
                }
            })}
            <RepeatedTiming/>
            <CapacitySweep/>
        </section>
    }
}
