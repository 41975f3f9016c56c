//! Decoding and encoding through `upres::codec`. Every fixture is made here, by the `image` crate's
//! encoders or byte by byte, so that each test shows exactly what it feeds in.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;

use image::codecs::gif::GifEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{
    DynamicImage, Frame, GrayImage, ImageBuffer, ImageEncoder, ImageFormat, Luma, LumaA, Rgb,
    RgbImage, Rgba, RgbaImage,
};
use upres::codec::{Decoded, OutputFormat, decode, encode};
use upres::error::{Error, LimitError};
use upres::limits::Limits;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Records the largest single allocation made by the current thread, so that a test can show
/// that an oversized header is refused without its pixel buffer ever being requested.
struct TrackLargest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with` because the allocator also runs while thread-locals are being torn down.
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for TrackLargest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: TrackLargest = TrackLargest;

/// Runs `f` and returns its result with the largest allocation it made on this thread.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|largest| largest.set(0));
    let result = f();
    (result, LARGEST.with(Cell::get))
}

/// An image in which every pixel differs from its mirror images and rotations, with few enough
/// colours for GIF.
fn pattern(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 50 % 256) as u8,
            (y * 70 % 256) as u8,
            ((x + 2 * y) * 20 % 256) as u8,
        ])
    })
}

/// Encodes with the `image` crate, as another program would have written the file.
fn file(image: impl Into<DynamicImage>, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image
        .into()
        .write_to(&mut bytes, format)
        .expect("fixture encodes");
    bytes.into_inner()
}

fn decoded(bytes: &[u8]) -> Decoded {
    decode(bytes, &Limits::default()).expect("fixture decodes")
}

fn decode_message(bytes: &[u8]) -> String {
    match decode(bytes, &Limits::default()) {
        Err(Error::Decode(message)) => message,
        other => panic!("expected Error::Decode, got {other:?}"),
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
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
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("small fixture");
    let mut out = vec![0x78, 0x01, 0x01];
    out.extend(len.to_le_bytes());
    out.extend((!len).to_le_bytes());
    out.extend(data);
    out.extend(adler32(data).to_be_bytes());
    out
}

/// A PNG file from its chunks, each given as (type, data); lengths and CRCs are filled in.
fn png(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in chunks {
        out.extend(
            u32::try_from(data.len())
                .expect("small chunk")
                .to_be_bytes(),
        );
        let start = out.len();
        out.extend(*kind);
        out.extend(*data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    out
}

fn ihdr(width: u32, height: u32, bit_depth: u8, colour_type: u8) -> Vec<u8> {
    let mut data = Vec::new();
    data.extend(width.to_be_bytes());
    data.extend(height.to_be_bytes());
    data.extend([bit_depth, colour_type, 0, 0, 0]);
    data
}

/// The signature and a valid IHDR for an RGB image of the given size, and nothing more: what a
/// decoder needs to know the size, and no pixels.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    png(&[(b"IHDR", &ihdr(width, height, 8, 2))])
}

/// A TIFF structure as EXIF carries it, holding only an Orientation tag.
fn exif_orientation(orientation: u16, big_endian: bool) -> Vec<u8> {
    let u16_bytes = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32_bytes = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut tiff = if big_endian {
        b"MM\0*".to_vec()
    } else {
        b"II*\0".to_vec()
    };
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
fn with_app1_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
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
// Round trips through files written by the `image` crate

#[test]
fn lossless_formats_round_trip_exactly() {
    let source = pattern(5, 4);
    for format in [
        ImageFormat::Png,
        ImageFormat::WebP,
        ImageFormat::Bmp,
        ImageFormat::Gif,
        ImageFormat::Tiff,
    ] {
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

    let jpeg = decoded(&file(
        GrayImage::from_pixel(16, 16, Luma([90])),
        ImageFormat::Jpeg,
    ));
    assert!(jpeg.was_grey, "grey JPEG");
    assert!(
        jpeg.rgb
            .pixels()
            .all(|p| p[0] == p[1] && p[1] == p[2] && p[0].abs_diff(90) <= 2)
    );
}

#[test]
fn grey_with_alpha_keeps_alpha() {
    let source = ImageBuffer::from_fn(4, 2, |x, y| LumaA([(x * 60) as u8, (y * 100 + x) as u8]));
    let result = decoded(&file(
        DynamicImage::ImageLumaA8(source.clone()),
        ImageFormat::Png,
    ));
    assert!(result.was_grey);
    let alpha = result.alpha.expect("alpha kept");
    for (x, y, pixel) in source.enumerate_pixels() {
        assert_eq!(result.rgb.get_pixel(x, y).0, [pixel[0]; 3]);
        assert_eq!(alpha.get_pixel(x, y)[0], pixel[1]);
    }
}

#[test]
fn sixteen_bit_png_is_rounded_to_eight_bits() {
    // 257·v + 100 rounds to v; taking the low byte instead would give v + 100.
    let wide = |v: u32| (v * 257 + 100) as u16;
    let source = ImageBuffer::<Rgb<u16>, _>::from_fn(3, 2, |x, y| {
        Rgb([wide(x * 70), wide(y * 90 + 10), wide(200)])
    });
    let result = decoded(&file(DynamicImage::ImageRgb16(source), ImageFormat::Png));
    assert!(!result.was_grey);
    for (x, y, pixel) in result.rgb.enumerate_pixels() {
        assert_eq!(pixel.0, [(x * 70) as u8, (y * 90 + 10) as u8, 200]);
    }
}

#[test]
fn float_tiff_becomes_eight_bit() {
    let source = ImageBuffer::<Rgb<f32>, _>::from_fn(2, 2, |x, y| Rgb([x as f32, y as f32, 0.5]));
    let result = decoded(&file(DynamicImage::ImageRgb32F(source), ImageFormat::Tiff));
    assert_eq!(result.rgb.get_pixel(0, 0).0, [0, 0, 128]);
    assert_eq!(result.rgb.get_pixel(1, 1).0, [255, 255, 128]);
}

#[test]
fn palette_png_with_transparency() {
    // Four 2-bit indices 0, 1, 2, 3 in one byte after the row's filter byte.
    let palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
    let bytes = png(&[
        (b"IHDR", &ihdr(4, 1, 2, 3)),
        (b"PLTE", &palette),
        (b"tRNS", &[255, 128, 0]), // the fourth entry is implicitly opaque
        (b"IDAT", &zlib_stored(&[0, 0b00_01_10_11])),
        (b"IEND", &[]),
    ]);
    let result = decoded(&bytes);
    assert!(!result.was_grey);
    let rgb: Vec<[u8; 3]> = result.rgb.pixels().map(|p| p.0).collect();
    assert_eq!(
        rgb,
        [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]
    );
    let alpha = result.alpha.expect("tRNS is alpha");
    assert_eq!(alpha.as_raw(), &[255, 128, 0, 255]);
}

#[test]
fn alpha_is_kept_when_not_opaque() {
    let source = RgbaImage::from_fn(5, 4, |x, y| {
        Rgba([(x * 50) as u8, (y * 60) as u8, 7, (x * 60 + y) as u8])
    });
    for format in [ImageFormat::Png, ImageFormat::WebP, ImageFormat::Tiff] {
        let result = decoded(&file(source.clone(), format));
        let alpha = result
            .alpha
            .unwrap_or_else(|| panic!("{format:?} alpha kept"));
        for (x, y, pixel) in source.enumerate_pixels() {
            assert_eq!(
                result.rgb.get_pixel(x, y).0,
                [pixel[0], pixel[1], pixel[2]],
                "{format:?}"
            );
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

#[test]
fn gif_animation_gives_its_first_frame() {
    let mut bytes = Vec::new();
    GifEncoder::new(&mut bytes)
        .encode_frames([
            Frame::new(RgbaImage::from_pixel(4, 3, Rgba([200, 0, 0, 255]))),
            Frame::new(RgbaImage::from_pixel(4, 3, Rgba([0, 0, 200, 255]))),
        ])
        .expect("fixture encodes");
    let result = decoded(&bytes);
    assert_eq!(result.format, ImageFormat::Gif);
    assert!(result.rgb.pixels().all(|p| p.0 == [200, 0, 0]));
}

// ---------------------------------------------------------------------------------------------
// EXIF orientation

/// 3×2 blocks of 16×16 pixels, one colour each: big enough to survive JPEG, and no two blocks
/// alike, so that every flip and rotation is told apart.
const BLOCK: u32 = 16;
const BLOCK_COLOURS: [[[u8; 3]; 3]; 2] = [
    [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
    [[255, 255, 0], [0, 255, 255], [255, 0, 255]],
];

fn blocks() -> RgbImage {
    RgbImage::from_fn(3 * BLOCK, 2 * BLOCK, |x, y| {
        Rgb(BLOCK_COLOURS[(y / BLOCK) as usize][(x / BLOCK) as usize])
    })
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
        _ => unreachable!(),
    }
}

fn assert_upright(result: &Decoded, orientation: u16, tolerance: u8) {
    let (w, h) = if orientation >= 5 { (2, 3) } else { (3, 2) };
    assert_eq!(
        result.rgb.dimensions(),
        (w * BLOCK, h * BLOCK),
        "orientation {orientation}"
    );
    for y in 0..h {
        for x in 0..w {
            let (sx, sy) = stored_block(orientation, x, y);
            let want = BLOCK_COLOURS[sy as usize][sx as usize];
            let got = result
                .rgb
                .get_pixel(x * BLOCK + BLOCK / 2, y * BLOCK + BLOCK / 2)
                .0;
            let close = got
                .iter()
                .zip(want)
                .all(|(g, w)| g.abs_diff(w) <= tolerance);
            assert!(
                close,
                "orientation {orientation}, block ({x}, {y}): {got:?}, want {want:?}"
            );
        }
    }
}

#[test]
fn jpeg_exif_orientation_all_eight() {
    let jpeg = file(blocks(), ImageFormat::Jpeg);
    for orientation in 1..=8 {
        // Both byte orders, as cameras write either.
        let exif = exif_orientation(orientation, orientation % 2 == 0);
        let result = decoded(&with_app1_exif(&jpeg, &exif));
        assert_upright(&result, orientation, 40);
    }
}

#[test]
fn png_and_webp_exif_orientation() {
    let source = blocks();
    let (width, height) = source.dimensions();
    for orientation in [3, 6, 7] {
        let exif = exif_orientation(orientation, false);

        let mut png = Vec::new();
        let mut encoder = PngEncoder::new(&mut png);
        encoder
            .set_exif_metadata(exif.clone())
            .expect("PNG takes EXIF");
        encoder
            .write_image(
                source.as_raw(),
                width,
                height,
                image::ExtendedColorType::Rgb8,
            )
            .expect("fixture encodes");
        assert_upright(&decoded(&png), orientation, 0);

        let mut webp = Vec::new();
        let mut encoder = WebPEncoder::new_lossless(&mut webp);
        encoder.set_exif_metadata(exif).expect("WebP takes EXIF");
        encoder
            .write_image(
                source.as_raw(),
                width,
                height,
                image::ExtendedColorType::Rgb8,
            )
            .expect("fixture encodes");
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
    let limits = Limits {
        max_input_pixels: 100,
        max_output_pixels: 1000,
    };
    assert!(limits.check_input(10, 10).is_ok());
    assert!(limits.check_output(100, 10).is_ok());
    match limits.check_input(11, 10) {
        Err(Error::Limits(err)) => assert_eq!(
            err,
            LimitError {
                what: "input",
                width: 11,
                height: 10,
                max_pixels: 100
            }
        ),
        other => panic!("expected Error::Limits, got {other:?}"),
    }
    match limits.check_output(1001, 1) {
        Err(Error::Limits(err)) => assert_eq!(err.what, "output"),
        other => panic!("expected Error::Limits, got {other:?}"),
    }
    // A product past u64::MAX is over the limit, not wrapped around to a small number.
    assert!(matches!(
        Limits::default().check_output(u64::MAX, 2),
        Err(Error::Limits(_))
    ));
}

#[test]
fn decode_applies_the_input_limit() {
    let limits = Limits {
        max_input_pixels: 100,
        ..Limits::default()
    };
    for format in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::WebP,
        ImageFormat::Bmp,
        ImageFormat::Gif,
        ImageFormat::Tiff,
    ] {
        assert!(
            decode(&file(pattern(10, 10), format), &limits).is_ok(),
            "{format:?}"
        );
        match decode(&file(pattern(11, 10), format), &limits) {
            Err(Error::Limits(err)) => {
                assert_eq!(
                    (err.what, err.width, err.height),
                    ("input", 11, 10),
                    "{format:?}"
                );
            }
            other => panic!("{format:?}: expected Error::Limits, got {other:?}"),
        }
    }
}

#[test]
fn huge_png_header_is_refused_without_allocating() {
    let bytes = png_header_only(65_535, 65_535);
    let (result, largest) = largest_allocation(|| decode(&bytes, &Limits::default()));
    match result {
        Err(Error::Limits(err)) => {
            assert_eq!((err.what, err.width, err.height), ("input", 65_535, 65_535));
            assert_eq!(err.max_pixels, 40_000_000);
            assert!(err.to_string().contains("megapixels"), "{err}");
        }
        other => panic!("expected Error::Limits, got {other:?}"),
    }
    // The pixels would need 12 GiB; the header needs a few hundred bytes.
    assert!(largest < 1 << 20, "largest allocation was {largest} bytes");
}

#[test]
fn just_over_forty_megapixels_is_refused() {
    let bytes = png_header_only(8_000, 5_125); // 41 MP
    assert!(matches!(
        decode(&bytes, &Limits::default()),
        Err(Error::Limits(LimitError {
            what: "input",
            width: 8_000,
            height: 5_125,
            ..
        }))
    ));
}

// ---------------------------------------------------------------------------------------------
// Inputs that are not images, or not whole ones

#[test]
fn empty_input_is_not_an_image() {
    assert!(decode_message(b"").contains("not an image"));
}

#[test]
fn text_is_not_an_image() {
    assert!(decode_message(b"Dear reader,\nthis is a letter.\n").contains("not an image"));
}

#[test]
fn svg_is_not_an_image() {
    let svg =
        br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#;
    assert!(decode_message(svg).contains("not an image"));
}

#[test]
fn known_but_unread_format_is_unsupported() {
    let qoi = b"qoif\0\0\0\x04\0\0\0\x04\x03\x00";
    match decode(qoi, &Limits::default()) {
        Err(Error::Unsupported(message)) => assert!(message.contains("Qoi"), "{message}"),
        other => panic!("expected Error::Unsupported, got {other:?}"),
    }
}

#[test]
fn truncated_png_is_a_decode_error() {
    let whole = file(pattern(40, 40), ImageFormat::Png);
    let message = decode_message(&whole[..whole.len() / 2]);
    assert!(message.contains("truncated or corrupt PNG"), "{message}");
}

#[test]
fn png_with_a_bad_crc_is_a_decode_error() {
    let mut bytes = file(pattern(4, 4), ImageFormat::Png);
    bytes[29] ^= 0xFF; // inside the IHDR CRC
    assert!(decode_message(&bytes).contains("PNG"));
}

// ---------------------------------------------------------------------------------------------
// Output formats

#[test]
fn output_format_parse() {
    assert_eq!(OutputFormat::parse("png", None).unwrap(), OutputFormat::Png);
    assert_eq!(
        OutputFormat::parse("WebP", None).unwrap(),
        OutputFormat::WebP
    );
    assert_eq!(
        OutputFormat::parse("jpg", None).unwrap(),
        OutputFormat::Jpeg { quality: 90 }
    );
    assert_eq!(
        OutputFormat::parse("JPEG", Some(1)).unwrap(),
        OutputFormat::Jpeg { quality: 1 }
    );
    assert_eq!(
        OutputFormat::parse("jpeg", Some(100)).unwrap(),
        OutputFormat::Jpeg { quality: 100 }
    );

    let message = |name: &str, quality: Option<u8>| match OutputFormat::parse(name, quality) {
        Err(Error::Parameter(message)) => message,
        other => panic!("expected Error::Parameter for {name:?} {quality:?}, got {other:?}"),
    };
    assert!(message("gif", None).contains("\"gif\""));
    assert!(message("", None).contains("expected png, jpeg"));
    assert!(message("jpeg", Some(0)).contains("between 1 and 100"));
    assert!(message("jpg", Some(101)).contains("not 101"));
    assert!(message("png", Some(90)).contains("JPEG only"));
    assert!(message("webp", Some(90)).contains("JPEG only"));
}

#[test]
fn output_format_names() {
    let jpeg = OutputFormat::Jpeg { quality: 90 };
    assert_eq!(
        [
            OutputFormat::Png.extension(),
            jpeg.extension(),
            OutputFormat::WebP.extension()
        ],
        ["png", "jpg", "webp"]
    );
    assert_eq!(
        [
            OutputFormat::Png.mime_type(),
            jpeg.mime_type(),
            OutputFormat::WebP.mime_type()
        ],
        ["image/png", "image/jpeg", "image/webp"]
    );
}

#[test]
fn lossless_encodes_round_trip_with_and_without_alpha() {
    let rgb = pattern(7, 5);
    let alpha = GrayImage::from_fn(7, 5, |x, y| Luma([(x * 30 + y) as u8]));
    for (format, image_format) in [
        (OutputFormat::Png, ImageFormat::Png),
        (OutputFormat::WebP, ImageFormat::WebP),
    ] {
        let bytes = encode(&rgb, Some(&alpha), format).expect("encodes");
        assert_eq!(image::guess_format(&bytes).unwrap(), image_format);
        let result = decoded(&bytes);
        assert_eq!(result.rgb, rgb, "{format:?}");
        assert_eq!(result.alpha.as_ref(), Some(&alpha), "{format:?}");

        let result = decoded(&encode(&rgb, None, format).expect("encodes"));
        assert_eq!(result.rgb, rgb, "{format:?}");
        assert!(result.alpha.is_none(), "{format:?}");
    }
}

#[test]
fn jpeg_encode_composites_alpha_over_white() {
    // Black, in three 16-pixel bands: transparent, half transparent, opaque.
    let rgb = RgbImage::new(48, 16);
    let alpha = GrayImage::from_fn(48, 16, |x, _| Luma([[0, 128, 255][(x / 16) as usize]]));
    let bytes = encode(&rgb, Some(&alpha), OutputFormat::Jpeg { quality: 95 }).expect("encodes");
    assert_eq!(image::guess_format(&bytes).unwrap(), ImageFormat::Jpeg);
    let result = decoded(&bytes);
    assert!(result.alpha.is_none());
    for (x, want) in [(8, 255), (24, 127), (40, 0)] {
        let got = result.rgb.get_pixel(x, 8).0;
        assert!(
            got.iter().all(|c| c.abs_diff(want) <= 4),
            "x = {x}: {got:?}, want {want}"
        );
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
    let size = |quality| {
        encode(&noisy, None, OutputFormat::Jpeg { quality })
            .expect("encodes")
            .len()
    };
    let (low, high) = (size(10), size(95));
    assert!(
        low * 2 < high,
        "quality 10: {low} bytes, quality 95: {high} bytes"
    );
}

#[test]
fn encode_refuses_mismatched_alpha() {
    let rgb = pattern(4, 4);
    let alpha = GrayImage::new(4, 3);
    for format in [
        OutputFormat::Png,
        OutputFormat::WebP,
        OutputFormat::Jpeg { quality: 90 },
    ] {
        match encode(&rgb, Some(&alpha), format) {
            Err(Error::Parameter(message)) => assert!(message.contains("4×3"), "{message}"),
            other => panic!("expected Error::Parameter, got {other:?}"),
        }
    }
}

#[test]
fn encode_refuses_sizes_the_format_cannot_store() {
    match encode(&RgbImage::new(16_384, 1), None, OutputFormat::WebP) {
        Err(Error::Encode(message)) => assert!(message.contains("16383"), "{message}"),
        other => panic!("expected Error::Encode, got {other:?}"),
    }
    match encode(
        &RgbImage::new(1, 65_536),
        None,
        OutputFormat::Jpeg { quality: 90 },
    ) {
        Err(Error::Encode(message)) => assert!(message.contains("65535"), "{message}"),
        other => panic!("expected Error::Encode, got {other:?}"),
    }
    // The largest sizes they can store are written.
    assert!(encode(&RgbImage::new(16_383, 1), None, OutputFormat::WebP).is_ok());
    assert!(
        encode(
            &RgbImage::new(1, 65_535),
            None,
            OutputFormat::Jpeg { quality: 90 }
        )
        .is_ok()
    );
}
