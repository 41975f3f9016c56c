//! The resizers that made the web's images, each as likely: Real-ESRGAN's three (PyTorch's
//! `interpolate`, which does not antialias when shrinking: its aliasing is part of the
//! degradation) and the antialiased ones of image editors and libraries (through
//! [`crate::resample`]).
//!
//! [`crate::resample`] always antialiases and has no area mode, so PyTorch's modes get their own
//! small separable engine here: per axis, a table of taps and weights, applied to rows of
//! interleaved values.

use rand::rngs::StdRng;

use super::{Image, choose, uniform};
use crate::resample::{self, Filter};
use crate::{Error, Result};

/// How an image is resized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    /// The mean of the source pixels each output pixel covers (PyTorch's `area`, i.e. adaptive
    /// average pooling; nearly nearest-neighbour when enlarging).
    Area,
    /// PyTorch's bilinear (half-pixel centres): two taps whatever the factor, so shrinking aliases.
    Bilinear,
    /// PyTorch's bicubic (Keys, a = -0.75, edge pixels replicated): four taps whatever the factor.
    Bicubic,
    /// Antialiased bicubic (a = -0.5): MATLAB's, Pillow's, Photoshop's.
    AntialiasedBicubic,
    /// Antialiased Lanczos3: ImageMagick's, libvips', Pillow's LANCZOS; slight ringing.
    Lanczos3,
}

/// A random resize as Real-ESRGAN draws one: up, down or kept, then a factor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resize {
    /// Relative chances of enlarging, shrinking and keeping the size.
    pub up_down_keep: [f64; 3],
    /// The factors: enlarging draws one from 1 to the upper end, shrinking from the lower end to 1.
    pub range: (f32, f32),
}

impl Resize {
    pub(super) fn validate(&self, order: &str) -> Result<()> {
        let (low, high) = self.range;
        let chances =
            self.up_down_keep.iter().all(|&w| w >= 0.0 && w.is_finite()) && self.up_down_keep.iter().sum::<f64>() > 0.0;
        let factors = low.is_finite() && high.is_finite() && 0.0 < low && low <= 1.0 && 1.0 <= high;
        if !(chances && factors) {
            return Err(Error::Parameter(format!(
                "the {order} resize needs non-negative chances (not all zero) and factors around 1, \
                 not {:?} and {low}–{high}",
                self.up_down_keep
            )));
        }
        Ok(())
    }

    /// The factor of one resize.
    pub(super) fn factor(&self, rng: &mut StdRng) -> f32 {
        match choose(rng, &self.up_down_keep) {
            0 => uniform(rng, (1.0, self.range.1)),
            1 => uniform(rng, (self.range.0, 1.0)),
            _ => 1.0,
        }
    }
}

/// `side · factor`, truncated as Real-ESRGAN's sizes are, and at least one pixel.
pub(super) fn scaled(side: usize, factor: f32) -> usize {
    ((side as f64 * f64::from(factor)) as usize).max(1)
}

/// The image resized to `width × height` (each at least 1) by `mode`.
pub(super) fn resize(image: &Image, (width, height): (usize, usize), mode: ResizeMode) -> Image {
    if (width, height) == (image.width, image.height) {
        // Every mode is the identity at factor 1.
        return image.clone();
    }
    let pixels = match mode {
        ResizeMode::AntialiasedBicubic | ResizeMode::Lanczos3 => {
            let filter = if mode == ResizeMode::Lanczos3 { Filter::Lanczos3 } else { Filter::Bicubic };
            resample::resize(&image.pixels, image.width, image.height, 3, width, height, filter)
        }
        ResizeMode::Area | ResizeMode::Bilinear | ResizeMode::Bicubic => {
            let rows = Taps::new(image.height, height, mode).apply(&image.pixels, 1, image.width * 3);
            Taps::new(image.width, width, mode).apply(&rows, height, 3)
        }
    };
    Image { pixels, width, height }
}

/// For each output sample along one axis, the source samples it reads and their weights, padded
/// with zero weights to the same count.
struct Taps {
    per_output: usize,
    indices: Vec<usize>,
    weights: Vec<f32>,
}

impl Taps {
    fn new(len: usize, new_len: usize, mode: ResizeMode) -> Self {
        let ratio = len as f64 / new_len as f64;
        let last = len - 1;
        let rows: Vec<Vec<(usize, f64)>> = (0..new_len)
            .map(|o| match mode {
                ResizeMode::Area => {
                    let start = (o as f64 * ratio).floor() as usize;
                    let end = (((o + 1) as f64 * ratio).ceil() as usize).clamp(start + 1, len);
                    let weight = 1.0 / (end - start) as f64;
                    (start..end).map(|i| (i, weight)).collect()
                }
                ResizeMode::Bilinear => {
                    let position = ((o as f64 + 0.5) * ratio - 0.5).max(0.0);
                    let (i, t) = (position.floor() as usize, position.fract());
                    vec![(i.min(last), 1.0 - t), ((i + 1).min(last), t)]
                }
                _ => {
                    let position = (o as f64 + 0.5) * ratio - 0.5;
                    let (i, t) = (position.floor() as isize, position - position.floor());
                    (-1..=2).map(|k| ((i + k).clamp(0, last as isize) as usize, keys(k as f64 - t))).collect()
                }
            })
            .collect();
        let per_output = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut indices = Vec::with_capacity(new_len * per_output);
        let mut weights = Vec::with_capacity(new_len * per_output);
        for row in rows {
            let padding = per_output - row.len();
            indices.extend(row.iter().map(|&(i, _)| i).chain(std::iter::repeat_n(0, padding)));
            weights.extend(row.iter().map(|&(_, w)| w as f32).chain(std::iter::repeat_n(0.0, padding)));
        }
        Self { per_output, indices, weights }
    }

    /// Resamples the middle axis of `outer × len × inner` values: rows when `outer` is 1 and
    /// `inner` a whole row, columns when `inner` is one pixel.
    fn apply(&self, src: &[f32], outer: usize, inner: usize) -> Vec<f32> {
        let new_len = self.indices.len() / self.per_output.max(1);
        let len = src.len() / (outer * inner);
        let mut dst = vec![0.0; outer * new_len * inner];
        for (block, out_block) in src.chunks_exact(len * inner).zip(dst.chunks_exact_mut(new_len * inner)) {
            let outputs = out_block.chunks_exact_mut(inner);
            let taps = self.indices.chunks_exact(self.per_output).zip(self.weights.chunks_exact(self.per_output));
            for (out, (indices, weights)) in outputs.zip(taps) {
                for (&i, &w) in indices.iter().zip(weights) {
                    for (o, &v) in out.iter_mut().zip(&block[i * inner..(i + 1) * inner]) {
                        *o += w * v;
                    }
                }
            }
        }
        dst
    }
}

/// Keys' cubic convolution kernel with PyTorch's a = -0.75.
fn keys(x: f64) -> f64 {
    const A: f64 = -0.75;
    let x = x.abs();
    if x <= 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    const MODES: [ResizeMode; 5] = [
        ResizeMode::Area,
        ResizeMode::Bilinear,
        ResizeMode::Bicubic,
        ResizeMode::AntialiasedBicubic,
        ResizeMode::Lanczos3,
    ];

    fn ramp(width: usize, height: usize) -> Image {
        let pixels = (0..height).flat_map(|y| (0..width).flat_map(move |x| [x as f32, y as f32, 50.0])).collect();
        Image { pixels, width, height }
    }

    #[test]
    fn every_mode_gives_the_size_asked_and_keeps_a_flat_image_flat() {
        let flat = Image { pixels: vec![93.0; 37 * 23 * 3], width: 37, height: 23 };
        for mode in MODES {
            for size in [(55, 34), (11, 5), (1, 1), (37, 40), (200, 7)] {
                let out = resize(&flat, size, mode);
                assert_eq!((out.width, out.height, out.pixels.len()), (size.0, size.1, size.0 * size.1 * 3));
                assert!(out.pixels.iter().all(|&v| (v - 93.0).abs() < 1e-3), "{mode:?} {size:?}");
            }
        }
    }

    /// Half-pixel centres, as PyTorch: enlarging a ramp ×2 reads source position (o + ½)/2 − ½.
    /// Bilinear reproduces the ramp exactly; Keys' cubic with a = -0.75 only to within 0.047 at
    /// quarter-pixel offsets, while a wrong pixel-centre convention would be off by 0.25.
    #[test]
    fn pytorch_modes_follow_half_pixel_centres() {
        let image = ramp(16, 4);
        for (mode, tolerance) in [(ResizeMode::Bilinear, 1e-4), (ResizeMode::Bicubic, 0.05)] {
            let out = resize(&image, (32, 4), mode);
            for o in 4..28 {
                let expected = (o as f32 + 0.5) / 2.0 - 0.5;
                let got = out.pixels[(32 + o) * 3];
                assert!((got - expected).abs() < tolerance, "{mode:?} at {o}: {got}, expected {expected}");
            }
        }
        // Area when shrinking ×4 is the mean of each 4 pixels: 1.5, 5.5, 9.5, 13.5.
        let out = resize(&image, (4, 1), ResizeMode::Area);
        let xs: Vec<f32> = out.pixels.chunks_exact(3).map(|p| p[0]).collect();
        assert_eq!(xs, [1.5, 5.5, 9.5, 13.5]);
    }

    /// Shrinking a fine pattern: PyTorch's bilinear and bicubic sample it and keep (aliased)
    /// contrast, the others average it towards grey.
    #[test]
    fn only_the_pytorch_modes_alias() {
        let width = 64;
        let stripes: Vec<f32> = (0..width).flat_map(|x| [if x % 2 == 0 { 0.0 } else { 255.0 }; 3]).collect();
        let image = Image { pixels: stripes.repeat(8), width, height: 8 };
        let spread = |mode| {
            let out = resize(&image, (20, 2), mode);
            let (min, max) = out.pixels.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            max - min
        };
        for mode in MODES {
            let aliases = matches!(mode, ResizeMode::Bilinear | ResizeMode::Bicubic);
            assert_eq!(spread(mode) > 100.0, aliases, "{mode:?}: {}", spread(mode));
        }
    }

    #[test]
    fn keys_weights_partition_unity() {
        for t in [0.0, 0.1, 0.5, 0.9] {
            let sum: f64 = (-1..=2).map(|k| keys(f64::from(k) - t)).sum();
            assert!((sum - 1.0).abs() < 1e-12, "{t}");
        }
        assert_eq!(keys(0.0), 1.0);
        assert_eq!(keys(1.0), 0.0);
    }

    #[test]
    fn factors_follow_up_down_keep() {
        let mut rng = StdRng::seed_from_u64(6);
        let resize = Resize { up_down_keep: [0.2, 0.7, 0.1], range: (0.15, 1.5) };
        let factors: Vec<f32> = (0..10_000).map(|_| resize.factor(&mut rng)).collect();
        let share = |f: &dyn Fn(f32) -> bool| factors.iter().filter(|&&x| f(x)).count() as f64 / 1e4;
        assert!((share(&|x| x > 1.0) - 0.2).abs() < 0.02);
        assert!((share(&|x| x < 1.0) - 0.7).abs() < 0.02);
        assert!((share(&|x| x == 1.0) - 0.1).abs() < 0.02);
        assert!(factors.iter().all(|&x| (0.15..=1.5).contains(&x)));
        assert!(Resize { up_down_keep: [0.0; 3], range: (0.5, 1.5) }.validate("first").is_err());
        assert!(Resize { up_down_keep: [1.0; 3], range: (1.2, 1.5) }.validate("first").is_err());
        assert_eq!(scaled(10, 0.01), 1);
        assert_eq!(scaled(256, 0.15), 38);
    }
}
