//! Splits text into pre-tokens so merges never cross a word boundary: a word with its leading
//! space, a run of digits, a run of punctuation, or a run of whitespace.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_alphabetic() || c == '\'' {
        Class::Letter
    } else if c.is_numeric() {
        Class::Digit
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Other
    }
}

/// The pre-tokens of `text`, in order; concatenated they give `text` back.
pub fn chunks(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    // A single space followed by a non-space joins that word, as in GPT-2's pre-tokenizer.
    let glued_space = |j: usize| chars[j].1 == ' ' && chars.get(j + 1).is_some_and(|&(_, c)| class(c) != Class::Space);
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = chars[i].0;
        let mut j = i + usize::from(glued_space(i));
        let cls = class(chars[j].1);
        j += 1;
        while j < chars.len() && class(chars[j].1) == cls && !(cls == Class::Space && glued_space(j)) {
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |&(b, _)| b);
        out.push(&text[start..end]);
        i = j;
    }
    out
}
