//! Learns BPE merges from a corpus: count pre-tokens once, then repeatedly merge the most
//! frequent adjacent pair (ties broken by the pair itself, so training is deterministic).

use std::collections::HashMap;

use super::{Tokenizer, TokenizerError, chunks};

/// Trains a tokenizer with `vocab_size` tokens (256 bytes + merges).
pub fn train(corpus: &str, vocab_size: usize) -> Result<Tokenizer, TokenizerError> {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for chunk in chunks(corpus) {
        *counts.entry(chunk).or_default() += 1;
    }
    let mut words: Vec<(Vec<u32>, u64)> =
        counts.into_iter().map(|(w, c)| (w.bytes().map(u32::from).collect(), c)).collect();
    words.sort();
    let mut merges = Vec::new();
    while 256 + merges.len() < vocab_size {
        let mut pairs: HashMap<(u32, u32), u64> = HashMap::new();
        for (ids, count) in &words {
            for w in ids.windows(2) {
                *pairs.entry((w[0], w[1])).or_default() += count;
            }
        }
        let Some((&pair, _)) = pairs.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) else { break };
        let new_id = 256 + merges.len() as u32;
        merges.push(pair);
        for (ids, _) in &mut words {
            if ids.len() < 2 {
                continue;
            }
            let mut merged = Vec::with_capacity(ids.len());
            let mut i = 0;
            while i < ids.len() {
                if i + 1 < ids.len() && (ids[i], ids[i + 1]) == pair {
                    merged.push(new_id);
                    i += 2;
                } else {
                    merged.push(ids[i]);
                    i += 1;
                }
            }
            *ids = merged;
        }
    }
    Tokenizer::from_merges(merges)
}
