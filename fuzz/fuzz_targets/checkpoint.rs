//! libFuzzer target: arbitrary bytes through medgen's checkpoint reader (see `medgen_fuzz::exercise`).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| medgen_fuzz::exercise::checkpoint(bytes));
