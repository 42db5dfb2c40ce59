//! How well the causal predictor stands in for top-k on this text, per routed layer: precision and
//! recall, not only agreement, next to what a predictor that skips everything would score.

use leptos::prelude::*;

use super::PageState;
use crate::model::{RoutingTrace, capacity_k};

/// One routed layer's predictor (p > 0.5) against top-k membership at the trace's capacity.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerScore {
    pub layer: usize,
    pub chosen: usize,
    pub predicted: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub agreement: f64,
    pub all_skip: f64,
}

pub fn layer_scores(trace: &RoutingTrace) -> Vec<LayerScore> {
    let k = capacity_k(trace.capacity, trace.tokens);
    trace
        .layers
        .iter()
        .filter(|l| l.routed)
        .map(|l| {
            let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
            for i in 0..trace.tokens {
                let (chosen, predicted) = (l.rank[i] < k, l.predictor_prob[i] > 0.5);
                tp += usize::from(chosen && predicted);
                fp += usize::from(!chosen && predicted);
                fn_ += usize::from(chosen && !predicted);
            }
            let n = trace.tokens.max(1) as f64;
            let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
            LayerScore {
                layer: l.layer,
                chosen: tp + fn_,
                predicted: tp + fp,
                precision: ratio(tp, tp + fp),
                recall: ratio(tp, tp + fn_),
                agreement: (trace.tokens - fp - fn_) as f64 / n,
                all_skip: (trace.tokens - tp - fn_) as f64 / n,
            }
        })
        .collect()
}

fn percent(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.0}%", v * 100.0))
}

#[component]
pub fn PredictorPanel() -> impl IntoView {
    let page = expect_context::<PageState>();
    view! {
        <section class="panel" aria-labelledby="predictor-title">
            <h2 id="predictor-title">"Causal predictor against top-k"</h2>
            {move || page.result.get().map(|r| {
            let trace = &r.routed.trace;
            let scores = layer_scores(trace);
            let total: f64 = scores.iter().map(|s| s.agreement).sum::<f64>() / scores.len().max(1) as f64;
            let skip: f64 = scores.iter().map(|s| s.all_skip).sum::<f64>() / scores.len().max(1) as f64;
            let trained = (trace.capacity - 0.125).abs() < 1e-9;
            let rows = scores
                .iter()
                .map(|s| {
                    view! {
                        <tr>
                            <th scope="row">{format!("L{}", s.layer)}</th>
                            <td>{s.chosen}</td><td>{s.predicted}</td>
                            <td>{percent(s.precision)}</td><td>{percent(s.recall)}</td>
                            <td>{percent(Some(s.agreement))}</td><td>{percent(Some(s.all_skip))}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <p class="note" id="agreement">
                    {format!(
                        "The causal predictor agrees with top-k at {:.1}% capacity on {:.1}% of routed decisions for this text; a predictor that skipped every token would score {:.1}%, so look at precision and recall.",
                        trace.capacity * 100.0, total * 100.0, skip * 100.0
                    )}
                    {(!trained).then_some(" It was trained against top-k at 12.5%, not at this capacity.")}
                </p>
                <div class="table-scroll"><table class="predictor">
                    <caption>"Causal predictor against top-k, per routed layer"</caption>
                    <thead><tr><th scope="col">"layer"</th><th scope="col">"top-k takes"</th><th scope="col">"predictor takes"</th>
                        <th scope="col">"precision"</th><th scope="col">"recall"</th><th scope="col">"agreement"</th><th scope="col">"skip-all baseline"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table></div>
            }
            })}
        </section>
    }
}
