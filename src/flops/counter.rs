//! Records the FLOPs of the matrix products the model executes, at their call sites.
//!
//! Thread-local so concurrent tests do not mix their counts; the browser is single-threaded.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::Term;

thread_local! {
    static EXECUTED: RefCell<Option<BTreeMap<(Option<usize>, Term), u64>>> = const { RefCell::new(None) };
}

/// Adds `flops` to `term` of `layer` (`None` for the LM head) if a count is running.
pub fn record(layer: Option<usize>, term: Term, flops: u64) {
    EXECUTED.with(|e| {
        if let Some(map) = e.borrow_mut().as_mut() {
            *map.entry((layer, term)).or_default() += flops;
        }
    });
}

/// Runs `f` and returns what it executed, keyed by (layer, term).
pub fn count<R>(f: impl FnOnce() -> R) -> (R, BTreeMap<(Option<usize>, Term), u64>) {
    EXECUTED.with(|e| *e.borrow_mut() = Some(BTreeMap::new()));
    let out = f();
    let counted = EXECUTED.with(|e| e.borrow_mut().take()).unwrap_or_default();
    (out, counted)
}
