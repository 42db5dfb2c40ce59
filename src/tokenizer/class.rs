//! The kinds of token the page and the model card count when they say what a routed layer took.
//! One home, so "punctuation" means the same thing in both.

/// A token's kind, read from its text alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenClass {
    /// Holds a line break (a paragraph break is two).
    LineBreak,
    Punctuation,
    Digits,
    /// Starts a word with a capital letter (after its space): names, sentence starts.
    CapitalisedWordStart,
    WordStart,
    /// Continues a word the previous token began.
    WordPiece,
}

impl TokenClass {
    pub const ALL: [TokenClass; 6] = [
        TokenClass::LineBreak,
        TokenClass::Punctuation,
        TokenClass::Digits,
        TokenClass::CapitalisedWordStart,
        TokenClass::WordStart,
        TokenClass::WordPiece,
    ];

    pub fn of(text: &str) -> TokenClass {
        let trimmed = text.trim_start_matches(' ');
        if text.contains('\n') {
            TokenClass::LineBreak
        } else if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_punctuation() || c == '\u{201c}' || c == '\u{201d}' || c == '\u{2019}' || c == '\u{2014}') {
            TokenClass::Punctuation
        } else if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()) {
            TokenClass::Digits
        } else if text.starts_with(' ') && trimmed.chars().next().is_some_and(char::is_uppercase) {
            TokenClass::CapitalisedWordStart
        } else if text.starts_with(' ') {
            TokenClass::WordStart
        } else {
            TokenClass::WordPiece
        }
    }

    /// Its name in the model card's tables and report.json.
    pub fn name(self) -> &'static str {
        match self {
            TokenClass::LineBreak => "line break",
            TokenClass::Punctuation => "punctuation",
            TokenClass::Digits => "digits",
            TokenClass::CapitalisedWordStart => "capitalised word start",
            TokenClass::WordStart => "word start",
            TokenClass::WordPiece => "word piece",
        }
    }

    /// Its name for a count of them in a sentence.
    pub fn plural(self) -> &'static str {
        match self {
            TokenClass::LineBreak => "line breaks",
            TokenClass::Punctuation => "punctuation marks",
            TokenClass::Digits => "numbers",
            TokenClass::CapitalisedWordStart => "capitalised words",
            TokenClass::WordStart => "word starts",
            TokenClass::WordPiece => "word pieces",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TokenClass::{self, *};

    #[test]
    fn classes_read_from_the_text() {
        for (text, class) in [
            ("\n\n", LineBreak),
            (".\n", LineBreak),
            (",", Punctuation),
            (" \"", Punctuation),
            ("\u{201d}", Punctuation),
            ("12", Digits),
            (" 1813", Digits),
            (" Darcy", CapitalisedWordStart),
            (" the", WordStart),
            ("ing", WordPiece),
            ("Elizabeth", WordPiece),
            (" ", WordStart),
        ] {
            assert_eq!(TokenClass::of(text), class, "{text:?}");
        }
    }
}
