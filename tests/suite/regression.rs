//! Saved fuzz crashers (`tests/regression/`) replayed through the fuzz target's own checks.

use std::path::Path;

use image::{ImageFormat, RgbImage};
use upres::codec::{self, OutputFormat};
use upres::route::{self, BASE_CHROMA, BASE_LUMA};

use crate::common;
use crate::metadata::{camera_exif, tagged_input, tiff_with_resolution, without_chunk};

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
        let name = path.file_name().unwrap().to_string_lossy();
        let check = fuzz_check(&name).unwrap_or_else(|| panic!("{name} does not start with a fuzz target's name"));
        let bytes = std::fs::read(path).expect("readable crasher");
        let replay = std::panic::catch_unwind(|| check(&bytes));
        assert!(replay.is_ok(), "{} fails again", path.display());
    }
    eprintln!("{} saved crashers replayed", crashers.len());
}

/// The checks of the fuzz target a crasher was found by, which its name starts with
/// (`exif-gps-over-header.bin`).
fn fuzz_check(name: &str) -> Option<fn(&[u8])> {
    Some(match name.split('-').next()? {
        "pipeline" => common::fuzz_case::check,
        "exif" => common::fuzz_parsers::exif,
        "container" => common::fuzz_parsers::container,
        "dqt" => common::fuzz_parsers::dqt,
        _ => return None,
    })
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

/// The fuzz targets' seeds, made here (no binary is committed): files of every kind each parser
/// target reads, carrying everything it reads. Each passes its target's checks; with
/// `UPRES_FUZZ_SEEDS` set they are written to `$UPRES_FUZZ_SEEDS/TARGET/`, where
/// `./build.sh fuzz TARGET` takes them.
#[test]
fn the_parser_targets_seeds_pass_their_checks() {
    let mut seeds: Vec<(&str, String, Vec<u8>)> = Vec::new();

    // EXIF: the job byte (keep the location, a print size's density), then the block.
    let blocks = [
        ("camera", camera_exif()),
        ("orientation-le", common::exif_orientation(6, false)),
        ("orientation-be", common::exif_orientation(8, true)),
        ("density", upres::exif::with_density(300.0)),
        ("jpeg-prefix", [b"Exif\0\0".as_slice(), &camera_exif()].concat()),
    ];
    for (name, block) in &blocks {
        for job in [0u8, 1, 2, 0xF3] {
            seeds.push(("exif", format!("{name}-{job:02x}"), [[job].as_slice(), block].concat()));
        }
    }

    // Containers: every input and output format with everything in it, a TIFF with its density,
    // and a WebP that announces EXIF it lacks.
    let mut files = vec![
        ("png", tagged_input(OutputFormat::Png)),
        ("jpeg", tagged_input(OutputFormat::Jpeg { quality: 90 })),
        ("webp", tagged_input(OutputFormat::WebP { quality: None })),
        ("webp-lossy", tagged_input(OutputFormat::WebP { quality: Some(80) })),
        ("avif", tagged_input(OutputFormat::Avif { quality: 60, speed: 10 })),
        ("tiff", tiff_with_resolution(11811, 100, 3)),
        ("webp-no-exif", without_chunk(&tagged_input(OutputFormat::WebP { quality: None }), b"EXIF")),
    ];
    let alpha = image::RgbaImage::from_fn(9, 7, |x, y| image::Rgba([40, 90, 200, (x * 30 + y) as u8]));
    files.push(("png-alpha", common::file(alpha, ImageFormat::Png)));
    seeds.extend(files.into_iter().map(|(name, file)| ("container", name.to_owned(), file)));

    // DQT: JPEGs at qualities from heavy to near-lossless, and libjpeg's own tables as bytes.
    for quality in [10u8, 50, 75, 90, 100] {
        let jpeg = codec::encode(&common::pattern(16, 16), None, OutputFormat::Jpeg { quality }, &Default::default());
        seeds.push(("dqt", format!("jpeg-q{quality}"), jpeg.expect("the fixture encodes")));
        let tables = [route::ijg_table(&BASE_LUMA, quality), route::ijg_table(&BASE_CHROMA, quality)];
        let bytes = tables.iter().flatten().flat_map(|v| v.to_be_bytes()).collect();
        seeds.push(("dqt", format!("tables-q{quality}"), bytes));
    }
    let camera = common::with_app1_exif(&common::file(RgbImage::new(8, 8), ImageFormat::Jpeg), &camera_exif());
    seeds.push(("dqt", "jpeg-exif".into(), camera));

    for (target, name, bytes) in &seeds {
        let check = fuzz_check(target).expect("a target");
        assert!(std::panic::catch_unwind(|| check(bytes)).is_ok(), "{target} seed {name}");
    }
    if let Some(dir) = std::env::var_os("UPRES_FUZZ_SEEDS") {
        for (target, name, bytes) in &seeds {
            let folder = Path::new(&dir).join(target);
            std::fs::create_dir_all(&folder).expect("the seed folder can be made");
            std::fs::write(folder.join(format!("seed-{name}")), bytes).expect("the seed can be written");
        }
    }
}

// Found by reading the parsers while their fuzz targets were written (issue 28); each case goes
// through its target's checks, as a saved crasher would.

#[test]
fn exif_a_thumbnail_said_to_lie_over_the_header_does_not_wipe_it() {
    // IFD0 (orientation 6), then IFD1 whose thumbnail is "at offset 0, 8 bytes long".
    let mut block = b"MM\0*\0\0\0\x08".to_vec();
    block.extend([0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 26]);
    block.extend([0, 2, 0x02, 0x01, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0]);
    block.extend([0x02, 0x02, 0, 4, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0]);
    common::fuzz_parsers::exif(&[[0u8].as_slice(), &block].concat());
}

#[test]
fn container_a_jpeg_segment_running_past_the_end_gets_xmp_before_it() {
    // An APP0 segment that says it is 65 535 bytes long, in a file of 6.
    common::fuzz_parsers::container(&[0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF]);
}

#[test]
fn container_an_empty_file_gets_no_xmp_segment() {
    // Found by the fuzzer in its first seconds (fuzz/artifacts/container/crash-da39a3ee…): the
    // segment went in after where the start-of-image marker would be, past the end.
    common::fuzz_parsers::container(&[]);
}

/// A `meta` box as an AVIF's, holding just what the profile writer reads: one item, its one
/// extent located by an `iloc` whose offsets are `offset_bytes` wide (up to 16), and `ipma`
/// associations that claim `associations` properties while holding one, at the very end of the
/// file.
fn avif_meta(offset_bytes: u8, associations: u8) -> Vec<u8> {
    let boxed = |kind: &[u8; 4], body: &[u8]| [(body.len() as u32 + 8).to_be_bytes().as_slice(), kind, body].concat();
    let pitm = boxed(b"pitm", &[0, 0, 0, 0, 0, 1]);
    let mut iloc = vec![0, 0, 0, 0, offset_bytes << 4, 0, 0, 1, 0, 1, 0, 0, 0, 1];
    // The extent lies at 128, past the `meta` box: the offset the profile's bytes move.
    iloc.extend(128u128.to_be_bytes()[16 - usize::from(offset_bytes)..].iter());
    let iloc = boxed(b"iloc", &iloc);
    let iprp = boxed(
        b"iprp",
        &[boxed(b"ipco", &[]), boxed(b"ipma", &[0, 0, 0, 0, 0, 0, 0, 1, 0, 1, associations, 1])].concat(),
    );
    boxed(b"meta", &[[0u8; 4].as_slice(), &pitm, &iloc, &iprp].concat())
}

#[test]
fn container_an_avif_with_nine_byte_offsets_is_refused_not_shifted() {
    // ISO BMFF allows offsets of 0, 4 or 8 bytes; a 9-byte one overflowed the shift that moves it.
    common::fuzz_parsers::container(&avif_meta(9, 1));
    assert!(upres::container::avif_icc(&avif_meta(4, 1), b"profile").is_some(), "the well-formed one is patched");
}

#[test]
fn container_an_avif_whose_associations_run_past_the_end_is_refused() {
    common::fuzz_parsers::container(&avif_meta(4, 3));
}
