//! Hostile and malformed inputs: what a shop's suppliers actually send.
//!
//! A corpus generated here (no binary fixture is committed) of files that are empty, mislabelled,
//! truncated, corrupt, decode bombs, degenerate in shape, or valid but unusual. Each must give a
//! correct image or an error of a specific kind that says what is wrong; never a panic. A file
//! over the size limit must be refused from its header, before any pixel buffer is allocated;
//! no file may make the decoder allocate more than its size justifies. Every file also goes
//! through the whole job (decode → upscale 2× → encode), which must agree with the decoder.
//!
//! With `UPRES_CORPUS_DIR` set, the corpus is also written there with a `manifest.json` of the
//! expected outcomes: the browser test feeds the same files to the page, and `./build.sh fuzz`
//! seeds the fuzzer with them.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use image::codecs::gif::GifEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, Frame, GenericImageView, ImageBuffer, ImageFormat, LumaA, Rgb, Rgba, RgbaImage};
use upres::backend::Backend;
use upres::codec::{Decoded, OutputFormat, decode, encode};
use upres::job::Job;
use upres::limits::Limits;
use upres::metadata::{Metadata, MetadataChoice};
use upres::plan::Target;
use upres::route::InputChoice;
use upres::upscale::{Settings, Upscaler};

use common::{
    assert_upright, blocks, exif_orientation, file, ihdr, pattern, png, png_header_only, with_app1_exif, zlib_stored,
};

// ---------------------------------------------------------------------------------------------
// Measuring what a decode allocates

/// Counts what the current thread allocates: the largest single request and the total, so that
/// a test can show that a bomb is refused without its pixel buffer (or anything like it) ever
/// being requested.
struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static TOTAL: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with` because the allocator also runs while thread-locals are being torn down.
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
    let _ = TOTAL.try_with(|total| total.set(total.get().saturating_add(size)));
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Tracking {
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
static ALLOCATOR: Tracking = Tracking;

/// What a call allocated on this thread, and how long it took.
#[derive(Debug)]
struct Usage {
    largest: usize,
    total: usize,
    time: Duration,
}

fn measured<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    LARGEST.set(0);
    TOTAL.set(0);
    let started = Instant::now();
    let result = f();
    let time = started.elapsed();
    let usage = Usage { largest: LARGEST.get(), total: TOTAL.get(), time };
    (result, usage)
}

const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// The corpus

/// One hostile file and what must come of it.
struct Case {
    /// The name it arrives under; decoding never looks at it.
    name: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
}

enum Expect {
    /// An image of this size (after EXIF orientation), which `check` inspects further.
    Image { size: (u32, u32), check: Box<dyn Fn(&Decoded)> },
    /// An error of this kind ([`upres::Error::kind`]) whose message contains `says`.
    Refused { kind: &'static str, says: &'static str },
}

fn decodes(name: &'static str, bytes: Vec<u8>, size: (u32, u32), check: impl Fn(&Decoded) + 'static) -> Case {
    Case { name, bytes, expect: Expect::Image { size, check: Box::new(check) } }
}

fn refused(name: &'static str, bytes: Vec<u8>, kind: &'static str, says: &'static str) -> Case {
    Case { name, bytes, expect: Expect::Refused { kind, says } }
}

fn opaque(decoded: &Decoded) {
    assert!(decoded.alpha.is_none(), "no alpha expected");
}

fn corpus() -> Vec<Case> {
    let mut cases = not_images();
    cases.extend(png_cases());
    cases.extend(jpeg_cases());
    cases.extend(webp_cases());
    cases.extend(other_format_cases());
    cases
}

fn not_images() -> Vec<Case> {
    let svg = br#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>"#;
    vec![
        refused("empty.png", Vec::new(), "decode", "the file is empty"),
        refused("letter.png", b"Dear supplier,\nplease find the photos attached.\n".to_vec(), "decode", "not an image"),
        refused("logo.svg", svg.to_vec(), "unsupported", "SVG"),
        refused("logo-no-declaration.png", b"\xef\xbb\xbf  <svg viewBox='0 0 1 1'/>".to_vec(), "unsupported", "SVG"),
        refused("photos.zip.jpg", b"PK\x03\x04\x14\0\0\0\x08\0photo.jpg".to_vec(), "decode", "not an image"),
        refused("picture.qoi", b"qoif\0\0\0\x04\0\0\0\x04\x03\x00".to_vec(), "unsupported", "Qoi"),
    ]
}

fn png_cases() -> Vec<Case> {
    let whole = file(pattern(40, 40), ImageFormat::Png);
    let cut = |at: usize| whole[..at].to_vec();
    let mut wrong_magic = whole.clone();
    wrong_magic[1] = b'Q';
    let mut bad_ihdr_crc = whole.clone();
    bad_ihdr_crc[29] ^= 0xFF; // inside the IHDR CRC
    let mut bad_idat_crc = whole.clone();
    let idat = find(&whole, b"IDAT");
    let idat_length = u32::from_be_bytes(whole[idat - 4..idat].try_into().unwrap()) as usize;
    bad_idat_crc[idat + 4 + idat_length] ^= 0xFF;

    // A valid header and signature, then garbage where the compressed pixels should be.
    let corrupt_zlib = png(&[(b"IHDR", &ihdr(4, 4, 8, 2)), (b"IDAT", &[0x5A; 44]), (b"IEND", &[])]);
    // A 1×1 image whose ICC profile inflates to 256 MiB from 1.7 MB: the pixels justify a few
    // bytes, so the profile must be cut off long before that (the picture is still shown).
    let mut icc = b"bomb\0\0".to_vec();
    icc.extend(zlib_of_zeros(256 * MIB));
    let icc_bomb = png(&[
        (b"IHDR", &ihdr(1, 1, 8, 2)),
        (b"iCCP", &icc),
        (b"IDAT", &zlib_stored(&[0, 10, 20, 30])),
        (b"IEND", &[]),
    ]);

    // Four 2-bit indices 0, 1, 2, 3 in one byte after the row's filter byte; the tRNS chunk
    // makes the first three translucent to different degrees.
    let palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
    let palette_trns = png(&[
        (b"IHDR", &ihdr(4, 1, 2, 3)),
        (b"PLTE", &palette),
        (b"tRNS", &[255, 128, 0]), // the fourth entry is implicitly opaque
        (b"IDAT", &zlib_stored(&[0, 0b00_01_10_11])),
        (b"IEND", &[]),
    ]);

    // 257·v + 100 rounds to v; taking the low byte instead would give v + 100.
    let wide = |v: u32| (v * 257 + 100) as u16;
    let rgb16 = ImageBuffer::<Rgb<u16>, _>::from_fn(3, 2, |x, y| Rgb([wide(x * 70), wide(y * 90 + 10), wide(200)]));
    let rgba16 = ImageBuffer::<Rgba<u16>, _>::from_fn(3, 2, |x, y| {
        Rgba([wide(x * 70), wide(y * 90), wide(9), wide(x * 100 + y)])
    });
    let grey_alpha = ImageBuffer::from_fn(4, 2, |x, y| LumaA([(x * 60) as u8, (y * 100 + x) as u8]));

    vec![
        refused("wrong-magic.png", wrong_magic, "decode", "not an image"),
        refused("signature-only.png", cut(8), "decode", "truncated or corrupt PNG"),
        refused("cut-in-header.png", cut(20), "decode", "truncated or corrupt PNG"),
        refused("header-only.png", cut(33), "decode", "truncated or corrupt PNG"),
        refused("cut-in-pixels.png", cut(whole.len() / 2), "decode", "truncated or corrupt PNG"),
        // Every pixel is there, but the end marker is not: the file was cut short, and to say so
        // is more honest than to guess that nothing else was lost.
        refused("no-end-chunk.png", cut(whole.len() - 12), "decode", "unexpected end of file"),
        refused("bad-header-crc.png", bad_ihdr_crc, "decode", "CRC"),
        refused("bad-pixel-crc.png", bad_idat_crc, "decode", "CRC"),
        refused("corrupt-zlib.png", corrupt_zlib, "decode", "truncated or corrupt PNG"),
        refused("zero-by-zero.png", png_header_only(0, 0), "decode", "truncated or corrupt PNG"),
        refused(
            "65535x65535.png",
            png_header_only(65_535, 65_535),
            "limits",
            "65535×65535 = 4294.8 megapixels, over the limit of 40.0",
        ),
        refused("just-over-40mp.png", png_header_only(8_000, 5_125), "limits", "8000×5125 = 41.0 megapixels"),
        refused("u32-max.png", png_header_only(u32::MAX, u32::MAX), "limits", "4294967295×4294967295"),
        decodes("icc-bomb.png", icc_bomb, (1, 1), |d| assert_eq!(d.rgb.as_raw(), &[10, 20, 30])),
        decodes("1x1.png", file(pattern(1, 1), ImageFormat::Png), (1, 1), opaque),
        decodes("1x4000.png", file(pattern(1, 4000), ImageFormat::Png), (1, 4000), move |d| {
            assert_eq!(d.rgb, pattern(1, 4000))
        }),
        decodes("4000x1.png", file(pattern(4000, 1), ImageFormat::Png), (4000, 1), move |d| {
            assert_eq!(d.rgb, pattern(4000, 1))
        }),
        decodes("16-bit.png", file(DynamicImage::ImageRgb16(rgb16), ImageFormat::Png), (3, 2), |d| {
            assert!(!d.was_grey && d.alpha.is_none());
            for (x, y, pixel) in d.rgb.enumerate_pixels() {
                assert_eq!(pixel.0, [(x * 70) as u8, (y * 90 + 10) as u8, 200]);
            }
        }),
        decodes("16-bit-alpha.png", file(DynamicImage::ImageRgba16(rgba16), ImageFormat::Png), (3, 2), |d| {
            let alpha = d.alpha.as_ref().expect("alpha kept");
            for (x, y, pixel) in d.rgb.enumerate_pixels() {
                assert_eq!(pixel.0, [(x * 70) as u8, (y * 90) as u8, 9]);
                assert_eq!(alpha.get_pixel(x, y)[0], (x * 100 + y) as u8);
            }
        }),
        decodes(
            "grey-alpha.png",
            file(DynamicImage::ImageLumaA8(grey_alpha.clone()), ImageFormat::Png),
            (4, 2),
            move |d| {
                assert!(d.was_grey);
                let alpha = d.alpha.as_ref().expect("alpha kept");
                for (x, y, pixel) in grey_alpha.enumerate_pixels() {
                    assert_eq!(d.rgb.get_pixel(x, y).0, [pixel[0]; 3]);
                    assert_eq!(alpha.get_pixel(x, y)[0], pixel[1]);
                }
            },
        ),
        decodes("palette-trns.png", palette_trns, (4, 1), |d| {
            assert!(!d.was_grey);
            let rgb: Vec<[u8; 3]> = d.rgb.pixels().map(|p| p.0).collect();
            assert_eq!(rgb, [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]);
            assert_eq!(d.alpha.as_ref().expect("tRNS is alpha").as_raw(), &[255, 128, 0, 255]);
        }),
    ]
}

fn jpeg_cases() -> Vec<Case> {
    let whole = file(blocks(), ImageFormat::Jpeg);
    let cut = |at: usize| whole[..at].to_vec();
    let mut wrong_magic = whole.clone();
    wrong_magic[..2].copy_from_slice(&[0, 0]);
    let with_size = |width: u16, height: u16| {
        let mut bytes = whole.clone();
        // SOF0: marker, length (2), precision (1), height (2), width (2).
        let sof = find(&whole, &[0xFF, 0xC0]);
        bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        bytes
    };
    // EXIF whose first directory lies past the end of the block: no orientation can be read.
    let mut exif_past_end = exif_orientation(6, false);
    exif_past_end[4..8].copy_from_slice(&0xFFFF_u32.to_le_bytes());

    let mut cases = vec![
        refused("wrong-magic.jpg", wrong_magic, "decode", "not an image"),
        refused("cut-after-3-bytes.jpg", cut(3), "decode", "truncated or corrupt JPEG"),
        refused("cut-in-header.jpg", cut(100), "decode", "truncated or corrupt JPEG"),
        refused("cut-in-pixels.jpg", cut(whole.len() * 2 / 3), "decode", "truncated or corrupt JPEG"),
        decodes("no-end-marker.jpg", cut(whole.len() - 2), (48, 32), |d| assert_upright(d, 1, 40)),
        refused("60000x60000.jpg", with_size(60_000, 60_000), "limits", "60000×60000 = 3600.0 megapixels"),
        refused("zero-width.jpg", with_size(0, 32), "decode", "truncated or corrupt JPEG"),
        // Stored inverted, as Adobe writes CMYK: cyan ink, then yellow ink.
        decodes("cmyk.jpg", cmyk_jpeg(&[[0, 255, 255, 255], [255, 255, 0, 255]]), (16, 8), |d| {
            assert!(d.alpha.is_none());
            for (x, want) in [(3, [0, 255, 255]), (12, [255, 255, 0])] {
                let got = d.rgb.get_pixel(x, 4).0;
                assert!(got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 3), "x = {x}: {got:?}, want {want:?}");
            }
        }),
        decodes("exif-orientation-9.jpg", with_app1_exif(&whole, &exif_orientation(9, false)), (48, 32), |d| {
            assert_upright(d, 1, 40)
        }),
        decodes("exif-past-end.jpg", with_app1_exif(&whole, &exif_past_end), (48, 32), |d| assert_upright(d, 1, 40)),
    ];
    const NAMES: [&str; 8] = [
        "exif-orientation-1.jpg",
        "exif-orientation-2.jpg",
        "exif-orientation-3.jpg",
        "exif-orientation-4.jpg",
        "exif-orientation-5.jpg",
        "exif-orientation-6.jpg",
        "exif-orientation-7.jpg",
        "exif-orientation-8.jpg",
    ];
    for (orientation, name) in (1..=8).zip(NAMES) {
        // Both byte orders, as cameras write either.
        let exif = exif_orientation(orientation, orientation % 2 == 0);
        let size = if orientation >= 5 { (32, 48) } else { (48, 32) };
        cases.push(decodes(name, with_app1_exif(&whole, &exif), size, move |d| assert_upright(d, orientation, 40)));
    }
    cases
}

fn webp_cases() -> Vec<Case> {
    let whole = file(pattern(40, 40), ImageFormat::WebP);
    let cut = |at: usize| whole[..at].to_vec();
    let mut wrong_magic = whole.clone();
    wrong_magic[8..12].copy_from_slice(b"WEBX");
    // The lossless header (after RIFF, WEBP, "VP8L" and its length): signature 0x2F, then width − 1
    // and height − 1 in 14 bits each. (16384 a side, the format's largest, is read as 0 by
    // image-webp 0.2 and refused as corrupt; one less is a bomb that parses.)
    let mut huge = whole.clone();
    assert_eq!(&huge[12..16], b"VP8L", "the encoder writes a simple lossless file");
    huge[21..25].copy_from_slice(&(16_382_u32 | 16_382 << 14).to_le_bytes());

    // Found by the fuzzer (container): an extended WebP whose canvas is small and whose lossy
    // frame says 16383×16383, for which the decoder allocated 384 MiB before comparing the two.
    // The frame's size: after the VP8 chunk's header, a 3-byte tag and a 3-byte start code.
    let tagged = Metadata { icc: Some(b"any profile".to_vec()), ..Metadata::default() };
    let mut frame_bomb = encode(&pattern(24, 16), None, OutputFormat::WebP { quality: Some(80) }, &tagged).unwrap();
    let vp8 = frame_bomb.windows(4).position(|w| w == b"VP8 ").expect("a lossy frame");
    frame_bomb[vp8 + 14..vp8 + 18].copy_from_slice(&[0xFF, 0x3F, 0xFF, 0x3F]);

    let red = RgbaImage::from_pixel(4, 3, Rgba([200, 0, 0, 255]));
    let blue = RgbaImage::from_pixel(4, 3, Rgba([0, 0, 200, 255]));
    vec![
        refused("frame-larger-than-canvas.webp", frame_bomb, "limits", "16383×16383 = 268.4 megapixels"),
        refused("wrong-magic.webp", wrong_magic, "decode", "not an image"),
        refused("riff-only.webp", cut(12), "decode", "truncated or corrupt WebP"),
        refused("cut-in-header.webp", cut(22), "decode", "truncated or corrupt WebP"),
        refused("cut-in-pixels.webp", cut(whole.len() / 2), "decode", "truncated or corrupt WebP"),
        refused("16383x16383.webp", huge, "limits", "16383×16383 = 268.4 megapixels"),
        decodes("animated.webp", animated_webp(&[red, blue]), (4, 3), |d| {
            // Blended over the canvas as the format says, which may round 200 down by one.
            assert!(d.rgb.pixels().all(|p| p[0].abs_diff(200) <= 1 && p[1] == 0 && p[2] == 0), "the first frame");
        }),
    ]
}

fn other_format_cases() -> Vec<Case> {
    let mut animated_gif = Vec::new();
    GifEncoder::new(&mut animated_gif)
        .encode_frames([
            Frame::new(RgbaImage::from_pixel(4, 3, Rgba([200, 0, 0, 255]))),
            Frame::new(RgbaImage::from_pixel(4, 3, Rgba([0, 0, 200, 255]))),
        ])
        .expect("fixture encodes");
    // The logical screen size follows the six-byte signature, 16-bit little-endian.
    let mut huge_gif = animated_gif.clone();
    huge_gif[6..10].copy_from_slice(&[0xFF; 4]);
    let cut_gif = animated_gif[..animated_gif.len() / 2].to_vec();
    // BITMAPINFOHEADER: width and height, 32-bit little-endian, at 18 and 22.
    let mut huge_bmp = file(pattern(4, 4), ImageFormat::Bmp);
    huge_bmp[18..26].copy_from_slice(&[0x50, 0xC3, 0, 0, 0x50, 0xC3, 0, 0]);
    // A negative height: rows stored top down.
    let mut top_down_bmp = huge_bmp.clone();
    top_down_bmp[22..26].copy_from_slice(&(-50_000_i32).to_le_bytes());
    // The old OS/2 core header: 12 bytes, with 16-bit sides.
    let os2_bmp = [
        &b"BM"[..],
        &26_u32.to_le_bytes(), // file size
        &[0; 4],               // reserved
        &26_u32.to_le_bytes(), // where the pixels would start
        &12_u32.to_le_bytes(), // header size
        &65_535_u16.to_le_bytes(),
        &65_535_u16.to_le_bytes(),
        &1_u16.to_le_bytes(),  // one plane
        &24_u16.to_le_bytes(), // bits per pixel
    ]
    .concat();
    vec![
        decodes("animated.gif", animated_gif, (4, 3), |d| {
            assert!(d.rgb.pixels().all(|p| p.0 == [200, 0, 0]), "the first frame");
        }),
        refused("65535x65535.gif", huge_gif, "limits", "65535×65535"),
        refused("cut.gif", cut_gif, "decode", "truncated or corrupt GIF"),
        refused("50000x50000.bmp", huge_bmp, "limits", "50000×50000"),
        refused("50000x50000-top-down.bmp", top_down_bmp, "limits", "50000×50000"),
        refused("os2-65535x65535.bmp", os2_bmp, "limits", "65535×65535"),
        refused("60000x60000.tiff", huge_tiff(60_000, 60_000), "limits", "60000×60000"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Files no encoder at hand writes

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .unwrap_or_else(|| panic!("{needle:?} not found in the fixture"))
}

/// Bits for a DEFLATE stream: values least significant bit first, Huffman codes most significant
/// bit first (RFC 1951, 3.1.1).
#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    used: u32,
}

impl Bits {
    fn value(&mut self, value: u32, count: u32) {
        for i in 0..count {
            if self.used.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let last = self.bytes.len() - 1;
            self.bytes[last] |= (((value >> i) & 1) as u8) << (self.used % 8);
            self.used += 1;
        }
    }

    fn code(&mut self, code: u32, length: u32) {
        for i in (0..length).rev() {
            self.value((code >> i) & 1, 1);
        }
    }
}

/// A zlib stream of `length` zero bytes, about 1/1300 of that size: one literal zero, then
/// copies of 258 bytes at distance 1, with the fixed Huffman codes.
fn zlib_of_zeros(length: usize) -> Vec<u8> {
    let mut bits = Bits::default();
    bits.value(1, 1); // the final block
    bits.value(1, 2); // fixed Huffman codes
    bits.code(0b0011_0000, 8); // literal 0
    for _ in 0..(length - 1) / 258 {
        bits.code(0b1100_0101, 8); // length 258 (symbol 285)
        bits.code(0, 5); // distance 1
    }
    for _ in 0..(length - 1) % 258 {
        bits.code(0b0011_0000, 8);
    }
    bits.code(0, 7); // end of block (symbol 256)
    let mut out = vec![0x78, 0x01];
    out.extend(bits.bytes);
    // Adler-32 of zeros: the sum stays 1, the sum of sums grows by one per byte.
    out.extend(((((length % 65_521) as u32) << 16) | 1).to_be_bytes());
    out
}

/// A baseline JPEG with four components stored as Adobe writes CMYK (an APP14 "Adobe" segment
/// with no colour transform), one 8×8 block of constant colour per entry of `colours`, left to
/// right. Every block holds only its DC coefficient, so the Huffman coding is tiny.
fn cmyk_jpeg(colours: &[[u8; 4]]) -> Vec<u8> {
    let segment = |out: &mut Vec<u8>, marker: u8, payload: &[u8]| {
        out.extend([0xFF, marker]);
        out.extend(u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        out.extend(payload);
    };
    let width = u16::try_from(8 * colours.len()).unwrap();
    let mut out = vec![0xFF, 0xD8];
    let mut adobe = b"Adobe".to_vec();
    adobe.extend([0, 100, 0, 0, 0, 0, 0]); // version 100, no flags, transform 0 (none)
    segment(&mut out, 0xEE, &adobe);
    let mut quantisation = vec![0]; // table 0, 8-bit
    quantisation.extend([1; 64]);
    segment(&mut out, 0xDB, &quantisation);
    let mut frame = vec![8, 0, 8];
    frame.extend(width.to_be_bytes());
    frame.push(4);
    for id in 1..=4 {
        frame.extend([id, 0x11, 0]); // no subsampling, quantisation table 0
    }
    segment(&mut out, 0xC0, &frame);
    // DC table: categories 0 to 11, all with 4-bit codes, so category c is coded as c.
    let mut dc = vec![0x00, 0, 0, 0, 12];
    dc.extend([0; 12]);
    dc.extend(0..12u8);
    segment(&mut out, 0xC4, &dc);
    // AC table: only end-of-block, coded as a single 0 bit.
    let mut ac = vec![0x10, 1];
    ac.extend([0; 15]);
    ac.push(0x00);
    segment(&mut out, 0xC4, &ac);
    let mut scan = vec![4];
    for id in 1..=4 {
        scan.extend([id, 0x00]);
    }
    scan.extend([0, 63, 0]);
    segment(&mut out, 0xDA, &scan);

    let mut bits = Vec::new();
    let mut previous = [0i32; 4];
    for colour in colours {
        for (component, &value) in colour.iter().enumerate() {
            // A constant block's DC coefficient is 8 × its level-shifted value.
            let dc = 8 * (i32::from(value) - 128);
            let difference = dc - previous[component];
            previous[component] = dc;
            let category = 32 - difference.unsigned_abs().leading_zeros();
            push_bits(&mut bits, category, 4);
            let magnitude = if difference < 0 { difference + (1 << category) - 1 } else { difference };
            push_bits(&mut bits, magnitude as u32, category);
            push_bits(&mut bits, 0, 1); // end of block
        }
    }
    while bits.len() % 8 != 0 {
        bits.push(1);
    }
    for byte in bits.chunks(8) {
        let byte = byte.iter().fold(0u8, |acc, &bit| (acc << 1) | bit);
        out.push(byte);
        if byte == 0xFF {
            out.push(0); // byte stuffing
        }
    }
    out.extend([0xFF, 0xD9]);
    out
}

/// Appends the low `count` bits of `value`, most significant first (JPEG's bit order).
fn push_bits(bits: &mut Vec<u8>, value: u32, count: u32) {
    bits.extend((0..count).rev().map(|i| ((value >> i) & 1) as u8));
}

/// An animated WebP: a VP8X header with the animation flag, an ANIM chunk and one ANMF chunk
/// per frame, each holding the frame as lossless WebP.
fn animated_webp(frames: &[RgbaImage]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, fourcc: &[u8; 4], payload: &[u8]) {
        out.extend(fourcc);
        out.extend(u32::try_from(payload.len()).unwrap().to_le_bytes());
        out.extend(payload);
        if payload.len() % 2 == 1 {
            out.push(0);
        }
    }
    let u24 = |v: u32| v.to_le_bytes()[..3].to_vec();
    let (width, height) = frames[0].dimensions();
    let mut body = b"WEBP".to_vec();
    let mut vp8x = vec![0x02, 0, 0, 0]; // animation
    vp8x.extend(u24(width - 1));
    vp8x.extend(u24(height - 1));
    chunk(&mut body, b"VP8X", &vp8x);
    chunk(&mut body, b"ANIM", &[0xFF, 0xFF, 0xFF, 0xFF, 0, 0]); // white background, loop forever
    for frame in frames {
        let mut still = Vec::new();
        frame.write_with_encoder(WebPEncoder::new_lossless(&mut still)).expect("fixture encodes");
        assert_eq!(&still[12..16], b"VP8L", "the encoder writes a simple lossless file");
        let mut anmf = [u24(0), u24(0), u24(width - 1), u24(height - 1), u24(100)].concat();
        anmf.push(0); // blend, no disposal
        anmf.extend(&still[12..]);
        chunk(&mut body, b"ANMF", &anmf);
    }
    let mut out = b"RIFF".to_vec();
    out.extend(u32::try_from(body.len()).unwrap().to_le_bytes());
    out.extend(body);
    out
}

/// A little-endian TIFF from the `image` crate whose ImageWidth and ImageLength say otherwise.
fn huge_tiff(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = file(pattern(4, 4), ImageFormat::Tiff);
    assert_eq!(&bytes[..4], b"II*\0", "the encoder writes little-endian TIFF");
    let ifd = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let entries = u16::from_le_bytes([bytes[ifd], bytes[ifd + 1]]) as usize;
    for entry in (0..entries).map(|i| ifd + 2 + 12 * i) {
        let tag = u16::from_le_bytes([bytes[entry], bytes[entry + 1]]);
        let kind = u16::from_le_bytes([bytes[entry + 2], bytes[entry + 3]]);
        let value = match tag {
            256 => width,
            257 => height,
            _ => continue,
        };
        // The value sits in the entry itself: a SHORT in its first two bytes, a LONG in all four.
        let field = &mut bytes[entry + 8..entry + 12];
        match kind {
            3 => field[..2].copy_from_slice(&u16::try_from(value).expect("fits a SHORT").to_le_bytes()),
            4 => field.copy_from_slice(&value.to_le_bytes()),
            other => panic!("unexpected TIFF type {other} for tag {tag}"),
        }
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// The tests

/// Checks one case: the decoder's answer, what it allocated, and the whole job's answer.
fn check(case: &Case, upscaler: &Upscaler) {
    let (decoded, usage) = measured(|| decode(&case.bytes, &Limits::default()));
    let job = Job::new(Target::Scale(2), OutputFormat::Png, InputChoice::Auto, MetadataChoice::default()).unwrap();
    let job = pollster::block_on(upscaler.run(&job, &case.bytes, &mut |_| ControlFlow::Continue(())));
    // Every image here is small: a decoder that asks for much more than its pixels is not bounded
    // by the file. (16 MiB is the allowance for metadata.)
    assert!(usage.largest <= 16 * MIB + MIB, "the decoder allocated {} bytes at once", usage.largest);

    match (&case.expect, decoded) {
        (Expect::Image { size, check }, Ok(decoded)) => {
            assert_eq!(decoded.rgb.dimensions(), *size, "size");
            if let Some(alpha) = &decoded.alpha {
                assert_eq!(alpha.dimensions(), *size, "alpha size");
            }
            check(&decoded);
            let encoded = job.unwrap_or_else(|e| panic!("decodes, but the job fails: {e}"));
            assert_eq!((encoded.width, encoded.height), (2 * size.0, 2 * size.1), "upscaled size");
            let written = image::load_from_memory(&encoded.bytes).expect("the result is a PNG");
            assert_eq!(written.color().has_alpha(), decoded.alpha.is_some(), "alpha in the result");
        }
        (Expect::Refused { kind, says }, Err(error)) => {
            assert_eq!(error.kind(), *kind, "{error}");
            assert!(error.to_string().contains(says), "{error:?} should say {says:?}");
            // The page titles each kind itself, and shows the detail after the title.
            assert!(error.detail().contains(says) && error.to_string().ends_with(&error.detail()));
            if *kind == "limits" {
                // Refused from the header alone: nothing near the size of a row of pixels.
                assert!(
                    usage.largest < 64 << 10 && usage.total < MIB && usage.time < Duration::from_millis(100),
                    "refused, but only after {usage:?}"
                );
                eprintln!("{}: refused after {usage:?}", case.name);
            }
            let job = job.expect_err("the job is refused too");
            assert_eq!((job.kind(), job.to_string()), (error.kind(), error.to_string()), "the job's error");
        }
        (Expect::Image { .. }, Err(error)) => {
            panic!("expected an image, got a {} error: {error}", error.kind())
        }
        (Expect::Refused { kind, .. }, Ok(decoded)) => {
            let (width, height) = decoded.rgb.dimensions();
            panic!("expected a {kind} error, got a {width}×{height} image")
        }
    }
}

#[test]
fn every_hostile_file_gives_an_image_or_a_specific_error() {
    let corpus = corpus();
    assert!(corpus.len() >= 30, "{} cases", corpus.len());
    let mut names: Vec<_> = corpus.iter().map(|case| case.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), corpus.len(), "file names are unique");

    let upscaler = Upscaler::new(Backend::cpu("test"), &common::random_models(), Settings::default()).unwrap();
    // Every case is checked, and every failure reported, rather than stopping at the first; the
    // report below says what failed, so this thread's panics need not print themselves too.
    let this = std::thread::current().id();
    let default_hook = std::sync::Arc::new(std::panic::take_hook());
    let hook = std::sync::Arc::clone(&default_hook);
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != this {
            hook(info);
        }
    }));
    let failures: Vec<String> = corpus
        .iter()
        .filter_map(|case| {
            let outcome = catch_unwind(AssertUnwindSafe(|| check(case, &upscaler)));
            outcome.err().map(|panic| {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(ToString::to_string))
                    .unwrap_or_default();
                format!("{}: {message}", case.name)
            })
        })
        .collect();
    let _ = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| default_hook(info)));
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), corpus.len(), failures.join("\n"));

    if let Some(dir) = std::env::var_os("UPRES_CORPUS_DIR") {
        write_corpus(&corpus, Path::new(&dir));
    }
}

/// Writes every case under its name, and `manifest.json`: `[{ file, kind, says }]` for those
/// refused, `[{ file, width, height }]` for those that are images.
fn write_corpus(corpus: &[Case], dir: &Path) {
    std::fs::create_dir_all(dir).expect("corpus folder");
    let manifest: Vec<serde_json::Value> = corpus
        .iter()
        .map(|case| {
            std::fs::write(dir.join(case.name), &case.bytes).expect("corpus file");
            match &case.expect {
                Expect::Image { size: (width, height), .. } => {
                    serde_json::json!({ "file": case.name, "width": width, "height": height })
                }
                Expect::Refused { kind, says } => {
                    serde_json::json!({ "file": case.name, "kind": kind, "says": says })
                }
            }
        })
        .collect();
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    std::fs::write(dir.join("manifest.json"), json).expect("manifest");
}

#[test]
fn the_deflate_bomb_inflates_to_exactly_its_length() {
    // Were it malformed, the ICC bomb above would be rejected unread and prove nothing.
    let zeros = zlib_of_zeros(250 * 101); // a filter byte per row of 100 grey pixels
    let inflated = png(&[(b"IHDR", &ihdr(100, 250, 8, 0)), (b"IDAT", &zeros), (b"IEND", &[])]);
    let grey = image::load_from_memory(&inflated).expect("the zeros inflate into a valid image");
    assert_eq!(grey.dimensions(), (100, 250));
    assert!(grey.to_luma8().pixels().all(|p| p[0] == 0));
}

/// Model files are untrusted too (a page takes them from anyone): what a file claims (10⁹
/// weights, a header of 2⁶⁰ bytes, 100 000 channels) is checked before anything is allocated from
/// it, so each is refused saying why, allocating little.
#[test]
fn hostile_model_files_are_refused_allocating_little() {
    use upres::weights::ModelFile;
    let safetensors = |header: &str, data: usize| {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.resize(bytes.len() + data, 0);
        bytes
    };
    let huge_header = {
        let mut bytes = safetensors("{}", 0);
        bytes[..8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        bytes
    };
    let graph = |weights: &str, width: &str| {
        format!(
            "7767517\n6 7\nInput in 0 1 data\nSplit split 1 2 data d0 d1\nConvolution c0 1 1 d1 c0 0={width} 1=3 4=1 5=1 \
             6={weights}\nPReLU a0 1 1 c0 a0 0=8\nConvolution c1 1 1 a0 head 0=12 1=3 4=1 5=1 6=864\nPixelShuffle s 1 1 \
             head up 0=2\n"
        )
    };
    let cases = [
        (
            "billion.safetensors",
            safetensors(r#"{"body.0.weight":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}"#, 64),
            None,
            "safetensors",
        ),
        ("header.safetensors", huge_header, None, "header"),
        ("billion.param", graph("1000000000", "8").into_bytes(), Some(vec![0; 64]), "do not fit"),
        ("wide.param", graph("216", "100000").into_bytes(), Some(vec![0; 64]), "outside"),
    ];
    for (name, bytes, weights, says) in cases {
        let (result, usage) = measured(|| ModelFile::import(name, &bytes, weights.as_deref()));
        let error = result.err().unwrap_or_else(|| panic!("{name}: imported"));
        assert!(error.to_string().contains(says), "{name}: {error} should say {says:?}");
        assert!(usage.largest < MIB, "{name}: refused, but only after {usage:?}");
        eprintln!("{name}: refused after {usage:?}: {error}");
    }
}
