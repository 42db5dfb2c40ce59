use proptest::prelude::*;

use super::*;

const SAMPLE: &str = "It is a truth universally acknowledged, that a single man in possession \
of a good fortune, must be in want of a wife. However little known the feelings or views of \
such a man may be on his first entering a neighbourhood, this truth is so well fixed in the \
minds of the surrounding families, that he is considered the rightful property of some one or \
other of their daughters.";

fn tiny() -> Tokenizer {
    train(SAMPLE, 300).unwrap()
}

#[test]
fn chunks_rebuild_the_text_and_glue_spaces_to_words() {
    let text = "Hello,  world!\n\n The 42 cats";
    assert_eq!(chunks(text).concat(), text);
    assert_eq!(chunks(text), vec!["Hello", ",", " ", " world", "!", "\n\n", " The", " 42", " cats"]);
}

#[test]
fn training_learns_merges_that_shorten_the_text() {
    let t = tiny();
    assert_eq!(t.vocab_size(), 300);
    assert!(t.encode(SAMPLE).len() < SAMPLE.len() * 2 / 3);
}

#[test]
fn json_round_trip_keeps_the_encoding() {
    let t = tiny();
    let back = Tokenizer::from_json(&t.to_json()).unwrap();
    assert_eq!(back.encode(SAMPLE), t.encode(SAMPLE));
}

#[test]
fn bad_files_are_errors() {
    assert!(Tokenizer::from_json("not json").is_err());
    assert!(Tokenizer::from_json(r#"{"merges":[[1,999]]}"#).is_err());
}

#[test]
fn awkward_unicode_round_trips() {
    let t = tiny();
    for s in ["", "a", "👩‍👩‍👧", "שלום עולם", "a\u{200b}b\u{0}c\u{7}", "<script>alert(1)</script>", "e\u{301}"] {
        assert_eq!(t.decode(&t.encode(s)), s);
    }
}

proptest! {
    #[test]
    fn any_text_round_trips(s in any::<String>()) {
        let t = tiny();
        let ids = t.encode(&s);
        prop_assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
        prop_assert_eq!(t.decode(&ids), s);
    }
}

#[test]
fn a_cut_character_shows_whole_where_it_starts_and_marked_where_it_ends() {
    let t = tiny();
    let bytes: Vec<u32> = "Café!".bytes().map(u32::from).collect();
    let pieces = t.pieces(&bytes);
    let labels: Vec<String> = pieces.iter().map(Piece::label).collect();
    assert_eq!(labels, ["C", "a", "f", "é", "+é", "!"]);
    assert!(pieces[3].split && pieces[4].continues.as_deref() == Some("é"));
    assert_eq!(pieces[3].hex(), "C3");
    assert!(pieces[0].is_whole() && !pieces[3].is_whole() && !pieces[4].is_whole());
    // Bytes that form no character are shown in hex, never as U+FFFD.
    assert_eq!(t.pieces(&[0xff, 0x41]).iter().map(Piece::label).collect::<Vec<_>>(), ["\\xFF", "A"]);
}

proptest! {
    /// Valid UTF-8 never shows a replacement character it did not contain, every token has a
    /// visible label, and the pieces' texts rebuild the text.
    #[test]
    fn pieces_of_valid_text_show_no_replacement_characters(s in any::<String>()) {
        let t = tiny();
        let pieces = t.pieces(&t.encode(&s));
        prop_assert_eq!(pieces.iter().map(|p| p.text.as_str()).collect::<String>(), s.clone());
        for p in &pieces {
            prop_assert!(!p.label().is_empty());
            let replacement = '\u{fffd}';
            prop_assert!(s.contains(replacement) || !p.label().contains(replacement), "{:?}", p);
        }
    }
}

proptest! {
    /// Whatever a tokenizer file or a token stream holds, the tokenizer answers without panicking:
    /// a file is loaded or refused, and any ids (sampled, or out of range) get one piece each.
    #[test]
    fn arbitrary_files_and_ids_never_panic(json in any::<String>(), merges in proptest::collection::vec((0u32..600, 0u32..600), 0..40), ids in proptest::collection::vec(any::<u32>(), 0..64)) {
        let _ = Tokenizer::from_json(&json);
        let _ = Tokenizer::from_json(&serde_json::json!({ "merges": merges }).to_string());
        let t = tiny();
        prop_assert_eq!(t.pieces(&ids).len(), ids.len());
        let _ = t.decode(&ids);
    }
}
