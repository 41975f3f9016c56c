//! Which model an input goes to. Most images people hold are JPEGs, compressed once or more; a
//! model trained on clean downscales sharpens their 8×8 blocks instead of the picture, so lossy
//! inputs go to a compression-aware model and clean ones (PNG, TIFF, near-lossless JPEG) to the
//! clean model.

use serde::{Deserialize, Serialize};

/// The inputs a model was trained for, and what an input is taken to be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// Never lossily compressed: PNG, TIFF, a camera's best JPEG.
    #[default]
    Clean,
    /// Lossily compressed (JPEG), perhaps more than once.
    Compressed,
}

/// What the user asked for: let the file decide, or say what it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum InputChoice {
    /// From the file: a lossy JPEG is compressed; anything else, a near-lossless JPEG too, is clean.
    #[default]
    Auto,
    Clean,
    Compressed,
}

/// How the result should look: each is its own family of models.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Look {
    /// As close to the original as can be measured: the clean and compression-aware models,
    /// trained against the originals; noise and blur in the source stay visible.
    #[default]
    Faithful,
    /// Clean and crisp: models taught by a large model trained for real photos' noise, blur and
    /// compression; smoother surfaces and sharper edges than the source holds, a little less
    /// like the original pixel for pixel.
    Enhanced,
}

impl Look {
    pub fn name(&self) -> &'static str {
        match self {
            Look::Faithful => "faithful",
            Look::Enhanced => "enhanced",
        }
    }
}

/// JPEGs of an estimated quality below this go to the compression-aware models. Measured on the
/// q90 benchmark sets (`models/README.md`, "Compressed inputs"): there the compression-aware
/// models beat the clean ones on Set5, Set14 and B100 at every scale, so only near-lossless
/// JPEGs (quality 96 and up, e.g. a camera's finest setting) count as clean.
pub const COMPRESSED_BELOW: u8 = 96;

/// The model family an input goes to, and why, in words a person can read. Which models run
/// for it is [`crate::resolve`]'s to say: the loaded ones may lack that family at a scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    pub kind: InputKind,
    /// The JPEG quality estimated from the file, also when the user chose the kind: it picks
    /// among compression-aware models trained for different qualities.
    pub quality: Option<u8>,
    /// Which family of models: the user's choice, not the file's.
    pub look: Look,
    /// Why this kind ("JPEG quality ≈ 72: compression-aware model"): the start of the job's
    /// [`crate::resolve::Reason`].
    pub reason: String,
}

impl Route {
    /// Decides from the file's bytes (and the user's choice); never fails: a JPEG whose tables
    /// cannot be read is taken as compressed, anything unreadable as clean.
    pub fn for_file(bytes: &[u8], choice: InputChoice) -> Self {
        let format = image::guess_format(bytes).ok();
        let tables = if format == Some(image::ImageFormat::Jpeg) { JpegTables::read(bytes) } else { None };
        let quality = tables.as_ref().and_then(|t| t.quality);
        match choice {
            InputChoice::Clean => return Self::chosen(InputKind::Clean, quality),
            InputChoice::Compressed => return Self::chosen(InputKind::Compressed, quality),
            InputChoice::Auto => {}
        }
        let (kind, why) = match (format, tables) {
            (Some(image::ImageFormat::Jpeg), Some(JpegTables { lossless: true, .. })) => {
                (InputKind::Clean, "lossless JPEG".to_string())
            }
            (Some(image::ImageFormat::Jpeg), Some(JpegTables { quality: Some(q), .. })) if q >= COMPRESSED_BELOW => {
                (InputKind::Clean, format!("JPEG quality ≈ {q}"))
            }
            (Some(image::ImageFormat::Jpeg), Some(JpegTables { quality: Some(q), .. })) => {
                (InputKind::Compressed, format!("JPEG quality ≈ {q}"))
            }
            (Some(image::ImageFormat::Jpeg), _) => {
                (InputKind::Compressed, "JPEG (quantisation tables unreadable)".to_string())
            }
            (Some(format), _) => (InputKind::Clean, format!("{format:?}").to_uppercase()),
            (None, _) => (InputKind::Clean, "unknown format".to_string()),
        };
        Self { kind, quality, look: Look::Faithful, reason: format!("{why}: {} model", kind.model_name()) }
    }

    /// This route with the look the user chose.
    pub fn with_look(self, look: Look) -> Self {
        Self { look, ..self }
    }

    /// The kind the user (or an evaluation) chose, for an input of `quality` if it is a JPEG.
    pub fn chosen(kind: InputKind, quality: Option<u8>) -> Self {
        Self { kind, quality, look: Look::Faithful, reason: format!("{} model, as chosen", kind.model_name()) }
    }
}

impl InputKind {
    /// As on the command line and in cards: `clean` or `compressed`.
    pub fn name(&self) -> &'static str {
        match self {
            InputKind::Clean => "clean",
            InputKind::Compressed => "compressed",
        }
    }

    /// The model family, for messages.
    pub fn model_name(&self) -> &'static str {
        match self {
            InputKind::Clean => "clean",
            InputKind::Compressed => "compression-aware",
        }
    }
}

/// What a JPEG's header says about its compression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JpegTables {
    /// The IJG quality the quantisation tables correspond to (see [`estimate_quality`]); `None`
    /// when the file has no tables before its first scan.
    pub quality: Option<u8>,
    /// The tables are exactly libjpeg's at that quality (most encoders on the web).
    pub exact: bool,
    /// Lossless coding (SOF3, SOF7, SOF11, SOF15): no quantisation at all.
    pub lossless: bool,
}

impl JpegTables {
    /// Reads the markers up to the first scan. `None` when the bytes are not a JPEG or the
    /// marker segments are broken; routing then falls back to its default.
    pub fn read(bytes: &[u8]) -> Option<Self> {
        if bytes.get(..2)? != [0xFF, 0xD8] {
            return None;
        }
        let mut tables: [Option<[u16; 64]>; 4] = [None; 4];
        let mut lossless = false;
        let mut at = 2;
        loop {
            // Markers may be padded with any number of 0xFF bytes.
            while *bytes.get(at)? == 0xFF && *bytes.get(at + 1)? == 0xFF {
                at += 1;
            }
            if *bytes.get(at)? != 0xFF {
                return None;
            }
            let marker = *bytes.get(at + 1)?;
            if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
                at += 2;
                continue;
            }
            // The tables that matter come before the first scan.
            if marker == 0xDA || marker == 0xD9 {
                break;
            }
            let length = usize::from(u16::from_be_bytes([*bytes.get(at + 2)?, *bytes.get(at + 3)?]));
            let segment = bytes.get(at + 4..at + 2 + length)?;
            match marker {
                0xDB => read_dqt(segment, &mut tables)?,
                0xC3 | 0xC7 | 0xCB | 0xCF => lossless = true,
                _ => {}
            }
            at += 2 + length;
        }
        let (luma, chroma) = (tables[0], tables[1]);
        let estimate = luma.map(|luma| estimate_quality(&luma, chroma.as_ref()));
        Some(Self { quality: estimate.map(|(q, _)| q), exact: estimate.is_some_and(|(_, exact)| exact), lossless })
    }
}

/// One DQT segment: tables of 8- or 16-bit values in zigzag order, stored in natural order.
fn read_dqt(mut segment: &[u8], tables: &mut [Option<[u16; 64]>; 4]) -> Option<()> {
    while let Some((&info, rest)) = segment.split_first() {
        let wide = info >> 4 == 1;
        let size = if wide { 128 } else { 64 };
        let values = rest.get(..size)?;
        let mut table = [0u16; 64];
        for (k, &natural) in ZIGZAG.iter().enumerate() {
            table[natural] =
                if wide { u16::from_be_bytes([values[2 * k], values[2 * k + 1]]) } else { u16::from(values[k]) };
        }
        *tables.get_mut(usize::from(info & 0x0F))? = Some(table);
        segment = &rest[size..];
    }
    Some(())
}

/// The IJG quality that best explains the tables, and whether libjpeg would write exactly them.
///
/// libjpeg scales its base tables (JPEG Annex K) by `s = 5000 / q` below quality 50 and
/// `s = 200 − 2q` from 50 up, each entry `(base · s + 50) / 100` clamped to 1..255. Most of the
/// web's JPEGs carry exactly such tables: the quality whose tables match is the answer. For
/// tables from other encoders (cameras, Photoshop) the scale is estimated by least squares over
/// every entry of the luma (and chroma) table and the formula inverted: the IJG quality of the
/// same average coarseness.
pub fn estimate_quality(luma: &[u16; 64], chroma: Option<&[u16; 64]>) -> (u8, bool) {
    let matches = |q: u8| ijg_table(&BASE_LUMA, q) == *luma && chroma.is_none_or(|c| ijg_table(&BASE_CHROMA, q) == *c);
    if let Some(quality) = (1..=100).find(|&q| matches(q)) {
        return (quality, true);
    }
    let pairs = luma.iter().zip(&BASE_LUMA).chain(chroma.into_iter().flat_map(|c| c.iter().zip(&BASE_CHROMA)));
    let (mut dot, mut norm) = (0.0, 0.0);
    for (&seen, &base) in pairs {
        dot += f64::from(seen) * f64::from(base);
        norm += f64::from(base) * f64::from(base);
    }
    let scale = 100.0 * dot / norm;
    let quality = if scale <= 100.0 { (200.0 - scale) / 2.0 } else { 5000.0 / scale };
    (quality.round().clamp(1.0, 100.0) as u8, false)
}

/// libjpeg's table for `quality` (baseline: entries clamped to 255).
pub fn ijg_table(base: &[u16; 64], quality: u8) -> [u16; 64] {
    let q = u32::from(quality.clamp(1, 100));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    base.map(|b| ((u32::from(b) * scale + 50) / 100).clamp(1, 255) as u16)
}

/// Natural-order index of each zigzag position.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63,
];

/// JPEG Annex K tables (natural order): libjpeg's quality-50 tables.
pub const BASE_LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51,
    87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
];
pub const BASE_CHROMA: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99,
];
