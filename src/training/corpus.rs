//! Jane Austen's six novels (from `scripts/fetch_corpus.py`), split by book: Persuasion is the
//! held-out validation text, the other five are for training.

use std::io::Read;
use std::path::Path;

pub const VALIDATION_BOOK: &str = "persuasion";
pub const TRAINING_BOOKS: [&str; 5] = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey"];

pub struct Corpus {
    pub train: String,
    pub validation: String,
}

/// Reads one gzipped book and joins its hard-wrapped lines into paragraphs.
pub fn read_book(dir: &Path, book: &str) -> Result<String, String> {
    let path = dir.join(format!("{book}.txt.gz"));
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e} (run scripts/fetch_corpus.py)", path.display()))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(paragraphs(&text))
}

/// The books wrap lines at ~70 columns; the model should learn prose, not line breaks.
pub fn paragraphs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let joined: Vec<&str> = para.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        out.push_str(&joined.join(" "));
        out.push_str("\n\n");
    }
    out
}

pub fn load(dir: &Path) -> Result<Corpus, String> {
    let train = TRAINING_BOOKS.iter().map(|b| read_book(dir, b)).collect::<Result<Vec<_>, _>>()?.concat();
    Ok(Corpus { train, validation: read_book(dir, VALIDATION_BOOK)? })
}

#[cfg(test)]
mod tests {
    #[test]
    fn paragraphs_unwrap_lines_and_keep_breaks() {
        assert_eq!(super::paragraphs("Chapter 1\n\n\nIt is a truth\nuniversally acknowledged.\n\nNext"), "Chapter 1\n\nIt is a truth universally acknowledged.\n\nNext\n\n");
    }
}
