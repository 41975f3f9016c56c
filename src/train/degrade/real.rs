//! Real photos' degradations: Real-ESRGAN's second-order model (Wang et al. 2021,
//! `options/train_realesrnet_x4plus.yml` and `realesrgan_model.py`), made on the fly from the HR
//! patch, plus what publishing pipelines add to it: sharpening after the resize, Lanczos
//! resizing, a JPEG compressed again after a crop (its 8×8 grid shifted from the first one's),
//! and lossless files saved from JPEGs (no final JPEG, only an earlier one's artefacts).
//!
//! The chain: blur, resize, noise, JPEG at the HR's size (the first order); blur, resize, noise
//! around the LR's size (the second order); then either the resize to the LR size (with a sinc
//! filter and sharpening) and the final JPEG, or the other way round. Pixels are floats between
//! the steps and rounded to 8 bits before each JPEG and at the end.

use std::f64::consts::PI;

use rand::Rng;
use rand::rngs::StdRng;

use super::blur::{self, Blur, Sharpen, odd_side};
use super::noise::Noise;
use super::resize::{self, Resize, ResizeMode, scaled};
use super::{Image, chance, check_probability, jpeg_round_trip, lr_size, quality, reflect, uniform};
use crate::{Error, Result};

/// One order of the degradation: blur, resize, noise and JPEG.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Order {
    pub blur: Blur,
    /// Relative to the HR's size in the first order, to the LR's in the second (as Real-ESRGAN).
    pub resize: Resize,
    pub noise: Noise,
    /// JPEG qualities, inclusive; the second order's are the final JPEG's.
    pub jpeg: (u8, u8),
}

impl Order {
    fn validate(&self, order: &str) -> Result<()> {
        self.blur.validate(order)?;
        self.resize.validate(order)?;
        self.noise.validate(order)?;
        let (low, high) = self.jpeg;
        if !(1 <= low && low <= high && high <= 100) {
            return Err(Error::Parameter(format!("the {order} JPEG qualities {low}–{high} must rise within 1–100")));
        }
        Ok(())
    }

    /// Blur, resize (to `base` times the drawn factor) and noise.
    fn degrade(&self, image: Image, base: (usize, usize), modes: &[ResizeMode], rng: &mut StdRng) -> Image {
        let image = if chance(rng, self.blur.prob) { self.blur.kernel(rng).apply(&image) } else { image };
        let factor = self.resize.factor(rng);
        let mode = pick(rng, modes);
        let mut image = resize::resize(&image, (scaled(base.0, factor), scaled(base.1, factor)), mode);
        self.noise.add(&mut image, rng);
        image
    }
}

/// The ranges and chances of the whole chain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RealDegradation {
    /// At the HR's size.
    pub first: Order,
    /// From the first order's output to around the LR's size; its JPEG is the final one.
    pub second: Order,
    /// The resizers, each as likely; every resize draws one, the final one too.
    pub resize_modes: &'static [ResizeMode],
    /// Chance of a sinc filter after the resize to the LR size (its cutoff π/3–π, its side drawn
    /// as the second order's blur's): the ringing of sharp resizers.
    pub final_sinc: f64,
    /// Sharpening after the resize to the LR size.
    pub sharpen: Sharpen,
    /// Chance of the final JPEG; without it the LR is a lossless file saved from an earlier JPEG.
    pub final_jpeg: f64,
    /// Chance that the final JPEG compresses an earlier JPEG (of a quality from the same range)
    /// cropped by 1–7 pixels, so that the two 8×8 grids differ.
    pub jpeg_twice: f64,
}

/// Real-ESRGAN's chances of isotropic, anisotropic, generalized iso/aniso and plateau iso/aniso
/// kernels.
const SHAPES: [f64; 6] = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03];

impl RealDegradation {
    /// Real-ESRGAN's published ranges (`train_realesrnet_x4plus.yml`), plus sharpening, Lanczos,
    /// shifted double JPEG and an occasional missing final JPEG.
    pub const REAL_ESRGAN: Self = Self {
        first: Order {
            blur: Blur {
                prob: 1.0,
                sizes: (7, 21),
                shapes: SHAPES,
                sigma: (0.2, 3.0),
                beta_generalized: (0.5, 4.0),
                beta_plateau: (1.0, 2.0),
                sinc: 0.1,
            },
            resize: Resize { up_down_keep: [0.2, 0.7, 0.1], range: (0.15, 1.5) },
            noise: Noise { gaussian: 0.5, sigma: (1.0, 30.0), poisson_scale: (0.05, 3.0), gray: 0.4 },
            jpeg: (30, 95),
        },
        second: Order {
            blur: Blur {
                prob: 0.8,
                sizes: (7, 21),
                shapes: SHAPES,
                sigma: (0.2, 1.5),
                beta_generalized: (0.5, 4.0),
                beta_plateau: (1.0, 2.0),
                sinc: 0.1,
            },
            resize: Resize { up_down_keep: [0.3, 0.4, 0.3], range: (0.3, 1.2) },
            noise: Noise { gaussian: 0.5, sigma: (1.0, 25.0), poisson_scale: (0.05, 2.5), gray: 0.4 },
            jpeg: (30, 95),
        },
        // Real-ESRGAN's three PyTorch modes, and Lanczos.
        resize_modes: &[ResizeMode::Area, ResizeMode::Bilinear, ResizeMode::Bicubic, ResizeMode::Lanczos3],
        final_sinc: 0.8,
        // Our addition, less often than in PHOTO: this mix is already harsh.
        sharpen: Sharpen { prob: 0.2, amount: (0.2, 1.5), radius: (0.5, 2.0) },
        // A tenth of the LR patches show only the first order's (resized) JPEG.
        final_jpeg: 0.9,
        jpeg_twice: 0.2,
    };

    /// Milder, closer to what web photos go through: less blur, a sixth of the noise, JPEG at 50
    /// and up, narrower resizes, fewer sinc filters, sharpening a third of the time.
    pub const PHOTO: Self = Self {
        first: Order {
            blur: Blur {
                prob: 1.0,
                // σ ≤ 1.5 fits in 15 taps (the plateau's tails are cut, as in any window).
                sizes: (7, 15),
                shapes: SHAPES,
                // A lens or a camera's demosaicking, not a missed focus.
                sigma: (0.2, 1.5),
                beta_generalized: (0.5, 4.0),
                beta_plateau: (1.0, 2.0),
                sinc: 0.05,
            },
            resize: Resize { up_down_keep: [0.2, 0.7, 0.1], range: (0.3, 1.2) },
            // A phone in daylight to a dim room; Poisson σ at most √level.
            noise: Noise { gaussian: 0.5, sigma: (1.0, 10.0), poisson_scale: (0.05, 1.0), gray: 0.4 },
            // The camera's or an editor's JPEG.
            jpeg: (50, 95),
        },
        second: Order {
            blur: Blur {
                prob: 0.5,
                sizes: (7, 15),
                shapes: SHAPES,
                // Real-ESRGAN's second σ is half its first.
                sigma: (0.2, 1.0),
                beta_generalized: (0.5, 4.0),
                beta_plateau: (1.0, 2.0),
                sinc: 0.05,
            },
            resize: Resize { up_down_keep: [0.3, 0.4, 0.3], range: (0.5, 1.1) },
            // Real-ESRGAN's second-order noise is 5/6 of its first.
            noise: Noise { gaussian: 0.5, sigma: (1.0, 8.0), poisson_scale: (0.05, 0.8), gray: 0.4 },
            // What sites and apps save at.
            jpeg: (50, 95),
        },
        // Antialiased resizers are most of the web's; PyTorch's aliasing ones stay as the rest.
        resize_modes: &[
            ResizeMode::Area,
            ResizeMode::Bilinear,
            ResizeMode::Bicubic,
            ResizeMode::AntialiasedBicubic,
            ResizeMode::Lanczos3,
        ],
        final_sinc: 0.4,
        sharpen: Sharpen { prob: 0.35, amount: (0.2, 1.5), radius: (0.5, 2.0) },
        // A fifth saved losslessly (PNG) after an earlier JPEG.
        final_jpeg: 0.8,
        jpeg_twice: 0.25,
    };

    /// Refuses chances outside 0–1, empty or reversed ranges, even kernel sides, JPEG qualities
    /// outside 1–100 and an empty list of resizers.
    pub fn validate(&self) -> Result<()> {
        self.first.validate("first")?;
        self.second.validate("second")?;
        if self.resize_modes.is_empty() {
            return Err(Error::Parameter("the Real degradation needs at least one resize mode".into()));
        }
        check_probability("the final sinc", self.final_sinc)?;
        self.sharpen.validate()?;
        check_probability("the final JPEG", self.final_jpeg)?;
        check_probability("a JPEG compressed twice", self.jpeg_twice)
    }

    /// The LR image, `(width / scale) × (height / scale)` interleaved RGB, made from the HR
    /// image (interleaved RGB, its sides divisible by `scale`) by the whole chain.
    pub fn degrade_hr(
        &self,
        hr: &[u8],
        width: usize,
        height: usize,
        scale: usize,
        rng: &mut StdRng,
    ) -> Result<Vec<u8>> {
        self.validate()?;
        let lr = lr_size(hr, width, height, scale)?;
        let image = Image::from_u8(hr, width, height);
        let image = self.first.degrade(image, (width, height), self.resize_modes, rng);
        let image = image.jpeg(quality(rng, self.first.jpeg))?;
        let image = self.second.degrade(image, lr, self.resize_modes, rng);
        let image = if chance(rng, 0.5) {
            let image = self.finish_resize(image, lr, rng);
            self.final_jpeg(image, rng)?
        } else {
            let image = self.final_jpeg(image, rng)?;
            self.finish_resize(image, lr, rng)
        };
        Ok(image.to_u8())
    }

    /// For the model card's training notes: the mix and its main ranges (first/second order),
    /// in one line.
    pub fn describe(&self) -> String {
        let mix = match *self {
            Self::REAL_ESRGAN => "Real-ESRGAN's ranges",
            Self::PHOTO => "the PHOTO mix",
            _ => "a custom mix",
        };
        let range = |(low, high): (f32, f32)| format!("{low}–{high}");
        let (first, second) = (&self.first, &self.second);
        format!(
            "; LR patches degraded from the HR on the fly, second-order after Real-ESRGAN ({mix}): blur σ {}/{}, \
             resize ×{}/×{}, noise σ {}/{} or Poisson ×{}/×{}, JPEG q{}–{}/q{}–{} (the last {:.0} % of the time, \
             {:.0} % of those over a shifted earlier JPEG), unsharp mask {:.0} % of the time",
            range(first.blur.sigma),
            range(second.blur.sigma),
            range(first.resize.range),
            range(second.resize.range),
            range(first.noise.sigma),
            range(second.noise.sigma),
            range(first.noise.poisson_scale),
            range(second.noise.poisson_scale),
            first.jpeg.0,
            first.jpeg.1,
            second.jpeg.0,
            second.jpeg.1,
            100.0 * self.final_jpeg,
            100.0 * self.jpeg_twice,
            100.0 * self.sharpen.prob,
        )
    }

    /// The resize to the LR size, a sinc filter and sharpening.
    fn finish_resize(&self, image: Image, lr: (usize, usize), rng: &mut StdRng) -> Image {
        let image = resize::resize(&image, lr, pick(rng, self.resize_modes));
        let image = if chance(rng, self.final_sinc) {
            let side = odd_side(rng, self.second.blur.sizes);
            blur::sinc(side, f64::from(uniform(rng, ((PI / 3.0) as f32, PI as f32)))).apply(&image)
        } else {
            image
        };
        self.sharpen.maybe(image, rng)
    }

    /// The final JPEG, perhaps of an earlier JPEG on another grid, or none.
    fn final_jpeg(&self, image: Image, rng: &mut StdRng) -> Result<Image> {
        if !chance(rng, self.final_jpeg) {
            return Ok(image);
        }
        let last = quality(rng, self.second.jpeg);
        if !chance(rng, self.jpeg_twice) {
            return image.jpeg(last);
        }
        let earlier = quality(rng, self.second.jpeg);
        let offset = loop {
            let offset = (rng.random_range(0..8), rng.random_range(0..8));
            if offset != (0, 0) {
                break offset;
            }
        };
        let rgb = jpeg_twice_shifted(&image.to_u8(), image.width, image.height, (earlier, last), offset)?;
        Ok(Image::from_u8(&rgb, image.width, image.height))
    }
}

/// One of the resizers, each as likely.
fn pick(rng: &mut StdRng, modes: &[ResizeMode]) -> ResizeMode {
    modes[rng.random_range(0..modes.len())]
}

/// JPEG at quality `earlier`, a crop, and JPEG at `last`: the earlier compression saw the image
/// with `offset` more pixels at its top left (mirrored in), so its 8×8 grid sits `offset` off
/// the last one's, as when a JPEG is cropped and saved again.
fn jpeg_twice_shifted(
    rgb: &[u8],
    width: usize,
    height: usize,
    (earlier, last): (u8, u8),
    (dx, dy): (usize, usize),
) -> Result<Vec<u8>> {
    let (wide, tall) = (width + dx, height + dy);
    let mut padded = Vec::with_capacity(wide * tall * 3);
    for y in 0..tall {
        let row = reflect(y as isize - dy as isize, height) * width;
        for x in 0..wide {
            let source = (row + reflect(x as isize - dx as isize, width)) * 3;
            padded.extend_from_slice(&rgb[source..source + 3]);
        }
    }
    let once = jpeg_round_trip(&padded, wide, tall, earlier)?;
    let cropped: Vec<u8> =
        once.chunks_exact(wide * 3).skip(dy).flat_map(|row| &row[dx * 3..(dx + width) * 3]).copied().collect();
    jpeg_round_trip(&cropped, width, height, last)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use rand::SeedableRng;

    use super::super::test_photo;
    use super::*;
    use crate::resample;

    const PRESETS: [(&str, RealDegradation); 2] =
        [("REAL_ESRGAN", RealDegradation::REAL_ESRGAN), ("PHOTO", RealDegradation::PHOTO)];

    #[test]
    fn presets_are_valid() {
        for (name, preset) in PRESETS {
            preset.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn the_chain_is_seeded_and_gives_the_exact_lr_size() {
        let hr = test_photo(48, 48, 1);
        for (name, preset) in PRESETS {
            for scale in [2, 3, 4] {
                for seed in 0..6 {
                    let run = |seed| preset.degrade_hr(&hr, 48, 48, scale, &mut StdRng::seed_from_u64(seed));
                    let lr = run(seed).expect("degrade");
                    assert_eq!(lr.len(), (48 / scale) * (48 / scale) * 3, "{name} ×{scale} seed {seed}");
                    assert_eq!(lr, run(seed).expect("degrade"), "{name} ×{scale} seed {seed}: not deterministic");
                    assert_ne!(lr, run(seed + 100).expect("degrade"), "{name} ×{scale}: seeds {seed}, {}", seed + 100);
                }
            }
        }
        // Non-square.
        let hr = test_photo(60, 36, 2);
        let lr = RealDegradation::PHOTO.degrade_hr(&hr, 60, 36, 3, &mut StdRng::seed_from_u64(0)).expect("degrade");
        assert_eq!(lr.len(), 20 * 12 * 3);
    }

    #[test]
    fn bad_inputs_and_settings_are_errors() {
        let hr = test_photo(48, 48, 1);
        let mut rng = StdRng::seed_from_u64(0);
        let preset = RealDegradation::PHOTO;
        for (width, height, scale) in [(48, 48, 5), (48, 48, 0), (47, 48, 1)] {
            let result = preset.degrade_hr(&hr, width, height, scale, &mut rng);
            assert!(matches!(result, Err(Error::Parameter(_))), "{width}×{height} ×{scale}");
        }
        let mut broken = preset;
        broken.sharpen.prob = 1.5;
        assert!(matches!(broken.degrade_hr(&hr, 48, 48, 4, &mut rng), Err(Error::Parameter(_))));
        let mut broken = preset;
        broken.second.jpeg = (0, 90);
        assert!(broken.validate().is_err());
        let mut broken = preset;
        broken.resize_modes = &[];
        assert!(broken.validate().is_err());
        let mut broken = preset;
        broken.first.blur.sigma = (0.0, 1.0);
        assert!(broken.validate().is_err());
    }

    /// The mean absolute jump between neighbours of a grey image across each phase mod 8: at
    /// phase p between columns x − 1 and x with x ≡ p (or rows, going `down`).
    fn jumps(rgb: &[u8], width: usize, height: usize, down: bool) -> [f64; 8] {
        let (along, across) = if down { (height, width) } else { (width, height) };
        let at = |i: usize, j: usize| f64::from(if down { rgb[(i * width + j) * 3] } else { rgb[(j * width + i) * 3] });
        let mut sums = [0.0; 8];
        let mut counts = [0usize; 8];
        for j in 0..across {
            for i in 1..along {
                sums[i % 8] += (at(i, j) - at(i - 1, j)).abs();
                counts[i % 8] += 1;
            }
        }
        std::array::from_fn(|phase| sums[phase] / counts[phase] as f64)
    }

    /// Whether the jumps at `phase` stand out: 1.4 times any at the phases not in `grids`.
    fn stands_out(jumps: &[f64; 8], phase: usize, grids: &[usize]) -> bool {
        (0..8).filter(|p| !grids.contains(p)).all(|p| jumps[phase] > 1.4 * jumps[p])
    }

    /// A low-quality JPEG's block edges show as jumps at phase 0; compressed again after a crop
    /// of 3 columns and 6 rows, the earlier edges sit at column phase 5 and row phase 2.
    #[test]
    fn jpeg_twice_shifted_leaves_blocks_on_a_shifted_grid() {
        let (width, height) = (128, 128);
        // Smooth and grey (chroma is subsampled and smeared), so that block edges stand out.
        let rgb: Vec<u8> = (0..height)
            .flat_map(|y| {
                (0..width)
                    .flat_map(move |x| [(128.0 + 50.0 * (x as f64 / 20.0).sin() * (y as f64 / 20.0).cos()) as u8; 3])
            })
            .collect();
        let once = jpeg_round_trip(&rgb, width, height, 15).expect("jpeg");
        for down in [false, true] {
            let jumps = jumps(&once, width, height, down);
            assert!(stands_out(&jumps, 0, &[0]), "single JPEG, down {down}: {jumps:?}");
        }
        let twice = jpeg_twice_shifted(&rgb, width, height, (15, 92), (3, 6)).expect("jpeg");
        for (down, phase) in [(false, 5), (true, 2)] {
            let jumps = jumps(&twice, width, height, down);
            assert!(stands_out(&jumps, phase, &[0, phase]), "shifted double JPEG, down {down}: {jumps:?}");
            assert!(jumps[phase] > jumps[0], "the earlier, coarser JPEG's grid dominates: {jumps:?}");
        }
    }

    /// With final_jpeg at 0 the last step is never a JPEG: the result is what the chain gave,
    /// only rounded (a PNG saved from an earlier JPEG).
    #[test]
    fn the_final_jpeg_can_be_left_out() {
        let hr = test_photo(64, 64, 4);
        let mut lossless = RealDegradation::PHOTO;
        lossless.final_jpeg = 0.0;
        let mut always = lossless;
        always.final_jpeg = 1.0;
        let differing = (0..8)
            .filter(|&seed| {
                let run = |preset: RealDegradation| preset.degrade_hr(&hr, 64, 64, 2, &mut StdRng::seed_from_u64(seed));
                run(lossless).expect("degrade") != run(always).expect("degrade")
            })
            .count();
        assert_eq!(differing, 8);
    }

    /// Mean squared difference from MATLAB's bicubic LR over a few seeds and images.
    fn distance_from_bicubic(preset: RealDegradation, scale: usize) -> f64 {
        let side = 96;
        let mut total = 0.0;
        let mut count = 0;
        for image in 0..4 {
            let hr = test_photo(side, side, 10 + image);
            let bicubic = resample::imresize_matlab(&hr, side, side, 3, side / scale, side / scale);
            for seed in 0..12 {
                let lr = preset.degrade_hr(&hr, side, side, scale, &mut StdRng::seed_from_u64(seed)).expect("degrade");
                total += lr.iter().zip(&bicubic).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum::<f64>();
                count += lr.len();
            }
        }
        total / count as f64
    }

    #[test]
    fn photo_stays_closer_to_the_bicubic_lr_than_real_esrgan() {
        for scale in [2, 4] {
            let photo = distance_from_bicubic(RealDegradation::PHOTO, scale);
            let real = distance_from_bicubic(RealDegradation::REAL_ESRGAN, scale);
            assert!(photo < 0.7 * real, "×{scale}: PHOTO MSE {photo:.1}, REAL_ESRGAN {real:.1}");
        }
    }

    /// The cost per training patch: 256² HR at ×4. Run with
    /// `cargo test --lib time_per_patch -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing, not a check"]
    fn time_per_patch() {
        let hr: Vec<Vec<u8>> = (0..8).map(|i| test_photo(256, 256, i)).collect();
        for (name, preset) in PRESETS {
            let mut rng = StdRng::seed_from_u64(0);
            let patches = 400;
            let started = Instant::now();
            for i in 0..patches {
                preset.degrade_hr(&hr[i % hr.len()], 256, 256, 4, &mut rng).expect("degrade");
            }
            let ms = 1000.0 * started.elapsed().as_secs_f64() / patches as f64;
            eprintln!("{name}: {ms:.2} ms per 256² HR patch at ×4");
        }
    }
}
