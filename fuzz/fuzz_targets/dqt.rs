//! Arbitrary bytes as a JPEG whose quantisation tables route it to a model, and as the tables
//! themselves. What counts as a bug is `tests/common/fuzz_parsers.rs`, shared with the replay of
//! saved crashers (`tests/regression/`).

#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::fuzz_parsers::dqt(data));
