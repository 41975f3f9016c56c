//! Sensor noise, as Real-ESRGAN adds it (`random_add_gaussian_noise_pt`,
//! `random_add_poisson_noise_pt`): Gaussian of a fixed σ, or Poisson (photon) noise that grows
//! with brightness; in colour, or grey (the same in the three channels, like luma noise). The
//! result is clipped to 0..255 but not rounded, as there.

use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, SeedableRng};

use super::{Image, chance, check_probability, check_range, uniform};
use crate::Result;

/// The noise of one order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Noise {
    /// Chance of Gaussian noise; Poisson noise otherwise.
    pub gaussian: f64,
    /// σ of the Gaussian noise, in 8-bit levels.
    pub sigma: (f32, f32),
    /// Multiplier of the Poisson noise, whose σ is this times √level.
    pub poisson_scale: (f32, f32),
    /// Chance that the noise is grey.
    pub gray: f64,
}

impl Noise {
    pub(super) fn validate(&self, order: &str) -> Result<()> {
        check_probability(&format!("{order} Gaussian noise"), self.gaussian)?;
        check_probability(&format!("{order} grey noise"), self.gray)?;
        check_range(&format!("the {order} noise σ"), self.sigma)?;
        check_range(&format!("the {order} Poisson scale"), self.poisson_scale)
    }

    pub(super) fn add(&self, image: &mut Image, rng: &mut StdRng) {
        let gaussian = chance(rng, self.gaussian);
        let gray = chance(rng, self.gray);
        let level = if gaussian { uniform(rng, self.sigma) } else { uniform(rng, self.poisson_scale) };
        // A draw or more per value: xoshiro makes them at a third of ChaCha's cost, and seeded
        // from the chain's generator it is as deterministic.
        let mut fast = SmallRng::from_rng(rng);
        if gaussian {
            add_gaussian(image, level, gray, &mut fast);
        } else {
            add_poisson(image, level, gray, &mut fast);
        }
        image.clamp();
    }
}

fn add_gaussian(image: &mut Image, sigma: f32, gray: bool, rng: &mut SmallRng) {
    let mut normal = Normal::default();
    if gray {
        for pixel in image.pixels.chunks_exact_mut(3) {
            let noise = sigma * normal.sample(rng);
            pixel.iter_mut().for_each(|v| *v += noise);
        }
    } else {
        image.pixels.iter_mut().for_each(|v| *v += sigma * normal.sample(rng));
    }
}

/// Photon noise with one photon per 8-bit level of the rounded image, as Real-ESRGAN's (whose
/// count per unit is the number of distinct values rounded up to a power of two: 256 for any
/// photo patch), times `scale`. Grey noise is drawn from the luma (BT.601) and added to all three.
fn add_poisson(image: &mut Image, scale: f32, gray: bool, rng: &mut SmallRng) {
    let mut normal = Normal::default();
    let mut noise = |level: f32, rng: &mut SmallRng| {
        let lambda = level.round().clamp(0.0, 255.0);
        scale * (poisson(lambda, &mut normal, rng) - lambda)
    };
    if gray {
        for pixel in image.pixels.chunks_exact_mut(3) {
            let luma = 0.299 * pixel[0].clamp(0.0, 255.0)
                + 0.587 * pixel[1].clamp(0.0, 255.0)
                + 0.114 * pixel[2].clamp(0.0, 255.0);
            let n = noise(luma, rng);
            pixel.iter_mut().for_each(|v| *v += n);
        }
    } else {
        image.pixels.iter_mut().for_each(|v| *v += noise(*v, rng));
    }
}

/// A Poisson count of mean `lambda`: exact (Knuth's product of uniforms) for small means, where
/// the distribution is skewed and discrete; above, the normal approximation rounded to a count,
/// which is within a fraction of a count of it and costs one normal draw instead of λ uniforms.
fn poisson(lambda: f32, normal: &mut Normal, rng: &mut SmallRng) -> f32 {
    const EXACT_BELOW: f32 = 16.0;
    if lambda >= EXACT_BELOW {
        return (lambda + lambda.sqrt() * normal.sample(rng)).round().max(0.0);
    }
    let limit = (-lambda).exp();
    let (mut count, mut product) = (0.0, rng.random::<f32>());
    while product > limit {
        count += 1.0;
        product *= rng.random::<f32>();
    }
    count
}

/// Standard normal draws by Marsaglia's polar method, which makes them in pairs: the second is
/// kept for the next call.
#[derive(Default)]
struct Normal {
    spare: Option<f32>,
}

impl Normal {
    fn sample(&mut self, rng: &mut SmallRng) -> f32 {
        if let Some(spare) = self.spare.take() {
            return spare;
        }
        loop {
            let (u, v) = (2.0 * rng.random::<f32>() - 1.0, 2.0 * rng.random::<f32>() - 1.0);
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let factor = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * factor);
                return u * factor;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(level: f32, side: usize) -> Image {
        Image { pixels: vec![level; side * side * 3], width: side, height: side }
    }

    /// Mean and standard deviation of the values.
    fn stats(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let variance = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        (mean, variance.sqrt())
    }

    #[test]
    fn normal_draws_are_standard() {
        let mut rng = SmallRng::seed_from_u64(4);
        let mut normal = Normal::default();
        let draws: Vec<f32> = (0..100_000).map(|_| normal.sample(&mut rng)).collect();
        let (mean, sd) = stats(&draws);
        assert!(mean.abs() < 0.01 && (sd - 1.0).abs() < 0.01, "{mean} {sd}");
        let beyond_two = draws.iter().filter(|v| v.abs() > 2.0).count() as f64 / draws.len() as f64;
        assert!((beyond_two - 0.0455).abs() < 0.003, "{beyond_two}");
    }

    #[test]
    fn gaussian_noise_has_the_requested_sigma() {
        let mut rng = SmallRng::seed_from_u64(1);
        for (sigma, gray) in [(10.0, false), (25.0, true)] {
            let mut image = flat(128.0, 96);
            add_gaussian(&mut image, sigma, gray, &mut rng);
            let (mean, sd) = stats(&image.pixels);
            assert!(
                (mean - 128.0).abs() < 0.3 && (sd - f64::from(sigma)).abs() < 0.03 * f64::from(sigma),
                "{mean} {sd}"
            );
            let equal = image.pixels.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]);
            assert_eq!(equal, gray, "grey noise is the same in the three channels, colour noise is not");
        }
    }

    /// Photon noise: σ = scale · √level, so four times the brightness doubles it.
    #[test]
    fn poisson_noise_grows_with_brightness() {
        let mut rng = SmallRng::seed_from_u64(2);
        for (level, scale) in [(4.0f32, 1.0f32), (36.0, 1.0), (144.0, 1.0), (144.0, 0.5)] {
            let mut image = flat(level, 96);
            add_poisson(&mut image, scale, false, &mut rng);
            let (mean, sd) = stats(&image.pixels);
            let expected = f64::from(scale * level.sqrt());
            assert!((mean - f64::from(level)).abs() < 0.1 * expected, "level {level}: mean {mean}");
            assert!((sd - expected).abs() < 0.03 * expected, "level {level} × {scale}: σ {sd}, expected {expected}");
        }
        let mut image = flat(100.0, 32);
        add_poisson(&mut image, 1.0, true, &mut rng);
        assert!(image.pixels.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]));
        // Black stays black: there are no photons to count.
        let mut black = flat(0.0, 16);
        add_poisson(&mut black, 3.0, false, &mut rng);
        assert!(black.pixels.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn noise_is_clipped_to_eight_bit_levels() {
        let mut rng = StdRng::seed_from_u64(3);
        let noise = Noise { gaussian: 1.0, sigma: (30.0, 30.0), poisson_scale: (1.0, 1.0), gray: 0.0 };
        let mut image = flat(250.0, 32);
        noise.add(&mut image, &mut rng);
        assert!(image.pixels.iter().all(|&v| (0.0..=255.0).contains(&v)));
        assert!(image.pixels.contains(&255.0) && image.pixels.iter().any(|&v| v.fract() != 0.0));
    }
}
