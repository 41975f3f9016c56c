//! Routing: the quality of a JPEG read back from its quantisation tables, and where each kind
//! of file goes; odd JPEGs never fail because of routing.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use upres::route::{self, InputChoice, InputKind, JpegTables, Route};

use crate::common;

/// A JPEG written by the `image` crate (libjpeg's tables and scaling, 4:4:4).
fn jpeg(quality: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    let image = common::test_image(40, 24);
    JpegEncoder::new_with_quality(Cursor::new(&mut bytes), quality).encode_image(&image).unwrap();
    bytes
}

/// A JPEG written by another encoder (jpeg-encoder: 4:2:0, optionally progressive).
fn jpeg_420(quality: u8, progressive: bool) -> Vec<u8> {
    let image = common::test_image(40, 24);
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.set_progressive(progressive);
    encoder.encode(image.as_raw(), 40, 24, jpeg_encoder::ColorType::Rgb).unwrap();
    bytes
}

#[test]
fn quality_is_read_back_exactly_from_libjpeg_tables() {
    for quality in [1, 10, 30, 49, 50, 51, 72, 75, 90, 95, 96, 99, 100] {
        let tables = JpegTables::read(&jpeg(quality)).expect("tables");
        assert_eq!((tables.quality, tables.exact), (Some(quality), true), "quality {quality}");
        let tables = JpegTables::read(&jpeg_420(quality, quality % 2 == 0)).expect("tables");
        assert_eq!((tables.quality, tables.exact), (Some(quality), true), "4:2:0 quality {quality}");
    }
}

#[test]
fn tables_of_other_encoders_get_the_nearest_quality() {
    // A camera-like table: libjpeg's quality-80 luma with every entry nudged up by one.
    let luma = route::ijg_table(&route::BASE_LUMA, 80).map(|v| v + 1);
    let (quality, exact) = route::estimate_quality(&luma, None);
    assert!(!exact);
    assert!((77..=80).contains(&quality), "{quality}");
}

#[test]
fn jpegs_go_to_the_compression_aware_models_and_lossless_files_do_not() {
    let route = Route::for_file(&jpeg(72), InputChoice::Auto);
    assert_eq!(route.kind, InputKind::Compressed);
    assert_eq!(route.reason, "JPEG quality ≈ 72: compression-aware model");
    assert_eq!(Route::for_file(&jpeg(route::COMPRESSED_BELOW - 1), InputChoice::Auto).kind, InputKind::Compressed);
    let finest = Route::for_file(&jpeg(route::COMPRESSED_BELOW), InputChoice::Auto);
    assert_eq!(finest.kind, InputKind::Clean, "{}", finest.reason);

    let mut png = Vec::new();
    common::test_image(8, 8).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let route = Route::for_file(&png, InputChoice::Auto);
    assert_eq!((route.kind, route.reason.as_str()), (InputKind::Clean, "PNG: clean model"));

    // The user's say wins either way.
    assert_eq!(Route::for_file(&jpeg(40), InputChoice::Clean).kind, InputKind::Clean);
    assert_eq!(Route::for_file(&png, InputChoice::Compressed).kind, InputKind::Compressed);
}

#[test]
fn odd_jpegs_route_by_default_without_failing() {
    // 12-bit precision, arithmetic coding (SOF9) and 16-bit tables: header only, no scan.
    let mut odd = vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x83, 0x10];
    for value in route::ijg_table(&route::BASE_LUMA, 60) {
        odd.extend_from_slice(&value.to_be_bytes());
    }
    odd.extend_from_slice(&[0xFF, 0xC9, 0x00, 0x0B, 12, 0, 8, 0, 8, 1, 1, 0x11, 0]);
    odd.extend_from_slice(&[0xFF, 0xDA]);
    // The zigzag order is not natural order: tables written in natural order would not match.
    let tables = JpegTables::read(&odd).expect("tables");
    assert!(tables.quality.is_some() && !tables.lossless);

    // Lossless JPEG (SOF3) is clean; a JPEG without tables, or cut short, is compressed.
    let lossless = [0xFF, 0xD8, 0xFF, 0xC3, 0x00, 0x0B, 8, 0, 8, 0, 8, 1, 1, 0x11, 0, 0xFF, 0xDA];
    assert_eq!(JpegTables::read(&lossless).map(|t| t.lossless), Some(true));
    let whole = jpeg(50);
    for cut in [3, 5, 20, 100, whole.len() / 2] {
        let route = Route::for_file(&whole[..cut], InputChoice::Auto);
        assert_eq!(route.kind, InputKind::Compressed, "cut at {cut}: {}", route.reason);
    }
    let no_tables = [0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02];
    assert_eq!(
        Route::for_file(&no_tables, InputChoice::Auto).reason,
        "JPEG (quantisation tables unreadable): compression-aware model"
    );
}
