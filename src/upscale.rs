//! The pipeline, top to bottom: decode → plan → tile → infer → stitch → resize → encode.
//!
//! Asynchronous because the only way to read a tensor back from WebGPU in a browser is to
//! await it; natively the futures complete at once and the CLI blocks on them. Progress is
//! reported after every tile, and the callback can cancel the job between tiles: the models stay
//! loaded and the next job starts at once.

use std::ops::ControlFlow;

use burn::prelude::*;
use image::{GrayImage, RgbImage};

use crate::backend::Backend;
use crate::codec::{self, Decoded, OutputFormat};
use crate::limits::Limits;
use crate::model::{MODEL_SCALES, Net};
use crate::resample::{self, Filter};
use crate::tiling::{self, Rect, TilePlan};
use crate::weights::{ModelCard, ModelFile};
use crate::{Error, Result};

/// How the output is sized: fit `contain` keeps it inside the box, `cover` fills the box and
/// crops the overflow (centred), like CSS `object-fit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    Contain,
    Cover,
}

/// The size the user wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// 2, 3, 4 or 8 (= 4× then 2×).
    Scale(usize),
    /// The longer side becomes exactly this many pixels.
    LongEdge(u32),
    /// A `width`×`height` box.
    Size { width: u32, height: u32, fit: Fit },
}

/// Scales the user may ask for directly.
pub const SCALES: [usize; 4] = [2, 3, 4, 8];

impl Target {
    pub fn validate(&self) -> Result<()> {
        let ok = match *self {
            Target::Scale(s) => SCALES.contains(&s),
            Target::LongEdge(n) => n > 0,
            Target::Size { width, height, .. } => width > 0 && height > 0,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Parameter(match self {
                Target::Scale(s) => format!("scale {s} is not one of {SCALES:?}"),
                _ => "the target size must be at least 1 pixel".into(),
            }))
        }
    }

    /// The suffix of output names: `4x`, `2000px`, `1920x1080`.
    pub fn label(&self) -> String {
        match *self {
            Target::Scale(s) => format!("{s}x"),
            Target::LongEdge(n) => format!("{n}px"),
            Target::Size { width, height, .. } => format!("{width}x{height}"),
        }
    }
}

/// What the pipeline will do to one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Network passes in order (8× is `[4, 2]`; empty when the target is no larger than the input).
    pub passes: Vec<usize>,
    /// Size after the network passes.
    pub network_size: (u32, u32),
    /// Size after the Lanczos3 resize (equal to `network_size` when no resize is needed).
    pub resized: (u32, u32),
    /// Centred crop to this size (fit cover), if any.
    pub output: (u32, u32),
}

impl Plan {
    /// Picks the smallest sufficient model scale for the target (8× as 4× then 2×, never one
    /// pass) and the resize that follows; checks every intermediate against `limits`.
    pub fn new(width: u32, height: u32, target: Target, limits: &Limits) -> Result<Self> {
        target.validate()?;
        let (w, h) = (f64::from(width), f64::from(height));
        let (factor, resized) = match target {
            Target::Scale(s) => (s as f64, (width as u64 * s as u64, height as u64 * s as u64)),
            Target::LongEdge(n) => {
                let f = f64::from(n) / w.max(h);
                (f, scaled(width, height, f))
            }
            Target::Size {
                width: bw,
                height: bh,
                fit,
            } => {
                let (fx, fy) = (f64::from(bw) / w, f64::from(bh) / h);
                let f = if fit == Fit::Contain { fx.min(fy) } else { fx.max(fy) };
                let mut size = scaled(width, height, f);
                if fit == Fit::Cover {
                    // Rounding must never leave the box uncovered.
                    size = (size.0.max(u64::from(bw)), size.1.max(u64::from(bh)));
                }
                (f, size)
            }
        };
        let output = match target {
            Target::Size {
                width: bw,
                height: bh,
                fit: Fit::Cover,
            } => (u64::from(bw), u64::from(bh)),
            _ => resized,
        };
        let passes = passes_for(factor);
        let mut size = (u64::from(width), u64::from(height));
        for &pass in &passes {
            size = (size.0 * pass as u64, size.1 * pass as u64);
            limits.check_output(size.0, size.1)?;
        }
        limits.check_output(resized.0, resized.1)?;
        Ok(Self {
            passes,
            network_size: image_size(size, limits)?,
            resized: image_size(resized, limits)?,
            output: image_size(output, limits)?,
        })
    }
}

/// Image dimensions are 32-bit; a larger side is over any limit, however the limits were set.
fn image_size((width, height): (u64, u64), limits: &Limits) -> Result<(u32, u32)> {
    match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(Error::Limits(crate::error::LimitError {
            what: "output",
            width,
            height,
            max_pixels: limits.max_output_pixels,
        })),
    }
}

fn scaled(width: u32, height: u32, factor: f64) -> (u64, u64) {
    let side = |v: u32| ((f64::from(v) * factor).round() as u64).max(1);
    (side(width), side(height))
}

/// The smallest model scale that reaches `factor`; beyond 4×, 4× then 2×; beyond 8× the rest is
/// Lanczos3 (the network cannot invent more detail, and one huge pass would not fit anywhere).
fn passes_for(factor: f64) -> Vec<usize> {
    if factor <= 1.0 {
        return Vec::new();
    }
    match MODEL_SCALES.iter().find(|&&s| s as f64 >= factor - 1e-9) {
        Some(&s) => vec![s],
        None => vec![4, 2],
    }
}

/// Reported after every tile.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// Tiles done so far, over the whole job (all passes).
    pub done: usize,
    pub total: usize,
    /// The current pass's output so far, and the region of it the tile just filled: enough
    /// for a live preview that fills in tile by tile.
    pub image: &'a RgbImage,
    pub region: Rect,
}

/// Called after each tile with the pass's output so far and the region just written.
pub type TileDone<'a> = dyn FnMut(&RgbImage, Rect) -> Result<()> + 'a;

/// The result of one job, before encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct Upscaled {
    pub rgb: RgbImage,
    pub alpha: Option<GrayImage>,
}

/// An encoded result.
#[derive(Clone, Debug)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: OutputFormat,
}

/// Default activation budget for choosing tile sizes: well inside WebGPU's 128 MiB default
/// storage-buffer limit and a browser tab's memory.
pub const DEFAULT_TILE_BUDGET: u64 = 96 << 20;

/// A model on a device.
#[derive(Debug)]
pub struct LoadedModel {
    pub card: ModelCard,
    pub net: Net,
}

/// Loaded models on one backend: the thing that upscales.
#[derive(Debug)]
pub struct Upscaler {
    pub backend: Backend,
    models: Vec<LoadedModel>,
    /// Tile interior size; `None` picks it from `tile_budget`.
    pub tile_size: Option<usize>,
    pub tile_budget: u64,
    pub limits: Limits,
}

impl Upscaler {
    /// Loads every model onto the backend's device. One model per scale: the first one wins.
    pub fn new(backend: Backend, files: &[ModelFile], limits: Limits) -> Result<Self> {
        let mut models: Vec<LoadedModel> = Vec::new();
        for file in files {
            if models.iter().any(|m| m.card.config.scale == file.card.config.scale) {
                continue;
            }
            models.push(LoadedModel {
                net: file.load(&backend.device)?,
                card: file.card.clone(),
            });
        }
        Ok(Self {
            backend,
            models,
            tile_size: None,
            tile_budget: DEFAULT_TILE_BUDGET,
            limits,
        })
    }

    pub fn models(&self) -> &[LoadedModel] {
        &self.models
    }

    /// The model for one network pass.
    pub fn model(&self, scale: usize) -> Result<&LoadedModel> {
        self.models
            .iter()
            .find(|m| m.card.config.scale == scale)
            .ok_or_else(|| Error::Model(format!("no ×{scale} model is loaded")))
    }

    fn tile_plan(&self, model: &LoadedModel, width: usize, height: usize) -> Result<TilePlan> {
        let config = model.card.config;
        let widest = config.channels.max(3 * config.scale * config.scale) as u64;
        // Input, the widest layer's input and output, and the residual, all f32.
        let bytes_per_pixel = 4 * (3 + 3 * widest);
        let tile = self.tile_size.unwrap_or_else(|| {
            tiling::tile_size_for_budget(self.tile_budget, bytes_per_pixel, config.context())
        });
        TilePlan::new(width, height, tile, config.context())
    }

    /// Decode → upscale → encode, for one file's bytes.
    pub async fn process(
        &self,
        bytes: &[u8],
        target: Target,
        format: OutputFormat,
        on_progress: &mut dyn FnMut(Progress<'_>) -> ControlFlow<()>,
    ) -> Result<Encoded> {
        let decoded = codec::decode(bytes, &self.limits)?;
        let upscaled = self.upscale(decoded, target, on_progress).await?;
        let bytes = codec::encode(&upscaled.rgb, upscaled.alpha.as_ref(), format)?;
        Ok(Encoded {
            bytes,
            width: upscaled.rgb.width(),
            height: upscaled.rgb.height(),
            format,
        })
    }

    /// Upscales a decoded image to `target`: network passes on RGB, bicubic on alpha, then the
    /// Lanczos3 resize and crop the target asks for.
    pub async fn upscale(
        &self,
        image: Decoded,
        target: Target,
        on_progress: &mut dyn FnMut(Progress<'_>) -> ControlFlow<()>,
    ) -> Result<Upscaled> {
        let (width, height) = image.rgb.dimensions();
        let plan = Plan::new(width, height, target, &self.limits)?;

        let passes = self.plan_passes(width, height, &plan.passes)?;
        let total = passes.iter().map(|(_, tiles)| tiles.tiles.len()).sum();
        let mut done = 0;
        let mut tile_done = |image: &RgbImage, region: Rect| {
            done += 1;
            match on_progress(Progress { done, total, image, region }) {
                ControlFlow::Continue(()) => Ok(()),
                ControlFlow::Break(()) => Err(Error::Cancelled),
            }
        };

        let rgb = self.run_passes(image.rgb, &passes, &mut tile_done).await?;
        let alpha = image
            .alpha
            .map(|alpha| resize(&alpha, plan.network_size, Filter::Bicubic));

        let rgb = finish(rgb, &plan);
        let alpha = alpha.map(|a| finish(a, &plan));
        Ok(Upscaled { rgb, alpha })
    }

    /// Tiles for every pass, planned up front so that progress counts over the whole job.
    pub fn plan_passes(&self, width: u32, height: u32, scales: &[usize]) -> Result<Vec<(&LoadedModel, TilePlan)>> {
        let mut size = (width as usize, height as usize);
        let mut passes = Vec::new();
        for &scale in scales {
            let model = self.model(scale)?;
            passes.push((model, self.tile_plan(model, size.0, size.1)?));
            size = (size.0 * scale, size.1 * scale);
        }
        Ok(passes)
    }

    /// The network passes alone (no alpha, no resize): what the benchmark protocol scores.
    pub async fn run_passes(
        &self,
        mut rgb: RgbImage,
        passes: &[(&LoadedModel, TilePlan)],
        tile_done: &mut TileDone<'_>,
    ) -> Result<RgbImage> {
        for (model, tiles) in passes {
            rgb = self.run_network(model, tiles, &rgb, tile_done).await?;
        }
        Ok(rgb)
    }

    /// One network pass over `source`, tile by tile.
    pub async fn run_network(
        &self,
        model: &LoadedModel,
        tiles: &TilePlan,
        source: &RgbImage,
        tile_done: &mut TileDone<'_>,
    ) -> Result<RgbImage> {
        let scale = model.card.config.scale;
        let (width, height) = source.dimensions();
        let mut output = RgbImage::new(width * scale as u32, height * scale as u32);
        let (tile_width, tile_height) = tiles.input_size();
        for &tile in &tiles.tiles {
            let input = tiles.extract(tile, source);
            let input = Tensor::<4>::from_data(
                TensorData::new(input, [1, 3, tile_height, tile_width]),
                &self.backend.device,
            );
            let result = model
                .net
                .forward(input)
                .into_data_async()
                .await
                .map_err(|e| Error::Backend(format!("{e:?}")))?
                .try_into_vec::<f32>()
                .map_err(|e| Error::Backend(format!("unexpected network output: {e:?}")))?;
            tiles.paste(tile, scale, &result, &mut output);
            let region = Rect {
                x: tile.x * scale,
                y: tile.y * scale,
                width: tile.width * scale,
                height: tile.height * scale,
            };
            // In a browser, let the worker see a cancel message before it reports the tile.
            #[cfg(all(feature = "web", target_family = "wasm"))]
            crate::web::yield_to_event_loop().await;
            tile_done(&output, region)?;
        }
        Ok(output)
    }
}

/// Lanczos3 to the planned size, then the centred crop of fit cover (colour and alpha alike).
fn finish<P: image::Pixel<Subpixel = u8> + 'static>(image: Buffer<P>, plan: &Plan) -> Buffer<P> {
    let resized = if image.dimensions() == plan.resized {
        image
    } else {
        resize(&image, plan.resized, Filter::Lanczos3)
    };
    crop_centre(resized, plan.output)
}

type Buffer<P> = image::ImageBuffer<P, Vec<u8>>;

fn resize<P: image::Pixel<Subpixel = u8> + 'static>(
    image: &Buffer<P>,
    (width, height): (u32, u32),
    filter: Filter,
) -> Buffer<P> {
    let (w, h) = image.dimensions();
    let channels = usize::from(P::CHANNEL_COUNT);
    let pixels = resample::resize_u8(image.as_raw(), w as usize, h as usize, channels, width as usize, height as usize, filter);
    Buffer::from_raw(width, height, pixels).unwrap_or_else(|| Buffer::new(width, height))
}

fn crop_centre<P: image::Pixel + 'static>(
    image: image::ImageBuffer<P, Vec<P::Subpixel>>,
    (width, height): (u32, u32),
) -> image::ImageBuffer<P, Vec<P::Subpixel>> {
    let (w, h) = image.dimensions();
    if (w, h) == (width, height) {
        return image;
    }
    let (x, y) = ((w - width.min(w)) / 2, (h - height.min(h)) / 2);
    image::imageops::crop_imm(&image, x, y, width.min(w), height.min(h)).to_image()
}
