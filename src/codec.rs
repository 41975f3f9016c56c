//! Reading and writing image files.
//!
//! The network works on 8-bit RGB. Whatever a person uploads (a grey scan, a 16-bit PNG, a palette
//! GIF, a phone JPEG stored sideways with an EXIF rotation, a transparent logo) is brought to that
//! form here, with alpha split off so that it is carried only when it holds information. The
//! format is taken from the file's signature, never from its name, and the dimensions in the header
//! are checked against the [`Limits`] before a single pixel is decoded: the bytes are untrusted.

use std::error::Error as _;
use std::io::Cursor;

use image::codecs::jpeg::{JpegEncoder, PixelDensity};
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::metadata::Orientation;
use image::{
    DynamicImage, GrayImage, ImageDecoder, ImageEncoder, ImageError, ImageFormat, ImageReader, ImageResult, Luma, Rgb,
    RgbImage, Rgba, RgbaImage,
};

use crate::container;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::metadata::{self, Metadata};

/// The formats [`decode`] reads, for messages.
const READABLE: &str = "PNG, JPEG, WebP, BMP, GIF and TIFF";

/// Bytes per pixel of the widest layout a decoder hands back: RGBA as 32-bit floats (TIFF).
const WIDEST_PIXEL_BYTES: u64 = 16;

/// Room for what is not pixels: ICC profiles, EXIF and text chunks, coding tables.
const METADATA_BYTES: u64 = 16 << 20;

/// A decoded image ready for the pipeline: 8-bit RGB, plus alpha only when the source had a
/// non-opaque alpha channel.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The colour, upright (EXIF orientation already applied).
    pub rgb: RgbImage,
    /// Opacity, the same size as `rgb`; `None` when the file had no alpha or all of it was 255.
    pub alpha: Option<GrayImage>,
    /// The format the file was in, from its signature.
    pub format: ImageFormat,
    /// The file had no colour (grey or grey + alpha), so `rgb` has equal channels; a caller may
    /// want to give back grey.
    pub was_grey: bool,
    /// The colour profile, EXIF, XMP and density the file carried.
    pub metadata: Metadata,
}

impl Decoded {
    /// Opaque colour pixels that came from elsewhere than a file (evaluation, benchmarks).
    pub fn from_rgb(rgb: RgbImage) -> Self {
        Self { rgb, alpha: None, format: ImageFormat::Png, was_grey: false, metadata: Metadata::default() }
    }
}

/// Decodes an image file held in memory.
///
/// The format is recognised from the signature (PNG, JPEG, WebP, BMP, GIF, TIFF). The dimensions
/// in the header are checked with [`Limits::check_input`] before any pixel is decoded; the
/// decoder may allocate 16 MiB for metadata while it reads the header, then a budget in
/// proportion to the image's own size. The EXIF orientation is applied, so the result is
/// upright. Grey, 16-bit, palette, CMYK and floating-point images come out as 8-bit RGB; of an
/// animation (GIF, WebP), the first frame.
///
/// # Errors
///
/// [`Error::Decode`] for bytes that are not an image, or are truncated or corrupt;
/// [`Error::Unsupported`] for a format or variant that upres does not read (an SVG, a QOI file),
/// or a file that needs more memory than its size justifies; [`Error::Limits`] for an image over
/// `limits.max_input_pixels`.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Decoded> {
    let format = sniff(bytes)?;
    // A WebP that announces metadata it lacks is read without it, not refused; one whose
    // metadata chunk claims more than the file holds costs no more than the file.
    let repaired = if format == ImageFormat::WebP { container::webp_repaired(bytes) } else { None };
    let bytes = repaired.as_deref().unwrap_or(bytes);
    // Where the format puts the size at a fixed place, it is checked before the decoder is built.
    // `image` reads a PNG's chunks up to the pixel data before it reports the size, so a file cut
    // short after its header would be called corrupt even when the header already shows that it
    // is over the limit, which is the more useful thing to say; and on a 32-bit target (wasm32)
    // its BMP decoder refuses a size it cannot address with a message of its own. A WebP's frame
    // is sized before the decoder compares it with the canvas (which is checked below).
    if let Some((width, height)) = declared_size(format, bytes) {
        limits.check_input(width, height)?;
    }

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Building the decoder parses the header (for PNG, every chunk before the pixel data) but
    // allocates no pixel buffer; what it does allocate is metadata, held to the metadata
    // allowance. That matters for PNG, which inflates its ICC profile here: a 1×1 image can carry
    // a profile that inflates to gigabytes.
    reader.limits(allocation_limit(METADATA_BYTES));
    let mut decoder = reader.into_decoder().map_err(|err| decode_error(err, format))?;
    let (width, height) = decoder.dimensions();
    limits.check_input(width, height)?;

    // As `ImageReader::decode` does: the output buffer is charged to a budget for this image's
    // size, and what is left bounds the decoder's own working memory.
    let mut working = decoder_budget(u64::from(width) * u64::from(height));
    working
        .reserve(decoder.total_bytes())
        .and_then(|()| decoder.set_limits(working))
        .map_err(|err| decode_error(err, format))?;

    // A damaged metadata block should not cost anyone their picture: show it as stored, and
    // leave out what cannot be read.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let metadata = Metadata::from_source(
        decoder.icc_profile().ok().flatten(),
        decoder.exif_metadata().ok().flatten(),
        decoder.xmp_metadata().ok().flatten(),
        metadata::container_dpi(bytes),
    );
    let mut image = DynamicImage::from_decoder(decoder).map_err(|err| decode_error(err, format))?;
    image.apply_orientation(orientation);

    let was_grey = !image.color().has_color();
    let (rgb, alpha) = split_alpha(image);
    Ok(Decoded { rgb, alpha, format, was_grey, metadata })
}

/// Recognises the format from the first bytes, and refuses those upres does not read.
fn sniff(bytes: &[u8]) -> Result<ImageFormat> {
    if bytes.is_empty() {
        return Err(Error::Decode("not an image (the file is empty)".into()));
    }
    let format = image::guess_format(bytes).map_err(|_| {
        if is_svg(bytes) {
            Error::Unsupported(format!(
                "this is an SVG, a vector drawing: it has no pixels to upscale and is sharp at \
                 any size already; upres reads {READABLE}"
            ))
        } else {
            // Its first bytes match no format upres reads, said without the jargon of signatures.
            Error::Decode(format!("not an image: upres reads {READABLE} files, and this is none of them"))
        }
    })?;
    match format_name(format) {
        Some(_) => Ok(format),
        None => Err(Error::Unsupported(format!("unsupported format {format:?}; upres reads {READABLE}"))),
    }
}

/// An SVG starts with markup (an XML declaration, a doctype or a comment may come first) and has
/// an `<svg` element near the start. Worth recognising: shops get logos as SVG, and "not an
/// image" would be a puzzling thing to say about one.
fn is_svg(bytes: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]);
    let start = start.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    start.starts_with('<') && start.contains("<svg")
}

/// The size in the header, for the formats that keep it at a fixed place, and a WebP's frame.
fn declared_size(format: ImageFormat, bytes: &[u8]) -> Option<(u32, u32)> {
    match format {
        ImageFormat::Png => png_size(bytes),
        ImageFormat::Bmp => bmp_size(bytes),
        ImageFormat::WebP => webp_frame_size(bytes),
        _ => None,
    }
}

/// The size a WebP's image data declares (its first VP8 or VP8L chunk), which the decoder
/// allocates for before it compares it with the canvas of an extended WebP's header: a small
/// canvas does not make a huge frame small.
fn webp_frame_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut at: usize = 12;
    while let Some(header) = bytes.get(at..at.checked_add(8)?) {
        let size = u32::from_le_bytes(header[4..8].try_into().ok()?) as usize;
        let data = at + 8;
        match &header[..4] {
            // A 3-byte frame tag and a 3-byte start code, then 14-bit width and height.
            b"VP8 " => {
                let sides = bytes.get(data + 6..data + 10)?;
                let side = |at: usize| u32::from(u16::from_le_bytes([sides[at], sides[at + 1]]) & 0x3FFF);
                return Some((side(0), side(2)));
            }
            // A signature byte, then width − 1 and height − 1 in 14 bits each.
            b"VP8L" => {
                let bits = u32::from_le_bytes(bytes.get(data + 1..data + 5)?.try_into().ok()?);
                return Some(((bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1));
            }
            _ => {}
        }
        at = data.checked_add(size)?.checked_add(size % 2)?;
    }
    None
}

/// The size in a PNG's IHDR chunk, which the format fixes as the first, straight after the
/// signature. Its CRC is not checked: a damaged size is refused as too large or left to the decoder.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let chunk: [u8; 12] = bytes.get(12..24)?.try_into().ok()?;
    match chunk {
        [b'I', b'H', b'D', b'R', w0, w1, w2, w3, h0, h1, h2, h3] => {
            Some((u32::from_be_bytes([w0, w1, w2, w3]), u32::from_be_bytes([h0, h1, h2, h3])))
        }
        _ => None,
    }
}

/// The size in a BMP's DIB header, which follows the 14-byte file header: 16-bit sides in the old
/// OS/2 core header (12 bytes long), signed 32-bit ones in every later kind, where a negative
/// height means rows stored top down. A negative width is nonsense, left to the decoder.
fn bmp_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let field = |at: usize, len: usize| bytes.get(at..at + len);
    let header_size = u32::from_le_bytes(field(14, 4)?.try_into().ok()?);
    if header_size == 12 {
        let width = u16::from_le_bytes(field(18, 2)?.try_into().ok()?);
        let height = u16::from_le_bytes(field(20, 2)?.try_into().ok()?);
        return Some((u32::from(width), u32::from(height)));
    }
    let width = i32::from_le_bytes(field(18, 4)?.try_into().ok()?);
    let height = i32::from_le_bytes(field(22, 4)?.try_into().ok()?);
    Some((u32::try_from(width).ok()?, height.unsigned_abs()))
}

/// The name of a format upres reads, or `None` for one it does not.
fn format_name(format: ImageFormat) -> Option<&'static str> {
    match format {
        ImageFormat::Png => Some("PNG"),
        ImageFormat::Jpeg => Some("JPEG"),
        ImageFormat::WebP => Some("WebP"),
        ImageFormat::Bmp => Some("BMP"),
        ImageFormat::Gif => Some("GIF"),
        ImageFormat::Tiff => Some("TIFF"),
        _ => None,
    }
}

/// The `image` crate's allocation budget for decoding an image of `pixels` pixels: its output
/// buffer at the widest layout, as much again for working buffers beside it (TIFF strips, the
/// RGBA scratch of lossless WebP), and room for metadata. Derived from the image's own size, not
/// the input limit, so that a small image cannot make the decoder allocate what a large one may.
fn decoder_budget(pixels: u64) -> image::Limits {
    allocation_limit(pixels.saturating_mul(2 * WIDEST_PIXEL_BYTES).saturating_add(METADATA_BYTES))
}

fn allocation_limit(bytes: u64) -> image::Limits {
    let mut limit = image::Limits::default();
    limit.max_alloc = Some(bytes);
    limit
}

/// Says what went wrong while decoding, in terms of the file.
fn decode_error(err: ImageError, format: ImageFormat) -> Error {
    let name = format_name(format).unwrap_or("image");
    match err {
        ImageError::Unsupported(err) => Error::Unsupported(err.to_string()),
        // The pixel budget was checked from the header first, so the decoder ran out of its
        // allowance on something else: a huge metadata chunk, or working buffers out of all
        // proportion to the image.
        ImageError::Limits(_) => {
            Error::Unsupported(format!("this {name} file needs more memory to decode than its size justifies"))
        }
        // The underlying error is the informative part ("unexpected end of file", "CRC error");
        // `image` wraps it in "Format error decoding Png: ...".
        ImageError::Decoding(err) => {
            let detail = err.source().map_or_else(|| err.to_string(), ToString::to_string);
            // zune-jpeg ends its messages with a newline.
            Error::Decode(format!("truncated or corrupt {name} data: {}", detail.trim_end()))
        }
        // Reading from memory fails only when the data ends early; a parameter error from a
        // decoder means the stream contradicts itself (a GIF with no frames).
        err => Error::Decode(format!("truncated or corrupt {name} data: {err}")),
    }
}

/// Splits off alpha, dropping it when it is opaque everywhere: many PNGs carry an alpha channel
/// that is all 255, and upscaling it would double the work for nothing.
fn split_alpha(image: DynamicImage) -> (RgbImage, Option<GrayImage>) {
    if !image.color().has_alpha() {
        return (image.into_rgb8(), None);
    }
    let rgba = image.into_rgba8();
    let alpha = if rgba.pixels().all(|pixel| pixel[3] == u8::MAX) {
        None
    } else {
        Some(GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| Luma([rgba.get_pixel(x, y)[3]])))
    };
    (DynamicImage::ImageRgba8(rgba).into_rgb8(), alpha)
}

/// How far colour is carried under fully transparent pixels, in pixels: past the reach of the
/// network and of Lanczos3 at an edge.
const BLEED: usize = 16;

/// Gives each fully transparent pixel within [`BLEED`] pixels of a visible one the mean colour of
/// its visible (or already filled) neighbours, layer by layer outwards. The colour under such a
/// pixel is never seen (often black), but the network sees colour alone: left as it is, it would
/// be drawn into the visible edge beside it as a faint second outline.
pub fn bleed_under_transparency(rgb: &mut RgbImage, alpha: &GrayImage) {
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    let mut known: Vec<bool> = alpha.as_raw().iter().map(|&a| a > 0).collect();
    if known.is_empty() || known.iter().all(|&k| k) {
        return;
    }
    let neighbours = |i: usize| {
        let (x, y) = (i % width, i / width);
        let xs = x.saturating_sub(1)..=(x + 1).min(width - 1);
        (y.saturating_sub(1)..=(y + 1).min(height - 1))
            .flat_map(move |ny| xs.clone().map(move |nx| ny * width + nx))
            .filter(move |&j| j != i)
    };
    let mut layer: Vec<usize> = (0..known.len()).filter(|&i| !known[i] && neighbours(i).any(|j| known[j])).collect();
    let mut queued = known.clone();
    for &i in &layer {
        queued[i] = true;
    }
    let data: &mut [u8] = rgb;
    for _ in 0..BLEED {
        let colours: Vec<[u8; 3]> = layer
            .iter()
            .map(|&i| {
                let (mut sum, mut count) = ([0u32; 3], 0u32);
                for j in neighbours(i).filter(|&j| known[j]) {
                    for (total, &c) in sum.iter_mut().zip(&data[3 * j..3 * j + 3]) {
                        *total += u32::from(c);
                    }
                    count += 1;
                }
                sum.map(|total| ((total + count / 2) / count) as u8)
            })
            .collect();
        for (&i, colour) in layer.iter().zip(&colours) {
            data[3 * i..3 * i + 3].copy_from_slice(colour);
            known[i] = true;
        }
        let mut next = Vec::new();
        for &i in &layer {
            for j in neighbours(i) {
                if !queued[j] {
                    queued[j] = true;
                    next.push(j);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        layer = next;
    }
}

/// The file formats upres writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Lossless, with alpha.
    Png,
    /// Lossy, no alpha; `quality` is 1..=100.
    Jpeg { quality: u8 },
    /// With alpha; lossless without a quality, lossy (libwebp, or the browser's encoder) with one.
    WebP { quality: Option<u8> },
    /// Lossy AV1 stills (rav1e), with alpha; `speed` 1 (slowest, smallest) ..= 10.
    Avif { quality: u8, speed: u8 },
}

impl OutputFormat {
    /// The quality of a lossy format when none is given: a typical delivery quality for each
    /// (what they cost in bytes and PSNR is in the README's format table).
    const DEFAULT_JPEG_QUALITY: u8 = 90;
    const DEFAULT_AVIF_QUALITY: u8 = 60;
    pub const DEFAULT_AVIF_SPEED: u8 = 6;

    /// Parses a format name as a person types it: `png`, `jpeg` or `jpg`, `webp`, `avif` (any
    /// case).
    ///
    /// `quality` (1..=100) makes WebP lossy; JPEG and AVIF are always lossy (default 90 and 60);
    /// PNG takes none. `speed` applies to AVIF only (default 6).
    ///
    /// # Errors
    ///
    /// [`Error::Parameter`] for an unknown name, a quality outside 1..=100, a speed outside
    /// 1..=10, or either given for a format it does not apply to.
    pub fn parse(name: &str, quality: Option<u8>, speed: Option<u8>) -> Result<Self> {
        let quality_in_range = |quality: u8| match quality {
            1..=100 => Ok(quality),
            _ => Err(Error::Parameter(format!("quality must be between 1 and 100, not {quality}"))),
        };
        let quality = quality.map(quality_in_range).transpose()?;
        let format = match name.to_ascii_lowercase().as_str() {
            "png" => OutputFormat::Png,
            "webp" => OutputFormat::WebP { quality },
            "jpeg" | "jpg" => OutputFormat::Jpeg { quality: quality.unwrap_or(Self::DEFAULT_JPEG_QUALITY) },
            "avif" => {
                let speed = match speed.unwrap_or(Self::DEFAULT_AVIF_SPEED) {
                    speed @ 1..=10 => speed,
                    speed => {
                        return Err(Error::Parameter(format!("AVIF speed must be between 1 and 10, not {speed}")));
                    }
                };
                OutputFormat::Avif { quality: quality.unwrap_or(Self::DEFAULT_AVIF_QUALITY), speed }
            }
            _ => {
                return Err(Error::Parameter(format!(
                    "unknown output format {name:?}; expected png, jpeg (or jpg), webp or avif"
                )));
            }
        };
        if format == OutputFormat::Png && quality.is_some() {
            return Err(Error::Parameter("quality does not apply to PNG, which is lossless".into()));
        }
        if speed.is_some() && !matches!(format, OutputFormat::Avif { .. }) {
            return Err(Error::Parameter(format!("speed applies to AVIF only, not {}", format.name())));
        }
        Ok(format)
    }

    /// The quality of a lossy format.
    pub fn quality(&self) -> Option<u8> {
        match *self {
            OutputFormat::Png => None,
            OutputFormat::Jpeg { quality } | OutputFormat::Avif { quality, .. } => Some(quality),
            OutputFormat::WebP { quality } => quality,
        }
    }

    /// The AVIF encoder's speed.
    pub fn speed(&self) -> Option<u8> {
        match *self {
            OutputFormat::Avif { speed, .. } => Some(speed),
            _ => None,
        }
    }

    /// The usual file name extension, without the dot.
    pub fn extension(&self) -> &'static str {
        match self {
            OutputFormat::Png => "png",
            OutputFormat::Jpeg { .. } => "jpg",
            OutputFormat::WebP { .. } => "webp",
            OutputFormat::Avif { .. } => "avif",
        }
    }

    /// The media type, for the web page's download link.
    pub fn mime_type(&self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Jpeg { .. } => "image/jpeg",
            OutputFormat::WebP { .. } => "image/webp",
            OutputFormat::Avif { .. } => "image/avif",
        }
    }

    /// The name of the format, for messages.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Png => "PNG",
            OutputFormat::Jpeg { .. } => "JPEG",
            OutputFormat::WebP { quality: None } => "lossless WebP",
            OutputFormat::WebP { quality: Some(_) } => "lossy WebP",
            OutputFormat::Avif { .. } => "AVIF",
        }
    }

    /// Whether this build has the encoder: lossy WebP (libwebp) and AVIF (rav1e) are native
    /// only; in the browser lossy WebP comes from the browser's own encoder.
    pub fn encodable(self) -> bool {
        cfg!(feature = "lossy-encoders")
            || !matches!(self, OutputFormat::WebP { quality: Some(_) } | OutputFormat::Avif { .. })
    }

    /// The longest side the format can store, where that is less than `u32::MAX`.
    fn max_side(self) -> Option<u32> {
        match self {
            OutputFormat::Png => None,
            OutputFormat::Jpeg { .. } => Some(65_535),
            OutputFormat::WebP { .. } => Some(16_383),
            // The AVIF profiles' level limits are far above what the page or the CLI allow.
            OutputFormat::Avif { .. } => Some(65_536),
        }
    }
}

/// Encodes an image, with optional alpha of the same size, to the bytes of a file that carries
/// `metadata` (its colour profile, EXIF, XMP and density, each where the format has a place for it:
/// AVIF keeps no XMP here, and WebP and AVIF keep the density in EXIF only, so without EXIF they
/// get a block that holds just the density). What does not fit one JPEG segment (EXIF or XMP
/// over 64 KiB) is left out of a JPEG.
///
/// JPEG has no alpha channel, so a transparent image is composited over white, which is how
/// most viewers show transparency.
///
/// # Errors
///
/// [`Error::Parameter`] if `alpha` is not the size of `rgb`; [`Error::Encode`] if the format
/// cannot store an image this size (JPEG: 65535 pixels a side, WebP: 16383) or the encoder fails;
/// [`Error::Unsupported`] for a format this build has no encoder for ([`OutputFormat::encodable`]).
pub fn encode(rgb: &RgbImage, alpha: Option<&GrayImage>, format: OutputFormat, metadata: &Metadata) -> Result<Vec<u8>> {
    let (width, height) = rgb.dimensions();
    if let Some(alpha) = alpha
        && alpha.dimensions() != (width, height)
    {
        return Err(Error::Parameter(format!(
            "the alpha channel is {}×{} but the image is {width}×{height}",
            alpha.width(),
            alpha.height()
        )));
    }
    if !format.encodable() {
        return Err(Error::Unsupported(format!("this build cannot write {}", format.name())));
    }
    // Checked here for a message that names the way out; the encoders' own errors do not.
    if let Some(max) = format.max_side()
        && (width > max || height > max)
    {
        return Err(Error::Encode(format!(
            "{} cannot store a {width}×{height} image (at most {max} pixels a side); choose PNG",
            format.name()
        )));
    }

    let written = match (format, alpha) {
        (OutputFormat::Jpeg { .. }, Some(alpha)) => write(&over_white(rgb, alpha), format, metadata),
        (_, Some(alpha)) => write(&with_alpha(rgb, alpha), format, metadata),
        (_, None) => write(rgb, format, metadata),
    };
    let bytes = written.map_err(|err| Error::Encode(err.to_string()))?;
    let xmp = metadata.xmp.as_deref();
    Ok(match format {
        OutputFormat::Png => container::png(bytes, metadata.dpi, xmp),
        OutputFormat::Jpeg { .. } => container::jpeg(bytes, xmp),
        OutputFormat::WebP { .. } => with_webp_metadata(bytes, width, height, alpha.is_some(), metadata)?,
        OutputFormat::Avif { .. } => match &metadata.icc {
            Some(icc) => container::avif_icc(&bytes, icc).ok_or_else(|| {
                Error::Encode("the AVIF encoder wrote a file this cannot add a colour profile to".into())
            })?,
            None => bytes,
        },
    })
}

/// Writes the colour profile, EXIF and XMP into a WebP from any encoder (ours, libwebp's, or a
/// browser's canvas, which writes none of them).
///
/// # Errors
///
/// [`Error::Encode`] if `bytes` are not a still WebP image.
pub fn with_webp_metadata(
    bytes: Vec<u8>,
    width: u32,
    height: u32,
    alpha: bool,
    metadata: &Metadata,
) -> Result<Vec<u8>> {
    let exif = metadata.exif_with_density();
    let extras =
        container::WebPExtras { icc: metadata.icc.as_deref(), exif: exif.as_deref(), xmp: metadata.xmp.as_deref() };
    container::webp(&bytes, width, height, alpha, extras)
        .ok_or_else(|| Error::Encode("the WebP encoder's output is not a still WebP image".into()))
}

/// Writes 8-bit RGB or RGBA with the encoder for `format`; the colour profile, EXIF and (JPEG)
/// density go in where the encoder writes them itself.
fn write<P>(image: &image::ImageBuffer<P, Vec<u8>>, format: OutputFormat, metadata: &Metadata) -> ImageResult<Vec<u8>>
where
    P: image::PixelWithColorType<Subpixel = u8>,
{
    let mut out = Vec::new();
    // EXIF over `exif_room` bytes does not fit where the format keeps it, and is left out.
    let tagged = |encoder: &mut dyn ImageEncoderMetadata, exif_room: usize| {
        if let Some(icc) = &metadata.icc {
            encoder.icc(icc.clone());
        }
        if let Some(exif) = metadata.exif.as_ref().filter(|exif| exif.len() <= exif_room) {
            encoder.exif(exif.clone());
        }
    };
    match format {
        OutputFormat::Png => {
            let mut encoder = PngEncoder::new(&mut out);
            tagged(&mut encoder, usize::MAX);
            image.write_with_encoder(encoder)?;
        }
        OutputFormat::Jpeg { quality } => {
            let mut encoder = JpegEncoder::new_with_quality(&mut out, quality);
            // One APP1 segment: 65 535 bytes with its length field and `Exif\0\0` (the encoder
            // would write a longer one with its length wrapped around, breaking the file).
            tagged(&mut encoder, 0xFFFF - 2 - 6);
            if let Some(dpi) = metadata.dpi {
                encoder.set_pixel_density(PixelDensity::dpi(dpi.round().clamp(1.0, f64::from(u16::MAX)) as u16));
            }
            image.write_with_encoder(encoder)?;
        }
        // Metadata goes in afterwards, the same way for every WebP encoder.
        OutputFormat::WebP { quality: None } => image.write_with_encoder(WebPEncoder::new_lossless(&mut out))?,
        #[cfg(feature = "lossy-encoders")]
        OutputFormat::WebP { quality: Some(quality) } => {
            let (width, height) = image.dimensions();
            let encoder = match P::COLOR_TYPE {
                image::ExtendedColorType::Rgba8 => webp::Encoder::from_rgba(image.as_raw(), width, height),
                _ => webp::Encoder::from_rgb(image.as_raw(), width, height),
            };
            let encoded = encoder.encode_simple(false, f32::from(quality)).map_err(|err| {
                ImageError::Encoding(image::error::EncodingError::new(
                    ImageFormat::WebP.into(),
                    format!("libwebp failed: {err:?}"),
                ))
            })?;
            out.extend_from_slice(&encoded);
        }
        #[cfg(feature = "lossy-encoders")]
        OutputFormat::Avif { quality, speed } => {
            let mut encoder = image::codecs::avif::AvifEncoder::new_with_speed_quality(&mut out, speed, quality);
            if let Some(exif) = metadata.exif_with_density() {
                encoder.exif(exif);
            }
            image.write_with_encoder(encoder)?;
        }
        // `encode` refused these already.
        #[cfg(not(feature = "lossy-encoders"))]
        OutputFormat::WebP { quality: Some(_) } | OutputFormat::Avif { .. } => {}
    }
    Ok(out)
}

/// The two metadata setters of `image`'s encoders, whose own trait is not object-safe here.
trait ImageEncoderMetadata {
    fn icc(&mut self, profile: Vec<u8>);
    fn exif(&mut self, block: Vec<u8>);
}

impl<E: ImageEncoder> ImageEncoderMetadata for E {
    // Each of the encoders this is used with accepts both; an error would mean it does not.
    fn icc(&mut self, profile: Vec<u8>) {
        let _ = self.set_icc_profile(profile);
    }

    fn exif(&mut self, block: Vec<u8>) {
        let _ = self.set_exif_metadata(block);
    }
}

/// Interleaves colour and alpha. The caller has checked that they are the same size.
fn with_alpha(rgb: &RgbImage, alpha: &GrayImage) -> RgbaImage {
    RgbaImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let Rgb([r, g, b]) = *rgb.get_pixel(x, y);
        Rgba([r, g, b, alpha.get_pixel(x, y)[0]])
    })
}

/// Composites over white. The caller has checked that colour and alpha are the same size.
fn over_white(rgb: &RgbImage, alpha: &GrayImage) -> RgbImage {
    RgbImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let a = u16::from(alpha.get_pixel(x, y)[0]);
        // c·a + 255·(255 − a), divided by 255 with rounding; at most 255·255 + 127, so no overflow.
        let blend = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        Rgb(rgb.get_pixel(x, y).0.map(blend))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_under_transparency_comes_from_the_nearest_visible_pixels_out_to_the_bleed() {
        // White, then a half-visible red column at x = 19, then transparent black.
        let mut rgb =
            RgbImage::from_fn(40, 4, |x, _| Rgb([[255; 3], [255, 0, 0], [0; 3]][x.saturating_sub(18).min(2) as usize]));
        let alpha = GrayImage::from_fn(40, 4, |x, _| Luma([[255, 128, 0][x.saturating_sub(18).min(2) as usize]]));
        bleed_under_transparency(&mut rgb, &alpha);
        assert_eq!((rgb.get_pixel(18, 2).0, rgb.get_pixel(19, 2).0), ([255; 3], [255, 0, 0]), "visible colour is kept");
        for x in 20..20 + BLEED as u32 {
            assert_eq!(rgb.get_pixel(x, 2).0, [255, 0, 0], "x = {x}");
        }
        assert_eq!(rgb.get_pixel(20 + BLEED as u32, 2).0, [0; 3], "beyond the bleed: as it was");
    }
}
