//! Saved fuzz crashers (`tests/regression/`) replayed through the fuzz target's own checks.

use std::path::Path;

use crate::common;

#[test]
fn every_saved_crasher_runs_clean() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regression");
    let mut crashers: Vec<_> = std::fs::read_dir(&folder)
        .expect("tests/regression exists")
        .map(|entry| entry.expect("readable folder").path())
        .filter(|path| path.extension().is_some_and(|e| e == "bin"))
        .collect();
    crashers.sort();
    for path in &crashers {
        let bytes = std::fs::read(path).expect("readable crasher");
        let replay = std::panic::catch_unwind(|| common::fuzz_case::check(&bytes));
        assert!(replay.is_ok(), "{} fails again", path.display());
    }
    eprintln!("{} saved crashers replayed", crashers.len());
}

/// The replay's checks are the fuzz target's: a result that contradicts the plan is caught, a
/// file refused for its size is not a bug.
#[test]
fn the_fuzz_checks_accept_good_inputs_and_refusals() {
    let png = common::file(common::test_image(9, 7), image::ImageFormat::Png);
    for choice in [0u8, 3, 4, 5, 6, 0x18, 0x60, 0xE3] {
        common::fuzz_case::check(&[[choice, 40, 7].as_slice(), &png].concat());
    }
    // Over the fuzz limits (128² in): refused from the header, which is no bug.
    let big = common::file(common::test_image(200, 200), image::ImageFormat::Png);
    common::fuzz_case::check(&[[0u8, 0, 0].as_slice(), &big].concat());
}
