//! libFuzzer target: arbitrary bytes through medgen's DICOM reader (see `medgen_fuzz::exercise`).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| medgen_fuzz::exercise::dicom(bytes));
