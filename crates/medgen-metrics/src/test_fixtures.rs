//! Loading of the peer-library reference values in `tests/fixtures/` (tests only).

use serde_json::Value;

/// Parses `tests/fixtures/<name>`.
pub(crate) fn load(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A JSON array of numbers as `f64`.
pub(crate) fn floats(value: &Value) -> Vec<f64> {
    value.as_array().expect("an array").iter().map(|v| v.as_f64().expect("a number")).collect()
}

/// A JSON number as `usize`.
pub(crate) fn size(value: &Value) -> usize {
    value.as_u64().expect("an unsigned integer") as usize
}
