//! Decoding and encoding through `upres::codec`: round trips, colour layouts, EXIF orientation,
//! the limits, output formats. Every fixture is made here or in `common`, by the `image` crate's
//! encoders or byte by byte, so that each test shows exactly what it feeds in. Malformed and
//! hostile files (truncated, corrupt, decode bombs, degenerate shapes) are `tests/hostile.rs`.

use crate::common;

use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, GrayImage, ImageBuffer, ImageEncoder, ImageFormat, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use upres::codec::{Decoded, OutputFormat, decode, encode};
use upres::error::{Error, LimitError};
use upres::limits::Limits;
use upres::metadata::Metadata;

use common::{assert_upright, blocks, exif_orientation, file, pattern};

fn decoded(bytes: &[u8]) -> Decoded {
    decode(bytes, &Limits::default()).expect("fixture decodes")
}

// ---------------------------------------------------------------------------------------------
// Round trips through files written by the `image` crate

#[test]
fn lossless_formats_round_trip_exactly() {
    let source = pattern(5, 4);
    for format in [ImageFormat::Png, ImageFormat::WebP, ImageFormat::Bmp, ImageFormat::Gif, ImageFormat::Tiff] {
        let result = decoded(&file(source.clone(), format));
        assert_eq!(result.format, format);
        assert_eq!(result.rgb, source, "{format:?} pixels");
        // GIF is written as RGBA; its opaque alpha must be dropped like any other.
        assert!(result.alpha.is_none(), "{format:?} alpha");
        assert!(!result.was_grey, "{format:?} is colour");
    }
}

#[test]
fn jpeg_round_trips_closely() {
    let source = RgbImage::from_fn(32, 24, |x, y| Rgb([(x * 8) as u8, (y * 10) as u8, 128]));
    let result = decoded(&file(source.clone(), ImageFormat::Jpeg));
    assert_eq!(result.format, ImageFormat::Jpeg);
    assert_eq!(result.rgb.dimensions(), (32, 24));
    assert!(result.alpha.is_none());
    for (got, want) in result.rgb.pixels().zip(source.pixels()) {
        for (g, w) in got.0.iter().zip(want.0) {
            assert!(g.abs_diff(w) <= 12, "{got:?} vs {want:?}");
        }
    }
}

#[test]
fn grey_becomes_equal_rgb_channels() {
    let grey = GrayImage::from_fn(6, 3, |x, y| Luma([(x * 40 + y * 3) as u8]));
    let result = decoded(&file(grey.clone(), ImageFormat::Png));
    assert!(result.was_grey);
    assert!(result.alpha.is_none());
    for (got, want) in result.rgb.pixels().zip(grey.pixels()) {
        assert_eq!(got.0, [want[0]; 3]);
    }

    let jpeg = decoded(&file(GrayImage::from_pixel(16, 16, Luma([90])), ImageFormat::Jpeg));
    assert!(jpeg.was_grey, "grey JPEG");
    assert!(jpeg.rgb.pixels().all(|p| p[0] == p[1] && p[1] == p[2] && p[0].abs_diff(90) <= 2));
}

#[test]
fn float_tiff_becomes_eight_bit() {
    let source = ImageBuffer::<Rgb<f32>, _>::from_fn(2, 2, |x, y| Rgb([x as f32, y as f32, 0.5]));
    let result = decoded(&file(DynamicImage::ImageRgb32F(source), ImageFormat::Tiff));
    assert_eq!(result.rgb.get_pixel(0, 0).0, [0, 0, 128]);
    assert_eq!(result.rgb.get_pixel(1, 1).0, [255, 255, 128]);
}

#[test]
fn alpha_is_kept_when_not_opaque() {
    let source = RgbaImage::from_fn(5, 4, |x, y| Rgba([(x * 50) as u8, (y * 60) as u8, 7, (x * 60 + y) as u8]));
    for format in [ImageFormat::Png, ImageFormat::WebP, ImageFormat::Tiff] {
        let result = decoded(&file(source.clone(), format));
        let alpha = result.alpha.unwrap_or_else(|| panic!("{format:?} alpha kept"));
        for (x, y, pixel) in source.enumerate_pixels() {
            assert_eq!(result.rgb.get_pixel(x, y).0, [pixel[0], pixel[1], pixel[2]], "{format:?}");
            assert_eq!(alpha.get_pixel(x, y)[0], pixel[3], "{format:?}");
        }
    }
}

#[test]
fn alpha_is_dropped_when_opaque() {
    let source = pattern(5, 4);
    let opaque = RgbaImage::from_fn(5, 4, |x, y| {
        let Rgb([r, g, b]) = *source.get_pixel(x, y);
        Rgba([r, g, b, 255])
    });
    let result = decoded(&file(opaque, ImageFormat::Png));
    assert!(result.alpha.is_none());
    assert_eq!(result.rgb, source);
}

// ---------------------------------------------------------------------------------------------
// EXIF orientation (JPEG, with all eight, is in the hostile corpus)

#[test]
fn png_and_webp_exif_orientation() {
    let source = blocks();
    let (width, height) = source.dimensions();
    for orientation in [3, 6, 7] {
        let exif = exif_orientation(orientation, false);

        let mut png = Vec::new();
        let mut encoder = PngEncoder::new(&mut png);
        encoder.set_exif_metadata(exif.clone()).expect("PNG takes EXIF");
        encoder.write_image(source.as_raw(), width, height, image::ExtendedColorType::Rgb8).expect("fixture encodes");
        assert_upright(&decoded(&png), orientation, 0);

        let mut webp = Vec::new();
        let mut encoder = WebPEncoder::new_lossless(&mut webp);
        encoder.set_exif_metadata(exif).expect("WebP takes EXIF");
        encoder.write_image(source.as_raw(), width, height, image::ExtendedColorType::Rgb8).expect("fixture encodes");
        assert_upright(&decoded(&webp), orientation, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Limits

#[test]
fn default_limits() {
    let limits = Limits::default();
    assert_eq!(limits.max_input_pixels, 40_000_000);
    assert_eq!(limits.max_output_pixels, 200_000_000);
}

#[test]
fn limits_are_inclusive_and_name_what_they_measure() {
    let limits = Limits { max_input_pixels: 100, max_output_pixels: 1000 };
    assert!(limits.check_input(10, 10).is_ok());
    assert!(limits.check_output(100, 10).is_ok());
    match limits.check_input(11, 10) {
        Err(Error::Limits(err)) => {
            assert_eq!(err, LimitError { what: "input", width: 11, height: 10, max_pixels: 100 })
        }
        other => panic!("expected Error::Limits, got {other:?}"),
    }
    match limits.check_output(1001, 1) {
        Err(Error::Limits(err)) => assert_eq!(err.what, "output"),
        other => panic!("expected Error::Limits, got {other:?}"),
    }
    // A product past u64::MAX is over the limit, not wrapped around to a small number.
    assert!(matches!(Limits::default().check_output(u64::MAX, 2), Err(Error::Limits(_))));
}

#[test]
fn decode_applies_the_input_limit() {
    let limits = Limits { max_input_pixels: 100, ..Limits::default() };
    for format in
        [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP, ImageFormat::Bmp, ImageFormat::Gif, ImageFormat::Tiff]
    {
        assert!(decode(&file(pattern(10, 10), format), &limits).is_ok(), "{format:?}");
        match decode(&file(pattern(11, 10), format), &limits) {
            Err(Error::Limits(err)) => {
                assert_eq!((err.what, err.width, err.height), ("input", 11, 10), "{format:?}");
            }
            other => panic!("{format:?}: expected Error::Limits, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output formats

#[test]
fn output_format_parse() {
    let parse = |name: &str, quality: Option<u8>| OutputFormat::parse(name, quality, None).unwrap();
    assert_eq!(parse("png", None), OutputFormat::Png);
    assert_eq!(parse("WebP", None), OutputFormat::WebP { quality: None });
    assert_eq!(parse("webp", Some(80)), OutputFormat::WebP { quality: Some(80) });
    assert_eq!(parse("jpg", None), OutputFormat::Jpeg { quality: 90 });
    assert_eq!(parse("JPEG", Some(1)), OutputFormat::Jpeg { quality: 1 });
    assert_eq!(parse("jpeg", Some(100)), OutputFormat::Jpeg { quality: 100 });
    assert_eq!(parse("avif", None), OutputFormat::Avif { quality: 60, speed: 6 });
    assert_eq!(OutputFormat::parse("AVIF", Some(40), Some(9)).unwrap(), OutputFormat::Avif { quality: 40, speed: 9 });

    let message = |name: &str, quality: Option<u8>, speed: Option<u8>| match OutputFormat::parse(name, quality, speed) {
        Err(Error::Parameter(message)) => message,
        other => panic!("expected Error::Parameter for {name:?} {quality:?}, got {other:?}"),
    };
    assert!(message("gif", None, None).contains("\"gif\""));
    assert!(message("", None, None).contains("expected png, jpeg"));
    assert!(message("jpeg", Some(0), None).contains("between 1 and 100"));
    assert!(message("jpg", Some(101), None).contains("not 101"));
    assert!(message("png", Some(90), None).contains("PNG, which is lossless"));
    assert!(message("avif", None, Some(11)).contains("between 1 and 10"));
    assert!(message("jpeg", None, Some(5)).contains("AVIF only"));
}

#[test]
fn output_format_names() {
    let jpeg = OutputFormat::Jpeg { quality: 90 };
    let webp = OutputFormat::WebP { quality: None };
    let avif = OutputFormat::Avif { quality: 60, speed: 6 };
    assert_eq!(
        [OutputFormat::Png.extension(), jpeg.extension(), webp.extension(), avif.extension()],
        ["png", "jpg", "webp", "avif"]
    );
    assert_eq!(
        [OutputFormat::Png.mime_type(), jpeg.mime_type(), webp.mime_type(), avif.mime_type()],
        ["image/png", "image/jpeg", "image/webp", "image/avif"]
    );
}

#[test]
fn lossless_encodes_round_trip_with_and_without_alpha() {
    let rgb = pattern(7, 5);
    let alpha = GrayImage::from_fn(7, 5, |x, y| Luma([(x * 30 + y) as u8]));
    for (format, image_format) in
        [(OutputFormat::Png, ImageFormat::Png), (OutputFormat::WebP { quality: None }, ImageFormat::WebP)]
    {
        let bytes = encode(&rgb, Some(&alpha), format, &Metadata::default()).expect("encodes");
        assert_eq!(image::guess_format(&bytes).unwrap(), image_format);
        let result = decoded(&bytes);
        assert_eq!(result.rgb, rgb, "{format:?}");
        assert_eq!(result.alpha.as_ref(), Some(&alpha), "{format:?}");

        let result = decoded(&encode(&rgb, None, format, &Metadata::default()).expect("encodes"));
        assert_eq!(result.rgb, rgb, "{format:?}");
        assert!(result.alpha.is_none(), "{format:?}");
    }
}

#[test]
fn jpeg_encode_composites_alpha_over_white() {
    // Black, in three 16-pixel bands: transparent, half transparent, opaque.
    let rgb = RgbImage::new(48, 16);
    let alpha = GrayImage::from_fn(48, 16, |x, _| Luma([[0, 128, 255][(x / 16) as usize]]));
    let bytes = encode(&rgb, Some(&alpha), OutputFormat::Jpeg { quality: 95 }, &Metadata::default()).expect("encodes");
    assert_eq!(image::guess_format(&bytes).unwrap(), ImageFormat::Jpeg);
    let result = decoded(&bytes);
    assert!(result.alpha.is_none());
    for (x, want) in [(8, 255), (24, 127), (40, 0)] {
        let got = result.rgb.get_pixel(x, 8).0;
        assert!(got.iter().all(|c| c.abs_diff(want) <= 4), "x = {x}: {got:?}, want {want}");
    }
}

#[test]
fn jpeg_quality_sets_size() {
    // Busy content, where quality makes a large difference.
    let mut state = 12_345u32;
    let noisy = RgbImage::from_fn(64, 64, |_, _| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let v = (state >> 16).to_le_bytes();
        Rgb([v[0], v[1], v[0] ^ v[1]])
    });
    let size =
        |quality| encode(&noisy, None, OutputFormat::Jpeg { quality }, &Metadata::default()).expect("encodes").len();
    let (low, high) = (size(10), size(95));
    assert!(low * 2 < high, "quality 10: {low} bytes, quality 95: {high} bytes");
}

#[test]
fn encode_refuses_mismatched_alpha() {
    let rgb = pattern(4, 4);
    let alpha = GrayImage::new(4, 3);
    for format in [OutputFormat::Png, OutputFormat::WebP { quality: None }, OutputFormat::Jpeg { quality: 90 }] {
        match encode(&rgb, Some(&alpha), format, &Metadata::default()) {
            Err(Error::Parameter(message)) => assert!(message.contains("4×3"), "{message}"),
            other => panic!("expected Error::Parameter, got {other:?}"),
        }
    }
}

#[test]
fn encode_refuses_sizes_the_format_cannot_store() {
    match encode(&RgbImage::new(16_384, 1), None, OutputFormat::WebP { quality: None }, &Metadata::default()) {
        Err(Error::Encode(message)) => assert!(message.contains("16383"), "{message}"),
        other => panic!("expected Error::Encode, got {other:?}"),
    }
    match encode(&RgbImage::new(1, 65_536), None, OutputFormat::Jpeg { quality: 90 }, &Metadata::default()) {
        Err(Error::Encode(message)) => assert!(message.contains("65535"), "{message}"),
        other => panic!("expected Error::Encode, got {other:?}"),
    }
    // The largest sizes they can store are written.
    assert!(
        encode(&RgbImage::new(16_383, 1), None, OutputFormat::WebP { quality: None }, &Metadata::default()).is_ok()
    );
    assert!(encode(&RgbImage::new(1, 65_535), None, OutputFormat::Jpeg { quality: 90 }, &Metadata::default()).is_ok());
}
