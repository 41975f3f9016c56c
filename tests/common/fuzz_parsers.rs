//! The parsers of untrusted metadata, one fuzz input each, and the checks that make a result a
//! bug: shared by the fuzz targets `exif`, `container` and `dqt` (`fuzz/`) and the replay of
//! saved crashers (`tests/regression/`).
//!
//! Each parser's own contract is the oracle: a rewritten EXIF block is valid EXIF that says what
//! the upscaled image is; metadata read from any file is written so that it reads back the same;
//! a quality estimate is a quality. Where another parser reads the input (kamadak-exif for EXIF,
//! mp4parse for AVIF), it must read ours too. A panic anywhere is a bug.

use std::io::Cursor;

use exif::{Context, In, Tag};
use upres::codec::{self, OutputFormat};
use upres::container::{self, WebPExtras};
use upres::exif::Exif;
use upres::limits::Limits;
use upres::metadata::{self, Metadata, MetadataChoice};
use upres::route::{self, BASE_CHROMA, BASE_LUMA, InputChoice, JpegTables, Route};

/// As small as the pipeline target's: each run takes milliseconds.
const LIMITS: Limits = Limits { max_input_pixels: 128 * 128, max_output_pixels: 512 * 512 };

/// What the writers put into hostile containers.
const XMP: &[u8] = br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"/>"#;

/// Arbitrary bytes as an EXIF block (with or without JPEG's `Exif\0\0`), rewritten as the
/// pipeline rewrites a source's block for its output. The first byte chooses the job: bit 0
/// keeps the location (`--metadata all`), bit 1 asks for a print size's density in place of
/// the block's own, and all of it sets the new pixel size.
pub fn exif(data: &[u8]) {
    let Some((&job, block)) = data.split_first() else { return };
    let keep_location = job & 1 == 1;
    let print_dpi = (job & 2 == 2).then(|| f64::from(job) * 1.25);
    let (width, height) = (1 + u32::from(job) * 1013, 1 + u32::from(job) * 769);
    let choice = if keep_location { MetadataChoice::All } else { MetadataChoice::NoLocation };

    let source = Metadata::from_source(None, Some(block.to_vec()), None, None);
    let output = source.for_output(choice, width, height, print_dpi);
    let Some(rewritten) = output.exif else { return };

    // The original's bytes at most once, its entries once more in each of the two new IFDs (an
    // Exif IFD may be IFD0 itself), and ours.
    assert!(rewritten.len() <= 3 * block.len() + 256, "{} bytes became {}", block.len(), rewritten.len());
    let parsed = Exif::parse(&rewritten).expect("the rewritten block parses");
    match output.dpi {
        // Written in hundredths of a dot per inch, within what a TIFF rational holds.
        Some(dpi) if (0.01..4e7).contains(&dpi) => {
            let written = parsed.dpi().expect("the density is written");
            assert!((written - dpi).abs() <= 0.0051, "{dpi} DPI written as {written}");
        }
        Some(_) => {}
        None => assert_eq!(parsed.dpi(), None, "no density to keep, none written"),
    }

    // What an independent reader finds in the original, it finds rewritten as promised.
    let tiff = block.strip_prefix(b"Exif\0\0").unwrap_or(block);
    let Ok(original) = exif::Reader::new().read_raw(tiff.to_vec()) else { return };
    let again = exif::Reader::new()
        .read_raw(rewritten.clone())
        .unwrap_or_else(|err| panic!("kamadak-exif read the original but not the rewritten block: {err}"));
    let uint = |tag: Tag| again.get_field(tag, In::PRIMARY).and_then(|field| field.value.get_uint(0));
    assert_eq!(uint(Tag::Orientation), Some(1), "the pixels are upright");
    if original.fields().any(|field| field.ifd_num == In::PRIMARY && field.tag.context() == Context::Exif) {
        assert_eq!((uint(Tag::PixelXDimension), uint(Tag::PixelYDimension)), (Some(width), Some(height)));
    }
    assert!(again.fields().all(|field| field.ifd_num == In::PRIMARY), "the old thumbnail is gone");
    if !keep_location {
        assert!(again.fields().all(|field| field.tag.context() != Context::Gps), "the location is gone");
    }
}

/// Arbitrary bytes as an uploaded file: its metadata read as every upload's is, then written
/// into each output format the web page and the CLI share, which must read back the same; and
/// the container writers run on the bytes themselves, which they must survive (they expect an
/// encoder's output, so what they make of anything else is only checked against mp4parse).
pub fn container(file: &[u8]) {
    let _ = metadata::container_dpi(file);
    if let Ok(decoded) = codec::decode(file, &LIMITS) {
        let (width, height) = decoded.rgb.dimensions();
        let metadata = decoded.metadata.for_output(MetadataChoice::All, width, height, None);
        for format in [OutputFormat::Png, OutputFormat::Jpeg { quality: 90 }, OutputFormat::WebP { quality: None }] {
            let bytes = codec::encode(&decoded.rgb, decoded.alpha.as_ref(), format, &metadata)
                .unwrap_or_else(|err| panic!("{} with the file's metadata: {err}", format.name()));
            let unlimited = Limits { max_input_pixels: u64::MAX, max_output_pixels: u64::MAX };
            let back = codec::decode(&bytes, &unlimited)
                .unwrap_or_else(|err| panic!("our {} with the file's metadata does not decode: {err}", format.name()));
            assert_eq!(back.rgb.dimensions(), (width, height), "{}", format.name());
            assert_carried(&metadata, &back.metadata, format);
        }
    }

    let icc = b"a colour profile, as far as any container is concerned".as_slice();
    let _ = container::png(file.to_vec(), Some(300.0), Some(XMP));
    let _ = container::jpeg(file.to_vec(), Some(XMP));
    let _ = container::webp_repaired(file);
    let extras = WebPExtras { icc: Some(icc), exif: Some(b"MM\0*\0\0\0\x08\0\0\0\0\0\0"), xmp: Some(XMP) };
    let _ = container::webp(file, 7, 5, true, extras);
    if let Some(patched) = container::avif_icc(file, icc) {
        let read = |bytes: &[u8]| mp4parse::read_avif(&mut Cursor::new(bytes), mp4parse::ParseStrictness::Normal);
        if let Ok(original) = read(file)
            && original.icc_colour_information().is_none()
        {
            let patched = read(&patched).unwrap_or_else(|err| panic!("mp4parse read the AVIF but not ours: {err:?}"));
            assert_eq!(
                patched.icc_colour_information().and_then(Result::ok),
                Some(icc),
                "the profile is the primary's"
            );
            assert_eq!(patched.primary_item_coded_data(), original.primary_item_coded_data(), "the image data moved");
        }
    }
}

/// What a `format` file written with `written` carries, as our decoder reads it back.
fn assert_carried(written: &Metadata, back: &Metadata, format: OutputFormat) {
    let name = format.name();
    assert_eq!(back.icc, written.icc, "{name}: the colour profile");
    // JPEG has room for one APP1 segment of XMP (Extended XMP is not written).
    let xmp = written.xmp.as_ref().filter(|xmp| !matches!(format, OutputFormat::Jpeg { .. }) || xmp.len() <= 65_504);
    assert_eq!(back.xmp.as_ref(), xmp, "{name}: the XMP packet");
    // WebP keeps its density in the EXIF block, made for it when there is none; JPEG has room
    // for one APP1 segment of EXIF.
    let exif = match format {
        OutputFormat::WebP { .. } => written.exif_with_density(),
        OutputFormat::Jpeg { .. } => written.exif.clone().filter(|exif| exif.len() <= 65_527),
        _ => written.exif.clone(),
    };
    assert_eq!(back.exif, exif, "{name}: the EXIF block");
    match (written.dpi, back.dpi) {
        // Each format rounds its own way: JPEG to whole dots per inch, PNG to dots per metre.
        (Some(dpi), Some(read)) => assert!(
            !(1.0..65_535.0).contains(&dpi) || (read - dpi).abs() <= 0.5,
            "{name}: {dpi} DPI read back as {read}"
        ),
        (written, read) => assert_eq!(written.is_some(), read.is_some(), "{name}: the density {written:?}"),
    }
}

/// Arbitrary bytes as a JPEG whose quantisation tables route it, and as the tables themselves:
/// the estimate is a quality from 1 to 100, exact only for libjpeg's own tables.
pub fn dqt(file: &[u8]) {
    if let Some(tables) = JpegTables::read(file) {
        assert!(tables.quality.is_none_or(|q| (1..=100).contains(&q)), "{tables:?}");
        assert!(tables.quality.is_some() || !tables.exact, "{tables:?}");
    }
    let _ = Route::for_file(file, InputChoice::Auto);

    let table =
        |bytes: &[u8]| -> [u16; 64] { std::array::from_fn(|i| u16::from_be_bytes([bytes[2 * i], bytes[2 * i + 1]])) };
    let Some(luma) = file.get(..128).map(table) else { return };
    let chroma = file.get(128..256).map(table);
    let (quality, exact) = route::estimate_quality(&luma, chroma.as_ref());
    assert!((1..=100).contains(&quality), "quality {quality}");
    if exact {
        assert_eq!(route::ijg_table(&BASE_LUMA, quality), luma);
        assert!(chroma.is_none_or(|chroma| route::ijg_table(&BASE_CHROMA, quality) == chroma));
    }
}
