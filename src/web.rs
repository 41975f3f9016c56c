//! The browser's entry point, and the crate's only `#[wasm_bindgen]` surface.
//!
//! It runs inside a dedicated Web Worker (`www/worker.js`), never on the page's main thread. The
//! page fetches the models, checks them against their cards and hands the bytes over; this
//! module starts a backend (WebGPU through burn's wgpu backend, or burn's CPU backend), loads the
//! models onto it and runs the same pipeline as the CLI ([`Upscaler::run`]). Everything that
//! crosses to JavaScript is plain data: options arrive as JSON, results and errors leave as
//! objects with named fields, so that the worker can post them on unchanged.
//!
//! Which backend to use is decided in JavaScript, where the WebGPU adapter's details
//! (`isFallbackAdapter`) are visible; retrying after a GPU failure is decided there too, because a
//! panic in wasm aborts the whole instance and only a fresh worker can recover from it.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::rc::Rc;

use js_sys::{Array, Float32Array, Function, Object, Promise, Reflect, Uint8Array, Uint8ClampedArray};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::Error;
use crate::backend::{Backend, Kernels};
use crate::codec;
use crate::job::Job;
use crate::limits::Limits;
use crate::metadata::Metadata;
use crate::tiling::{Outside, Rect};
use crate::upscale::{Hooks, LocalFuture, Progress, Runnable, Settings, TileRunner, Upscaler, WeightSource};
use crate::weights::{ModelCard, ModelFile};

thread_local! {
    /// The message of the last panic: a panic aborts the instance, and the worker reads this to
    /// say what happened (typically a WebGPU error) before it is replaced.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| info.to_string());
        LAST_PANIC.set(Some(message));
    }));
}

/// The message of the panic that aborted this instance, if one did.
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    LAST_PANIC.with_borrow(Clone::clone)
}

/// Models on one backend, ready to upscale. Cheap to keep: a worker holds one for its lifetime.
#[wasm_bindgen]
pub struct Engine {
    upscaler: Rc<Upscaler>,
    /// `"webgpu"` or `"cpu"`.
    backend: &'static str,
}

#[wasm_bindgen]
impl Engine {
    /// Starts `backend` (`"webgpu"` or `"cpu"`) for the models whose `cards` (an array of their
    /// JSON texts) are given; each one's weights are asked for when a job first needs them.
    ///
    /// `description` and `reason` say, for the page, which device this is and why it was chosen.
    /// `tile_size` is the tile interior in input pixels (the page picks it per backend and shrinks
    /// it after a GPU failure).
    pub async fn start(
        backend: String,
        description: String,
        reason: String,
        cards: Array,
        tile_size: usize,
    ) -> Result<Engine, JsValue> {
        let cards = model_cards(&cards).map_err(to_js)?;
        let (kind, backend) = match backend.as_str() {
            "cpu" => ("cpu", Backend::cpu(reason)),
            "webgpu" => {
                let device = webgpu_device().await.map_err(to_js)?;
                ("webgpu", Backend { device, description, reason, kernels: Kernels::Burn })
            }
            other => {
                return Err(to_js(Error::Parameter(format!("unknown backend {other:?}: expected webgpu or cpu"))));
            }
        };
        let settings = Settings {
            tile_size: Some(tile_size.max(1)),
            between_tiles: Some(yield_to_event_loop),
            ..Settings::default()
        };
        let upscaler = Upscaler::with_cards(backend, cards, settings);
        Ok(Engine { upscaler: Rc::new(upscaler), backend: kind })
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.into()
    }

    /// "cpu (upres engine, wasm simd128)", or the WebGPU adapter's description.
    #[wasm_bindgen(getter)]
    pub fn description(&self) -> String {
        self.upscaler.backend.description.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn reason(&self) -> String {
        self.upscaler.backend.reason.clone()
    }

    /// Runs one job as [`Engine::upscale`] does, every tile here on one thread, and resolves to
    /// where its time went: `{ stages: [[name, ms], …], totalMs, gflop, networkGflops, jobGflops }`
    /// (see [`crate::profile::Stage`]). The result itself is dropped.
    pub fn profile(&self, bytes: Vec<u8>, options: String, weights: Function) -> Promise {
        let upscaler = Rc::clone(&self.upscaler);
        future_to_promise(async move {
            let job = Job::from_json(&options).map_err(to_js)?;
            let weights = JsWeights(weights);
            let mut quiet = |_: Progress<'_>| ControlFlow::Continue(());
            let profile =
                upscaler.profile(&job, &bytes, performance_now, &mut quiet, Some(&weights)).await.map_err(to_js)?;
            let result = Object::new();
            let stages: Array = profile
                .stages
                .iter()
                .map(|(name, ms)| JsValue::from(Array::of2(&(*name).into(), &(*ms).into())))
                .collect();
            set(&result, "stages", &stages.into());
            set(&result, "totalMs", &profile.total_ms.into());
            set(&result, "gflop", &profile.gflop.into());
            set(&result, "networkGflops", &profile.network_gflops.into());
            set(&result, "jobGflops", &profile.job_gflops.into());
            Ok(result.into())
        })
    }

    /// Upscales one file's bytes; resolves to `{ bytes, width, height, mime, extension, label,
    /// route, models, metadata }` (`route`: which models ran and why, in words; `models`: their
    /// names; `metadata`: what the file carries besides pixels, and what was left out). For lossy
    /// WebP, which this module cannot write, `bytes` is empty and the result also has `pixels`
    /// (RGBA, for `ImageData`) and `pending`, a [`PendingWebP`] that puts the metadata into
    /// the browser's encoding.
    ///
    /// `options` is a [`Job`] as JSON: `{"target": {"scale": 4} | {"longEdge": 2000} |
    /// {"box": {"width": 1920, "height": 1080, "fit": "contain" | "cover"}} | {"print": {"width":
    /// 8, "height": 10, "unit": "in" | "cm" | "mm", "dpi": 300, "fit": "contain"}},
    /// "format": "png" | "jpeg" | "webp", "quality": 1..100 (JPEG; makes WebP lossy),
    /// "input": "auto" | "clean" | "compressed", "metadata": "all" | "no-location" | "color" |
    /// "none" (both optional)}`.
    ///
    /// `on_progress` is called after every tile with `{ done, total, width, height, x, y,
    /// regionWidth, regionHeight, pixels }`: the size of the current pass's output and the RGBA
    /// pixels of the region just filled. It returns `true` to cancel; the job then rejects with
    /// kind `cancelled` before the next tile starts.
    ///
    /// `weights(name)` resolves to the weights (a `Uint8Array`) of the model named, the first
    /// time a job needs it. `run_tile(name, input, width, height)`, when given, runs the network
    /// on one tile elsewhere (a pool of workers: a [`TileNet`] in each) and resolves to its
    /// output, `in_flight` tiles at a time; without it every tile runs here.
    pub fn upscale(
        &self,
        bytes: Vec<u8>,
        options: String,
        on_progress: Function,
        weights: Function,
        run_tile: Option<Function>,
        in_flight: usize,
    ) -> Promise {
        let upscaler = Rc::clone(&self.upscaler);
        future_to_promise(async move {
            let job = Job::from_json(&options).map_err(to_js)?;
            let mut report = |progress: Progress<'_>| report_progress(&on_progress, progress);
            let weights = JsWeights(weights);
            let pool = run_tile.map(|run| JsTiles { run, in_flight });
            let tiles = pool.as_ref().map(|pool| pool as &dyn TileRunner);
            let hooks = Hooks { tiles, weights: Some(&weights), profiler: None };
            let encoded = upscaler.run_with(&job, &bytes, &mut report, hooks).await.map_err(to_js)?;
            let result = Object::new();
            set(&result, "bytes", &Uint8Array::from(encoded.bytes.as_slice()).into());
            // A format this module has no encoder for (lossy WebP): the pixels, for the browser's
            // own encoder, and what to put into its file afterwards.
            if let Some(pixels) = &encoded.pixels {
                set(
                    &result,
                    "pixels",
                    &Uint8ClampedArray::from(rgba(&pixels.rgb, pixels.alpha.as_ref(), whole(&pixels.rgb)).as_slice())
                        .into(),
                );
                let pending = PendingWebP {
                    metadata: encoded.metadata.clone(),
                    width: encoded.width,
                    height: encoded.height,
                    alpha: pixels.alpha.is_some(),
                };
                set(&result, "pending", &pending.into());
            }
            set(&result, "metadata", &encoded.metadata.describe().into());
            set(&result, "width", &encoded.width.into());
            set(&result, "height", &encoded.height.into());
            set(&result, "mime", &encoded.format.mime_type().into());
            set(&result, "extension", &encoded.format.extension().into());
            set(&result, "label", &job.target.label().into());
            set(&result, "route", &encoded.reason.to_string().into());
            let models: Array = encoded.models.iter().map(|name| JsValue::from_str(name)).collect();
            set(&result, "models", &models.into());
            Ok(result.into())
        })
    }
}

/// A WebP the browser's encoder is writing (`OffscreenCanvas.convertToBlob`), which writes no
/// colour profile, EXIF or XMP: [`PendingWebP::finish`] puts the job's in.
#[wasm_bindgen]
pub struct PendingWebP {
    metadata: Metadata,
    width: u32,
    height: u32,
    alpha: bool,
}

#[wasm_bindgen]
impl PendingWebP {
    /// The browser's WebP with the job's metadata in it. Rejects anything that is not a still
    /// WebP of the job's size: a browser that cannot encode WebP hands back a PNG instead.
    pub fn finish(&self, bytes: &[u8]) -> Result<Vec<u8>, JsValue> {
        let not_webp = || to_js(Error::Encode("this browser did not write a WebP image".into()));
        let size = image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::WebP)
            .into_dimensions()
            .map_err(|_| not_webp())?;
        if size != (self.width, self.height) {
            return Err(not_webp());
        }
        codec::with_webp_metadata(bytes.to_vec(), self.width, self.height, self.alpha, &self.metadata).map_err(to_js)
    }
}

/// Weights from the worker's JavaScript, which downloads (or has cached) each model.
struct JsWeights(Function);

impl WeightSource for JsWeights {
    fn fetch<'a>(&'a self, card: &'a ModelCard) -> LocalFuture<'a, crate::Result<Vec<u8>>> {
        Box::pin(async move {
            let failed = |e: JsValue| Error::Model(format!("could not load {}: {}", card.name, js_message(&e)));
            let promise = self.0.call1(&JsValue::NULL, &card.name.as_str().into()).map_err(failed)?;
            let bytes = JsFuture::from(Promise::resolve(&promise)).await.map_err(failed)?;
            let bytes = bytes
                .dyn_into::<Uint8Array>()
                .map_err(|_| Error::Model(format!("could not load {}: no weights came back", card.name)))?;
            Ok(bytes.to_vec())
        })
    }
}

/// Tiles run by the worker's pool of tile workers (`www/tiles.js`).
struct JsTiles {
    run: Function,
    in_flight: usize,
}

impl TileRunner for JsTiles {
    fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn run<'a>(
        &'a self,
        model: &'a ModelCard,
        input: Vec<f32>,
        (width, height): (usize, usize),
        outside: Outside,
    ) -> LocalFuture<'a, crate::Result<Vec<u8>>> {
        let failed = |e: JsValue| Error::Backend(format!("a tile worker failed: {}", js_message(&e)));
        // Called now, so that a free worker starts at once; and awaited from now, so that a tile
        // a cancel drops before it is polled has a handler for its rejection.
        let Outside { left, top, right, bottom } = outside;
        let outside: Array = [left, top, right, bottom].iter().map(|&side| JsValue::from(side)).collect();
        let args = Array::of5(
            &model.name.as_str().into(),
            &Float32Array::from(input.as_slice()).into(),
            &width.into(),
            &height.into(),
            &outside.into(),
        );
        let output = self.run.apply(&JsValue::NULL, &args).map(|promise| JsFuture::from(Promise::resolve(&promise)));
        Box::pin(async move {
            let output = output.map_err(failed)?.await.map_err(failed)?;
            let output = output
                .dyn_into::<Uint8Array>()
                .map_err(|_| Error::Backend("a tile worker answered without the tile".into()))?;
            Ok(output.to_vec())
        })
    }
}

/// The network alone, for a tile worker: models on the CPU engine, one tile at a time, for the
/// [`Engine`] of another worker that plans, stitches and encodes.
#[wasm_bindgen]
pub struct TileNet {
    backend: Backend,
    nets: Vec<(String, Runnable)>,
}

#[wasm_bindgen]
impl TileNet {
    #[wasm_bindgen(constructor)]
    pub fn new() -> TileNet {
        TileNet { backend: Backend::cpu("a tile worker"), nets: Vec::new() }
    }

    /// Whether the model named is loaded.
    pub fn has(&self, name: &str) -> bool {
        self.nets.iter().any(|(loaded, _)| loaded == name)
    }

    /// Loads a model: its card's JSON text and its weights (checked against the card).
    pub fn load(&mut self, card: &str, weights: Vec<u8>) -> Result<(), JsValue> {
        let file = ModelFile::new(ModelCard::from_json(card).map_err(to_js)?, weights).map_err(to_js)?;
        let net = Runnable::load(&file, &self.backend).map_err(to_js)?;
        self.nets.retain(|(name, _)| *name != file.card.name);
        self.nets.push((file.card.name, net));
        Ok(())
    }

    /// The named model's output for one tile (planar RGB, `width`×`height`, context included;
    /// `outside`: the pixels of its border beyond the image, left, top, right, bottom), as
    /// interleaved 8-bit RGB.
    pub async fn run(
        &self,
        name: &str,
        input: Vec<f32>,
        width: usize,
        height: usize,
        outside: Vec<u32>,
    ) -> Result<Uint8Array, JsValue> {
        let (_, net) = self
            .nets
            .iter()
            .find(|(loaded, _)| loaded == name)
            .ok_or_else(|| to_js(Error::Model(format!("{name} is not loaded in this tile worker"))))?;
        let &[left, top, right, bottom] = outside.as_slice() else {
            return Err(to_js(Error::Parameter(format!("a tile's outside border is four numbers, not {outside:?}"))));
        };
        let [left, top, right, bottom] = [left, top, right, bottom].map(|side| side as usize);
        let outside = Outside { left, top, right, bottom };
        let output = net.infer(&self.backend.device, input, (width, height), outside).await.map_err(to_js)?;
        Ok(Uint8Array::from(output.as_slice()))
    }
}

impl Default for TileNet {
    fn default() -> Self {
        Self::new()
    }
}

/// A thrown JavaScript value's message.
fn js_message(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

fn whole(image: &image::RgbImage) -> Rect {
    Rect { x: 0, y: 0, width: image.width() as usize, height: image.height() as usize }
}

/// `region` of the image as interleaved RGBA, opaque where there is no alpha: what `ImageData`
/// holds.
fn rgba(rgb: &image::RgbImage, alpha: Option<&image::GrayImage>, region: Rect) -> Vec<u8> {
    let width = rgb.width() as usize;
    let mut out = Vec::with_capacity(region.width * region.height * 4);
    for y in region.y..region.y + region.height {
        let start = y * width + region.x;
        let pixels = rgb.as_raw()[start * 3..(start + region.width) * 3].chunks_exact(3);
        for (offset, pixel) in pixels.enumerate() {
            let opacity = alpha.map_or(u8::MAX, |alpha| alpha.as_raw()[start + offset]);
            out.extend_from_slice(&[pixel[0], pixel[1], pixel[2], opacity]);
        }
    }
    out
}

/// Decodes a file as a job would, to tell the page its size or exactly what is wrong with it
/// (not an image, corrupt, unsupported, over the limit) before any work is queued.
///
/// Resolves to `{ width, height, mime }`.
#[wasm_bindgen]
pub fn inspect(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let decoded = codec::decode(bytes, &Limits::default()).map_err(to_js)?;
    let info = Object::new();
    set(&info, "width", &decoded.rgb.width().into());
    set(&info, "height", &decoded.rgb.height().into());
    set(&info, "mime", &decoded.format.to_mime_type().into());
    Ok(info.into())
}

/// Reads a model a person brought (a Compact model: `.pth`, `.safetensors`, or an ncnn `.param`
/// with its `.bin` as `weights`), refusing anything else with a message that says why, before
/// anything is run.
///
/// Resolves to `{ name, card, weights, scale, parameters, macs, architecture, sha256, format }`:
/// `card` the JSON text to start an [`Engine`] with, `weights` its weights in the form the
/// engine reads (safetensors), the rest for the page to show.
#[wasm_bindgen(js_name = importModel)]
pub fn import_model(name: &str, bytes: &[u8], weights: Option<Vec<u8>>) -> Result<JsValue, JsValue> {
    let file = ModelFile::import(name, bytes, weights.as_deref()).map_err(to_js)?;
    let card = &file.card;
    let info = Object::new();
    set(&info, "name", &card.name.as_str().into());
    set(&info, "card", &card.to_json().into());
    set(&info, "weights", &Uint8Array::from(file.weights.as_slice()).into());
    set(&info, "scale", &card.config.scale.into());
    set(&info, "parameters", &card.parameters.into());
    set(&info, "macs", &card.macs_per_input_pixel.into());
    set(&info, "architecture", &card.shape().into());
    if let Some(imported) = &card.imported {
        set(&info, "sha256", &imported.sha256.as_str().into());
        set(&info, "format", &imported.format.as_str().into());
    }
    Ok(info.into())
}

/// Lets the worker's event loop run: a cancel message, a probe of another file. On the CPU
/// backend nothing in a tile ever awaits anything that is not already resolved, so without this
/// a job would hold the worker until it finished. A macrotask (not a resolved promise, whose
/// continuation runs before any message): a message to ourselves, which browsers deliver at
/// once, where a chain of `setTimeout(0)` is clamped to 4 ms each (measured: 17 of 430 ms of a
/// 256² ×4 job, four tiles).
fn yield_to_event_loop() -> Pin<Box<dyn Future<Output = ()>>> {
    let tick = Promise::new(&mut |resolve, _reject| {
        let channel = MessageChannel::new();
        channel.port1().set_onmessage(&resolve);
        channel.port2().post_message(&JsValue::NULL);
    });
    Box::pin(async move {
        // The message handler resolves the promise and cannot fail.
        let _ = JsFuture::from(tick).await;
    })
}

#[wasm_bindgen]
extern "C" {
    type MessageChannel;
    #[wasm_bindgen(constructor)]
    fn new() -> MessageChannel;
    #[wasm_bindgen(method, getter)]
    fn port1(this: &MessageChannel) -> MessagePort;
    #[wasm_bindgen(method, getter)]
    fn port2(this: &MessageChannel) -> MessagePort;

    type MessagePort;
    #[wasm_bindgen(method, setter = onmessage)]
    fn set_onmessage(this: &MessagePort, handler: &Function);
    #[wasm_bindgen(method, js_name = postMessage)]
    fn post_message(this: &MessagePort, message: &JsValue);

    /// Milliseconds, with sub-millisecond resolution where the browser allows.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// The wgpu device, initialised once per worker: burn's runtime refuses a second initialisation.
#[cfg(feature = "wgpu")]
async fn webgpu_device() -> crate::Result<burn::prelude::Device> {
    thread_local! {
        static DEVICE: RefCell<Option<burn::prelude::Device>> = const { RefCell::new(None) };
    }
    if let Some(device) = DEVICE.with_borrow(Clone::clone) {
        return Ok(device);
    }
    let device = burn::prelude::Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| Error::Backend(format!("WebGPU did not start: {e}")))?;
    DEVICE.set(Some(device.clone()));
    Ok(device)
}

#[cfg(not(feature = "wgpu"))]
async fn webgpu_device() -> crate::Result<burn::prelude::Device> {
    Err(Error::Backend("this build has no WebGPU backend".into()))
}

/// `cards`: an array of model cards' JSON texts.
fn model_cards(cards: &Array) -> crate::Result<Vec<ModelCard>> {
    cards
        .iter()
        .map(|card| {
            let card = card.as_string().ok_or_else(|| Error::Model("a model card that is not text".into()))?;
            ModelCard::from_json(&card)
        })
        .collect()
}

/// Sends one tile's worth of preview to the page; a `true` answer (or a throwing callback, which
/// could not show progress anyway) cancels the job.
fn report_progress(on_progress: &Function, progress: Progress<'_>) -> ControlFlow<()> {
    let region = progress.region;
    let pixels = rgba(progress.image, None, region);
    let report = Object::new();
    set(&report, "done", &progress.done.into());
    set(&report, "total", &progress.total.into());
    set(&report, "width", &progress.image.width().into());
    set(&report, "height", &progress.image.height().into());
    set(&report, "x", &region.x.into());
    set(&report, "y", &region.y.into());
    set(&report, "regionWidth", &region.width.into());
    set(&report, "regionHeight", &region.height.into());
    set(&report, "pixels", &Uint8ClampedArray::from(pixels.as_slice()).into());
    match on_progress.call1(&JsValue::NULL, &report) {
        Ok(answer) if !answer.is_truthy() => ControlFlow::Continue(()),
        _ => ControlFlow::Break(()),
    }
}

/// An `Error` whose `name` says whose fault it was ([`Error::kind`]) and whose message is the
/// pipeline's own, written for people; the page puts its own title for the kind in front.
fn to_js(error: Error) -> JsValue {
    let js = js_sys::Error::new(&error.detail());
    js.set_name(error.kind());
    js.into()
}

/// Sets a field on an object we just created (which cannot fail).
fn set(object: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &key.into(), value);
}
