//! Integration tests of this crate, linked into one test binary: one link per crate instead
//! of one per file keeps CI's build time and disk use down (each binary carries Burn).

mod api;
mod bad_input;
mod conditioning;
