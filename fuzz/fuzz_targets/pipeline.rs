//! Arbitrary bytes through the whole pipeline: decode → plan → tile → infer → stitch → resize →
//! encode, as a job from the CLI or the web page runs it.
//!
//! What the input means and what counts as a bug is `tests/common/fuzz_case.rs`, shared with the
//! test that replays saved crashers (`tests/regression/`). A panic, a hang, or memory beyond
//! libFuzzer's `-rss_limit_mb` is a bug too.

#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::fuzz_case::check(data));
