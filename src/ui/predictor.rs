//! How well the causal predictor stands in for top-k on this text, per routed layer: precision and
//! recall, not only agreement, next to what a predictor that skips everything would score.

use leptos::prelude::*;

use super::PageState;

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
            let scores = trace.predictor_counts();
            let mut all = crate::model::PredictorCounts::default();
            scores.iter().for_each(|c| all.add(c));
            let (total, skip) = (all.agreement().unwrap_or(0.0), all.all_skip_agreement().unwrap_or(0.0));
            let trained = (trace.capacity - 0.125).abs() < 1e-9;
            let rows = scores
                .iter()
                .map(|s| {
                    view! {
                        <tr>
                            <th scope="row">{format!("L{}", s.layer)}</th>
                            <td>{s.chosen()}</td><td>{s.predicted()}</td>
                            <td>{percent(s.precision())}</td><td>{percent(s.recall())}</td>
                            <td>{percent(s.agreement())}</td><td>{percent(s.all_skip_agreement())}</td>
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
