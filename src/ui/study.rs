//! "Did MoD pay off?": the isoFLOP study from the model card, so a reader sees the paper's claim
//! tested on this model family rather than asserted. The verdict in words and the chart come from
//! the same rows (`models/study.json`, written by `modscope-train report`) through
//! `runtime::study`, so the page and the card cannot disagree. The chart is drawn in the page's
//! own colours and fonts, so it follows the theme and stays legible on a phone.

use leptos::prelude::*;

use super::{PageState, engine};
use crate::runtime::study::{Axes, Study, StudyRun, flops_words};

/// The chart's coordinate space (CSS scales it to the panel) and the plot area inside it.
const W: f64 = 420.0;
const H: f64 = 270.0;
const LEFT: f64 = 44.0;
const TOP: f64 = 10.0;
const RIGHT: f64 = 12.0;
const BOTTOM: f64 = 36.0;

#[component]
pub fn StudyPanel() -> impl IntoView {
    let page = expect_context::<PageState>();
    let url = page.options.with_value(|o| format!("{}models/study.json", o.asset_base));
    let study = RwSignal::new(None::<Result<Study, String>>);
    leptos::task::spawn_local(async move {
        let loaded = engine::fetch_bytes(&url)
            .await
            .and_then(|bytes| serde_json::from_slice::<Study>(&bytes).map_err(|e| format!("models/study.json: {e}")));
        study.set(Some(loaded));
    });
    view! {
        <section class="panel study" aria-labelledby="study-title">
            <h2 id="study-title">"Did MoD pay off?"</h2>
            {move || match study.get() {
                None => view! { <p class="note">"Loading the study…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="note">{format!("The study could not be loaded ({e}). MODEL_CARD.md in the repository has every number.")}</p> }.into_any(),
                Some(Ok(s)) => study_view(&s).into_any(),
            }}
        </section>
    }
}

fn study_view(study: &Study) -> impl IntoView {
    let sentences = study.verdict_sentences();
    let (headline, rest) = sentences.split_first().map_or((String::new(), Vec::new()), |(h, r)| (h.clone(), r.to_vec()));
    view! {
        <p id="study-verdict" class="verdict">{headline}</p>
        {rest.into_iter().map(|s| view! { <p class="verdict-detail">{s}</p> }).collect_view()}
        {chart(study)}
        <p class="note">
            "Every MoD and dense model of the study, each trained by this project at three training budgets on five Austen novels and scored on a sixth, Persuasion, that none of them saw. "
            "Lower is better. Dense models are circles on dashed lines, MoD models triangles on solid lines; a family's point is the mean of its seeds. "
            "Ringed: the pair this page runs. Every number and how to reproduce it: MODEL_CARD.md in the repository."
        </p>
    }
}

/// Each family's points, seed means per budget, in budget order.
fn family_points(runs: &[StudyRun]) -> Vec<(String, bool, Vec<(f64, f64)>)> {
    let mut families: Vec<(String, bool, usize, Vec<(f64, f64)>)> = Vec::new();
    for run in runs.iter().filter(|r| r.source == "sweep") {
        if !families.iter().any(|f| f.0 == run.label) {
            families.push((run.label.clone(), run.model == "mod", run.d_model, Vec::new()));
        }
    }
    for (label, _, _, points) in &mut families {
        let mut budgets: Vec<f64> = runs.iter().filter(|r| r.source == "sweep" && &r.label == label).map(|r| r.budget).collect();
        budgets.sort_by(f64::total_cmp);
        budgets.dedup();
        for budget in budgets {
            let at: Vec<&StudyRun> = runs.iter().filter(|r| r.source == "sweep" && &r.label == label && r.budget == budget).collect();
            let mean = |f: fn(&StudyRun) -> f64| at.iter().map(|r| f(r)).sum::<f64>() / at.len() as f64;
            points.push((mean(|r| r.training_flops), mean(|r| r.heldout_loss)));
        }
    }
    // Dense first, then MoD, each by width (then name), so the legend reads in order.
    families.sort_by(|a, b| a.1.cmp(&b.1).then(a.2.cmp(&b.2)).then(a.0.cmp(&b.0)));
    families.into_iter().map(|(label, is_mod, _, points)| (label, is_mod, points)).collect()
}

/// Each family's colour class: dense and MoD families each count from the first colour, as the
/// two kinds are told apart by line (dashed, solid) and marker (circle, triangle).
fn colour_classes(families: &[(String, bool, Vec<(f64, f64)>)]) -> Vec<String> {
    let (mut dense, mut routed) = (0, 0);
    families
        .iter()
        .map(|(_, is_mod, _)| {
            let n = if *is_mod { &mut routed } else { &mut dense };
            *n += 1;
            format!("fam-{} {}", (*n - 1) % 8, if *is_mod { "mod" } else { "dense" })
        })
        .collect()
}

fn chart(study: &Study) -> impl IntoView {
    let Some(axes) = Axes::fit(&study.runs) else {
        return view! { <p class="note">"No finished runs to plot yet."</p> }.into_any();
    };
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let at = move |flops: f64, loss: f64| {
        let (x, y) = axes.place(flops, loss, pw, ph);
        (LEFT + x, TOP + y)
    };
    let families = family_points(&study.runs);
    let colours = colour_classes(&families);
    let series = families
        .iter()
        .enumerate()
        .map(|(i, (label, is_mod, points))| {
            let path: Vec<String> = points.iter().map(|&(f, l)| at(f, l)).map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let markers = points
                .iter()
                .map(|&(f, l)| {
                    let (x, y) = at(f, l);
                    let title = format!("{label}: {} training FLOPs, held-out loss {l:.3}", flops_words(f));
                    if *is_mod {
                        let tri = format!("{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}", x, y - 5.5, x - 5.0, y + 3.5, x + 5.0, y + 3.5);
                        view! { <polygon class="marker" points=tri><title>{title}</title></polygon> }.into_any()
                    } else {
                        view! { <circle class="marker" cx=format!("{x:.1}") cy=format!("{y:.1}") r="4"><title>{title}</title></circle> }.into_any()
                    }
                })
                .collect_view();
            view! {
                <g class=format!("family {}", colours[i])>
                    <polyline class="line" points=path.join(" ")/>
                    {markers}
                </g>
            }
        })
        .collect_view();
    let shipped = study
        .runs
        .iter()
        .filter(|r| r.source == "shipped")
        .map(|r| {
            let (x, y) = at(r.training_flops, r.heldout_loss);
            view! { <circle class="shipped" cx=format!("{x:.1}") cy=format!("{y:.1}") r="9"><title>{format!("On this page: {}, held-out loss {:.3}", r.label, r.heldout_loss)}</title></circle> }
        })
        .collect_view();
    let x_ticks = axes
        .budget_ticks(&study.runs)
        .into_iter()
        .map(|f| {
            let (x, _) = at(f, axes.loss.0);
            view! {
                <line class="gridline" x1=format!("{x:.1}") x2=format!("{x:.1}") y1=TOP y2=TOP + ph/>
                <text x=format!("{x:.1}") y=H - BOTTOM + 16.0 text-anchor="middle">{flops_words(f)}</text>
            }
        })
        .collect_view();
    let y_ticks = axes
        .loss_ticks()
        .into_iter()
        .map(|l| {
            let (_, y) = at(10f64.powf(axes.log_flops.0), l);
            view! {
                <line class="gridline" x1=LEFT x2=LEFT + pw y1=format!("{y:.1}") y2=format!("{y:.1}")/>
                <text x=LEFT - 5.0 y=format!("{:.1}", y + 4.0) text-anchor="end">{format!("{l:.2}")}</text>
            }
        })
        .collect_view();
    let legend = families
        .iter()
        .enumerate()
        .map(|(i, (label, _, _))| {
            view! { <li class=colours[i].clone()><span class="swatch" aria-hidden="true"></span>{label.clone()}</li> }
        })
        .collect_view();
    view! {
        <figure class="study-chart">
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-labelledby="study-chart-caption">
                {x_ticks}
                {y_ticks}
                <line class="axis" x1=LEFT x2=LEFT + pw y1=TOP + ph y2=TOP + ph/>
                <line class="axis" x1=LEFT x2=LEFT y1=TOP y2=TOP + ph/>
                {series}
                {shipped}
                <text x=LEFT + pw / 2.0 y=H - 3.0 text-anchor="middle">"training FLOPs (log scale)"</text>
                <text transform=format!("translate(11 {:.1}) rotate(-90)", TOP + ph / 2.0) text-anchor="middle">"held-out loss"</text>
            </svg>
            <figcaption id="study-chart-caption" class="sr-only">"Held-out loss against training FLOPs for every MoD and dense model of the isoFLOP study; the pair this page runs is ringed."</figcaption>
            <ul class="study-legend">{legend}<li class="shipped-key"><span class="swatch" aria-hidden="true"></span>"on this page"</li></ul>
        </figure>
    }
    .into_any()
}
