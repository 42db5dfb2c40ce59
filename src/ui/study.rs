//! "Did MoD pay off?": the isoFLOP study from the model card, so a reader sees the paper's claim
//! tested on this model family rather than asserted. The figure is made by `modscope-train report`.

use leptos::prelude::*;

use super::PageState;

#[component]
pub fn StudyPanel() -> impl IntoView {
    let page = expect_context::<PageState>();
    let src = page.options.with_value(|o| format!("{}models/isoflop.svg", o.asset_base));
    view! {
        <section class="panel study" aria-labelledby="study-title">
            <h2 id="study-title">"Did MoD pay off?"</h2>
            <p class="note">
                "The paper's claim: at equal training compute, a MoD model matches or beats the best dense model while each forward pass costs less. "
                "This project tested it at its own small scale: MoD and dense models of two widths, each trained at three budgets spanning 10×, "
                "scored on a whole held-out novel (Persuasion). Lower is better; the title says at how many budgets the claim held. "
                "The circled pair is the one this page runs (trained longer, on a GPU). Details and every number: MODEL_CARD.md in the repository."
            </p>
            <img src=src alt="Held-out loss against training FLOPs for every MoD and dense run of the isoFLOP study, the shipped pair circled" loading="lazy" width="760" height="460"/>
        </section>
    }
}
