//! The degradations a compression-aware model learns to undo: the LR patch is JPEG-compressed
//! the way the web's images are (IJG quantisation tables scaled by quality, 4:2:0 chroma,
//! baseline), sometimes twice at two qualities, and decoded by the same decoder the app uses.

use rand::Rng;
use rand::rngs::StdRng;

use crate::route::InputKind;
use crate::{Error, Result};

/// What happens to a training LR patch after the bicubic downscale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Degradation {
    /// Nothing: the clean bicubic task of the published benchmarks.
    Clean,
    /// JPEG at a quality drawn uniformly from `qualities`, a second time (another quality)
    /// with probability `twice`; a fraction `clean` of the patches is left uncompressed so that
    /// the model keeps the clean task too.
    Jpeg { qualities: (u8, u8), twice: f64, clean: f64 },
}

impl Degradation {
    /// The mix the shipped compression-aware models were trained on.
    pub const JPEG: Self = Self::jpeg((30, 95));

    /// JPEG at a quality from `qualities`, a quarter of the patches twice, a tenth left clean.
    pub const fn jpeg(qualities: (u8, u8)) -> Self {
        Self::Jpeg { qualities, twice: 0.25, clean: 0.1 }
    }

    /// LR pixels of slack around the patch, so that the patch can sit anywhere relative to the
    /// 8×8 block grid (or the 16×16 one of 4:2:0 chroma), as in a real image.
    pub fn grid_slack(&self) -> usize {
        match self {
            Self::Clean => 0,
            Self::Jpeg { .. } => 16,
        }
    }

    /// The inputs a model trained with this degradation is for.
    pub fn input_kind(&self) -> InputKind {
        match self {
            Self::Clean => InputKind::Clean,
            Self::Jpeg { .. } => InputKind::Compressed,
        }
    }

    /// The range of JPEG qualities, for the model card: `None` for the clean task.
    pub fn qualities(&self) -> Option<[u8; 2]> {
        match *self {
            Self::Clean => None,
            Self::Jpeg { qualities: (low, high), .. } => Some([low, high]),
        }
    }

    /// For the model card's training notes: empty for the clean task.
    pub fn describe(&self) -> String {
        match self {
            Self::Clean => String::new(),
            Self::Jpeg { qualities: (low, high), twice, clean } => format!(
                "; LR patches JPEG-compressed (4:2:0, IJG tables) at quality {low}–{high}, {:.0} % of them \
                 twice, {:.0} % left clean, the block grid at a random offset",
                100.0 * twice,
                100.0 * clean
            ),
        }
    }

    /// Applies the degradation to an interleaved RGB image in place.
    pub fn apply(&self, rgb: &mut Vec<u8>, width: usize, height: usize, rng: &mut StdRng) -> Result<()> {
        let Self::Jpeg { qualities: (low, high), twice, clean } = *self else { return Ok(()) };
        if rng.random_bool(clean) {
            return Ok(());
        }
        let passes = if rng.random_bool(twice) { 2 } else { 1 };
        for _ in 0..passes {
            *rgb = jpeg_round_trip(rgb, width, height, rng.random_range(low..=high))?;
        }
        Ok(())
    }
}

/// Encodes RGB as a baseline 4:2:0 JPEG at `quality` and decodes it again.
pub fn jpeg_round_trip(rgb: &[u8], width: usize, height: usize, quality: u8) -> Result<Vec<u8>> {
    let (w, h) = (u16::try_from(width), u16::try_from(height));
    let (Ok(w), Ok(h)) = (w, h) else {
        return Err(Error::Parameter(format!("{width}×{height} is too large for JPEG")));
    };
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder
        .encode(rgb, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| Error::Model(format!("JPEG degradation: {e}")))?;
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map_err(|e| Error::Decode(format!("JPEG degradation: {e}")))?;
    Ok(decoded.to_rgb8().into_raw())
}
