//! Separable image resampling in plain Rust.
//!
//! The super-resolution benchmarks define their low-resolution inputs and their bicubic baseline
//! with MATLAB's `imresize`, and a different bicubic (another kernel, border rule or pixel-centre
//! convention) shifts every PSNR by tenths of a dB. This module reproduces that algorithm, so that
//! upres can make benchmark inputs and baselines itself, and offers the same engine with a
//! Lanczos3 kernel for general-purpose resizing (pre-shrinking, the final fit to a target size)
//! without depending on an imaging library's own, slightly different, conventions.

/// The interpolation kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Keys' cubic convolution with a = -0.5, the kernel of MATLAB's `imresize(…, 'bicubic')`.
    Bicubic,
    /// The windowed sinc `sinc(x)·sinc(x/3)` on |x| < 3: sharper than bicubic, with a little more ringing.
    Lanczos3,
}

impl Filter {
    /// Half the width of the kernel's support, in source pixels, before any stretching.
    fn radius(self) -> f64 {
        match self {
            Filter::Bicubic => 2.0,
            Filter::Lanczos3 => 3.0,
        }
    }

    fn eval(self, x: f64) -> f64 {
        match self {
            Filter::Bicubic => cubic(x),
            Filter::Lanczos3 => lanczos3(x),
        }
    }
}

/// Keys' cubic with a = -0.5, with MATLAB's operations and their order, so that the weights match
/// MATLAB's to the last bit and its files can be reproduced. The network's bicubic residual uses it
/// too.
pub(crate) fn cubic(x: f64) -> f64 {
    let ax = x.abs();
    let ax2 = ax * ax;
    let ax3 = ax2 * ax;
    if ax <= 1.0 {
        1.5 * ax3 - 2.5 * ax2 + 1.0
    } else if ax <= 2.0 {
        -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    } else {
        0.0
    }
}

fn lanczos3(x: f64) -> f64 {
    if x.abs() >= 3.0 { 0.0 } else { sinc(x) * sinc(x / 3.0) }
}

/// The normalised sinc, sin(πx)/(πx), with its limit 1 at 0.
fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Resize interleaved f32 pixels (`channels` per pixel, any value range; no clamping, no rounding).
///
/// Antialiased when shrinking (kernel stretched by 1/scale, like MATLAB `imresize` and Pillow).
/// Borders: the edge pixels are replicated outwards, as MATLAB's `imresize` does. Pixel centres are aligned as in MATLAB and Pillow (the
/// image's outer edges map onto each other), so upscaling by an integer factor does not shift it.
///
/// Returns `new_width × new_height × channels` values, empty if any of those is 0.
///
/// # Panics
/// If `src.len() != width · height · channels` (a caller's bug), or if the source is empty
/// (width or height 0) while the requested output is not: there is nothing to resample from.
#[must_use]
pub fn resize(
    src: &[f32],
    width: usize,
    height: usize,
    channels: usize,
    new_width: usize,
    new_height: usize,
    filter: Filter,
) -> Vec<f32> {
    separable(src, width, height, channels, new_width, new_height, filter)
}

/// MATLAB `imresize(img, [new_height new_width], 'bicubic')` on 8-bit interleaved pixels.
///
/// Antialiased bicubic, the dimension with the smaller scale factor resized first (ties, such as
/// any uniform scaling: the height dimension, i.e. rows first, as MATLAB does), and the
/// intermediate rounded to 8 bits between the two passes, as MATLAB stores it in the input's class.
/// Reproduces the benchmark's MATLAB-made ×2/×3/×4 Set5 files exactly. (The ×8 files were made by
/// a port that mirrors the borders instead; they differ on their outer ring of pixels.)
///
/// # Panics
/// As [`resize`].
#[must_use]
pub fn imresize_matlab(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    new_width: usize,
    new_height: usize,
) -> Vec<u8> {
    separable(src, width, height, channels, new_width, new_height, Filter::Bicubic)
}

/// A pixel value the engine reads and writes. Each pass computes in f64 and stores its result
/// through `from_f64`, which for `u8` is where MATLAB rounds between the passes.
trait Sample: Copy {
    fn to_f64(self) -> f64;
    fn from_f64(value: f64) -> Self;
}

impl Sample for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(value: f64) -> Self {
        value as f32
    }
}

impl Sample for u8 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    /// Round half away from zero and saturate, as MATLAB's conversion to uint8 does (bicubic
    /// overshoots below 0 and above 255 near edges).
    fn from_f64(value: f64) -> Self {
        value.round().clamp(0.0, 255.0) as u8
    }
}

/// [`resize`] for 8-bit pixels: computed in `f32`, rounded and clamped once at the end (unlike
/// [`imresize_matlab`], which rounds between its passes as MATLAB does).
#[must_use]
pub fn resize_u8(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    new_width: usize,
    new_height: usize,
    filter: Filter,
) -> Vec<u8> {
    let values: Vec<f32> = src.iter().map(|&v| f32::from(v)).collect();
    resize(&values, width, height, channels, new_width, new_height, filter)
        .into_iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// The one resampling engine behind the public functions: two passes of [`resample_axis`].
fn separable<T: Sample>(
    src: &[T],
    width: usize,
    height: usize,
    channels: usize,
    new_width: usize,
    new_height: usize,
    filter: Filter,
) -> Vec<T> {
    assert_eq!(
        Some(src.len()),
        width.checked_mul(height).and_then(|n| n.checked_mul(channels)),
        "resample: {} values do not make a {width}×{height} image with {channels} channels",
        src.len()
    );
    if new_width == 0 || new_height == 0 || channels == 0 {
        return Vec::new();
    }
    assert!(
        width > 0 && height > 0,
        "resample: cannot make a {new_width}×{new_height} image from an empty {width}×{height} one"
    );

    // Like MATLAB, resize first along the dimension with the smaller scale factor (new/old),
    // rows first on a tie. With 8-bit samples the order changes the result through the rounding
    // in between, and MATLAB's order is the one that reproduces its files. It is also the cheaper
    // order, since a shrinking pass leaves less for the other one.
    let rows_first = new_height * width <= new_width * height;
    let by_rows = |img: &[T], width: usize| resample_axis(img, 1, height, width * channels, new_height, filter);
    let by_columns = |img: &[T], height: usize| resample_axis(img, height, width, channels, new_width, filter);
    if rows_first { by_columns(&by_rows(src, width), new_height) } else { by_rows(&by_columns(src, height), new_width) }
}

/// Resample along the middle axis of an array laid out as `outer × len × inner`, row-major, to
/// `new_len` along that axis. The width pass sees rows × columns × channels, the height pass
/// 1 × rows × (columns · channels): one loop serves both, and its innermost loop always runs
/// over contiguous memory (a whole row at a time in the height pass).
fn resample_axis<T: Sample>(
    src: &[T],
    outer: usize,
    len: usize,
    inner: usize,
    new_len: usize,
    filter: Filter,
) -> Vec<T> {
    if new_len == len {
        // Every kernel here is an exact identity at scale 1 (Lanczos up to sin(π) ≈ 1e-16 terms).
        return src.to_vec();
    }
    let table = Contributions::new(len, new_len, filter);
    let mut dst = Vec::with_capacity(outer * new_len * inner);
    let mut acc = vec![0.0f64; inner];
    for block in src.chunks_exact(len * inner) {
        for (indices, weights) in table.iter() {
            acc.fill(0.0);
            for (&i, &w) in indices.iter().zip(weights) {
                let line = &block[i * inner..(i + 1) * inner];
                for (a, &v) in acc.iter_mut().zip(line) {
                    *a += w * v.to_f64();
                }
            }
            dst.extend(acc.iter().map(|&a| T::from_f64(a)));
        }
    }
    debug_assert_eq!(dst.len(), outer * new_len * inner);
    dst
}

/// For every output sample along one axis, the source samples it reads and their weights
/// (MATLAB's `contributions`). Built once per pass and shared by all its rows or columns.
struct Contributions {
    /// Taps per output sample, the same for all of them.
    taps: usize,
    /// `new_len × taps` source indices, already clamped into `0..len`.
    indices: Vec<usize>,
    /// `new_len × taps` weights; each output's weights sum to 1.
    weights: Vec<f64>,
}

impl Contributions {
    /// `len ≥ 1` source samples to `new_len ≥ 1` output samples. Follows MATLAB's arithmetic step
    /// by step (1-based positions included), since rounding in `u` and `left` decides which taps exist.
    fn new(len: usize, new_len: usize, filter: Filter) -> Self {
        let scale = new_len as f64 / len as f64;
        // When shrinking, the kernel is stretched by 1/scale (and scaled to keep its area), so that
        // it averages over every source pixel an output pixel covers instead of aliasing.
        let stretch = scale.min(1.0);
        let kernel = |x: f64| stretch * filter.eval(stretch * x);
        let kernel_width = 2.0 * filter.radius() / stretch;
        // Two more taps than the support can touch, as MATLAB takes; zero columns go below.
        let taps = kernel_width.ceil() as usize + 2;

        let mut indices = Vec::with_capacity(new_len * taps);
        let mut weights = Vec::with_capacity(new_len * taps);
        for x in 1..=new_len {
            // The position in the source of output pixel x's centre, 1-based: pixel edges align.
            let u = x as f64 / scale + 0.5 * (1.0 - 1.0 / scale);
            let left = (u - kernel_width / 2.0).floor();
            let start = weights.len();
            for j in 0..taps {
                let index = left + j as f64;
                weights.push(kernel(u - index));
                indices.push(clamp_index(index, len));
            }
            // Normalising keeps flat areas flat even where the sampled kernel does not sum to 1.
            let row = &mut weights[start..];
            let sum: f64 = row.iter().sum();
            for w in row {
                *w /= sum;
            }
        }

        // Drop the tap positions that are zero for every output, as MATLAB does: they change no
        // sum, but cost a multiply-add per sample.
        let keep: Vec<usize> = (0..taps).filter(|&j| weights.iter().skip(j).step_by(taps).any(|&w| w != 0.0)).collect();
        Self {
            taps: keep.len(),
            indices: keep_columns(&indices, taps, &keep),
            weights: keep_columns(&weights, taps, &keep),
        }
    }

    /// Per output sample, its source indices and their weights.
    fn iter(&self) -> impl Iterator<Item = (&[usize], &[f64])> {
        self.indices.chunks_exact(self.taps).zip(self.weights.chunks_exact(self.taps))
    }
}

/// The columns `keep` of a row-major table with `width` columns.
fn keep_columns<T: Copy>(table: &[T], width: usize, keep: &[usize]) -> Vec<T> {
    table.chunks_exact(width).flat_map(|row| keep.iter().map(|&j| row[j])).collect()
}

/// The 0-based index that the 1-based `position` reads: positions beyond either end read the end
/// pixel ("Clamp out-of-range indices; has the effect of replicating end-points", imresize.m).
/// Symmetric mirroring, as some ports of imresize do, changes the outermost output pixels by up
/// to 7 levels on Set5 and no longer reproduces MATLAB's files.
fn clamp_index(position: f64, len: usize) -> usize {
    (position - 1.0).clamp(0.0, (len - 1) as f64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILTERS: [Filter; 2] = [Filter::Bicubic, Filter::Lanczos3];

    #[test]
    fn constant_images_stay_constant() {
        let pixel = [7.25f32, -3.0, 1000.5];
        // (width, height) → (new width, new height): up, down, mixed, odd and degenerate sizes.
        let cases = [
            ((7, 5), (3, 11)),
            ((13, 9), (40, 27)),
            ((40, 27), (13, 9)),
            ((1, 1), (3, 5)),
            ((3, 5), (1, 1)),
            ((1, 4000), (2, 1000)),
            ((1, 4000), (1, 4003)),
            ((4000, 1), (17, 3)),
        ];
        for filter in FILTERS {
            for ((w, h), (nw, nh)) in cases {
                let src: Vec<f32> = pixel.iter().copied().cycle().take(w * h * 3).collect();
                let out = resize(&src, w, h, 3, nw, nh, filter);
                assert_eq!(out.len(), nw * nh * 3, "{filter:?} {w}×{h} → {nw}×{nh}");
                for (i, (&v, &p)) in out.iter().zip(pixel.iter().cycle()).enumerate() {
                    assert!(
                        (v - p).abs() <= 1e-4 * p.abs().max(1.0),
                        "{filter:?} {w}×{h} → {nw}×{nh}: value {i} is {v}, not {p}"
                    );
                }
            }
        }
        for ((w, h), (nw, nh)) in [((1, 1), (3, 5)), ((9, 1), (2, 7)), ((30, 20), (7, 5))] {
            let out = imresize_matlab(&vec![200u8; w * h * 2], w, h, 2, nw, nh);
            assert_eq!(out, vec![200u8; nw * nh * 2], "u8 {w}×{h} → {nw}×{nh}");
        }
    }

    #[test]
    fn empty_output_is_empty() {
        assert!(resize(&[1.0; 6], 2, 3, 1, 0, 5, Filter::Bicubic).is_empty());
        assert!(imresize_matlab(&[], 0, 0, 3, 0, 0).is_empty());
    }

    /// Upscaling a linear ramp must give the same ramp sampled at the output's pixel centres,
    /// away from the borders: a wrong pixel-centre convention, a swapped axis, an
    /// unnormalised kernel or a bad tap index all break this.
    #[test]
    fn upscaled_gradient_matches_the_analytic_one() {
        let (w, h, nw, nh) = (23, 17, 69, 51);
        let ramp = |x: f64, y: f64| 10.0 + 2.0 * x - 3.0 * y;
        let src: Vec<f32> = (0..h).flat_map(|y| (0..w).map(move |x| ramp(x as f64, y as f64) as f32)).collect();
        let (sx, sy) = (nw as f64 / w as f64, nh as f64 / h as f64);
        // Output pixel j's centre, in 0-based source coordinates, for scale s.
        let centre = |j: usize, s: f64| (j as f64 + 0.5) / s - 0.5;
        // Bicubic reproduces linear functions exactly. Normalised Lanczos3 does not: at a third
        // of a pixel its weights' centroid is off by 0.016 px, times slopes 2 and 3 here. A wrong
        // pixel-centre convention would be off by 1/3 px, i.e. ≥ 0.67 in value.
        for (filter, tolerance) in [(Filter::Bicubic, 1e-3), (Filter::Lanczos3, 0.1)] {
            let out = resize(&src, w, h, 1, nw, nh, filter);
            let margin = 4 * 3;
            for y in margin..nh - margin {
                for x in margin..nw - margin {
                    let expected = ramp(centre(x, sx), centre(y, sy));
                    let got = f64::from(out[y * nw + x]);
                    assert!((got - expected).abs() < tolerance, "{filter:?} at ({x}, {y}): {got}, expected {expected}");
                }
            }
        }
    }

    /// Shrinking a ramp by an integer factor averages it: the interior still follows the ramp.
    #[test]
    fn downscaled_gradient_matches_the_analytic_one() {
        let (w, nw) = (120, 30);
        let src: Vec<f32> = (0..w).map(|x| x as f32).collect();
        for filter in FILTERS {
            let out = resize(&src, w, 1, 1, nw, 1, filter);
            for (x, &v) in out.iter().enumerate().take(nw - 5).skip(5) {
                let expected = (x as f32 + 0.5) * 4.0 - 0.5;
                assert!((v - expected).abs() < 1e-2, "{filter:?} at {x}: {v}, expected {expected}");
            }
        }
    }

    /// The interior weights of MATLAB's bicubic ×½: the antialiased kernel 0.5·cubic(0.5x) at
    /// ±0.5, ±1.5, ±2.5, ±3.5.
    #[test]
    fn halving_weights_are_matlabs() {
        let table = Contributions::new(20, 10, Filter::Bicubic);
        assert_eq!(table.taps, 8, "the two all-zero columns must be dropped");
        let (indices, weights) = table.iter().nth(4).expect("10 outputs");
        let expected = [-0.01171875, -0.03515625, 0.11328125, 0.43359375];
        let expected: Vec<f64> = expected.iter().chain(expected.iter().rev()).copied().collect();
        assert_eq!(indices, [5, 6, 7, 8, 9, 10, 11, 12]);
        for (w, e) in weights.iter().zip(&expected) {
            assert!((w - e).abs() < 1e-15, "{weights:?}");
        }
    }

    #[test]
    fn borders_replicate_the_end_pixels() {
        let clamped: Vec<usize> = (-3..8).map(|p| clamp_index(f64::from(p), 4)).collect();
        assert_eq!(clamped, [0, 0, 0, 0, 0, 1, 2, 3, 3, 3, 3]);
        assert_eq!(clamp_index(-7.0, 1), 0);
        // Halving 20 samples: the first output reads 1-based positions -2..5, so 0 four times.
        let table = Contributions::new(20, 10, Filter::Bicubic);
        let (first, _) = table.iter().next().expect("10 outputs");
        assert_eq!(first, [0, 0, 0, 0, 1, 2, 3, 4]);
    }

    /// Edges overshoot with bicubic: the u8 path must saturate, not wrap.
    #[test]
    fn u8_results_saturate() {
        let src = [0u8, 0, 0, 255, 255, 255];
        let out = imresize_matlab(&src, 6, 1, 1, 24, 1);
        let float = resize(&src.map(f32::from), 6, 1, 1, 24, 1, Filter::Bicubic);
        assert!(float.iter().any(|&v| v < 0.0) && float.iter().any(|&v| v > 255.0));
        for (&o, &f) in out.iter().zip(&float) {
            assert_eq!(o, f.round().clamp(0.0, 255.0) as u8);
        }
    }
}
