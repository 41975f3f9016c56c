//! What a file says about its pixels besides the pixels: the colour profile, EXIF, XMP and the
//! print density. Read with the image, chosen by the user's [`MetadataChoice`], rewritten for
//! the upscaled image, and written into the output by [`codec::encode`](crate::codec::encode).
//!
//! The colour profile matters most: without it a Display P3 or Adobe RGB photo is shown as sRGB,
//! duller or shifted. EXIF carries the camera, the date and the copyright, and sometimes the place
//! the photo was taken, which is why location is left out unless asked for.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::exif::{Exif, Rewrite};

/// Which of the source's metadata goes into the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum MetadataChoice {
    /// Everything, the camera's location included.
    All,
    /// Everything but location: EXIF without its GPS block, XMP only when it holds no GPS field.
    #[default]
    NoLocation,
    /// Only what changes how the image looks or prints: the colour profile and the density.
    Color,
    /// Nothing from the source (a print size asked for still writes its density).
    None,
}

impl fmt::Display for MetadataChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetadataChoice::All => "all",
            MetadataChoice::NoLocation => "no-location",
            MetadataChoice::Color => "color",
            MetadataChoice::None => "none",
        })
    }
}

/// Metadata of one image, as read from a file or as to be written into one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    /// The ICC colour profile, for RGB pixels.
    pub icc: Option<Vec<u8>>,
    /// The EXIF block: the TIFF structure, without JPEG's `Exif\0\0` prefix.
    pub exif: Option<Vec<u8>>,
    /// The XMP packet (XML).
    pub xmp: Option<Vec<u8>>,
    /// Print density in pixels per inch.
    pub dpi: Option<f64>,
    /// What was left out of the source's metadata and why, for the user ("the CMYK colour
    /// profile: the pixels were converted to RGB").
    pub dropped: Vec<String>,
}

impl Metadata {
    /// Takes what a decoder found. The density comes from the container (JFIF, pHYs, a TIFF's
    /// tags) or else from EXIF. A profile for another colour model than the RGB the pipeline works
    /// in (a CMYK or grey profile) would be wrong for the output, so it is dropped here, and said;
    /// so is an XMP packet that is not text.
    pub fn from_source(icc: Option<Vec<u8>>, exif: Option<Vec<u8>>, xmp: Option<Vec<u8>>, dpi: Option<f64>) -> Self {
        let exif = exif.map(|block| match block.strip_prefix(b"Exif\0\0") {
            Some(tiff) => tiff.to_vec(),
            None => block,
        });
        let dpi = dpi.or_else(|| exif.as_deref().and_then(Exif::parse).and_then(|e| e.dpi()));
        let mut dropped = Vec::new();
        // XMP is UTF-8 text (PNG's iTXt holds nothing else); an empty packet says nothing.
        let xmp = xmp.filter(|packet| !packet.is_empty()).filter(|packet| {
            let text = std::str::from_utf8(packet).is_ok();
            if !text {
                dropped.push("the XMP packet (it is not UTF-8 text)".to_owned());
            }
            text
        });
        let icc = icc.filter(|profile| match profile.get(16..20) {
            Some(b"RGB ") => true,
            space => {
                let model = match space {
                    Some(b"CMYK") => "CMYK",
                    Some(b"GRAY") => "grey",
                    _ => "unrecognised",
                };
                dropped.push(format!(
                    "the {model} colour profile (the pixels were converted to RGB, which it does not describe)"
                ));
                false
            }
        });
        Self { icc, exif, xmp, dpi, dropped }
    }

    /// The metadata for an upscaled `width`×`height` image made from this source: what `choice`
    /// keeps, the EXIF rewritten (orientation 1, the new pixel dimensions, no thumbnail), and
    /// `dpi` (a print size's) in place of the source's density when given.
    pub fn for_output(&self, choice: MetadataChoice, width: u32, height: u32, dpi: Option<f64>) -> Self {
        let dpi = dpi.or(if choice == MetadataChoice::None { None } else { self.dpi });
        let mut out = Metadata { dpi, dropped: self.dropped.clone(), ..Metadata::default() };
        if matches!(choice, MetadataChoice::None) {
            return out;
        }
        out.icc.clone_from(&self.icc);
        if choice == MetadataChoice::Color {
            return out;
        }
        let keep_location = choice == MetadataChoice::All;
        if let Some(block) = &self.exif {
            let rewrite = Rewrite { width, height, dpi, keep_location };
            out.exif = Exif::parse(block).and_then(|exif| exif.rewrite(&rewrite));
            if out.exif.is_none() {
                out.dropped.push("the EXIF block (it is damaged)".into());
            }
        }
        if let Some(xmp) = &self.xmp {
            if !keep_location && has_location(xmp) {
                out.dropped.push("the XMP packet (it records the location)".into());
            } else {
                out.xmp = Some(upright_xmp(xmp));
            }
        }
        out
    }

    /// The EXIF block for a format that keeps the density nowhere else (WebP, AVIF): the block,
    /// or one that records just the density.
    pub fn exif_with_density(&self) -> Option<Vec<u8>> {
        self.exif.clone().or_else(|| self.dpi.map(crate::exif::with_density))
    }

    /// Nothing kept and nothing left out: nothing to say.
    pub fn is_empty(&self) -> bool {
        self.icc.is_none() && self.exif.is_none() && self.xmp.is_none() && self.dpi.is_none() && self.dropped.is_empty()
    }

    /// What is kept, and what was left out: "colour profile, EXIF, 300 DPI (left out: ...)".
    pub fn describe(&self) -> String {
        let dpi = self.dpi.map(|dpi| format!("{} DPI", (dpi * 10.0).round() / 10.0));
        let kept: Vec<&str> = [
            self.icc.as_ref().map(|_| "colour profile"),
            self.exif.as_ref().map(|_| "EXIF"),
            self.xmp.as_ref().map(|_| "XMP"),
            dpi.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut text = if kept.is_empty() { "no metadata".to_owned() } else { kept.join(", ") };
        if !self.dropped.is_empty() {
            text.push_str(&format!(" (left out: {})", self.dropped.join("; ")));
        }
        text
    }
}

/// XMP records location as `exif:GPSLatitude` and friends.
fn has_location(xmp: &[u8]) -> bool {
    xmp.windows(8).any(|w| w == b"exif:GPS")
}

/// XMP may repeat the EXIF orientation (`tiff:Orientation`, as an attribute or an element); the
/// pixels are upright now, so it says 1.
fn upright_xmp(xmp: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(xmp) else { return xmp.to_vec() };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("tiff:Orientation") {
        let after = &rest[at + "tiff:Orientation".len()..];
        // `tiff:Orientation="6"` or `<tiff:Orientation>6</tiff:Orientation>`
        let value_at = after.find(|c: char| c.is_ascii_digit()).filter(|&i| {
            let between = &after[..i];
            between.trim_start().starts_with('=') || between == ">"
        });
        match value_at {
            Some(i) => {
                let digits = after[i..].chars().take_while(char::is_ascii_digit).count();
                out.push_str(&rest[..at + "tiff:Orientation".len() + i]);
                out.push('1');
                rest = &after[i + digits..];
            }
            None => {
                out.push_str(&rest[..at + "tiff:Orientation".len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.into_bytes()
}

/// The density a PNG's pHYs chunk, a JPEG's JFIF header or a TIFF's resolution tags record, in
/// pixels per inch.
pub fn container_dpi(bytes: &[u8]) -> Option<f64> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let mut at = 8;
        while let Some(header) = bytes.get(at..at + 8) {
            let length = u32::from_be_bytes(header[..4].try_into().ok()?) as usize;
            match &header[4..8] {
                b"pHYs" => {
                    let data = bytes.get(at + 8..at + 17)?;
                    let x = u32::from_be_bytes(data[..4].try_into().ok()?);
                    // Unit 1 is the metre; 0 gives only the aspect ratio.
                    return (data[8] == 1 && x > 0).then(|| f64::from(x) * 0.0254);
                }
                b"IDAT" | b"IEND" => return None,
                _ => at = at.checked_add(12 + length)?,
            }
        }
        None
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        // JFIF's APP0 comes straight after the start-of-image marker when there is one.
        let segment = bytes.get(2..20)?;
        if segment[..2] != [0xFF, 0xE0] || &segment[4..9] != b"JFIF\0" {
            return None;
        }
        let x = f64::from(u16::from_be_bytes([segment[12], segment[13]]));
        match segment[11] {
            1 if x > 0.0 => Some(x),
            2 if x > 0.0 => Some(x * 2.54),
            _ => None,
        }
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        // EXIF is TIFF's structure borrowed: a TIFF file keeps its density in the same tags of
        // its first IFD, the page that is decoded.
        Exif::parse(bytes)?.dpi()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xmp_orientation_is_set_upright_in_both_forms() {
        let attribute = br#"<rdf:Description tiff:Orientation="6" tiff:Make="X"/>"#;
        assert_eq!(upright_xmp(attribute), br#"<rdf:Description tiff:Orientation="1" tiff:Make="X"/>"#);
        let element = b"<tiff:Orientation>8</tiff:Orientation><tiff:OrientationX/>";
        assert_eq!(upright_xmp(element), b"<tiff:Orientation>1</tiff:Orientation><tiff:OrientationX/>");
    }

    #[test]
    fn xmp_that_is_not_text_is_dropped_and_said() {
        let binary = Metadata::from_source(None, None, Some(vec![0x3C, 0xFF, 0xFE]), None);
        assert_eq!((binary.xmp, binary.dropped.len()), (None, 1));
        assert_eq!(Metadata::from_source(None, None, Some(Vec::new()), None), Metadata::default());
        assert!(Metadata::from_source(None, None, Some(b"<x/>".to_vec()), None).xmp.is_some());
    }

    #[test]
    fn profiles_for_other_colour_models_are_dropped_and_said() {
        let mut cmyk = vec![0; 128];
        cmyk[16..20].copy_from_slice(b"CMYK");
        let metadata = Metadata::from_source(Some(cmyk), None, None, None);
        assert!(metadata.icc.is_none());
        assert!(metadata.dropped[0].contains("CMYK"), "{:?}", metadata.dropped);
        let mut rgb = vec![0; 128];
        rgb[16..20].copy_from_slice(b"RGB ");
        assert!(Metadata::from_source(Some(rgb), None, None, None).icc.is_some());
    }
}
