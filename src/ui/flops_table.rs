//! The live compute comparison: FLOPs of the MoD model and its dense twin for the current text,
//! per layer and per term, with the measured time of each forward pass.

use leptos::prelude::*;

use super::PageState;
use crate::flops::Term;

pub fn human(f: u64) -> String {
    match f {
        f if f >= 1_000_000_000 => format!("{:.2} G", f as f64 / 1e9),
        f if f >= 1_000_000 => format!("{:.2} M", f as f64 / 1e6),
        f if f >= 1_000 => format!("{:.1} k", f as f64 / 1e3),
        f => f.to_string(),
    }
}

#[component]
pub fn FlopsPanel() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <section class="panel" aria-labelledby="flops-title">
            <h2 id="flops-title">"Compute: MoD against its dense twin"</h2>
            {move || page.result.get().map(|r| {
                let (m, d) = (&r.routed.flops, &r.dense.flops);
                let saved = 1.0 - m.total() as f64 / d.total() as f64;
                let layer_rows = m.layers.iter().zip(&d.layers).map(|(lm, ld)| view! {
                    <tr><td>{lm.layer}</td><td>{if lm.routed { "routed" } else { "dense" }}</td>
                        <td>{format!("{} / {}", lm.tokens_processed, r.routed.flops.tokens)}</td>
                        <td>{human(lm.total())}</td><td>{human(ld.total())}</td></tr>
                }).collect_view();
                let term_rows = [Term::Projections, Term::Attention, Term::Mlp, Term::Router, Term::Predictor, Term::LmHead].into_iter().map(|t| view! {
                    <tr><td>{format!("{t:?}")}</td><td>{human(m.term(t))}</td><td>{human(d.term(t))}</td></tr>
                }).collect_view();
                view! {
                    <p class="headline" id="flops-total" data-routed-ms=r.routed_ms data-dense-ms=r.dense_ms>
                        {format!("MoD: {} FLOPs, dense: {} FLOPs — {:.1}% saved. Measured on {}: MoD {:.1} ms, dense {:.1} ms ({:.2}× the time).",
                            human(m.total()), human(d.total()), saved * 100.0,
                            if r.in_workers { format!("{}, one worker per model, in parallel", r.backend.label()) } else { r.backend.label().to_string() }, r.routed_ms, r.dense_ms, r.routed_ms / r.dense_ms.max(1e-9))}
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
                    <super::export::FlopsExport/>
                    <p class="note">"One multiply-add = 2 FLOPs. Counted: Q/K/V/O projections, attention scores and weighted sum, MLP, router, predictor, LM head. Not counted: embeddings, norms, softmax, activations, top-k. Times include reading the results back."</p>
                }
            })}
        </section>
    }
}
