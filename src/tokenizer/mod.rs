//! Byte-level BPE: every byte is a token, so any UTF-8 text encodes and `decode(encode(x)) == x`.
//!
//! Written here rather than taken from a crate so that the browser carries a few hundred lines,
//! not a tokenizer library, and native and wasm run the very same code.

mod pretokenize;
mod train;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use pretokenize::chunks;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenizerError {
    #[error("bad tokenizer file: {0}")]
    File(String),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tokenizer {
    /// Merge `i` joins the pair into token `256 + i`; earlier merges bind tighter.
    merges: Vec<(u32, u32)>,
    #[serde(skip)]
    ranks: HashMap<(u32, u32), u32>,
    #[serde(skip)]
    bytes: Vec<Vec<u8>>,
}

impl Tokenizer {
    pub fn from_merges(merges: Vec<(u32, u32)>) -> Result<Self, TokenizerError> {
        let mut bytes: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for (i, &(a, b)) in merges.iter().enumerate() {
            let known = bytes.len() as u32;
            if a >= known || b >= known {
                return Err(TokenizerError::File(format!("merge {i} uses an undefined token")));
            }
            let joined = [bytes[a as usize].as_slice(), bytes[b as usize].as_slice()].concat();
            bytes.push(joined);
        }
        let ranks = merges.iter().enumerate().map(|(i, &p)| (p, i as u32)).collect();
        Ok(Self { merges, ranks, bytes })
    }

    pub fn from_json(json: &str) -> Result<Self, TokenizerError> {
        #[derive(Deserialize)]
        struct File {
            merges: Vec<(u32, u32)>,
        }
        let file: File = serde_json::from_str(json).map_err(|e| TokenizerError::File(e.to_string()))?;
        Self::from_merges(file.merges)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("merges always serialise")
    }

    pub fn vocab_size(&self) -> usize {
        self.bytes.len()
    }

    /// The bytes a token stands for.
    pub fn token_bytes(&self, token: u32) -> &[u8] {
        self.bytes.get(token as usize).map_or(&[], Vec::as_slice)
    }

    /// A token as display text (invalid UTF-8 fragments shown as U+FFFD).
    pub fn token_text(&self, token: u32) -> String {
        String::from_utf8_lossy(self.token_bytes(token)).into_owned()
    }

    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3);
        for chunk in chunks(text) {
            out.extend(self.encode_chunk(chunk.as_bytes()));
        }
        out
    }

    /// Applies merges to one pre-token, lowest rank first, as training learned them.
    pub(crate) fn encode_chunk(&self, bytes: &[u8]) -> Vec<u32> {
        let mut ids: Vec<u32> = bytes.iter().map(|&b| b as u32).collect();
        loop {
            let best = ids
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| self.ranks.get(&(w[0], w[1])).map(|&r| (r, i)))
                .min();
            let Some((rank, _)) = best else { return ids };
            let pair = self.merges[rank as usize];
            let mut merged = Vec::with_capacity(ids.len());
            let mut i = 0;
            while i < ids.len() {
                if i + 1 < ids.len() && (ids[i], ids[i + 1]) == pair {
                    merged.push(256 + rank);
                    i += 2;
                } else {
                    merged.push(ids[i]);
                    i += 1;
                }
            }
            ids = merged;
        }
    }

    /// Exact inverse of `encode`; token sequences that split a character decode lossily.
    pub fn decode(&self, tokens: &[u32]) -> String {
        let bytes: Vec<u8> = tokens.iter().flat_map(|&t| self.token_bytes(t).iter().copied()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

pub use train::train;

#[cfg(test)]
mod tests;
