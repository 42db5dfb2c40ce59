//! Byte-level BPE: every byte is a token, so any UTF-8 text encodes and `decode(encode(x)) == x`.
//!
//! Written here rather than taken from a crate so that the browser carries a few hundred lines,
//! not a tokenizer library, and native and wasm run the very same code.

mod class;
mod pretokenize;
mod train;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use class::TokenClass;
pub use pretokenize::chunks;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenizerError {
    #[error("bad tokenizer file: {0}")]
    File(String),
}

/// One token as the page shows it (see [`Tokenizer::pieces`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Piece {
    /// The characters that begin in this token, each shown whole.
    pub text: String,
    /// The last character of `text` continues into the following token(s).
    pub split: bool,
    /// The character whose trailing bytes this token starts with.
    pub continues: Option<String>,
    /// The token's own bytes.
    pub bytes: Vec<u8>,
}

impl Piece {
    /// What a cell shows: its text, or for a token holding only the tail of a character, that
    /// character marked as a continuation.
    pub fn label(&self) -> String {
        match (&self.continues, self.text.is_empty()) {
            (Some(c), true) => format!("+{c}"),
            _ => self.text.clone(),
        }
    }

    /// The token's bytes in hex ("C3 A9").
    pub fn hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" ")
    }

    /// Whether the token is a whole piece of text on its own (no cut character).
    pub fn is_whole(&self) -> bool {
        !self.split && self.continues.is_none()
    }
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

    /// How each token of a sequence reads on screen. Byte-level tokens can cut a multi-byte
    /// character; decoding each token alone would show U+FFFD. Here a cut character is shown
    /// whole in the token holding its first byte, and the tokens holding the rest say whose bytes
    /// they carry. Bytes that form no character at all are shown in hex.
    pub fn pieces(&self, tokens: &[u32]) -> Vec<Piece> {
        let bytes: Vec<u8> = tokens.iter().flat_map(|&t| self.token_bytes(t).iter().copied()).collect();
        // Each character of the sequence as (first byte, last byte + 1, its text).
        let mut chars: Vec<(usize, usize, String)> = Vec::new();
        for chunk in bytes.utf8_chunks() {
            let base = chars.last().map_or(0, |c| c.1);
            let mut at = base;
            for c in chunk.valid().chars() {
                chars.push((at, at + c.len_utf8(), c.to_string()));
                at += c.len_utf8();
            }
            for &b in chunk.invalid() {
                chars.push((at, at + 1, format!("\\x{b:02X}")));
                at += 1;
            }
        }
        let mut pieces = Vec::with_capacity(tokens.len());
        let (mut start, mut next_char) = (0, 0);
        for &token in tokens {
            let end = start + self.token_bytes(token).len();
            let mut piece = Piece { bytes: self.token_bytes(token).to_vec(), ..Piece::default() };
            // A character begun by an earlier token, whose tail bytes open this one.
            if let Some(c) = chars[..next_char].last().filter(|c| c.1 > start) {
                piece.continues = Some(c.2.clone());
            }
            while next_char < chars.len() && chars[next_char].0 < end {
                piece.text.push_str(&chars[next_char].2);
                piece.split |= chars[next_char].1 > end;
                next_char += 1;
            }
            pieces.push(piece);
            start = end;
        }
        pieces
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
