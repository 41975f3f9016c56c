//! Scoring upscalers on the standard benchmark sets, exactly as published tables do (see
//! `../shared/data/README.md`): HR modcropped to the scale, the MATLAB-made LR files as input,
//! PSNR and SSIM on luma with `scale` pixels shaved, means over the set.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::RgbImage;

use crate::codec::Decoded;
use crate::metrics;
use crate::plan::Target;
use crate::resample::{self, Filter};
use crate::route::{InputChoice, Route};
use crate::upscale::Upscaler;
use crate::{Error, Result};

/// 8-bit interleaved pixels; greyscale images keep one channel (the protocol scores them on the
/// grey value itself).
#[derive(Clone, Debug, PartialEq)]
pub struct Pixels {
    pub data: Vec<u8>,
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

impl Pixels {
    pub fn read(path: &Path) -> Result<Self> {
        Self::decode(&std::fs::read(path)?, path)
    }

    /// The image file `bytes`, read from `path` (named in errors).
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self> {
        let image = image::load_from_memory(bytes).map_err(|e| Error::Decode(format!("{}: {e}", path.display())))?;
        let (width, height) = (image.width() as usize, image.height() as usize);
        Ok(if image.color().has_color() {
            Self { data: image.to_rgb8().into_raw(), width, height, channels: 3 }
        } else {
            Self { data: image.to_luma8().into_raw(), width, height, channels: 1 }
        })
    }

    /// RGB for the network (grey replicated).
    pub fn to_rgb(&self) -> RgbImage {
        let data =
            if self.channels == 3 { self.data.clone() } else { self.data.iter().flat_map(|&v| [v, v, v]).collect() };
        RgbImage::from_raw(self.width as u32, self.height as u32, data)
            .unwrap_or_else(|| RgbImage::new(self.width as u32, self.height as u32))
    }

    /// Back from RGB, with `channels` of the original (grey = mean of R, G, B).
    pub fn from_rgb(rgb: &RgbImage, channels: usize) -> Self {
        let (width, height) = (rgb.width() as usize, rgb.height() as usize);
        let data = if channels == 3 {
            rgb.as_raw().clone()
        } else {
            rgb.pixels().map(|p| ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2]) + 1) / 3) as u8).collect()
        };
        Self { data, width, height, channels }
    }
}

/// One benchmark image: ground truth and its LR input.
#[derive(Clone, Debug)]
pub struct EvalImage {
    pub name: String,
    pub hr: Pixels,
    pub lr: Pixels,
    /// Where automatic routing sends the LR file: what a user of `auto` gets.
    pub route: Route,
}

/// Which LR files of a benchmark set are the inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LrInputs {
    /// MATLAB's bicubic downscale, `NAME_lr_matlab/X{s}/*.png`: the published protocol.
    Matlab,
    /// Those files saved as JPEG at a quality, `NAME_lr_jpeg/q{Q}/X{s}/*.jpg`.
    Jpeg(u8),
    /// Made as real photos are (a chain per image: blur, resizer, sharpening, noise, JPEG),
    /// `NAME_lr_real/X{s}/*.{jpg,png}`.
    Real,
}

impl LrInputs {
    /// The folder of LR files beside the HR folder `dir` (named `base`), and the set's name.
    fn locate(self, dir: &Path, base: &str, scale: usize) -> (PathBuf, String) {
        let sibling = |suffix: &str| dir.with_file_name(format!("{base}_{suffix}"));
        match self {
            Self::Matlab => (sibling("lr_matlab").join(format!("X{scale}")), base.to_string()),
            Self::Jpeg(quality) => {
                (sibling("lr_jpeg").join(format!("q{quality}")).join(format!("X{scale}")), format!("{base} q{quality}"))
            }
            Self::Real => (sibling("lr_real").join(format!("X{scale}")), format!("{base} real")),
        }
    }
}

/// A benchmark set at one scale.
#[derive(Clone, Debug)]
pub struct EvalSet {
    pub name: String,
    pub scale: usize,
    pub images: Vec<EvalImage>,
}

impl EvalSet {
    /// `dir` holds the HR originals (e.g. `eval/set5`); `inputs` says which of its sibling
    /// folders of LR files to read (the set is named "set5", "set5 q75" or "set5 real").
    pub fn load(dir: &Path, scale: usize, inputs: LrInputs) -> Result<Self> {
        let base =
            dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string());
        let (lr_dir, name) = inputs.locate(dir, &base, scale);
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::Parameter(format!("cannot read evaluation set {}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(Error::Parameter(format!("no PNG images in {}", dir.display())));
        }
        let images = names
            .iter()
            .map(|hr_path| {
                let file = hr_path.file_name().unwrap_or_default();
                // Real-photo inputs are a JPEG or a PNG, whichever the image's chain ended with.
                let lr_path = ["png", "jpg"]
                    .iter()
                    .map(|extension| lr_dir.join(file).with_extension(extension))
                    .find(|path| path.is_file())
                    .unwrap_or_else(|| lr_dir.join(file));
                let hr = Pixels::read(hr_path)?;
                // Read once: decoded for the network, its header for the route.
                let lr_bytes = std::fs::read(&lr_path)?;
                let lr = Pixels::decode(&lr_bytes, &lr_path)?;
                let route = Route::for_file(&lr_bytes, InputChoice::Auto);
                let (data, width, height) = metrics::modcrop(&hr.data, hr.width, hr.height, hr.channels, scale)?;
                let hr = Pixels { data, width, height, ..hr };
                if lr.width * scale != hr.width || lr.height * scale != hr.height {
                    return Err(Error::Parameter(format!(
                        "{}: LR is {}×{}, expected the HR {}×{} divided by {scale}",
                        lr_path.display(),
                        lr.width,
                        lr.height,
                        hr.width,
                        hr.height
                    )));
                }
                Ok(EvalImage { name: file.to_string_lossy().into_owned(), hr, lr, route })
            })
            .collect::<Result<_>>()?;
        Ok(Self { name, scale, images })
    }
}

/// Means over a set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    pub psnr: f64,
    pub ssim: f64,
    pub ms_per_image: f64,
}

/// Runs `upscale` on every image of the set (it reads `image.lr`, or fetches an output made
/// elsewhere by `image.name`) and scores the result against the HR.
pub fn score(set: &EvalSet, mut upscale: impl FnMut(&EvalImage) -> Result<Pixels>) -> Result<Score> {
    let (mut psnr, mut ssim, mut seconds) = (0.0, 0.0, 0.0);
    for image in &set.images {
        let started = Instant::now();
        let output = upscale(image)?;
        seconds += started.elapsed().as_secs_f64();
        let hr = &image.hr;
        if (output.width, output.height) != (hr.width, hr.height) {
            return Err(Error::Parameter(format!(
                "{}: output {}×{} does not match the HR {}×{}",
                image.name, output.width, output.height, hr.width, hr.height
            )));
        }
        let a = metrics::luma(&output.data, output.width, output.height, output.channels)?;
        let b = metrics::luma(&hr.data, hr.width, hr.height, hr.channels)?;
        psnr += metrics::psnr(&a, &b, hr.width, hr.height, set.scale)?;
        ssim += metrics::ssim(&a, &b, hr.width, hr.height, set.scale)?;
    }
    let n = set.images.len() as f64;
    Ok(Score { psnr: psnr / n, ssim: ssim / n, ms_per_image: 1000.0 * seconds / n })
}

/// MATLAB `imresize(lr, s, 'bicubic')`: the reference baseline of every published table.
pub fn bicubic(lr: &Pixels, scale: usize) -> Pixels {
    let data =
        resample::imresize_matlab(&lr.data, lr.width, lr.height, lr.channels, lr.width * scale, lr.height * scale);
    Pixels { data, width: lr.width * scale, height: lr.height * scale, channels: lr.channels }
}

/// Lanczos3, as most image editors upscale.
pub fn lanczos3(lr: &Pixels, scale: usize) -> Pixels {
    let (width, height) = (lr.width * scale, lr.height * scale);
    let data = resample::resize_u8(&lr.data, lr.width, lr.height, lr.channels, width, height, Filter::Lanczos3);
    Pixels { data, width, height, channels: lr.channels }
}

/// The network passes `upscaler` makes for `scale` (8× = 4× then 2×) with the models for
/// inputs routed as `route`, on the whole LR image.
pub fn network(upscaler: &Upscaler, scale: usize, lr: &Pixels, route: &Route) -> Result<Pixels> {
    let image = Decoded::from_rgb(lr.to_rgb());
    let output = pollster::block_on(
        upscaler.upscale(image, Target::Scale(scale), route, &mut |_| std::ops::ControlFlow::Continue(())),
    )?;
    Ok(Pixels::from_rgb(&output.rgb, lr.channels))
}

/// Centred `crop`² crops of same-sized images, side by side with 8 white pixels between them
/// (grey images as grey RGB): a picture of what a table's numbers mean.
pub fn side_by_side(panels: &[Pixels], crop: usize) -> RgbImage {
    const GAP: usize = 8;
    let mut picture =
        RgbImage::from_pixel((panels.len() * (crop + GAP) - GAP) as u32, crop as u32, image::Rgb([255; 3]));
    for (index, panel) in panels.iter().enumerate() {
        let rgb = panel.to_rgb();
        let (side_x, side_y) = (crop.min(panel.width), crop.min(panel.height));
        let (x0, y0) = ((panel.width - side_x) / 2, (panel.height - side_y) / 2);
        for y in 0..side_y {
            for x in 0..side_x {
                let pixel = *rgb.get_pixel((x0 + x) as u32, (y0 + y) as u32);
                picture.put_pixel((index * (crop + GAP) + x) as u32, y as u32, pixel);
            }
        }
    }
    picture
}
