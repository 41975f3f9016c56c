//! The pipeline, top to bottom: decode → route → plan → tile → infer (colour, then alpha) → stitch →
//! resize → encode.
//!
//! Asynchronous because the only way to read a tensor back from WebGPU in a browser is to
//! await it; natively the futures complete at once and the CLI blocks on them. Progress is
//! reported after every tile, and the callback can cancel the job between tiles: the models stay
//! loaded and the next job starts at once.

use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::OnceLock;

use burn::prelude::*;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use image::{GrayImage, RgbImage};

use crate::backend::{Backend, Kernels};
use crate::codec::{self, Decoded, OutputFormat};
#[cfg(burn_kernels)]
use crate::compact::CompactNet;
use crate::engine::PackedNet;
use crate::job::Job;
use crate::limits::Limits;
use crate::metadata::Metadata;
use crate::model::Architecture;
#[cfg(burn_kernels)]
use crate::model::Net;
use crate::plan::{Plan, Target};
use crate::profile::{self, Profile, Profiler, Stage};
use crate::resample::{self, Filter};
use crate::resolve::{self, Layer, Reason};
use crate::route::Route;
use crate::tiling::{self, Border, Outside, Rect, TilePlan};
use crate::weights::{ModelCard, ModelFile};
use crate::{Error, Result};

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
type TileDone<'a> = dyn FnMut(&RgbImage, Rect) -> Result<()> + 'a;

/// Awaited between tiles. In a browser worker this yields to the event loop, so that a cancel
/// message is seen before the next tile (on the CPU backend nothing else in a tile awaits).
pub type BetweenTiles = fn() -> Pin<Box<dyn Future<Output = ()>>>;

/// The result of one job, before encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct Upscaled {
    pub rgb: RgbImage,
    pub alpha: Option<GrayImage>,
    /// The models that ran on the colour, in order (none when the target was no larger than the
    /// input).
    pub models: Vec<String>,
    /// Why those models.
    pub reason: Reason,
}

/// An encoded result.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// The file; empty when this build has no encoder for the format (lossy WebP in the browser,
    /// whose own encoder writes it), and then `pixels` holds the image.
    pub bytes: Vec<u8>,
    pub pixels: Option<Upscaled>,
    /// What the file carries (or, with `pixels`, should carry) besides the image.
    pub metadata: Metadata,
    pub width: u32,
    pub height: u32,
    pub format: OutputFormat,
    /// What the file was taken to be: the kind of input, its JPEG quality, the look asked for.
    pub route: Route,
    /// The models that ran, in order.
    pub models: Vec<String>,
    /// Why those models, in words (e.g. "JPEG quality ≈ 72: compression-aware model").
    pub reason: Reason,
}

/// Default activation budget for choosing tile sizes: well inside WebGPU's 128 MiB default
/// storage-buffer limit and a browser tab's memory.
pub const DEFAULT_TILE_BUDGET: u64 = 96 << 20;

/// How an [`Upscaler`] works, fixed when it is made.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub limits: Limits,
    /// Tile interior size in input pixels; `None` picks it from `tile_budget`.
    pub tile_size: Option<usize>,
    pub tile_budget: u64,
    pub between_tiles: Option<BetweenTiles>,
}

impl Default for Settings {
    fn default() -> Self {
        Self { limits: Limits::default(), tile_size: None, tile_budget: DEFAULT_TILE_BUDGET, between_tiles: None }
    }
}

/// A model, ready to run once its weights are there: natively from the start, in the browser
/// when a job first needs it (see [`Hooks::weights`]).
#[derive(Debug)]
pub struct LoadedModel {
    pub card: ModelCard,
    net: OnceLock<Runnable>,
}

/// A network ready to run on a backend: burn's (upres's own or an imported Compact one), on its
/// device, or packed for the CPU engine (the only one in the browser's CPU module: see build.rs).
#[derive(Debug)]
pub enum Runnable {
    #[cfg(burn_kernels)]
    Burn(Net),
    #[cfg(burn_kernels)]
    Compact(CompactNet),
    Engine(PackedNet),
}

impl Runnable {
    /// `file`'s network for `backend`'s kernels (packed once, here, for the engine).
    pub fn load(file: &ModelFile, backend: &Backend) -> Result<Self> {
        Ok(match (file.card.architecture, backend.kernels) {
            #[cfg(not(burn_kernels))]
            (_, Kernels::Burn) => {
                return Err(Error::Backend("this build runs the network on the CPU engine only".into()));
            }
            #[cfg(burn_kernels)]
            (Architecture::Upres, Kernels::Burn) => Runnable::Burn(file.load(&backend.device)?),
            (Architecture::Upres, Kernels::Engine) => Runnable::Engine(PackedNet::new(&file.load(&backend.device)?)?),
            #[cfg(burn_kernels)]
            (Architecture::Compact { .. }, Kernels::Burn) => Runnable::Compact(file.compact()?.load(&backend.device)),
            (Architecture::Compact { .. }, Kernels::Engine) => {
                Runnable::Engine(PackedNet::from_compact(&file.compact()?))
            }
        })
    }

    /// The output for one tile's planar input (`width`×`height`, context included, `outside`
    /// the image as [`TilePlan::outside`] says), as interleaved 8-bit RGB.
    pub async fn infer(
        &self,
        device: &Device,
        input: Vec<f32>,
        (width, height): (usize, usize),
        outside: Outside,
    ) -> Result<Vec<u8>> {
        self.infer_timed(device, input, (width, height), outside, None).await
    }

    #[cfg_attr(not(burn_kernels), allow(unused_variables))]
    async fn infer_timed(
        &self,
        device: &Device,
        input: Vec<f32>,
        (width, height): (usize, usize),
        outside: Outside,
        profiler: Option<&Profiler>,
    ) -> Result<Vec<u8>> {
        #[cfg(burn_kernels)]
        let tensor = |input| {
            profile::time(profiler, Stage::TileCopies, || {
                Tensor::<4>::from_data(TensorData::new(input, [1, 3, height, width]), device)
            })
        };
        match self {
            #[cfg(burn_kernels)]
            Runnable::Burn(net) => read_rgb(net.forward_timed(tensor(input), profiler), profiler).await,
            #[cfg(burn_kernels)]
            Runnable::Compact(net) => {
                let input = tensor(input);
                let output = profile::time(profiler, Stage::Convolution, || net.forward_tile(input, outside));
                read_rgb(output, profiler).await
            }
            Runnable::Engine(packed) => packed.run(&input, width, height, outside, profiler),
        }
    }
}

impl AsRef<ModelCard> for LoadedModel {
    fn as_ref(&self) -> &ModelCard {
        &self.card
    }
}

/// What a [`TileRunner`] or a [`WeightSource`] hands back: a future on this thread (in the
/// browser, a JavaScript promise).
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Runs network passes on tiles somewhere other than this instance: in the browser, a pool of
/// workers, each with its own instance of the module, several tiles at once (`src/web.rs`).
pub trait TileRunner {
    /// How many tiles to keep running at once.
    fn in_flight(&self) -> usize;
    /// `model` on one tile: planar RGB, `size` (width, height) with the network's context
    /// included, `outside` the image as [`TilePlan::outside`] says; resolves to its output as
    /// interleaved 8-bit RGB ([`tiling::to_rgb`]). The work should start when this is called, not
    /// when the future is first polled: the pipeline starts the next tile before it stitches the
    /// last.
    fn run<'a>(
        &'a self,
        model: &'a ModelCard,
        input: Vec<f32>,
        size: (usize, usize),
        outside: Outside,
    ) -> LocalFuture<'a, Result<Vec<u8>>>;
}

/// Where the weights of a model come from when the [`Upscaler`] was made with its card only: the
/// browser downloads a model the first time a job needs it.
pub trait WeightSource {
    fn fetch<'a>(&'a self, card: &'a ModelCard) -> LocalFuture<'a, Result<Vec<u8>>>;
}

/// What a caller attaches to a job: work handed out of this instance, and a profiler. Natively
/// there is usually none ([`Hooks::default`]): every model is loaded at the start and every tile
/// runs on the [`Upscaler`]'s own device.
#[derive(Clone, Copy, Default)]
pub struct Hooks<'a> {
    pub tiles: Option<&'a dyn TileRunner>,
    pub weights: Option<&'a dyn WeightSource>,
    /// Times each stage ([`Stage`]); the network's only for tiles that run here.
    pub profiler: Option<&'a Profiler>,
}

/// Loaded models on one backend: the thing that upscales.
#[derive(Debug)]
pub struct Upscaler {
    pub backend: Backend,
    models: Vec<LoadedModel>,
    settings: Settings,
}

impl Upscaler {
    /// Loads every model onto the backend's device: one per scale, kind of input (clean or
    /// compressed) and range of JPEG qualities; the first one wins.
    pub fn new(backend: Backend, files: &[ModelFile], settings: Settings) -> Result<Self> {
        let mut upscaler = Self::with_cards(backend, files.iter().map(|file| file.card.clone()), settings);
        for file in files {
            if let Some(model) = upscaler.models.iter_mut().find(|m| m.card == file.card) {
                model.net = OnceLock::from(Runnable::load(file, &upscaler.backend)?);
            }
        }
        Ok(upscaler)
    }

    /// The models' cards only: each one's weights are fetched from the job's
    /// [`Hooks::weights`] when a job first needs them.
    pub fn with_cards(backend: Backend, cards: impl IntoIterator<Item = ModelCard>, settings: Settings) -> Self {
        let mut models: Vec<LoadedModel> = Vec::new();
        for card in cards {
            let key = |card: &ModelCard| (card.config.scale, card.look, card.input, card.jpeg_qualities);
            if models.iter().any(|m| key(&m.card) == key(&card)) {
                continue;
            }
            models.push(LoadedModel { card, net: OnceLock::new() });
        }
        Self { backend, models, settings }
    }

    pub fn models(&self) -> &[LoadedModel] {
        &self.models
    }

    /// The scales the models offer, smallest first.
    pub fn scales(&self) -> Vec<usize> {
        let mut scales: Vec<usize> = self.models.iter().map(|m| m.card.config.scale).collect();
        scales.sort_unstable();
        scales.dedup();
        scales
    }

    pub fn limits(&self) -> &Limits {
        &self.settings.limits
    }

    /// Decode → route → upscale → encode, for one file's bytes.
    pub async fn run(
        &self,
        job: &Job,
        bytes: &[u8],
        on_progress: &mut dyn FnMut(Progress<'_>) -> ControlFlow<()>,
    ) -> Result<Encoded> {
        self.run_with(job, bytes, on_progress, Hooks::default()).await
    }

    /// [`Upscaler::run`] with `hooks`.
    pub async fn run_with(
        &self,
        job: &Job,
        bytes: &[u8],
        on_progress: &mut dyn FnMut(Progress<'_>) -> ControlFlow<()>,
        hooks: Hooks<'_>,
    ) -> Result<Encoded> {
        let profiler = hooks.profiler;
        let mut decoded = profile::time(profiler, Stage::Decode, || codec::decode(bytes, &self.settings.limits))?;
        let source = std::mem::take(&mut decoded.metadata);
        let route =
            profile::time(profiler, Stage::PlanAndRoute, || Route::for_file(bytes, job.input).with_look(job.look));
        let upscaled = self.upscale_with(decoded, job.target, &route, on_progress, hooks).await?;
        let (width, height) = upscaled.rgb.dimensions();
        let metadata = source.for_output(job.metadata, width, height, job.target.dpi());
        let (models, reason) = (upscaled.models.clone(), upscaled.reason.clone());
        let (bytes, pixels) = if job.format.encodable() {
            let encode = || codec::encode(&upscaled.rgb, upscaled.alpha.as_ref(), job.format, &metadata);
            (profile::time(profiler, Stage::Encode, encode)?, None)
        } else {
            (Vec::new(), Some(upscaled))
        };
        Ok(Encoded { bytes, pixels, width, height, format: job.format, route, models, reason, metadata })
    }

    /// Runs `job` on `bytes` as [`Upscaler::run_with`] does, every tile on this thread, with a
    /// profiler on `clock`: where its time went (`upres bench --profile`, `Engine.profile`).
    pub async fn profile(
        &self,
        job: &Job,
        bytes: &[u8],
        clock: fn() -> f64,
        on_progress: &mut dyn FnMut(Progress<'_>) -> ControlFlow<()>,
        weights: Option<&dyn WeightSource>,
    ) -> Result<Profile> {
        let profiler = Profiler::new(clock);
        let hooks = Hooks { tiles: None, weights, profiler: Some(&profiler) };
        let start = clock();
        let encoded = self.run_with(job, bytes, on_progress, hooks).await?;
        let total_ms = clock() - start;

        // The pixel count is the same whichever way up the image is shown.
        let (width, height) = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .ok()
            .and_then(|reader| reader.into_dimensions().ok())
            .unwrap_or_default();
        let mut pixels = f64::from(width) * f64::from(height);
        let mut macs = 0.0;
        for name in &encoded.models {
            if let Some(model) = self.models.iter().find(|m| m.card.name == *name) {
                macs += pixels * model.card.macs_per_input_pixel as f64;
                pixels *= (model.card.config.scale * model.card.config.scale) as f64;
            }
        }
        Ok(profiler.profile(total_ms, 2.0 * macs / 1e9))
    }

    /// Upscales an image already decoded (evaluation and benchmarks start here) to `target`
    /// with the models for inputs routed as `route` ([`resolve`]): network passes on RGB, then
    /// on alpha (where it has any), then the Lanczos3 resize and crop the target asks for.
    pub async fn upscale(
        &self,
        image: Decoded,
        target: Target,
        route: &Route,
        on_progress: &mut dyn FnMut(Progress<'_>) -> ControlFlow<()>,
    ) -> Result<Upscaled> {
        self.upscale_with(image, target, route, on_progress, Hooks::default()).await
    }

    async fn upscale_with(
        &self,
        image: Decoded,
        target: Target,
        route: &Route,
        on_progress: &mut dyn FnMut(Progress<'_>) -> ControlFlow<()>,
        hooks: Hooks<'_>,
    ) -> Result<Upscaled> {
        let (width, height) = image.rgb.dimensions();
        let (plan, reason, passes, alpha_passes) = profile::time(hooks.profiler, Stage::PlanAndRoute, || {
            let plan = Plan::for_scales(width, height, target, &self.settings.limits, &self.scales())?;
            let colour = resolve::resolve(&self.models, route, &plan.passes, Layer::Colour)?;
            let passes = self.tile_passes(width, height, &colour.passes)?;
            let alpha_passes = match image.alpha {
                Some(_) => {
                    let alpha = resolve::resolve(&self.models, route, &plan.passes, Layer::Alpha)?;
                    self.tile_passes(width, height, &alpha.passes)?
                }
                None => Vec::new(),
            };
            Ok::<_, Error>((plan, colour.reason, passes, alpha_passes))
        })?;
        for (model, _) in passes.iter().chain(&alpha_passes) {
            self.ensure_weights(model, hooks.weights).await?;
        }
        let network = Network { upscaler: self, tiles: hooks.tiles, profiler: hooks.profiler };
        let total = passes.iter().chain(&alpha_passes).map(|(_, tiles)| tiles.tiles.len()).sum();
        let mut done = 0;
        let mut report = |image: &RgbImage, region: Rect| {
            done += 1;
            match on_progress(Progress { done, total, image, region }) {
                ControlFlow::Continue(()) => Ok(()),
                ControlFlow::Break(()) => Err(Error::Cancelled),
            }
        };

        let models = passes.iter().map(|(model, _)| model.card.name.clone()).collect();
        let mut rgb = image.rgb;
        if let Some(alpha) = &image.alpha {
            codec::bleed_under_transparency(&mut rgb, alpha);
        }
        for (model, tiles) in &passes {
            rgb = network.run(model, tiles, &rgb, &mut report).await?;
        }
        let alpha = match image.alpha {
            Some(alpha) => {
                // The preview keeps showing the finished colour: each alpha tile reports the
                // region of it that the tile covers.
                let mut alpha_done = |pass: &RgbImage, region: Rect| {
                    let factor = (rgb.width() / pass.width().max(1)) as usize;
                    let covered = Rect {
                        x: region.x * factor,
                        y: region.y * factor,
                        width: region.width * factor,
                        height: region.height * factor,
                    };
                    report(&rgb, covered)
                };
                Some(network.upscale_alpha(&alpha, &alpha_passes, plan.network_size, &mut alpha_done).await?)
            }
            None => None,
        };

        let (rgb, alpha) =
            profile::time(hooks.profiler, Stage::Resize, || (finish(rgb, &plan), alpha.map(|a| finish(a, &plan))));
        Ok(Upscaled { rgb, alpha, models, reason })
    }

    /// Tiles for every pass, planned up front so that progress counts over the whole job.
    fn tile_passes<'m>(
        &self,
        width: u32,
        height: u32,
        models: &[&'m LoadedModel],
    ) -> Result<Vec<(&'m LoadedModel, TilePlan)>> {
        let mut size = (width as usize, height as usize);
        let mut passes = Vec::new();
        for &model in models {
            passes.push((model, self.tile_plan(model, size.0, size.1)?));
            let scale = model.card.config.scale;
            size = (size.0 * scale, size.1 * scale);
        }
        Ok(passes)
    }

    fn tile_plan(&self, model: &LoadedModel, width: usize, height: usize) -> Result<TilePlan> {
        let config = model.card.config;
        let widest = config.channels.max(3 * config.scale * config.scale) as u64;
        // Input, the widest layer's input and output, and the residual, all f32.
        let bytes_per_pixel = 4 * (3 + 3 * widest);
        let tile = self.settings.tile_size.unwrap_or_else(|| {
            tiling::tile_size_for_budget(self.settings.tile_budget, bytes_per_pixel, config.context())
        });
        let border = match model.card.architecture {
            Architecture::Upres => Border::Reflect,
            Architecture::Compact { .. } => Border::Zero,
        };
        TilePlan::with_border(width, height, tile, config.context(), border)
    }

    /// Loads `model`'s weights from `source` unless it has them.
    async fn ensure_weights(&self, model: &LoadedModel, source: Option<&dyn WeightSource>) -> Result<()> {
        if model.net.get().is_some() {
            return Ok(());
        }
        let source =
            source.ok_or_else(|| Error::Model(format!("the weights of {} are not loaded", model.card.name)))?;
        let file = ModelFile::new(model.card.clone(), source.fetch(&model.card).await?)?;
        // A job runs alone, so no other can have loaded it meanwhile.
        let _ = model.net.set(Runnable::load(&file, &self.backend)?);
        Ok(())
    }
}

/// Runs network passes, tile by tile: on the upscaler's device, or handed to a [`TileRunner`]
/// that runs several at once.
struct Network<'a> {
    upscaler: &'a Upscaler,
    tiles: Option<&'a dyn TileRunner>,
    profiler: Option<&'a Profiler>,
}

impl Network<'_> {
    /// Alpha through the network, as grey: the clean models sharpen a cut-out's or a logo's
    /// edges as they do colour edges, where bicubic leaves them soft (measured in
    /// `tests/suite/pipeline.rs`). Where the mask is flat around a pixel (wholly opaque, wholly
    /// transparent, or any constant), the bicubic value is kept, exactly: the network's residual
    /// must not make an opaque product 254 or a transparent background 1.
    async fn upscale_alpha(
        &self,
        alpha: &GrayImage,
        passes: &[(&LoadedModel, TilePlan)],
        size: (u32, u32),
        tile_done: &mut TileDone<'_>,
    ) -> Result<GrayImage> {
        let mut grey = RgbImage::from_fn(alpha.width(), alpha.height(), |x, y| {
            let a = alpha.get_pixel(x, y)[0];
            image::Rgb([a, a, a])
        });
        for (model, tiles) in passes {
            grey = self.run(model, tiles, &grey, tile_done).await?;
        }
        let smooth = resize(alpha, size, Filter::Bicubic);
        let flat = flat_neighbourhoods(alpha);
        let factor = (size.0 / alpha.width().max(1)).max(1);
        Ok(GrayImage::from_fn(size.0, size.1, |x, y| {
            let (lx, ly) = ((x / factor).min(alpha.width() - 1), (y / factor).min(alpha.height() - 1));
            if flat.get_pixel(lx, ly)[0] == 1 {
                *smooth.get_pixel(x, y)
            } else {
                let [r, g, b] = grey.get_pixel(x, y).0;
                image::Luma([((u16::from(r) + u16::from(g) + u16::from(b) + 1) / 3) as u8])
            }
        }))
    }

    /// One network pass over `source`. Tiles finish in any order when several run at once; each
    /// writes only its own interior, so the result is the same.
    async fn run(
        &self,
        model: &LoadedModel,
        tiles: &TilePlan,
        source: &RgbImage,
        tile_done: &mut TileDone<'_>,
    ) -> Result<RgbImage> {
        let scale = model.card.config.scale;
        let (width, height) = source.dimensions();
        let mut output = RgbImage::new(width * scale as u32, height * scale as u32);
        let in_flight = self.tiles.map_or(1, |runner| runner.in_flight().max(1));
        let mut waiting = tiles.tiles.iter().copied();
        let mut running = FuturesUnordered::new();
        let mut start_more = |running: &mut FuturesUnordered<_>| {
            while running.len() < in_flight {
                let Some(tile) = waiting.next() else { break };
                let input = profile::time(self.profiler, Stage::TileCopies, || tiles.extract(tile, source));
                let output = self.infer(model, input, tiles.input_size(), tiles.outside(tile));
                running.push(async move { (tile, output.await) });
            }
        };
        start_more(&mut running);
        while let Some((tile, result)) = running.next().await {
            // The next tile starts before this one is stitched and shown: a free worker never
            // waits on this thread.
            start_more(&mut running);
            let result = result?;
            profile::time(self.profiler, Stage::Stitch, || tiles.paste(tile, scale, &result, &mut output));
            let region =
                Rect { x: tile.x * scale, y: tile.y * scale, width: tile.width * scale, height: tile.height * scale };
            if let Some(between_tiles) = self.upscaler.settings.between_tiles {
                between_tiles().await;
            }
            tile_done(&output, region)?;
        }
        Ok(output)
    }

    /// The network's output for one tile's planar input, as interleaved RGB. A tile runner
    /// starts it at once, when this is called; here, it runs when first awaited.
    fn infer<'a>(
        &'a self,
        model: &'a LoadedModel,
        input: Vec<f32>,
        size: (usize, usize),
        outside: Outside,
    ) -> LocalFuture<'a, Result<Vec<u8>>> {
        if let Some(runner) = self.tiles {
            return runner.run(&model.card, input, size, outside);
        }
        Box::pin(async move {
            let net = model
                .net
                .get()
                .ok_or_else(|| Error::Model(format!("the weights of {} are not loaded", model.card.name)))?;
            net.infer_timed(&self.upscaler.backend.device, input, size, outside, self.profiler).await
        })
    }
}

#[cfg(burn_kernels)]
/// A network's output tensor read back (awaited: WebGPU in a browser reads only so) as
/// interleaved 8-bit RGB.
async fn read_rgb(output: Tensor<4>, profiler: Option<&Profiler>) -> Result<Vec<u8>> {
    let start = profiler.map(Profiler::now);
    let values = output
        .into_data_async()
        .await
        .map_err(|e| Error::Backend(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| Error::Backend(format!("unexpected network output: {e:?}")));
    if let (Some(profiler), Some(start)) = (profiler, start) {
        profiler.add(Stage::ReadBack, profiler.now() - start);
    }
    let values = values?;
    Ok(profile::time(profiler, Stage::Stitch, || tiling::to_rgb(&values)))
}

/// 1 where every pixel within 2 of this one (the reach of bicubic around an upscaled pixel, from
/// its nearest source pixel) has the same value, else 0.
fn flat_neighbourhoods(image: &GrayImage) -> GrayImage {
    let (width, height) = image.dimensions();
    GrayImage::from_fn(width, height, |x, y| {
        let centre = image.get_pixel(x, y)[0];
        let (x0, x1) = (x.saturating_sub(2), (x + 2).min(width - 1));
        let (y0, y1) = (y.saturating_sub(2), (y + 2).min(height - 1));
        let flat = (y0..=y1).all(|yy| (x0..=x1).all(|xx| image.get_pixel(xx, yy)[0] == centre));
        image::Luma([u8::from(flat)])
    })
}

/// Lanczos3 to the planned size, then the centred crop of fit cover (colour and alpha alike).
fn finish<P: image::Pixel<Subpixel = u8> + 'static>(image: Buffer<P>, plan: &Plan) -> Buffer<P> {
    let resized =
        if image.dimensions() == plan.resized { image } else { resize(&image, plan.resized, Filter::Lanczos3) };
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
    let pixels =
        resample::resize_u8(image.as_raw(), w as usize, h as usize, channels, width as usize, height as usize, filter);
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
