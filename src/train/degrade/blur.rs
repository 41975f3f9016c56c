//! Blur kernels and the convolution that applies them.
//!
//! The kernels are Real-ESRGAN's (`basicsr/data/degradations.py`): Gaussians, isotropic or
//! anisotropic and rotated, their generalized variants (peaky or flat-topped) and plateau
//! variants (heavy tails), and the circular sinc (a 2-D ideal low-pass, which rings). Unsharp
//! masking subtracts a Gaussian blur, so it lives here too. Borders reflect, as Real-ESRGAN's
//! `filter2D` pads.

use std::f64::consts::PI;

use rand::Rng;
use rand::rngs::StdRng;

use super::{Image, chance, check_probability, check_range, choose, reflect, uniform};
use crate::{Error, Result};

/// The blur of one order: a kernel of a random Gaussian-family shape, or a sinc.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Blur {
    /// Chance that this order blurs at all.
    pub prob: f64,
    /// Kernel side in pixels: an odd number drawn uniformly from this inclusive range.
    pub sizes: (usize, usize),
    /// Relative chances of the shapes: isotropic, anisotropic, generalized isotropic,
    /// generalized anisotropic, plateau isotropic, plateau anisotropic.
    pub shapes: [f64; 6],
    /// σ of the Gaussian-family kernels along each of their axes, in pixels.
    pub sigma: (f32, f32),
    /// β of the generalized Gaussian, exp(-½ d^2β): below 1 peaky with heavy tails, above 1
    /// flat-topped.
    pub beta_generalized: (f32, f32),
    /// β of the plateau kernel, 1 / (1 + d^2β).
    pub beta_plateau: (f32, f32),
    /// Chance of a circular sinc instead of the Gaussian-family shapes.
    pub sinc: f64,
}

impl Blur {
    pub(super) fn validate(&self, order: &str) -> Result<()> {
        check_probability(&format!("the {order} blur"), self.prob)?;
        check_probability(&format!("the {order} sinc"), self.sinc)?;
        check_kernel_sizes(order, self.sizes)?;
        if self.shapes.iter().any(|&w| !(w >= 0.0 && w.is_finite())) || self.shapes.iter().sum::<f64>() <= 0.0 {
            return Err(Error::Parameter(format!(
                "the {order} blur's shape chances {:?} must be non-negative, not all zero",
                self.shapes
            )));
        }
        check_range(&format!("the {order} blur's σ"), self.sigma)?;
        check_range(&format!("the {order} generalized Gaussian's β"), self.beta_generalized)?;
        check_range(&format!("the {order} plateau's β"), self.beta_plateau)
    }

    /// A random kernel, drawn as Real-ESRGAN draws one.
    pub(super) fn kernel(&self, rng: &mut StdRng) -> Kernel {
        let side = odd_side(rng, self.sizes);
        if chance(rng, self.sinc) {
            // Low cutoffs only in kernels long enough to hold their wide lobes (Real-ESRGAN's rule).
            let lowest = if side < 13 { PI / 3.0 } else { PI / 5.0 };
            return sinc(side, f64::from(uniform(rng, (lowest as f32, PI as f32))));
        }
        let shape = choose(rng, &self.shapes);
        // Half the draws of β below 1 and half above, as Real-ESRGAN makes them.
        let mut beta = |(low, high): (f32, f32)| {
            let below = chance(rng, 0.5);
            f64::from(if below { uniform(rng, (low, 1.0)) } else { uniform(rng, (1.0, high)) })
        };
        let profile = match shape / 2 {
            0 => Profile::Gaussian,
            1 => Profile::Generalized(beta(self.beta_generalized)),
            _ => Profile::Plateau(beta(self.beta_plateau)),
        };
        let sigma_x = f64::from(uniform(rng, self.sigma));
        if shape.is_multiple_of(2) {
            return match profile {
                Profile::Gaussian => Kernel::separable(gaussian_taps(sigma_x, side)),
                _ => gaussian_family(side, (sigma_x, sigma_x), 0.0, profile),
            };
        }
        let sigma_y = f64::from(uniform(rng, self.sigma));
        let angle = f64::from(uniform(rng, (-PI as f32, PI as f32)));
        gaussian_family(side, (sigma_x, sigma_y), angle, profile)
    }
}

/// Kernel sides: odd, at least 1, the range increasing.
fn check_kernel_sizes(order: &str, (low, high): (usize, usize)) -> Result<()> {
    if low % 2 == 1 && high % 2 == 1 && low <= high {
        Ok(())
    } else {
        Err(Error::Parameter(format!("the {order} kernel sides {low}–{high} must be odd and increasing")))
    }
}

/// An odd side drawn uniformly from the odd numbers in `low..=high`.
pub(super) fn odd_side(rng: &mut StdRng, (low, high): (usize, usize)) -> usize {
    2 * rng.random_range(low / 2..=high / 2) + 1
}

/// How a Gaussian-family kernel falls off with the squared Mahalanobis distance d² = xᵀΣ⁻¹x.
#[derive(Clone, Copy, Debug)]
enum Profile {
    Gaussian,
    Generalized(f64),
    Plateau(f64),
}

impl Profile {
    fn at(self, d2: f64) -> f64 {
        match self {
            Profile::Gaussian => (-0.5 * d2).exp(),
            Profile::Generalized(beta) => (-0.5 * d2.powf(beta)).exp(),
            Profile::Plateau(beta) => 1.0 / (d2.powf(beta) + 1.0),
        }
    }
}

/// A Gaussian-family kernel with σ `(along its x axis, along its y axis)`, the axes turned by
/// `angle` (radians, x towards y, i.e. clockwise on screen since y points down).
fn gaussian_family(side: usize, (sigma_x, sigma_y): (f64, f64), angle: f64, profile: Profile) -> Kernel {
    let centre = (side / 2) as f64;
    let (sin, cos) = angle.sin_cos();
    let mut weights = Vec::with_capacity(side * side);
    for row in 0..side {
        for column in 0..side {
            let (x, y) = (column as f64 - centre, row as f64 - centre);
            // Coordinates along the kernel's own axes: Σ = R diag(σx², σy²) Rᵀ.
            let (u, v) = (cos * x + sin * y, -sin * x + cos * y);
            weights.push(profile.at((u / sigma_x).powi(2) + (v / sigma_y).powi(2)));
        }
    }
    Kernel::full(side, weights)
}

/// The 1-D Gaussian whose outer product with itself is the isotropic kernel.
fn gaussian_taps(sigma: f64, side: usize) -> Vec<f64> {
    let centre = (side / 2) as f64;
    (0..side).map(|i| (-0.5 * ((i as f64 - centre) / sigma).powi(2)).exp()).collect()
}

/// Real-ESRGAN's `circular_lowpass_kernel`: the ideal low-pass of radial cutoff `omega`
/// (radians per pixel), ω J₁(ω r) / (2π r), cut to the window.
pub(super) fn sinc(side: usize, omega: f64) -> Kernel {
    let centre = side / 2;
    // It depends on r² alone, which takes far fewer values than the window has taps.
    let mut by_r2 = vec![None; 2 * centre * centre + 1];
    let mut weights = Vec::with_capacity(side * side);
    for row in 0..side {
        for column in 0..side {
            let r2 = row.abs_diff(centre).pow(2) + column.abs_diff(centre).pow(2);
            weights.push(*by_r2[r2].get_or_insert_with(|| {
                let r = (r2 as f64).sqrt();
                if r2 == 0 { omega * omega / (4.0 * PI) } else { omega * bessel_j1(omega * r) / (2.0 * PI * r) }
            }));
        }
    }
    Kernel::full(side, weights)
}

/// J₁(x) from its integral (1/2π)∫cos(τ − x sin τ)dτ over a period: the trapezoid rule on a
/// periodic analytic integrand converges geometrically, and 96 points are exact to ~1e-15 for
/// the |x| ≤ 45 a 21-tap sinc needs.
fn bessel_j1(x: f64) -> f64 {
    const POINTS: usize = 96;
    (0..POINTS)
        .map(|j| {
            let tau = 2.0 * PI * j as f64 / POINTS as f64;
            (tau - x * tau.sin()).cos()
        })
        .sum::<f64>()
        / POINTS as f64
}

/// A normalised blur kernel with an odd side.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Kernel {
    /// The outer product of these taps with themselves: two passes of `side` multiply-adds per
    /// value instead of one of side².
    Separable(Vec<f32>),
    /// `side × side` weights, row-major, applied as a correlation (as `conv2d` does).
    Full { side: usize, weights: Vec<f32> },
}

/// Weights below this fraction of the largest are dropped from the kernel's outer rings: a
/// small σ in a large window leaves most taps nearly zero, and each costs a multiply-add per
/// value. What is dropped moves no pixel by more than a few hundredths of a level.
const NEGLIGIBLE: f64 = 1e-4;

impl Kernel {
    fn separable(taps: Vec<f64>) -> Self {
        let peak = taps.iter().fold(0.0f64, |m, &t| m.max(t.abs()));
        let centre = taps.len() / 2;
        let keep = (0..centre).find(|&i| taps[i].abs() >= NEGLIGIBLE * peak).unwrap_or(centre);
        Self::Separable(normalised(&taps[keep..taps.len() - keep]))
    }

    fn full(side: usize, weights: Vec<f64>) -> Self {
        let peak = weights.iter().fold(0.0f64, |m, &w| m.max(w.abs()));
        let centre = side / 2;
        // The largest weight on each square ring around the centre.
        let mut rings = vec![0.0f64; centre + 1];
        for (i, &w) in weights.iter().enumerate() {
            let ring = (i / side).abs_diff(centre).max((i % side).abs_diff(centre));
            rings[ring] = rings[ring].max(w.abs());
        }
        let radius = rings.iter().rposition(|&m| m >= NEGLIGIBLE * peak).unwrap_or(0);
        let kept = 2 * radius + 1;
        let trimmed: Vec<f64> = weights
            .chunks_exact(side)
            .skip(centre - radius)
            .take(kept)
            .flat_map(|row| &row[centre - radius..centre + radius + 1])
            .copied()
            .collect();
        Self::Full { side: kept, weights: normalised(&trimmed) }
    }

    /// The convolution (a correlation, as `conv2d`) of the image with the kernel, borders
    /// reflected.
    pub(super) fn apply(&self, image: &Image) -> Image {
        match self {
            Kernel::Separable(taps) => vertical(&horizontal(image, taps), taps),
            Kernel::Full { side, weights } => full(image, *side, weights),
        }
    }
}

fn normalised(weights: &[f64]) -> Vec<f32> {
    let sum: f64 = weights.iter().sum();
    weights.iter().map(|&w| (w / sum) as f32).collect()
}

/// `dst += a · src`, the loop every convolution spends its time in; over whole rows of
/// interleaved values it vectorises.
fn multiply_add(dst: &mut [f32], a: f32, src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += a * s;
    }
}

/// Copies one row of interleaved RGB into `padded` with `radius` reflected pixels on each side.
fn pad_row(row: &[f32], width: usize, radius: usize, padded: &mut [f32]) {
    for (x, pixel) in padded.chunks_exact_mut(3).enumerate() {
        let source = reflect(x as isize - radius as isize, width);
        pixel.copy_from_slice(&row[source * 3..source * 3 + 3]);
    }
}

fn horizontal(image: &Image, taps: &[f32]) -> Image {
    let radius = taps.len() / 2;
    let row_len = image.width * 3;
    let mut padded = vec![0.0; row_len + 6 * radius];
    let mut pixels = vec![0.0; image.pixels.len()];
    for (src, dst) in image.pixels.chunks_exact(row_len).zip(pixels.chunks_exact_mut(row_len)) {
        pad_row(src, image.width, radius, &mut padded);
        for (k, &tap) in taps.iter().enumerate() {
            multiply_add(dst, tap, &padded[3 * k..3 * k + row_len]);
        }
    }
    Image { pixels, ..*image }
}

fn vertical(image: &Image, taps: &[f32]) -> Image {
    let radius = taps.len() / 2;
    let row_len = image.width * 3;
    let mut pixels = vec![0.0; image.pixels.len()];
    for (y, dst) in pixels.chunks_exact_mut(row_len).enumerate() {
        for (k, &tap) in taps.iter().enumerate() {
            let source = reflect((y + k) as isize - radius as isize, image.height);
            multiply_add(dst, tap, &image.pixels[source * row_len..(source + 1) * row_len]);
        }
    }
    Image { pixels, ..*image }
}

/// Output values of a row that the 2-D convolution sums at once, their sums held in registers
/// through the whole kernel (summing a whole row per tap instead stores and reloads every sum
/// at every tap, which made it twice as slow).
const BLOCK: usize = 48;

fn full(image: &Image, side: usize, weights: &[f32]) -> Image {
    let radius = side / 2;
    let row_len = image.width * 3;
    // Every row padded once, with room for a last block that runs past the row's end.
    let padded_len = row_len.next_multiple_of(BLOCK) + 6 * radius;
    let mut padded = vec![0.0; padded_len * image.height];
    for (src, dst) in image.pixels.chunks_exact(row_len).zip(padded.chunks_exact_mut(padded_len)) {
        pad_row(src, image.width, radius, &mut dst[..row_len + 6 * radius]);
    }
    let mut pixels = vec![0.0; image.pixels.len()];
    let mut rows = Vec::with_capacity(side);
    for (y, dst) in pixels.chunks_exact_mut(row_len).enumerate() {
        rows.clear();
        rows.extend((0..side).map(|ky| {
            let source = reflect((y + ky) as isize - radius as isize, image.height);
            &padded[source * padded_len..(source + 1) * padded_len]
        }));
        for (index, out) in dst.chunks_mut(BLOCK).enumerate() {
            let sums = block(&rows, weights, side, index * BLOCK);
            out.copy_from_slice(&sums[..out.len()]);
        }
    }
    Image { pixels, ..*image }
}

/// The convolution's [`BLOCK`] values from `start` on, from the kernel's rows of padded source.
fn block(rows: &[&[f32]], weights: &[f32], side: usize, start: usize) -> [f32; BLOCK] {
    let mut sums = [0.0; BLOCK];
    for (row, kernel_row) in rows.iter().zip(weights.chunks_exact(side)) {
        for (kx, &weight) in kernel_row.iter().enumerate() {
            multiply_add(&mut sums, weight, &row[3 * kx + start..3 * kx + start + BLOCK]);
        }
    }
    sums
}

/// Unsharp masking, as image editors and publishing pipelines apply after a downscale
/// (Photoshop's "bicubic sharper", Lightroom's output sharpening, WordPress's thumbnails).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sharpen {
    /// Chance of sharpening.
    pub prob: f64,
    /// How much of the detail (the image minus its blur) is added back: 1.5 is Photoshop's 150 %.
    pub amount: (f32, f32),
    /// σ of the blur in pixels (Photoshop's "radius").
    pub radius: (f32, f32),
}

impl Sharpen {
    pub(super) fn validate(&self) -> Result<()> {
        check_probability("sharpening", self.prob)?;
        check_range("the sharpening amount", self.amount)?;
        check_range("the sharpening radius", self.radius)
    }

    /// The image, sharpened with probability `prob`.
    pub(super) fn maybe(&self, image: Image, rng: &mut StdRng) -> Image {
        if !chance(rng, self.prob) {
            return image;
        }
        let amount = uniform(rng, self.amount);
        unsharp_mask(&image, amount, f64::from(uniform(rng, self.radius)))
    }
}

/// image + amount · (image − Gaussian blur of σ `radius`).
fn unsharp_mask(image: &Image, amount: f32, radius: f64) -> Image {
    let side = 2 * (3.0 * radius).ceil() as usize + 1;
    let blurred = Kernel::separable(gaussian_taps(radius, side)).apply(image);
    let pixels = image.pixels.iter().zip(&blurred.pixels).map(|(&v, &b)| v + amount * (v - b)).collect();
    Image { pixels, ..*image }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// The kernel as side × side weights, whichever its form.
    fn dense(kernel: &Kernel) -> (usize, Vec<f64>) {
        match kernel {
            Kernel::Separable(taps) => {
                let weights = taps.iter().flat_map(|&a| taps.iter().map(move |&b| f64::from(a) * f64::from(b)));
                (taps.len(), weights.collect())
            }
            Kernel::Full { side, weights } => (*side, weights.iter().map(|&w| f64::from(w)).collect()),
        }
    }

    /// The weight at offset (dx, dy) from the centre.
    fn at(kernel: &Kernel, dx: isize, dy: isize) -> f64 {
        let (side, weights) = dense(kernel);
        let c = (side / 2) as isize;
        weights[((c + dy) * side as isize + c + dx) as usize]
    }

    /// Second moments (E[x²], E[y²], E[xy]) of a kernel read as a distribution.
    fn moments(kernel: &Kernel) -> (f64, f64, f64) {
        let (side, weights) = dense(kernel);
        let c = (side / 2) as f64;
        let mut m = (0.0, 0.0, 0.0);
        for (i, &w) in weights.iter().enumerate() {
            let (x, y) = ((i % side) as f64 - c, (i / side) as f64 - c);
            m = (m.0 + w * x * x, m.1 + w * y * y, m.2 + w * x * y);
        }
        m
    }

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1.0)
    }

    #[test]
    fn random_kernels_are_normalised_odd_and_within_the_window() {
        let mut rng = StdRng::seed_from_u64(5);
        let blur = super::super::RealDegradation::REAL_ESRGAN.first.blur;
        let mut forms = (0, 0);
        for _ in 0..300 {
            let kernel = blur.kernel(&mut rng);
            let (side, weights) = dense(&kernel);
            assert!(side % 2 == 1 && side <= 21, "side {side}");
            assert!(close(weights.iter().sum(), 1.0, 1e-5), "{kernel:?}");
            match kernel {
                Kernel::Separable(_) => forms.0 += 1,
                Kernel::Full { .. } => forms.1 += 1,
            }
        }
        // Isotropic Gaussians are 45 % of the 90 % non-sinc kernels: about 40 %.
        assert!((90..160).contains(&forms.0), "{forms:?} separable/full");
    }

    #[test]
    fn isotropic_gaussian_has_variance_sigma_squared() {
        for sigma in [1.0, 2.0, 3.0] {
            let kernel = Kernel::separable(gaussian_taps(sigma, 21));
            let (xx, yy, xy) = moments(&kernel);
            assert!(close(xx, sigma * sigma, 0.01) && close(yy, sigma * sigma, 0.01), "σ {sigma}: {xx} {yy}");
            assert!(xy.abs() < 1e-6);
            // The 2-D form of the same shape is the same kernel.
            let full = gaussian_family(21, (sigma, sigma), 0.7, Profile::Gaussian);
            let (a, b) = (dense(&kernel), dense(&full));
            assert_eq!(a.0, b.0, "σ {sigma}: both trimmed alike");
            assert!(a.1.iter().zip(&b.1).all(|(x, y)| (x - y).abs() < 1e-6));
        }
        // A small σ in a large window keeps only the taps that matter.
        assert_eq!(dense(&Kernel::separable(gaussian_taps(0.5, 21))).0, 5);
    }

    /// Σ = R diag(σx², σy²) Rᵀ: turned by 0, π/2 and π/4, the variances swap and the covariance
    /// appears with the sign of the turn.
    #[test]
    fn anisotropic_gaussian_is_rotated_correctly() {
        let (sx, sy) = (2.5f64, 1.0f64);
        let kernel = |angle: f64| gaussian_family(25, (sx, sy), angle, Profile::Gaussian);
        let (xx, yy, xy) = moments(&kernel(0.0));
        assert!(close(xx, sx * sx, 0.01) && close(yy, sy * sy, 0.01) && xy.abs() < 1e-6, "{xx} {yy} {xy}");
        let (xx, yy, _) = moments(&kernel(PI / 2.0));
        assert!(close(xx, sy * sy, 0.01) && close(yy, sx * sx, 0.01), "{xx} {yy}");
        let half = (sx * sx - sy * sy) / 2.0;
        let (xx, yy, xy) = moments(&kernel(PI / 4.0));
        assert!(close(xx, (sx * sx + sy * sy) / 2.0, 0.01) && close(yy, xx, 1e-6), "{xx} {yy}");
        assert!(close(xy, half, 0.01), "{xy} vs {half}");
        assert!(close(moments(&kernel(-PI / 4.0)).2, -half, 0.01));
    }

    /// At Mahalanobis distance 1 the generalized Gaussian is e^-½ of its peak whatever β, and
    /// the plateau half of it; further out β decides how fast they fall.
    #[test]
    fn generalized_and_plateau_shapes() {
        let ratio = |profile, dx| {
            let kernel = gaussian_family(21, (3.0, 3.0), 0.0, profile);
            at(&kernel, dx, 0) / at(&kernel, 0, 0)
        };
        for beta in [0.5, 1.0, 2.0, 4.0] {
            assert!(close(ratio(Profile::Generalized(beta), 3), (-0.5f64).exp(), 1e-5), "β {beta}");
            assert!(close(ratio(Profile::Plateau(beta), 3), 0.5, 1e-5), "β {beta}");
            assert!(close(ratio(Profile::Plateau(beta), 6), 1.0 / (4f64.powf(beta) + 1.0), 1e-4), "β {beta}");
        }
        for beta in [0.5, 1.0, 2.0] {
            assert!(close(ratio(Profile::Generalized(beta), 6), (-0.5 * 4f64.powf(beta)).exp(), 1e-4), "β {beta}");
        }
        // At β 4 it is e^-128 there: cut off, as negligible.
        assert!(dense(&gaussian_family(21, (3.0, 3.0), 0.0, Profile::Generalized(4.0))).0 < 12);
        // β 1 of the generalized kernel is the Gaussian.
        assert_eq!(
            gaussian_family(15, (2.0, 1.0), 0.3, Profile::Generalized(1.0)),
            gaussian_family(15, (2.0, 1.0), 0.3, Profile::Gaussian)
        );
        // Flat top: within the same σ a high β keeps more of the peak near the centre.
        assert!(ratio(Profile::Generalized(4.0), 2) > ratio(Profile::Generalized(0.5), 2));
    }

    #[test]
    fn bessel_j1_matches_tabulated_values() {
        for (x, j1) in
            [(1.0, 0.440_050_585_744_933_5), (2.5, 0.497_094_102_464_274_4), (10.0, 0.043_472_746_168_861_44)]
        {
            assert!((bessel_j1(x) - j1).abs() < 1e-12, "J1({x}) = {}", bessel_j1(x));
        }
        assert!(bessel_j1(3.831_705_970_207_512).abs() < 1e-12, "the first zero");
        assert!((bessel_j1(-1.0) + bessel_j1(1.0)).abs() < 1e-15, "odd");
    }

    /// The sinc passes frequencies below its cutoff and stops those above: its frequency
    /// response along x at half and at 1.5 times the cutoff.
    #[test]
    fn sinc_cuts_off_at_omega() {
        for (side, omega) in [(21, PI / 3.0), (21, PI / 2.0), (13, PI / 2.0)] {
            let kernel = sinc(side, omega);
            let (side, weights) = dense(&kernel);
            assert!(close(weights.iter().sum(), 1.0, 1e-6));
            let c = (side / 2) as f64;
            let response = |frequency: f64| -> f64 {
                weights.iter().enumerate().map(|(i, &w)| w * (frequency * ((i % side) as f64 - c)).cos()).sum()
            };
            assert!(response(0.5 * omega) > 0.9, "{side} {omega}: {}", response(0.5 * omega));
            assert!(response(1.5 * omega).abs() < 0.1, "{side} {omega}: {}", response(1.5 * omega));
            assert!(weights.iter().any(|&w| w < 0.0), "a sinc rings");
        }
    }

    fn random_image(width: usize, height: usize, seed: u64) -> Image {
        let mut rng = StdRng::seed_from_u64(seed);
        Image { pixels: (0..width * height * 3).map(|_| rng.random::<f32>() * 255.0).collect(), width, height }
    }

    /// The tight loops against the textbook sum, on an asymmetric kernel (catches a flipped or
    /// shifted kernel) and an image smaller than the kernel (borders fold more than once).
    #[test]
    fn convolution_matches_the_direct_sum_with_reflected_borders() {
        let mut rng = StdRng::seed_from_u64(2);
        let side = 7;
        let values: Vec<f64> = (0..side * side).map(|_| rng.random::<f64>()).collect();
        let Kernel::Full { weights, .. } = Kernel::full(side, values) else { unreachable!("a 2-D kernel") };
        let kernel = Kernel::Full { side, weights: weights.clone() };
        for (width, height) in [(13, 9), (3, 2)] {
            let image = random_image(width, height, 3);
            let ours = kernel.apply(&image);
            for y in 0..height {
                for x in 0..width {
                    for c in 0..3 {
                        let mut sum = 0.0f64;
                        for ky in 0..side {
                            for kx in 0..side {
                                let sy = reflect((y + ky) as isize - 3, height);
                                let sx = reflect((x + kx) as isize - 3, width);
                                sum += f64::from(weights[ky * side + kx] * image.pixels[(sy * width + sx) * 3 + c]);
                            }
                        }
                        let got = ours.pixels[(y * width + x) * 3 + c];
                        assert!((f64::from(got) - sum).abs() < 1e-3, "{width}×{height} ({x}, {y}, {c})");
                    }
                }
            }
        }
        // The separable path equals its 2-D expansion.
        let taps = Kernel::separable(gaussian_taps(1.3, 9));
        let (side, weights) = dense(&taps);
        let expanded = Kernel::Full { side, weights: weights.iter().map(|&w| w as f32).collect() };
        let image = random_image(17, 11, 4);
        let (a, b) = (taps.apply(&image), expanded.apply(&image));
        assert!(a.pixels.iter().zip(&b.pixels).all(|(x, y)| (x - y).abs() < 1e-3));
    }

    #[test]
    fn blur_keeps_a_flat_image_flat() {
        let image = Image { pixels: vec![77.0; 20 * 10 * 3], width: 20, height: 10 };
        let mut rng = StdRng::seed_from_u64(8);
        for _ in 0..20 {
            let kernel = super::super::RealDegradation::REAL_ESRGAN.first.blur.kernel(&mut rng);
            assert!(kernel.apply(&image).pixels.iter().all(|&v| (v - 77.0).abs() < 1e-3), "{kernel:?}");
        }
    }

    /// A step edge gains contrast (dark side darker, bright side brighter next to it); flat
    /// areas away from it do not change.
    #[test]
    fn unsharp_mask_raises_edge_contrast_only() {
        let (width, height) = (40, 6);
        let pixels =
            (0..height).flat_map(|_| (0..width).flat_map(|x| [if x < 20 { 60.0 } else { 180.0 }; 3])).collect();
        let image = Image { pixels, width, height };
        let sharp = unsharp_mask(&image, 1.5, 1.0);
        let value = |image: &Image, x: usize| image.pixels[(2 * width + x) * 3];
        assert!(value(&sharp, 19) < 60.0 - 10.0 && value(&sharp, 20) > 180.0 + 10.0);
        for x in (0..12).chain(28..40) {
            assert!((value(&sharp, x) - value(&image, x)).abs() < 0.01, "x {x}: {}", value(&sharp, x));
        }
        let mut rng = StdRng::seed_from_u64(0);
        let never = Sharpen { prob: 0.0, amount: (1.0, 1.0), radius: (1.0, 1.0) };
        assert_eq!(never.maybe(image.clone(), &mut rng), image);
        let always = Sharpen { prob: 1.0, amount: (1.5, 1.5), radius: (1.0, 1.0) };
        assert_eq!(always.maybe(image.clone(), &mut rng), sharp);
    }

    #[test]
    fn odd_sides_cover_the_range() {
        let mut rng = StdRng::seed_from_u64(0);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..400 {
            seen.insert(odd_side(&mut rng, (7, 21)));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [7, 9, 11, 13, 15, 17, 19, 21]);
        assert!(check_kernel_sizes("first", (8, 21)).is_err());
        assert!(check_kernel_sizes("first", (21, 7)).is_err());
    }
}
