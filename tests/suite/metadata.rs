//! Faithful output: the colour profile, EXIF, XMP and density travel from input to output through
//! every format pair, as the user chose; a print size becomes pixels and a density. What the
//! outputs carry is read back with other parsers than upres's own: the `image` crate's decoders
//! (ICC, EXIF and XMP blocks), `kamadak-exif` (EXIF fields), `png` (pHYs), `mp4parse` (AVIF).

use crate::cli::{s, temp_dir, upres};
use crate::common;

use std::io::Cursor;
use std::ops::ControlFlow;

use exif::experimental::Writer;
use exif::{Field, In, Rational, Tag, Value};
use image::{ImageDecoder, ImageFormat, ImageReader, RgbImage};
use upres::backend::Backend;
use upres::codec::{self, OutputFormat};
use upres::job::Job;
use upres::limits::Limits;
use upres::metadata::{Metadata, MetadataChoice};
use upres::plan::{Fit, PrintSize, Target};
use upres::route::InputChoice;
use upres::upscale::{Encoded, Settings, Upscaler};

const XMP: &str = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" tiff:Orientation="6" dc:rights="Shop Ltd"/></rdf:RDF></x:xmpmeta>"#;

/// A display profile header (RGB, `mntr`) and a marker to recognise it by: what a Display P3
/// or Adobe RGB photo carries, as far as any container is concerned.
fn icc_profile() -> Vec<u8> {
    let mut profile = vec![0u8; 160];
    profile[..4].copy_from_slice(&160u32.to_be_bytes());
    profile[8] = 4;
    profile[12..16].copy_from_slice(b"mntr");
    profile[16..20].copy_from_slice(b"RGB ");
    profile[20..24].copy_from_slice(b"XYZ ");
    profile[36..40].copy_from_slice(b"acsp");
    profile[132..160].copy_from_slice(b"upres test profile: Display.");
    profile
}

/// A phone photo's EXIF: camera, date, copyright, taken sideways (orientation 6), 300 DPI, a GPS
/// position and a thumbnail.
pub(crate) fn camera_exif() -> Vec<u8> {
    let ascii = |tag: Tag, text: &str| Field { tag, ifd_num: In::PRIMARY, value: Value::Ascii(vec![text.into()]) };
    let rational = |tag: Tag, values: &[u32]| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Rational(values.iter().map(|&num| Rational { num, denom: 1 }).collect()),
    };
    let fields = [
        ascii(Tag::Make, "Upres Optics"),
        ascii(Tag::Copyright, "(c) Shop Ltd"),
        ascii(Tag::DateTime, "2026:11:29 10:00:00"),
        ascii(Tag::DateTimeOriginal, "2026:11:29 10:00:00"),
        Field { tag: Tag::Orientation, ifd_num: In::PRIMARY, value: Value::Short(vec![6]) },
        rational(Tag::XResolution, &[300]),
        rational(Tag::YResolution, &[300]),
        Field { tag: Tag::ResolutionUnit, ifd_num: In::PRIMARY, value: Value::Short(vec![2]) },
        Field { tag: Tag::PixelXDimension, ifd_num: In::PRIMARY, value: Value::Long(vec![24]) },
        ascii(Tag::GPSLatitudeRef, "N"),
        rational(Tag::GPSLatitude, &[52, 31, 12]),
    ];
    let thumbnail = common::file(RgbImage::new(8, 8), ImageFormat::Jpeg);
    let mut writer = Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    writer.set_jpeg(&thumbnail, In::THUMBNAIL);
    let mut block = Cursor::new(Vec::new());
    writer.write(&mut block, false).expect("the fixture's EXIF writes");
    block.into_inner()
}

fn tagged_source() -> Metadata {
    Metadata::from_source(Some(icc_profile()), Some(camera_exif()), Some(XMP.into()), Some(300.0))
}

/// A 24×16 image stored sideways (EXIF orientation 6, so 16×24 upright) carrying everything.
pub(crate) fn tagged_input(format: OutputFormat) -> Vec<u8> {
    codec::encode(&common::pattern(24, 16), None, format, &tagged_source()).expect("the fixture encodes")
}

fn upscaler() -> Upscaler {
    Upscaler::new(Backend::cpu("test"), &common::random_models(), Settings::default()).unwrap()
}

fn run(upscaler: &Upscaler, bytes: &[u8], target: Target, format: OutputFormat, metadata: MetadataChoice) -> Encoded {
    let job = Job::new(target, format, InputChoice::Auto, metadata).unwrap();
    pollster::block_on(upscaler.run(&job, bytes, &mut |_| ControlFlow::Continue(()))).expect("the job runs")
}

/// What an output file carries, as other parsers read it.
struct Carried {
    icc: Option<Vec<u8>>,
    exif: Option<exif::Exif>,
    xmp: Option<String>,
    /// From the container's own density field (pHYs, JFIF), where the format has one.
    container_dpi: Option<f64>,
}

impl Carried {
    fn read(bytes: &[u8]) -> Self {
        let format = image::guess_format(bytes).expect("a known format");
        let (icc, exif_block, xmp) = if format == ImageFormat::Avif {
            let avif = mp4parse::read_avif(&mut Cursor::new(bytes), mp4parse::ParseStrictness::Strict)
                .expect("mp4parse reads the AVIF");
            assert!(avif.primary_item_coded_data().is_some_and(|data| !data.is_empty()), "the image data is found");
            (avif.icc_colour_information().map(|icc| icc.expect("a valid colr box").to_vec()), avif_exif(bytes), None)
        } else {
            let mut decoder =
                ImageReader::new(Cursor::new(bytes)).with_guessed_format().unwrap().into_decoder().unwrap();
            (decoder.icc_profile().unwrap(), decoder.exif_metadata().unwrap(), decoder.xmp_metadata().unwrap())
        };
        let exif = exif_block.map(|block| exif::Reader::new().read_raw(block).expect("kamadak-exif reads the EXIF"));
        let container_dpi = match format {
            ImageFormat::Png => {
                let reader = png::Decoder::new(Cursor::new(bytes)).read_info().unwrap();
                reader.info().pixel_dims.map(|dims| {
                    assert_eq!(dims.unit, png::Unit::Meter);
                    f64::from(dims.xppu) * 0.0254
                })
            }
            ImageFormat::Jpeg => jfif_dpi(bytes),
            _ => None,
        };
        Self { icc, exif, xmp: xmp.map(|x| String::from_utf8(x).unwrap()), container_dpi }
    }

    fn field(&self, tag: Tag) -> Option<&Field> {
        self.exif.as_ref()?.get_field(tag, In::PRIMARY)
    }

    fn exif_dpi(&self) -> Option<f64> {
        match &self.field(Tag::XResolution)?.value {
            Value::Rational(r) => Some(r[0].to_f64()),
            _ => None,
        }
    }

    fn has_location(&self) -> bool {
        self.exif.as_ref().is_some_and(|e| e.fields().any(|f| f.ifd_num == In::PRIMARY && f.tag == Tag::GPSLatitude))
    }
}

/// JFIF's density: APP0 straight after SOI, units 1 = dots per inch.
fn jfif_dpi(bytes: &[u8]) -> Option<f64> {
    (bytes[2..4] == [0xFF, 0xE0] && &bytes[6..11] == b"JFIF\0" && bytes[13] == 1)
        .then(|| f64::from(u16::from_be_bytes([bytes[14], bytes[15]])))
}

/// AVIF keeps EXIF as an item: its payload is a 4-byte offset, then the TIFF header.
fn avif_exif(bytes: &[u8]) -> Option<Vec<u8>> {
    let at = bytes.windows(4).position(|w| w == b"MM\0*" || w == b"II*\0")?;
    Some(bytes[at..].to_vec())
}

fn inputs() -> [(&'static str, OutputFormat); 3] {
    [
        ("PNG", OutputFormat::Png),
        ("JPEG", OutputFormat::Jpeg { quality: 95 }),
        ("WebP", OutputFormat::WebP { quality: None }),
    ]
}

fn outputs() -> [OutputFormat; 5] {
    [
        OutputFormat::Png,
        OutputFormat::Jpeg { quality: 85 },
        OutputFormat::WebP { quality: None },
        OutputFormat::WebP { quality: Some(80) },
        OutputFormat::Avif { quality: 60, speed: 10 },
    ]
}

#[test]
fn every_format_pair_keeps_the_profile_exif_and_density_but_not_the_location() {
    let upscaler = upscaler();
    for (name, input_format) in inputs() {
        let input = tagged_input(input_format);
        assert!(Carried::read(&input).has_location(), "the {name} fixture has a location to lose");
        for format in outputs() {
            let case = format!("{name} → {}", format.name());
            let encoded = run(&upscaler, &input, Target::Scale(2), format, MetadataChoice::default());
            assert_eq!((encoded.width, encoded.height), (32, 48), "{case}: upright, ×2");
            let out = Carried::read(&encoded.bytes);
            assert_eq!(out.icc.as_deref(), Some(icc_profile().as_slice()), "{case}: the profile, byte for byte");
            let ascii = |tag| out.field(tag).map(|f| f.display_value().to_string());
            assert_eq!(ascii(Tag::Make).as_deref(), Some("\"Upres Optics\""), "{case}");
            assert_eq!(ascii(Tag::Copyright).as_deref(), Some("\"(c) Shop Ltd\""), "{case}");
            assert_eq!(ascii(Tag::DateTime).as_deref(), Some("2026-11-29 10:00:00"), "{case}");
            assert_eq!(ascii(Tag::DateTimeOriginal).as_deref(), Some("2026-11-29 10:00:00"), "{case}");
            assert_eq!(out.field(Tag::Orientation).and_then(|f| f.value.get_uint(0)), Some(1), "{case}");
            let dimension = |tag| out.field(tag).and_then(|f| f.value.get_uint(0));
            assert_eq!((dimension(Tag::PixelXDimension), dimension(Tag::PixelYDimension)), (Some(32), Some(48)));
            assert!(!out.has_location(), "{case}: no GPS by default");
            let thumbnail = out.exif.as_ref().unwrap().fields().any(|f| f.ifd_num == In::THUMBNAIL);
            assert!(!thumbnail, "{case}: the old thumbnail is gone");
            assert_eq!(out.exif_dpi(), Some(300.0), "{case}: EXIF resolution");
            if matches!(format, OutputFormat::Png | OutputFormat::Jpeg { .. }) {
                let dpi = out.container_dpi.expect("density in the container");
                assert!((dpi - 300.0).abs() < 0.05, "{case}: {dpi} DPI");
            }
            if !matches!(format, OutputFormat::Avif { .. }) {
                let xmp = out.xmp.as_deref().unwrap_or_else(|| panic!("{case}: XMP kept"));
                assert!(xmp.contains(r#"tiff:Orientation="1""#) && xmp.contains("Shop Ltd"), "{case}: {xmp}");
            }
            assert!(encoded.metadata.describe().starts_with("colour profile, EXIF"), "{case}");
        }
    }
}

#[test]
fn all_keeps_the_location_and_none_keeps_nothing() {
    let upscaler = upscaler();
    let input = tagged_input(OutputFormat::Jpeg { quality: 95 });
    for format in outputs() {
        let everything = Carried::read(&run(&upscaler, &input, Target::Scale(2), format, MetadataChoice::All).bytes);
        assert!(everything.has_location(), "{}: all keeps GPS", format.name());

        let encoded = run(&upscaler, &input, Target::Scale(2), format, MetadataChoice::None);
        let nothing = Carried::read(&encoded.bytes);
        assert!(nothing.icc.is_none() && nothing.exif.is_none() && nothing.xmp.is_none(), "{}", format.name());
        assert_eq!(nothing.container_dpi, None, "{}", format.name());
        // Not even unreferenced: no trace of the camera in the file.
        assert!(!encoded.bytes.windows(12).any(|w| w == b"Upres Optics"), "{}", format.name());

        let colour = Carried::read(&run(&upscaler, &input, Target::Scale(2), format, MetadataChoice::Color).bytes);
        assert_eq!(colour.icc, Some(icc_profile()), "{}", format.name());
        assert!(colour.xmp.is_none() && colour.field(Tag::Make).is_none(), "{}", format.name());
        // The density stays, in EXIF where the format has no other place for it.
        assert_eq!(colour.exif_dpi().or(colour.container_dpi).map(f64::round), Some(300.0), "{}", format.name());
        let needs_exif = matches!(format, OutputFormat::WebP { .. } | OutputFormat::Avif { .. });
        assert_eq!(colour.exif.is_some(), needs_exif, "{}: EXIF only for the density", format.name());
    }
}

#[test]
fn the_location_is_wiped_not_just_unlinked() {
    let upscaler = upscaler();
    let input = tagged_input(OutputFormat::Png);
    let encoded = run(&upscaler, &input, Target::Scale(2), OutputFormat::Png, MetadataChoice::NoLocation);
    let exif = Carried::read(&encoded.bytes);
    // The latitude's first rational, 52/1, as the big-endian fixture stores it.
    let latitude = [0, 0, 0, 52, 0, 0, 0, 1, 0, 0, 0, 31];
    assert!(camera_exif().windows(12).any(|w| w == latitude), "the fixture holds the position");
    assert!(!exif.exif.unwrap().buf().windows(12).any(|w| w == latitude), "the position's bytes are gone");
    // XMP that records a position is left out whole, and the output says so.
    let located = XMP.replace("dc:rights", r#"exif:GPSLatitude="52,31.2N" dc:rights"#);
    let source = Metadata::from_source(Some(icc_profile()), Some(camera_exif()), Some(located.into()), None);
    let bytes = codec::encode(&common::pattern(24, 16), None, OutputFormat::Png, &source).unwrap();
    let encoded = run(&upscaler, &bytes, Target::Scale(2), OutputFormat::Png, MetadataChoice::NoLocation);
    assert!(Carried::read(&encoded.bytes).xmp.is_none());
    assert!(encoded.metadata.describe().contains("left out: the XMP packet (it records the location)"));
}

#[test]
fn a_print_size_becomes_pixels_on_the_paper_turned_to_the_image() {
    let upscaler = upscaler();
    let landscape = common::file(common::pattern(500, 400), ImageFormat::Png);
    let print = Target::Print(PrintSize::parse("8x10in@300", Fit::Contain).unwrap());
    let encoded = run(&upscaler, &landscape, print, OutputFormat::Png, MetadataChoice::default());
    assert_eq!((encoded.width, encoded.height), (3000, 2400));
    let carried = Carried::read(&encoded.bytes);
    assert!((carried.container_dpi.unwrap() - 300.0).abs() < 0.05, "{:?}", carried.container_dpi);
    // The density asked for is written even when no metadata is kept: it is the user's, not the
    // source's.
    let encoded = run(&upscaler, &landscape, print, OutputFormat::Jpeg { quality: 80 }, MetadataChoice::None);
    assert_eq!(jfif_dpi(&encoded.bytes), Some(300.0));

    // A4 at 150 DPI is 1240×1754 pixels; a portrait image fills its height.
    let a4 = Target::Print(PrintSize::parse("A4@150", Fit::Contain).unwrap());
    let portrait = common::file(common::pattern(300, 400), ImageFormat::Png);
    let encoded = run(&upscaler, &portrait, a4, OutputFormat::Png, MetadataChoice::default());
    assert_eq!((encoded.width, encoded.height), (1240, 1653));
    assert_eq!(a4.label(), "210x297mm-150dpi");
    assert_eq!(print.label(), "8x10in-300dpi");
}

#[test]
fn print_sizes_read_as_people_write_them() {
    let pixels = |text: &str, w, h| PrintSize::parse(text, Fit::Contain).unwrap().pixel_box(w, h);
    assert_eq!(pixels("8x10in@300", 400, 500), (2400, 3000));
    assert_eq!(pixels("8x10in@300", 500, 400), (3000, 2400));
    assert_eq!(pixels("20x25cm@300", 400, 500), (2362, 2953));
    assert_eq!(pixels("a4", 10, 20), (2480, 3508));
    assert_eq!(pixels("Letter@200 dpi", 20, 10), (2200, 1700));
    for bad in ["8x10", "8x10in@", "A9@300", "0x10in@300", "8x10in@0"] {
        let message = PrintSize::parse(bad, Fit::Contain).unwrap_err().to_string();
        assert!(message.contains("print"), "{bad}: {message}");
    }
}

#[test]
fn a_jpeg_without_metadata_comes_out_as_before() {
    let upscaler = upscaler();
    let plain = common::file(common::pattern(24, 16), ImageFormat::Jpeg);
    let encoded = run(&upscaler, &plain, Target::Scale(2), OutputFormat::Jpeg { quality: 90 }, MetadataChoice::All);
    let carried = Carried::read(&encoded.bytes);
    assert!(carried.icc.is_none() && carried.exif.is_none() && carried.xmp.is_none());
    assert_eq!(encoded.metadata.describe(), "no metadata");
    let upscaled = pollster::block_on(upscaler.upscale(
        codec::decode(&plain, &Default::default()).unwrap(),
        Target::Scale(2),
        &upres::route::Route::for_file(&plain, InputChoice::Auto),
        &mut |_| ControlFlow::Continue(()),
    ))
    .unwrap();
    let before = codec::encode(&upscaled.rgb, None, OutputFormat::Jpeg { quality: 90 }, &Metadata::default()).unwrap();
    assert_eq!(encoded.bytes, before, "byte for byte what the encoder alone writes");
}

#[test]
fn cmyk_and_grey_profiles_are_not_put_on_rgb_pixels() {
    let mut cmyk = icc_profile();
    cmyk[16..20].copy_from_slice(b"CMYK");
    let source = Metadata::from_source(Some(cmyk), None, None, None);
    let out = source.for_output(MetadataChoice::All, 10, 10, None);
    assert!(out.icc.is_none());
    assert!(out.describe().contains("left out: the CMYK colour profile"), "{}", out.describe());
}

#[test]
fn the_cli_keeps_metadata_and_writes_print_sizes() {
    let dir = temp_dir("metadata");
    let input = dir.join("photo.jpg");
    std::fs::write(&input, tagged_input(OutputFormat::Jpeg { quality: 95 })).unwrap();
    let out = dir.join("out");
    let result = upres(&["upscale", s(&input), "-o", s(&out), "--scale", "2", "--format", "webp", "--quality", "80"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(stderr.contains("colour profile, EXIF, XMP, 300 DPI"), "{stderr}");
    let carried = Carried::read(&std::fs::read(out.join("photo@2x.webp")).unwrap());
    assert_eq!(carried.icc, Some(icc_profile()));
    assert!(!carried.has_location());

    let landscape = dir.join("landscape.png");
    common::pattern(500, 400).save(&landscape).unwrap();
    let result = upres(&["upscale", s(&landscape), "-o", s(&out), "--print", "8x10in@300", "--metadata", "none"]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let written = std::fs::read(out.join("landscape@8x10in-300dpi.png")).unwrap();
    let carried = Carried::read(&written);
    assert!((carried.container_dpi.unwrap() - 300.0).abs() < 0.05);
    let decoded = image::load_from_memory(&written).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (3000, 2400));

    let result = upres(&["upscale", s(&landscape), "-o", s(&out), "--print", "8x10ft"]);
    assert_eq!(result.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&result.stderr).contains("cannot read the print size"));
}

#[test]
fn a_webp_carries_only_the_jobs_metadata_whatever_its_encoder_wrote() {
    // A WebP as a browser writes it: tagged with the encoder's own sRGB profile.
    let plain = codec::encode(&common::pattern(8, 6), None, OutputFormat::WebP { quality: None }, &Metadata::default())
        .unwrap();
    let tagged = Metadata { icc: Some(b"browser sRGB".to_vec()), ..Metadata::default() };
    let browsers = codec::with_webp_metadata(plain.clone(), 8, 6, false, &tagged).unwrap();
    assert_eq!(Carried::read(&browsers).icc.as_deref(), Some(&b"browser sRGB"[..]));
    let finished = codec::with_webp_metadata(browsers, 8, 6, false, &Metadata::default()).unwrap();
    assert_eq!(finished, plain, "the simple format again, without the encoder's profile");
}

#[test]
fn damaged_exif_never_fails_a_job() {
    // Every truncation, and every byte set to 0xFF in turn: the block is rewritten or left out,
    // never a panic; what is written is EXIF that reads.
    let block = camera_exif();
    let mut variants: Vec<Vec<u8>> = (0..block.len()).map(|n| block[..n].to_vec()).collect();
    variants.extend((0..block.len()).map(|i| {
        let mut damaged = block.clone();
        damaged[i] = 0xFF;
        damaged
    }));
    let mut rewritten = 0;
    for damaged in variants {
        let source = Metadata::from_source(None, Some(damaged), None, None);
        if let Some(exif) = source.for_output(MetadataChoice::All, 10, 10, Some(300.0)).exif {
            rewritten += 1;
            assert!(exif.starts_with(b"MM\0*"), "a TIFF header");
        }
    }
    assert!(rewritten > block.len() / 2, "most damage leaves a block worth keeping ({rewritten})");
}

/// The chunks of a RIFF WebP, rebuilt without those of `kind`.
pub(crate) fn without_chunk(webp: &[u8], kind: &[u8; 4]) -> Vec<u8> {
    let mut body = b"WEBP".to_vec();
    let mut at = 12;
    while at < webp.len() {
        let size = u32::from_le_bytes(webp[at + 4..at + 8].try_into().unwrap()) as usize;
        let end = at + 8 + size + size % 2;
        if &webp[at..at + 4] != kind {
            body.extend_from_slice(&webp[at..end]);
        }
        at = end;
    }
    [b"RIFF".as_slice(), &(body.len() as u32).to_le_bytes(), &body].concat()
}

#[test]
fn a_webp_that_announces_metadata_it_lacks_is_read_without_it() {
    // Its VP8X header still flags EXIF and XMP (a tool dropped the chunks, not the flags).
    let source = Metadata::from_source(None, Some(common::exif_orientation(1, true)), Some(XMP.into()), None);
    let tagged = codec::encode(&common::pattern(12, 8), None, OutputFormat::WebP { quality: None }, &source).unwrap();
    assert_eq!(tagged[20] & 0x0C, 0x0C, "the fixture flags EXIF and XMP");
    let no_exif = without_chunk(&tagged, b"EXIF");
    let neither = without_chunk(&no_exif, b"XMP ");
    for (bytes, exif, xmp) in
        [(&no_exif, false, true), (&without_chunk(&tagged, b"XMP "), true, false), (&neither, false, false)]
    {
        assert_eq!(bytes[20] & 0x0C, 0x0C, "the flags are left as the file has them");
        let decoded = codec::decode(bytes, &Limits::default()).expect("decoded without the missing metadata");
        assert_eq!(decoded.rgb, common::pattern(12, 8));
        assert_eq!((decoded.metadata.exif.is_some(), decoded.metadata.xmp.is_some()), (exif, xmp));
    }
}

/// A TIFF as the `image` crate writes it, its resolution tags set to `numerator`/`denominator`
/// per `unit` (2 inch, 3 centimetre).
pub(crate) fn tiff_with_resolution(numerator: u32, denominator: u32, unit: u16) -> Vec<u8> {
    let mut tiff = common::file(common::pattern(24, 16), ImageFormat::Tiff);
    assert_eq!(&tiff[..4], b"II*\0", "little-endian, as the fixture expects");
    let u32_at = |tiff: &[u8], at: usize| u32::from_le_bytes(tiff[at..at + 4].try_into().unwrap()) as usize;
    let ifd = u32_at(&tiff, 4);
    let count = usize::from(u16::from_le_bytes([tiff[ifd], tiff[ifd + 1]]));
    let mut set = 0;
    for entry in (0..count).map(|i| ifd + 2 + 12 * i) {
        match u16::from_le_bytes([tiff[entry], tiff[entry + 1]]) {
            0x011A | 0x011B => {
                let value = u32_at(&tiff, entry + 8);
                tiff[value..value + 4].copy_from_slice(&numerator.to_le_bytes());
                tiff[value + 4..value + 8].copy_from_slice(&denominator.to_le_bytes());
                set += 1;
            }
            0x0128 => {
                tiff[entry + 8..entry + 10].copy_from_slice(&unit.to_le_bytes());
                set += 1;
            }
            _ => {}
        }
    }
    assert_eq!(set, 3, "the encoder writes XResolution, YResolution and ResolutionUnit");
    tiff
}

#[test]
fn a_tiff_keeps_its_resolution_per_inch_or_per_centimetre() {
    let upscaler = upscaler();
    for (tiff, unit) in [(tiff_with_resolution(300, 1, 2), "inch"), (tiff_with_resolution(11811, 100, 3), "cm")] {
        let decoded = codec::decode(&tiff, &Limits::default()).unwrap();
        assert!(decoded.metadata.dpi.is_some_and(|dpi| (dpi - 300.0).abs() < 0.01), "{unit}: {:?}", decoded.metadata);
        for format in [OutputFormat::Png, OutputFormat::Jpeg { quality: 85 }, OutputFormat::WebP { quality: None }] {
            let output = run(&upscaler, &tiff, Target::Scale(2), format, MetadataChoice::default());
            let carried = Carried::read(&output.bytes);
            let dpi = carried.container_dpi.or(carried.exif_dpi());
            assert!(dpi.is_some_and(|dpi| (dpi - 300.0).abs() < 0.05), "{unit} → {}: {dpi:?}", format.name());
        }
    }
    // "No unit" (what the encoder writes by default) records no density.
    let unitless = codec::decode(&tiff_with_resolution(300, 1, 1), &Limits::default()).unwrap();
    assert_eq!(unitless.metadata.dpi, None);
}

#[test]
fn exif_over_one_jpeg_segment_is_left_out_of_a_jpeg_not_written_broken() {
    // A PNG's eXIf chunk may hold more than a JPEG's APP1 segment (65 527 bytes of EXIF).
    let mut exif = camera_exif();
    exif.resize(70_000, 0);
    let metadata = Metadata { exif: Some(exif.clone()), ..Metadata::default() };
    let jpeg = codec::encode(&common::pattern(8, 8), None, OutputFormat::Jpeg { quality: 90 }, &metadata).unwrap();
    let decoded = codec::decode(&jpeg, &Limits::default()).expect("the JPEG reads");
    assert_eq!(decoded.metadata.exif, None);
    let png = codec::encode(&common::pattern(8, 8), None, OutputFormat::Png, &metadata).unwrap();
    assert_eq!(codec::decode(&png, &Limits::default()).unwrap().metadata.exif, Some(exif), "PNG has the room");
}
