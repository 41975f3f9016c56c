//! The degradations a model learns to undo.
//!
//! A compression-aware model sees LR patches JPEG-compressed the way the web's images are (IJG
//! quantisation tables scaled by quality, 4:2:0 chroma, baseline), sometimes twice at two
//! qualities, and decoded by the same decoder the app uses. A model for real photos sees LR
//! patches made from the HR patch by a whole chain of blur, resizes, noise, sharpening and JPEG
//! ([`RealDegradation`]); its steps live in the submodules, one concern each.

mod blur;
mod noise;
mod real;
mod resize;

use rand::Rng;
use rand::rngs::StdRng;

pub use self::blur::{Blur, Sharpen};
pub use self::noise::Noise;
pub use self::real::{Order, RealDegradation};
pub use self::resize::{Resize, ResizeMode};
use crate::resample;
use crate::route::InputKind;
use crate::{Error, Result};

/// What happens to a training HR patch to make its LR input.
// `Real` is some 400 bytes to the others' 24, but there is one `Degradation` per run, and
// boxing it would cost the `Copy` that the options it sits in rely on.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Degradation {
    /// Nothing: the clean bicubic task of the published benchmarks.
    Clean,
    /// JPEG at a quality drawn uniformly from `qualities`, a second time (another quality)
    /// with probability `twice`; a fraction `clean` of the patches is left uncompressed so that
    /// the model keeps the clean task too.
    Jpeg { qualities: (u8, u8), twice: f64, clean: f64 },
    /// Real photos' degradations, made from the HR patch rather than from its bicubic LR.
    Real(RealDegradation),
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
            Self::Jpeg { .. } | Self::Real(_) => 16,
        }
    }

    /// The inputs a model trained with this degradation is for.
    pub fn input_kind(&self) -> InputKind {
        match self {
            Self::Clean => InputKind::Clean,
            Self::Jpeg { .. } | Self::Real(_) => InputKind::Compressed,
        }
    }

    /// The range of JPEG qualities, for the model card: `None` for the clean task.
    pub fn qualities(&self) -> Option<[u8; 2]> {
        match *self {
            Self::Clean => None,
            Self::Jpeg { qualities: (low, high), .. } => Some([low, high]),
            Self::Real(real) => Some([real.second.jpeg.0, real.second.jpeg.1]),
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
            Self::Real(real) => real.describe(),
        }
    }

    /// The LR training input made from an interleaved RGB HR patch whose sides divide by
    /// `scale`: MATLAB's bicubic downscale then [`Degradation::apply`] for `Clean` and `Jpeg`
    /// (the shipped models' recipe, random draws included), the whole chain from the HR for
    /// `Real`.
    pub fn degrade(&self, hr: &[u8], width: usize, height: usize, scale: usize, rng: &mut StdRng) -> Result<Vec<u8>> {
        if let Self::Real(real) = self {
            return real.degrade_hr(hr, width, height, scale, rng);
        }
        let (small_width, small_height) = lr_size(hr, width, height, scale)?;
        let mut low = resample::imresize_matlab(hr, width, height, 3, small_width, small_height);
        self.apply(&mut low, small_width, small_height, rng)?;
        Ok(low)
    }

    /// Applies a `Clean` or `Jpeg` degradation to an interleaved RGB LR image in place. `Real`
    /// starts from the HR image, so it is an error here: use [`Degradation::degrade`].
    pub fn apply(&self, rgb: &mut Vec<u8>, width: usize, height: usize, rng: &mut StdRng) -> Result<()> {
        let (low, high, twice, clean) = match *self {
            Self::Clean => return Ok(()),
            Self::Jpeg { qualities: (low, high), twice, clean } => (low, high, twice, clean),
            Self::Real(_) => {
                return Err(Error::Parameter(
                    "the Real degradation starts from the HR patch: call Degradation::degrade, not apply".into(),
                ));
            }
        };
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

/// The LR size of an interleaved RGB HR patch, refusing a buffer of another size or sides that
/// do not divide by the scale.
fn lr_size(hr: &[u8], width: usize, height: usize, scale: usize) -> Result<(usize, usize)> {
    if scale == 0 || width == 0 || height == 0 || !width.is_multiple_of(scale) || !height.is_multiple_of(scale) {
        return Err(Error::Parameter(format!("a {width}×{height} HR patch does not shrink ×{scale} to whole pixels")));
    }
    if width.checked_mul(height).and_then(|n| n.checked_mul(3)) != Some(hr.len()) {
        return Err(Error::Parameter(format!("{} bytes are not a {width}×{height} RGB image", hr.len())));
    }
    Ok((width / scale, height / scale))
}

/// An interleaved RGB image in 8-bit levels held as floats, so that the steps between two JPEGs
/// neither round nor clip (overshoot and noise survive until a real pipeline would store 8 bits).
#[derive(Clone, Debug, PartialEq)]
struct Image {
    pixels: Vec<f32>,
    width: usize,
    height: usize,
}

impl Image {
    fn from_u8(rgb: &[u8], width: usize, height: usize) -> Self {
        Self { pixels: rgb.iter().map(|&v| f32::from(v)).collect(), width, height }
    }

    /// Rounded and clamped to 8 bits, as storing the image does.
    fn to_u8(&self) -> Vec<u8> {
        self.pixels.iter().map(|&v| v.round().clamp(0.0, 255.0) as u8).collect()
    }

    fn clamp(&mut self) {
        for v in &mut self.pixels {
            *v = v.clamp(0.0, 255.0);
        }
    }

    /// One 8-bit round trip through JPEG at `quality`.
    fn jpeg(&self, quality: u8) -> Result<Self> {
        Ok(Self::from_u8(&jpeg_round_trip(&self.to_u8(), self.width, self.height, quality)?, self.width, self.height))
    }
}

/// The index that position `i` reads in `0..n` with mirrored borders, the edge sample not
/// repeated (PyTorch's `reflect`: -1 reads 1), folding again for offsets longer than the side.
fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let folded = i.rem_euclid(period);
    (if folded < n as isize { folded } else { period - folded }) as usize
}

/// Uniform in `low..high` (just `low` when they are equal, where `random_range` would panic).
fn uniform(rng: &mut StdRng, (low, high): (f32, f32)) -> f32 {
    low + (high - low) * rng.random::<f32>()
}

/// True with probability `p`.
fn chance(rng: &mut StdRng, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// An index drawn with probability proportional to `weights` (non-negative, not all zero).
fn choose(rng: &mut StdRng, weights: &[f64]) -> usize {
    let mut left = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (index, &weight) in weights.iter().enumerate() {
        if left < weight {
            return index;
        }
        left -= weight;
    }
    // Rounding can leave a sliver past the last weight: it belongs to the last possible index.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

/// A JPEG quality drawn uniformly from `low..=high`.
fn quality(rng: &mut StdRng, (low, high): (u8, u8)) -> u8 {
    rng.random_range(low..=high)
}

fn check_probability(what: &str, p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::Parameter(format!("the chance of {what} is {p}, not a probability from 0 to 1")))
    }
}

/// A range of a positive quantity: finite, `low` above zero and not above `high`.
fn check_range(what: &str, (low, high): (f32, f32)) -> Result<()> {
    if low.is_finite() && high.is_finite() && 0.0 < low && low <= high {
        Ok(())
    } else {
        Err(Error::Parameter(format!("the range of {what}, {low}–{high}, must be positive and increasing")))
    }
}

/// A smooth photo-like test image: gradients, a few hard edges and fine texture, so that blur,
/// resizing, sharpening and JPEG all have something to change.
#[cfg(test)]
fn test_photo(width: usize, height: usize, seed: u64) -> Vec<u8> {
    use rand::SeedableRng;
    let mut rng = StdRng::seed_from_u64(seed);
    let (fx, fy, phase) = (rng.random_range(0.05..0.3f32), rng.random_range(0.05..0.3f32), rng.random::<f32>() * 6.0);
    let edge = rng.random_range(0.3..0.7f32) * width as f32;
    let mut pixels = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let (xf, yf) = (x as f32, y as f32);
            let base = 100.0 + 60.0 * (fx * xf + phase).sin() * (fy * yf).cos() + 0.3 * yf;
            let step = if xf + 0.4 * yf > edge { 50.0 } else { -30.0 };
            let grain = 12.0 * (1.7 * xf).sin() * (2.3 * yf).sin();
            for (channel, tint) in [1.0f32, 0.85, 0.7].into_iter().enumerate() {
                let v = tint * (base + step + grain) + 20.0 * channel as f32;
                pixels.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    pixels
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn reflect_mirrors_without_repeating_the_edge() {
        let mapped: Vec<usize> = (-5..10).map(|i| reflect(i, 4)).collect();
        assert_eq!(mapped, [1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3]);
        assert_eq!(reflect(-7, 1), 0);
        assert_eq!((reflect(2, 2), reflect(3, 2)), (0, 1));
    }

    #[test]
    fn choose_follows_the_weights() {
        let mut rng = StdRng::seed_from_u64(1);
        let weights = [0.45, 0.0, 0.25, 0.3];
        let mut counts = [0usize; 4];
        for _ in 0..20_000 {
            counts[choose(&mut rng, &weights)] += 1;
        }
        assert_eq!(counts[1], 0);
        for (count, weight) in counts.iter().zip(weights) {
            assert!((*count as f64 / 20_000.0 - weight).abs() < 0.015, "{counts:?}");
        }
    }

    /// Clean and Jpeg reproduce the shipped models' recipe: MATLAB's bicubic, then (Jpeg)
    /// clean with probability `clean`, else JPEG once or (`twice`) twice, drawn in that order.
    #[test]
    fn clean_and_jpeg_are_the_shipped_recipe() {
        let hr = test_photo(48, 36, 3);
        let bicubic = resample::imresize_matlab(&hr, 48, 36, 3, 16, 12);
        let clean = Degradation::Clean.degrade(&hr, 48, 36, 3, &mut StdRng::seed_from_u64(9)).expect("degrade");
        assert_eq!(clean, bicubic);
        for seed in 0..12 {
            let ours = Degradation::JPEG.degrade(&hr, 48, 36, 3, &mut StdRng::seed_from_u64(seed)).expect("degrade");
            let mut rng = StdRng::seed_from_u64(seed);
            let mut expected = bicubic.clone();
            if !rng.random_bool(0.1) {
                for _ in 0..if rng.random_bool(0.25) { 2 } else { 1 } {
                    expected = jpeg_round_trip(&expected, 16, 12, rng.random_range(30..=95)).expect("jpeg");
                }
            }
            assert_eq!(ours, expected, "seed {seed}");
        }
        let mut rng = StdRng::seed_from_u64(9);
        assert!(matches!(Degradation::Clean.degrade(&hr, 48, 36, 5, &mut rng), Err(Error::Parameter(_))));
        assert!(matches!(Degradation::Clean.degrade(&hr[3..], 48, 36, 3, &mut rng), Err(Error::Parameter(_))));
    }

    #[test]
    fn real_is_for_compressed_inputs_and_runs_its_chain() {
        let real = Degradation::Real(RealDegradation::PHOTO);
        assert_eq!(real.input_kind(), InputKind::Compressed);
        assert_eq!(real.grid_slack(), 16);
        assert_eq!(real.qualities(), Some([50, 95]));
        assert_eq!(Degradation::Real(RealDegradation::REAL_ESRGAN).qualities(), Some([30, 95]));
        let description = real.describe();
        assert!(description.starts_with("; ") && !description.contains('\n'), "{description}");
        assert!(description.contains("PHOTO mix"), "{description}");
        let hr = test_photo(32, 32, 0);
        let lr = real.degrade(&hr, 32, 32, 4, &mut StdRng::seed_from_u64(0)).expect("degrade");
        assert_eq!(
            lr,
            RealDegradation::PHOTO.degrade_hr(&hr, 32, 32, 4, &mut StdRng::seed_from_u64(0)).expect("chain")
        );
        let mut low = vec![0u8; 8 * 8 * 3];
        let error = real.apply(&mut low, 8, 8, &mut StdRng::seed_from_u64(0));
        assert!(matches!(error, Err(Error::Parameter(_))), "{error:?}");
    }
}
