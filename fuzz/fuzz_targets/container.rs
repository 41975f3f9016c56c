//! Arbitrary bytes as an uploaded file: its metadata read, then written into PNG, JPEG and WebP
//! outputs; and the container writers (PNG chunks, JPEG segments, WebP chunks, AVIF boxes) run on
//! the bytes themselves. What counts as a bug is `tests/common/fuzz_parsers.rs`, shared with the
//! replay of saved crashers (`tests/regression/`).

#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::fuzz_parsers::container(data));
