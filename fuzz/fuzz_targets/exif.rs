//! Arbitrary bytes as an EXIF block through the rewrite every upscaled output gets: orientation,
//! pixel size, density, thumbnail and location. What the input means and what counts as a bug is
//! `tests/common/fuzz_parsers.rs`, shared with the replay of saved crashers (`tests/regression/`).

#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::fuzz_parsers::exif(data));
