//! Image-quality metrics exactly as the super-resolution literature measures them, so that
//! upres's numbers can be compared with published tables: images cropped to a multiple of the
//! scale ("modcrop"), PSNR and SSIM on the BT.601 luma only, with `shave` pixels ignored on every
//! border. Each detail (the luma offset and scale, the border, SSIM's 'valid' filtering) moves
//! the result by more than the differences between methods, so none of them is left to choice.

use crate::error::{Error, Result};

/// The peak value of 8-bit samples, for PSNR and SSIM's constants.
const PEAK: f64 = 255.0;

/// BT.601 luma's weights of R, G and B (in 0..255), times 255: the luma below and the training loss
/// that targets it.
pub const LUMA_WEIGHTS: [f64; 3] = [65.481, 128.553, 24.966];

/// Luma plane in 0..255 as f64: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for RGB
/// (channels 3 or 4, alpha ignored), or the grey value itself for 1 or 2 channels.
///
/// Not rounded to 8 bits (the BT.601 "studio" luma as MATLAB's `rgb2ycbcr` computes it on doubles).
///
/// # Errors
/// [`Error::Parameter`] if `channels` is not 1 to 4 or `pixels` does not hold
/// `width · height · channels` values.
pub fn luma(pixels: &[u8], width: usize, height: usize, channels: usize) -> Result<Vec<f64>> {
    check_len("luma", pixels.len(), width, height, channels)?;
    match channels {
        1 | 2 => Ok(pixels.iter().step_by(channels).map(|&v| f64::from(v)).collect()),
        3 | 4 => Ok(pixels
            .chunks_exact(channels)
            .map(|p| {
                let [r, g, b] = [p[0], p[1], p[2]].map(f64::from);
                let [wr, wg, wb] = LUMA_WEIGHTS;
                16.0 + (wr * r + wg * g + wb * b) / 255.0
            })
            .collect()),
        _ => Err(Error::Parameter(format!("luma: {channels} channels per pixel; expected 1 to 4"))),
    }
}

/// PSNR in dB, 10 log10(255² / MSE), over the `width × height` planes with `shave` pixels left
/// out on every border; [`f64::INFINITY`] where they are identical there.
///
/// # Errors
/// [`Error::Parameter`] if a plane does not hold `width · height` values, or the shave leaves nothing.
pub fn psnr(a: &[f64], b: &[f64], width: usize, height: usize, shave: usize) -> Result<f64> {
    let (a, w, h) = shaved("psnr", a, width, height, shave, 1)?;
    let (b, ..) = shaved("psnr", b, width, height, shave, 1)?;
    let sum: f64 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
    if sum == 0.0 {
        return Ok(f64::INFINITY);
    }
    let mse = sum / (w * h) as f64;
    Ok(10.0 * (PEAK * PEAK / mse).log10())
}

/// SSIM (Wang, Bovik, Sheikh & Simoncelli 2004, their `ssim_index.m`): local statistics under an
/// 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03, L = 255, computed only where the window
/// fits inside the shaved planes ('valid' filtering, as `filter2(…, 'valid')`), then averaged.
/// 1 for identical planes.
///
/// # Errors
/// [`Error::Parameter`] if a plane does not hold `width · height` values, or the shaved region is
/// smaller than the 11×11 window.
pub fn ssim(a: &[f64], b: &[f64], width: usize, height: usize, shave: usize) -> Result<f64> {
    let (a, w, h) = shaved("ssim", a, width, height, shave, WINDOW)?;
    let (b, ..) = shaved("ssim", b, width, height, shave, WINDOW)?;
    let window = gaussian_window();
    let blur = |plane: &[f64]| filter_valid(plane, w, h, &window);
    let product = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).collect::<Vec<_>>();
    let mu_a = blur(&a);
    let mu_b = blur(&b);
    let aa = blur(&product(&a, &a));
    let bb = blur(&product(&b, &b));
    let ab = blur(&product(&a, &b));

    let c1 = (0.01 * PEAK).powi(2);
    let c2 = (0.03 * PEAK).powi(2);
    let n = mu_a.len();
    let total: f64 = (0..n)
        .map(|i| {
            let (ma, mb) = (mu_a[i], mu_b[i]);
            let var_a = aa[i] - ma * ma;
            let var_b = bb[i] - mb * mb;
            let cov = ab[i] - ma * mb;
            ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (var_a + var_b + c2))
        })
        .sum();
    Ok(total / n as f64)
}

/// Crop interleaved pixels at the right and bottom to multiples of `scale` ("modcrop"):
/// returns `(pixels, new_width, new_height)`.
///
/// # Errors
/// [`Error::Parameter`] if `scale` is 0, `pixels` does not hold `width · height · channels`
/// values, or the image is narrower or lower than `scale` (nothing would be left).
pub fn modcrop(
    pixels: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    scale: usize,
) -> Result<(Vec<u8>, usize, usize)> {
    check_len("modcrop", pixels.len(), width, height, channels)?;
    if scale == 0 || width < scale || height < scale {
        return Err(Error::Parameter(format!(
            "modcrop: a {width}×{height} image cannot be cropped to a multiple of {scale}"
        )));
    }
    let (new_width, new_height) = (width - width % scale, height - height % scale);
    let cropped = pixels
        .chunks_exact(width * channels)
        .take(new_height)
        .flat_map(|row| &row[..new_width * channels])
        .copied()
        .collect();
    Ok((cropped, new_width, new_height))
}

/// Side of SSIM's Gaussian window.
const WINDOW: usize = 11;

/// The 1-D factor of SSIM's 11×11 Gaussian (σ = 1.5), normalised to sum 1: the 2-D window of
/// `fspecial('gaussian', 11, 1.5)` is its outer product with itself, so SSIM filters separably.
fn gaussian_window() -> [f64; WINDOW] {
    let centre = (WINDOW / 2) as f64;
    let mut g = std::array::from_fn(|i| {
        let x = i as f64 - centre;
        (-x * x / (2.0 * 1.5 * 1.5)).exp()
    });
    let sum: f64 = g.iter().sum();
    for v in &mut g {
        *v /= sum;
    }
    g
}

/// Correlate a `width × height` plane with `g` ⊗ `g`, keeping only the positions where the window
/// lies entirely inside: the result is (width − 10) × (height − 10).
fn filter_valid(plane: &[f64], width: usize, height: usize, g: &[f64; WINDOW]) -> Vec<f64> {
    let out_w = width + 1 - WINDOW;
    let horizontal: Vec<f64> =
        plane.chunks_exact(width).flat_map(|row| row.windows(WINDOW).map(|win| dot(win, g))).collect();
    let mut out = vec![0.0; out_w * (height + 1 - WINDOW)];
    for (y, out_row) in out.chunks_exact_mut(out_w).enumerate() {
        for (k, &weight) in g.iter().enumerate() {
            let src = &horizontal[(y + k) * out_w..][..out_w];
            for (o, &v) in out_row.iter_mut().zip(src) {
                *o += weight * v;
            }
        }
    }
    out
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The plane without `shave` pixels on each border, with its size, checked to hold at least
/// `min_side × min_side` pixels.
fn shaved(
    what: &str,
    plane: &[f64],
    width: usize,
    height: usize,
    shave: usize,
    min_side: usize,
) -> Result<(Vec<f64>, usize, usize)> {
    check_len(what, plane.len(), width, height, 1)?;
    let too_small = || {
        Error::Parameter(format!(
            "{what}: a {width}×{height} plane shaved by {shave} on each border leaves less \
             than {min_side}×{min_side} pixels"
        ))
    };
    let border = shave.saturating_mul(2);
    let w = width.checked_sub(border).filter(|&w| w >= min_side).ok_or_else(too_small)?;
    let h = height.checked_sub(border).filter(|&h| h >= min_side).ok_or_else(too_small)?;
    let region =
        plane.chunks_exact(width).skip(shave).take(h).flat_map(|row| &row[shave..shave + w]).copied().collect();
    Ok((region, w, h))
}

fn check_len(what: &str, len: usize, width: usize, height: usize, channels: usize) -> Result<()> {
    let expected = width.checked_mul(height).and_then(|n| n.checked_mul(channels));
    if expected == Some(len) {
        Ok(())
    } else {
        Err(Error::Parameter(format!(
            "{what}: {len} values do not make a {width}×{height} image with {channels} channel(s)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured test plane: smooth waves plus a hard edge, values within 0..255.
    fn plane(width: usize, height: usize) -> Vec<f64> {
        (0..height)
            .flat_map(|y| {
                (0..width).map(move |x| {
                    let (x, y) = (x as f64, y as f64);
                    let edge = if x + 0.5 * y > 20.0 { 60.0 } else { 0.0 };
                    100.0 + 40.0 * (x * 0.7).sin() * (y * 0.4).cos() + edge
                })
            })
            .collect()
    }

    #[test]
    fn luma_uses_the_bt601_studio_formula() {
        let rgba = [255u8, 255, 255, 9, 0, 0, 0, 9, 255, 0, 0, 9];
        let y = luma(&rgba, 3, 1, 4).expect("valid");
        let expected = [235.0, 16.0, 16.0 + 65.481];
        for (v, e) in y.iter().zip(expected) {
            assert!((v - e).abs() < 1e-9, "{y:?}");
        }
        assert_eq!(luma(&[7, 1, 200, 1], 2, 1, 2).expect("valid"), [7.0, 200.0]);
        assert!(luma(&[0; 5], 2, 1, 3).is_err());
        assert!(luma(&[0; 10], 2, 1, 5).is_err());
    }

    #[test]
    fn psnr_of_identical_planes_is_infinite() {
        let a = plane(20, 15);
        assert_eq!(psnr(&a, &a, 20, 15, 4).expect("valid"), f64::INFINITY);
    }

    #[test]
    fn psnr_matches_the_formula_and_honours_the_shave() {
        let a = vec![100.0; 10 * 8];
        let mut b = a.clone();
        b[3 * 10 + 4] += 10.0; // inside the shaved region
        b[0] = 0.0; // on the border, shaved away
        let mse = 100.0 / (6.0 * 4.0);
        let expected = 10.0 * (255.0f64 * 255.0 / mse).log10();
        let got = psnr(&a, &b, 10, 8, 2).expect("valid");
        assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");
        assert!(psnr(&a, &b, 10, 8, 0).expect("valid") < got);
    }

    #[test]
    fn ssim_of_identical_planes_is_one() {
        let a = plane(40, 30);
        let s = ssim(&a, &a, 40, 30, 3).expect("valid");
        assert!((s - 1.0).abs() < 1e-12, "{s}");
    }

    #[test]
    fn ssim_drops_for_a_shifted_copy() {
        let (w, h) = (40, 30);
        let a = plane(w + 1, h);
        // The same content one pixel to the right, both cut to w × h.
        let crop =
            |dx: usize| -> Vec<f64> { a.chunks_exact(w + 1).flat_map(|row| &row[dx..dx + w]).copied().collect() };
        let s = ssim(&crop(0), &crop(1), w, h, 2).expect("valid");
        assert!(s < 0.95 && s > 0.0, "{s}");
        // A brightness offset lowers only the luminance term, much less than the shift.
        let brighter: Vec<f64> = crop(0).iter().map(|v| v + 5.0).collect();
        let t = ssim(&crop(0), &brighter, w, h, 2).expect("valid");
        assert!(t < 1.0 && t > s, "{t} vs {s}");
    }

    #[test]
    fn ssim_window_is_the_normalised_gaussian() {
        let g = gaussian_window();
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!((g[5] / g[4] - (1.0 / 4.5f64).exp()).abs() < 1e-12);
        // The 2-D filter of a plane that is 1 at a single point reproduces the window there.
        let mut impulse = vec![0.0; 11 * 11];
        impulse[5 * 11 + 5] = 1.0;
        let out = filter_valid(&impulse, 11, 11, &g);
        assert_eq!(out.len(), 1);
        assert!((out[0] - g[5] * g[5]).abs() < 1e-15);
    }

    #[test]
    fn metrics_reject_bad_sizes() {
        let a = plane(20, 15);
        assert!(psnr(&a, &a[1..], 20, 15, 0).is_err());
        assert!(psnr(&a, &a, 20, 15, 8).is_err(), "shave leaves nothing");
        assert!(psnr(&a, &a, 20, 15, 7).is_ok(), "a 6×1 region remains");
        assert!(ssim(&a, &a, 20, 15, 3).is_err(), "9 rows left, under the window");
        assert!(ssim(&a, &a, 20, 15, 2).is_ok());
    }

    #[test]
    fn modcrop_crops_right_and_bottom() {
        let (w, h, c) = (7, 5, 3);
        let pixels: Vec<u8> = (0..w * h * c).map(|i| i as u8).collect();
        let (out, nw, nh) = modcrop(&pixels, w, h, c, 2).expect("valid");
        assert_eq!((nw, nh, out.len()), (6, 4, 6 * 4 * 3));
        // Row 1 starts at the source's row 1, column 0: the crop is at the right, not the left.
        assert_eq!(&out[6 * 3..6 * 3 + 3], &pixels[7 * 3..7 * 3 + 3]);
        assert_eq!(out[out.len() - 1], pixels[(3 * w + 5) * c + 2]);
        let (same, ..) = modcrop(&pixels, w, h, c, 1).expect("valid");
        assert_eq!(same, pixels);
        assert_eq!(modcrop(&pixels, w, h, c, 3).expect("valid").1, 6);
        assert!(modcrop(&pixels, w, h, c, 0).is_err());
        assert!(modcrop(&pixels, w, h, c, 8).is_err());
        assert!(modcrop(&pixels[1..], w, h, c, 2).is_err());
    }
}
