//! What to notice in one routing: per routed layer, which kinds of token it took, and a sentence
//! or two on what stands out in this text. Computed from the trace, never written in, so it says
//! true things about whatever the reader types. The classes are the model card's
//! ([`TokenClass`]).

use crate::model::RoutingTrace;
use crate::tokenizer::TokenClass;

/// One routed layer's choices in this text.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNote {
    pub layer: usize,
    pub taken: usize,
    /// The kinds of token it took, most first (ties in [`TokenClass::ALL`] order).
    pub classes: Vec<(TokenClass, usize)>,
}

impl LayerNote {
    /// "4 punctuation marks, 2 line breaks, 2 others" (its two largest kinds, then the rest).
    pub fn caption(&self) -> String {
        if self.taken == 0 {
            return "nothing".into();
        }
        let mut parts: Vec<String> = self.classes.iter().take(2).map(|&(c, n)| count_of(c, n)).collect();
        let rest: usize = self.classes.iter().skip(2).map(|&(_, n)| n).sum();
        if rest > 0 {
            parts.push(format!("{rest} other{}", if rest == 1 { "" } else { "s" }));
        }
        parts.join(", ")
    }
}

fn count_of(class: TokenClass, n: usize) -> String {
    if n == 1 { format!("1 {}", class.name()) } else { format!("{n} {}", class.plural()) }
}

fn classes_of(pieces: &[String]) -> Vec<TokenClass> {
    pieces.iter().map(|p| TokenClass::of(p)).collect()
}

/// Per routed layer, what it took (`pieces[i]` is token i's text).
pub fn layer_notes(trace: &RoutingTrace, pieces: &[String]) -> Vec<LayerNote> {
    let classes = classes_of(pieces);
    trace
        .layers
        .iter()
        .filter(|l| l.routed)
        .map(|l| {
            let mut counts: Vec<(TokenClass, usize)> = TokenClass::ALL
                .iter()
                .map(|&c| (c, (0..trace.tokens.min(classes.len())).filter(|&i| l.processed[i] && classes[i] == c).count()))
                .filter(|&(_, n)| n > 0)
                .collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1));
            LayerNote { layer: l.layer, taken: l.processed_count(), classes: counts }
        })
        .collect()
}

/// One or two sentences on what stands out: a layer that took most tokens of a kind that is rare
/// in the text, and how many tokens no routed layer (or every one) processed.
pub fn highlights(trace: &RoutingTrace, pieces: &[String]) -> Vec<String> {
    let classes = classes_of(pieces);
    let tokens = trace.tokens.min(classes.len());
    let routed: Vec<_> = trace.layers.iter().filter(|l| l.routed).collect();
    if routed.is_empty() || tokens == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    // A kind of token that is a minority of the text, at least two of them, most of which one
    // layer took: the most striking such (highest share taken, then most tokens) is named.
    let mut best: Option<(f64, usize, usize, TokenClass, usize)> = None;
    for class in TokenClass::ALL {
        let total = classes[..tokens].iter().filter(|&&c| c == class).count();
        if total < 2 || total * 2 > tokens {
            continue;
        }
        for l in &routed {
            let taken = (0..tokens).filter(|&i| l.processed[i] && classes[i] == class).count();
            let share = taken as f64 / total as f64;
            // Above chance: the layer takes this kind at twice its rate for the whole text.
            let chance = l.processed_count() as f64 / tokens as f64;
            if share >= 0.5 && share >= 2.0 * chance && best.is_none_or(|b| (share, taken) > (b.0, b.1)) {
                best = Some((share, taken, total, class, l.layer));
            }
        }
    }
    if let Some((_, taken, total, class, layer)) = best {
        let all = if taken == total { format!("all {total}") } else { format!("{taken} of the {total}") };
        out.push(format!("Layer {layer} took {all} {} in this text.", class.plural()));
    }
    let depth = trace.routed_depth();
    let none = depth[..tokens].iter().filter(|&&d| d == 0).count();
    let every = depth[..tokens].iter().filter(|&&d| d == routed.len()).count();
    let mut sentence = format!("{none} of the {tokens} tokens went through no routed block");
    if routed.len() > 1 {
        sentence += &format!(" and {every} through all {}", routed.len());
    }
    sentence += ".";
    out.push(sentence);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LayerTrace, RoutingMode, UpdateWeight};

    fn layer(layer: usize, processed: &[bool]) -> LayerTrace {
        let n = processed.len();
        LayerTrace {
            layer,
            routed: true,
            router_logit: vec![0.0; n],
            router_weight: vec![0.0; n],
            router_score: vec![0.5; n],
            rank: (0..n).collect(),
            processed: processed.to_vec(),
            predictor_prob: vec![0.5; n],
            topk_threshold: None,
        }
    }

    fn trace(layers: Vec<LayerTrace>) -> RoutingTrace {
        let tokens = layers[0].processed.len();
        RoutingTrace { tokens, mode: RoutingMode::TopK { capacity: 0.25 }, capacity: 0.25, update_weight: UpdateWeight::Raw, layers }
    }

    #[test]
    fn names_the_layer_that_took_a_rare_kind_and_counts_depths() {
        let pieces: Vec<String> = ["It", " is", " a", " truth", ",", " that", " a", " man", ".", "\n\n", "He", " said", "."].iter().map(|s| s.to_string()).collect();
        let punct = [false, false, false, false, true, false, false, false, true, false, false, false, true];
        let words = [true, false, false, true, false, false, false, true, false, false, false, false, false];
        let t = trace(vec![layer(1, &words), layer(3, &punct)]);
        let notes = layer_notes(&t, &pieces);
        assert_eq!(notes[1], LayerNote { layer: 3, taken: 3, classes: vec![(TokenClass::Punctuation, 3)] });
        assert_eq!(notes[1].caption(), "3 punctuation marks");
        assert_eq!(notes[0].caption(), "2 word starts, 1 word piece");
        let h = highlights(&t, &pieces);
        assert_eq!(h, vec!["Layer 3 took all 3 punctuation marks in this text.".to_string(), "7 of the 13 tokens went through no routed block and 0 through all 2.".to_string()]);
    }

    #[test]
    fn says_nothing_striking_when_a_layer_takes_at_chance() {
        let pieces: Vec<String> = [" a", ",", " b", ",", " c", " d"].iter().map(|s| s.to_string()).collect();
        let t = trace(vec![layer(2, &[true, true, true, true, true, true])]);
        assert_eq!(highlights(&t, &pieces), vec!["0 of the 6 tokens went through no routed block.".to_string()]);
    }
}
