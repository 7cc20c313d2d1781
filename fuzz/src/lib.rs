//! What each fuzz target does with its bytes. The module is shared with the stable test
//! `tests/suite/fuzz_corpus.rs` of the root package, which replays the committed corpus and crash
//! files through the same functions.

pub mod exercise;
