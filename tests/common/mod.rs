//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod fuzz_case;
pub mod fuzz_parsers;

use std::path::PathBuf;

/// The project's shared data folder (`../shared/data`, or `$UPRES_DATA`).
///
/// Returns `None` — and says the test was skipped — when it is missing on a developer's machine;
/// in CI (`CI=true`) a missing folder fails the test with a message saying where it was looked for.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    shared(test, "UPRES_DATA", "data", &["eval", "train"], "the evaluation data")
}

/// The teacher model of the shared folder (`../shared/teachers/realesr-general-x4v3`, or
/// `$UPRES_TEACHER`), skipped or failed like [`shared_data`] when it is missing.
pub fn shared_teacher(test: &str) -> Option<PathBuf> {
    shared(test, "UPRES_TEACHER", "teachers/realesr-general-x4v3", &["model.param", "model.bin"], "the teacher model")
}

/// `$variable`, or `../shared/default`, when it holds every entry of `needs`; else skipped here
/// and failed in CI, naming `what` and where it was looked for.
fn shared(test: &str, variable: &str, default: &str, needs: &[&str], what: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared").join(default));
    if needs.iter().all(|entry| dir.join(entry).exists()) {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: {what} is missing: expected {} (with {}), or set {variable} to its location",
            dir.display(),
            needs.join(", ")
        );
    }
    eprintln!("{test}: SKIPPED, {what} is not at {}", dir.display());
    None
}

use burn::prelude::Device;
use upres::model::NetConfig;
use upres::route::InputKind;
use upres::weights::{self, ModelCard, ModelFile, Training};

/// A small network with random weights for `scale`, as a model file (card + burnpack bytes),
/// serialised as trained models are (built without the `train` feature, as the fuzzer is).
pub fn random_model(scale: usize, seed: u64) -> ModelFile {
    let device = Device::flex();
    device.seed(seed);
    let config = NetConfig::new(scale, 8, 2);
    let bytes = weights::to_bytes(config.init(&device)).expect("serialise");
    let card = ModelCard {
        name: format!("random-x{scale}"),
        config,
        architecture: Default::default(),
        weights: format!("random-x{scale}.bpk"),
        sha256: weights::sha256_hex(&bytes),
        parameters: config.fused_parameters(),
        macs_per_input_pixel: config.macs_per_input_pixel(),
        input: InputKind::Clean,
        jpeg_qualities: None,
        look: upres::route::Look::Faithful,
        training: Training {
            data: "none: random weights for tests".into(),
            backend: "cpu".into(),
            ..Training::default()
        },
        evaluation: Vec::new(),
        imported: None,
    };
    ModelFile::new(card, bytes).expect("hash matches")
}

/// The models in `models/` (what the CLI embeds and the page serves), at least one.
pub fn shipped_models() -> Vec<ModelFile> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let files = ModelFile::read_dir(&dir).expect("models/ is readable");
    assert!(!files.is_empty(), "no models in {}", dir.display());
    files
}

/// Random models for every model scale.
pub fn random_models() -> Vec<ModelFile> {
    [2, 3, 4].iter().map(|&s| random_model(s, s as u64)).collect()
}

/// A deterministic test photo: smooth gradients, edges and fine texture.
pub fn test_image(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let stripes = if (x / 3 + y / 5) % 2 == 0 { 40.0 } else { 0.0 };
        image::Rgb([
            (fx * 255.0 / width as f32) as u8,
            ((fy * 255.0 / height as f32) * 0.7 + stripes) as u8,
            (128.0 + 100.0 * ((fx * 0.3).sin() * (fy * 0.2).cos())) as u8,
        ])
    })
}

// ---------------------------------------------------------------------------------------------
// Image files made for tests: by the `image` crate's encoders, as another program would have
// written them, or byte by byte where a test needs exactly what no encoder writes.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use upres::codec::Decoded;

/// An image in which every pixel differs from its mirror images and rotations, with few enough
/// colours for GIF.
pub fn pattern(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 50 % 256) as u8, (y * 70 % 256) as u8, ((x + 2 * y) * 20 % 256) as u8])
    })
}

/// Encodes with the `image` crate.
pub fn file(image: impl Into<DynamicImage>, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image.into().write_to(&mut bytes, format).expect("fixture encodes");
    bytes.into_inner()
}

/// CRC-32 as PNG chunks carry it.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// A zlib stream holding `data` in one stored (uncompressed) block.
pub fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("small fixture");
    let mut out = vec![0x78, 0x01, 0x01];
    out.extend(len.to_le_bytes());
    out.extend((!len).to_le_bytes());
    out.extend(data);
    out.extend(adler32(data).to_be_bytes());
    out
}

/// A PNG file from its chunks, each given as (type, data); lengths and CRCs are filled in.
pub fn png(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in chunks {
        out.extend(u32::try_from(data.len()).expect("small chunk").to_be_bytes());
        let start = out.len();
        out.extend(*kind);
        out.extend(*data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    out
}

/// The data of a PNG IHDR chunk (no interlacing).
pub fn ihdr(width: u32, height: u32, bit_depth: u8, colour_type: u8) -> Vec<u8> {
    let mut data = Vec::new();
    data.extend(width.to_be_bytes());
    data.extend(height.to_be_bytes());
    data.extend([bit_depth, colour_type, 0, 0, 0]);
    data
}

/// The signature and a valid IHDR for an RGB image of the given size, and nothing more: what a
/// decoder needs to know the size, and no pixels.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    png(&[(b"IHDR", &ihdr(width, height, 8, 2))])
}

/// A TIFF structure as EXIF carries it, holding only an Orientation tag (any value, valid or not).
pub fn exif_orientation(orientation: u16, big_endian: bool) -> Vec<u8> {
    let u16_bytes = |v: u16| {
        if big_endian { v.to_be_bytes() } else { v.to_le_bytes() }
    };
    let u32_bytes = |v: u32| {
        if big_endian { v.to_be_bytes() } else { v.to_le_bytes() }
    };
    let mut tiff = if big_endian { b"MM\0*".to_vec() } else { b"II*\0".to_vec() };
    tiff.extend(u32_bytes(8)); // offset of the first IFD
    tiff.extend(u16_bytes(1)); // one entry
    tiff.extend(u16_bytes(0x0112)); // Orientation
    tiff.extend(u16_bytes(3)); // SHORT
    tiff.extend(u32_bytes(1)); // one value
    tiff.extend(u16_bytes(orientation));
    tiff.extend([0, 0]); // padding of the 4-byte value field
    tiff.extend(u32_bytes(0)); // no next IFD
    tiff
}

/// Inserts an APP1 Exif segment straight after the SOI marker of a JPEG file.
pub fn with_app1_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], [0xFF, 0xD8], "fixture starts with SOI");
    let length = u16::try_from(2 + 6 + tiff.len()).expect("small segment");
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(length.to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(tiff);
    out.extend(&jpeg[2..]);
    out
}

// ---------------------------------------------------------------------------------------------
// EXIF orientation: a picture whose every flip and rotation can be told apart

/// 3×2 blocks of 16×16 pixels, one colour each: big enough to survive JPEG, and no two blocks
/// alike, so that every flip and rotation is told apart.
const BLOCK: u32 = 16;
const BLOCK_COLOURS: [[[u8; 3]; 3]; 2] =
    [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[255, 255, 0], [0, 255, 255], [255, 0, 255]]];

pub fn blocks() -> RgbImage {
    RgbImage::from_fn(3 * BLOCK, 2 * BLOCK, |x, y| Rgb(BLOCK_COLOURS[(y / BLOCK) as usize][(x / BLOCK) as usize]))
}

/// Which stored block is shown at displayed block (x, y), per the EXIF specification of each
/// orientation ("row 0 is at the visual …, column 0 at the visual …") for a 3×2 stored grid.
fn stored_block(orientation: u16, x: u32, y: u32) -> (u32, u32) {
    let (w, h) = (3, 2);
    match orientation {
        1 => (x, y),
        2 => (w - 1 - x, y),
        3 => (w - 1 - x, h - 1 - y),
        4 => (x, h - 1 - y),
        5 => (y, x),
        6 => (y, h - 1 - x),
        7 => (w - 1 - y, h - 1 - x),
        8 => (w - 1 - y, x),
        _ => unreachable!("orientations are 1 to 8"),
    }
}

/// Checks that [`blocks`] stored with EXIF `orientation` was decoded upright, each channel within
/// `tolerance` (JPEG blurs the block edges; the centres are sampled).
pub fn assert_upright(result: &Decoded, orientation: u16, tolerance: u8) {
    let (w, h) = if orientation >= 5 { (2, 3) } else { (3, 2) };
    assert_eq!(result.rgb.dimensions(), (w * BLOCK, h * BLOCK), "orientation {orientation}");
    for y in 0..h {
        for x in 0..w {
            let (sx, sy) = stored_block(orientation, x, y);
            let want = BLOCK_COLOURS[sy as usize][sx as usize];
            let got = result.rgb.get_pixel(x * BLOCK + BLOCK / 2, y * BLOCK + BLOCK / 2).0;
            let close = got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= tolerance);
            assert!(close, "orientation {orientation}, block ({x}, {y}): {got:?}, want {want:?}");
        }
    }
}
