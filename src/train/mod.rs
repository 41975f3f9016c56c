//! Training with burn's autodiff, so training and inference share one network definition.
//!
//! Patches are cut from the training images on the fly: a random HR crop (textured ones
//! preferred: much of the photo set is out of focus), a random flip/rotation, and its LR made by
//! the same MATLAB-style bicubic the evaluation protocol uses. L1 loss (on RGB, or on luma:
//! [`loss`]), Adam, cosine schedule. Every `validate_every` steps the network is fused, saved and
//! scored on the validation sets with the crate's own pipeline and metrics; the best is kept as
//! the shipped model. Everything needed to resume (weights, optimiser, step, best score) is
//! checkpointed, so a long run can continue in a later session.
//!
//! A compression-aware model is trained the same way on LR patches that were also JPEG-compressed
//! ([`degrade`]), and validated on the benchmark sets saved as JPEG.

pub mod degrade;
pub mod loss;
pub mod net;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::store::ModuleRecord;
use image::RgbImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub use self::degrade::Degradation;
pub use self::loss::Loss;
use self::net::TrainNet;
use crate::backend::Backend;
use crate::compact::CompactModel;
use crate::engine::PackedNet;
use crate::eval::{self, EvalSet, LrInputs};
use crate::model::{Architecture, NetConfig};
use crate::route::{Look, Route};
use crate::tiling::Outside;
use crate::upscale::{Settings, Upscaler};
use crate::weights::{self, Evaluation, ModelCard, ModelFile, Training};
use crate::{Error, Result};

/// Everything a training run is asked to do.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub name: String,
    pub config: NetConfig,
    /// Total steps of the schedule (a resumed run continues up to this).
    pub steps: u64,
    pub batch: usize,
    /// Output patch side in LR pixels (the network sees this plus its context).
    pub patch: usize,
    pub learning_rate: f64,
    pub validate_every: u64,
    /// Stop (after a checkpoint) once this much wall time has passed in this run.
    pub max_seconds: Option<f64>,
    /// Folders of training images (searched recursively).
    pub data: Vec<PathBuf>,
    /// Validation sets (folders of HR images with a sibling `NAME_lr_matlab/X{s}`).
    pub validation: Vec<PathBuf>,
    /// Which LR files of the validation sets to score.
    pub validation_inputs: LrInputs,
    /// What is done to each LR patch after the bicubic downscale.
    pub degradation: Degradation,
    pub loss: Loss,
    /// Weight of the same loss on the images' neighbour differences ([`Loss::compute_edges`]),
    /// against the same targets.
    pub edge_weight: f64,
    /// Where the model (`NAME.bpk`, `NAME.json`) goes.
    pub out_dir: PathBuf,
    /// Where the run's checkpoint goes (`NAME/` in it): outside the folder the CLI embeds, so
    /// that a checkpoint never rebuilds it.
    pub checkpoints: PathBuf,
    /// A checkpoint of another run whose hidden layers initialise this one (e.g. ×2 → ×4).
    pub init_from: Option<PathBuf>,
    /// Learn from a larger model's outputs as well as from the originals.
    pub distillation: Option<Distillation>,
    pub seed: u64,
}

/// Distillation: the loss is `weight` × the loss against a teacher's output on the same degraded
/// input, plus `1 − weight` × the loss against the original.
#[derive(Clone, Debug)]
pub struct Distillation {
    /// A folder holding a Compact model as ncnn files (`model.param`, `model.bin`).
    pub teacher: PathBuf,
    pub weight: f64,
}

impl Distillation {
    /// Reads the teacher, refusing one of another scale than the network it teaches, and packs it
    /// for upres's CPU engine, which runs it several times faster than burn: on burn the teacher
    /// was most of a distillation step's time.
    fn load(&self, scale: usize) -> Result<PackedNet> {
        let read = |name: &str| {
            let path = self.teacher.join(name);
            std::fs::read(&path).map_err(|e| Error::Model(format!("cannot read the teacher's {}: {e}", path.display())))
        };
        let param = String::from_utf8(read("model.param")?)
            .map_err(|_| Error::Model(format!("{}/model.param is not text", self.teacher.display())))?;
        let model = CompactModel::from_ncnn(&param, &read("model.bin")?)
            .map_err(|e| Error::Model(format!("the teacher in {}: {e}", self.teacher.display())))?;
        if model.scale != scale {
            return Err(Error::Parameter(format!(
                "the teacher in {} upscales ×{}, it cannot teach a ×{scale} network",
                self.teacher.display(),
                model.scale
            )));
        }
        Ok(PackedNet::from_compact(&model))
    }
}

/// Progress of a run, saved beside the checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct RunState {
    config: Option<NetConfig>,
    step: u64,
    best_score: f64,
    wall_seconds: f64,
    backend: String,
    /// The checkpoint (and its step) whose hidden layers started this run, kept for the card.
    #[serde(default)]
    initialised_from: Option<String>,
}

/// Trains (or resumes) and returns the best model's card.
pub fn train(options: &TrainOptions, backend: &Backend) -> Result<ModelCard> {
    let config = options.config;
    config.validate()?;
    let device = backend.device.clone().autodiff();
    device.seed(options.seed);
    let mut run = Checkpoint::open(options, backend, &device)?;
    std::fs::create_dir_all(&options.out_dir)
        .map_err(|e| Error::Parameter(format!("cannot create the model folder {}: {e}", options.out_dir.display())))?;

    let images = load_images(&options.data)?;
    let validation: Vec<EvalSet> = options
        .validation
        .iter()
        .map(|dir| EvalSet::load(dir, config.scale, options.validation_inputs))
        .collect::<Result<_>>()?;
    eprintln!(
        "{}: {} training images ({:.1} megapixels), validation on {}",
        options.name,
        images.len(),
        images.iter().map(|i| i.width() as f64 * i.height() as f64).sum::<f64>() / 1e6,
        validation.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    let input = options.patch + 2 * config.context();
    let crop = (input + 2 * margin(options) + options.degradation.grid_slack()) * config.scale;
    if !images.iter().any(|i| i.width() as usize >= crop && i.height() as usize >= crop) {
        return Err(Error::Parameter(format!(
            "no training image is at least {crop}×{crop} pixels, the HR crop that --patch {} needs at ×{}",
            options.patch, config.scale
        )));
    }

    let teacher = options.distillation.as_ref().map(|d| d.load(config.scale)).transpose()?;
    let mut rng = StdRng::seed_from_u64(options.seed ^ run.state.step);
    let started = Instant::now();
    let wall_before = run.state.wall_seconds;
    let mut report = Report::default();
    let mut best = None;
    while run.state.step < options.steps {
        let sampling = Instant::now();
        let batch = sample_batch(&images, options, input, &mut rng)?;
        report.data_seconds += sampling.elapsed().as_secs_f64();
        let teaching = Instant::now();
        let shape = (options.batch, options.patch, config.context());
        let taught = teacher.as_ref().map(|teacher| teach(teacher, &batch.teacher_lr, shape)).transpose()?;
        report.teacher_seconds += teaching.elapsed().as_secs_f64();
        let stepping = Instant::now();
        let (loss, rate) = run.step(options, input, batch, taught, &device);
        report.add_step(loss, rate, stepping.elapsed().as_secs_f64());

        let out_of_time = options.max_seconds.is_some_and(|max| started.elapsed().as_secs_f64() >= max);
        if run.state.step % options.validate_every == 0 || run.state.step == options.steps || out_of_time {
            run.state.wall_seconds = wall_before + started.elapsed().as_secs_f64();
            let (card, score, improves) = validate(&run.net, options, &run.state, &validation)?;
            report.print(&run.state, &card);
            report = Report::default();
            if improves {
                run.state.best_score = score;
                best = Some(card);
            }
            run.save()?;
            if out_of_time {
                break;
            }
        }
    }
    match best {
        Some(card) => Ok(card),
        None => ModelFile::read(&options.out_dir.join(format!("{}.json", options.name))).map(|file| file.card),
    }
}

/// A run's network, optimiser and progress, and the folder they are saved in.
struct Checkpoint {
    dir: PathBuf,
    net: TrainNet,
    optimizer: ModuleOptimizer,
    state: RunState,
}

impl Checkpoint {
    /// Resumes the run saved in the checkpoint folder, or starts one (from `--init-from`'s
    /// layers, if given). Refuses a checkpoint of another architecture.
    fn open(options: &TrainOptions, backend: &Backend, device: &Device) -> Result<Self> {
        let config = options.config;
        let dir = options.checkpoints.join(&options.name);
        std::fs::create_dir_all(&dir)?;
        let state_path = dir.join("state.json");
        let saved = if state_path.exists() { Some(read_state(&state_path)?) } else { None };
        if let Some(held) = saved.as_ref().and_then(|s| s.config)
            && held != config
        {
            return Err(Error::Parameter(format!(
                "{} holds a ×{} network of {} channels × {} hidden layers, not the ×{} {} × {} asked for: \
                 resume it with --scale {} --channels {} --blocks {}, or start another run with --name",
                dir.display(),
                held.scale,
                held.channels,
                held.blocks,
                config.scale,
                config.channels,
                config.blocks,
                held.scale,
                held.channels,
                held.blocks
            )));
        }
        let mut net = config.init_train(device);
        let mut optimizer = AdamConfig::new().with_epsilon(1e-8).init();
        let mut state = RunState::default();
        if let Some(saved) = saved {
            state = saved;
            net = net.load_record(read_record(&dir.join("net.bpk"))?);
            // The repository keeps a run's network and state but not Adam's moments (twice
            // the network's size, re-estimated within a few hundred steps): see
            // training/README.md.
            let moments = dir.join("optimizer.bpk");
            if moments.exists() {
                optimizer = optimizer.load(moments).map_err(|e| Error::Model(format!("optimizer checkpoint: {e}")))?;
            } else {
                eprintln!("{} has no optimizer state: Adam's moments start afresh", dir.display());
            }
            eprintln!("resuming at step {} (best {:.3} dB)", state.step, state.best_score);
            if let Some(init) = &options.init_from {
                eprintln!("--init-from {} left alone: a resumed run keeps its own layers", init.display());
            }
        } else if let Some(init) = &options.init_from {
            let (initialised, donor) = initialise_body(net, init, device)?;
            net = initialised;
            eprintln!("initialised hidden layers from {donor}");
            state.initialised_from = Some(donor);
        }
        state.backend = backend.description.clone();
        state.config = Some(config);
        Ok(Self { dir, net, optimizer, state })
    }

    /// One optimisation step on a batch (planar LR inputs and HR targets); returns the loss
    /// and the learning rate used: cosine decay to 1 % of the initial rate.
    fn step(
        &mut self,
        options: &TrainOptions,
        input: usize,
        batch: Batch,
        taught: Option<Vec<f32>>,
        device: &Device,
    ) -> (f64, f64) {
        let side = options.patch * options.config.scale;
        let target = |pixels| Tensor::<4>::from_data(TensorData::new(pixels, [options.batch, 3, side, side]), device);
        let lr = Tensor::<4>::from_data(TensorData::new(batch.lr, [options.batch, 3, input, input]), device);
        let output = self.net.forward(lr);
        let against = |target: Tensor<4>| {
            let pixels = options.loss.compute(output.clone(), target.clone());
            match options.edge_weight {
                0.0 => pixels,
                weight => pixels + options.loss.compute_edges(output.clone(), target) * weight,
            }
        };
        let mut loss = against(target(batch.hr));
        if let (Some(taught), Some(distillation)) = (taught, &options.distillation) {
            loss = loss * (1.0 - distillation.weight) + against(target(taught)) * distillation.weight;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        let progress = self.state.step as f64 / options.steps as f64;
        let rate = options.learning_rate * (0.01 + 0.99 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
        self.net = self.optimizer.step(rate, self.net.clone(), grads);
        self.state.step += 1;
        (f64::from(loss.into_scalar::<f32>()), rate)
    }

    /// Writes network, optimiser and state; the state last, since it is what a resumed run
    /// trusts.
    fn save(&self) -> Result<()> {
        self.net
            .clone()
            .into_record()
            .save(self.dir.join("net.bpk"))
            .map_err(|e| Error::Model(format!("checkpoint: {e}")))?;
        self.optimizer
            .save(self.dir.join("optimizer.bpk"))
            .map_err(|e| Error::Model(format!("optimizer checkpoint: {e}")))?;
        std::fs::write(self.dir.join("state.json"), serde_json::to_vec_pretty(&self.state).unwrap_or_default())?;
        Ok(())
    }
}

/// What the steps since the last report did, and where their time went: making patches, or
/// the network.
#[derive(Default)]
struct Report {
    steps: usize,
    loss: f64,
    rate: f64,
    step_seconds: f64,
    data_seconds: f64,
    teacher_seconds: f64,
}

impl Report {
    fn add_step(&mut self, loss: f64, rate: f64, seconds: f64) {
        self.steps += 1;
        self.loss += loss;
        self.rate = rate;
        self.step_seconds += seconds;
    }

    fn print(&self, state: &RunState, card: &ModelCard) {
        let steps = self.steps.max(1) as f64;
        eprintln!(
            "step {:>7}  loss {:.5}  lr {:.2e}  {:.0} ms/step + {:.0} ms data + {:.0} ms teacher  {}  ({:.0} s)",
            state.step,
            self.loss / steps,
            self.rate,
            1000.0 * self.step_seconds / steps,
            1000.0 * self.data_seconds / steps,
            1000.0 * self.teacher_seconds / steps,
            card.evaluation
                .iter()
                .map(|e| format!("{} {:.3} dB / {:.4}", e.set, e.psnr, e.ssim))
                .collect::<Vec<_>>()
                .join(", "),
            state.wall_seconds
        );
    }
}

fn read_state(path: &Path) -> Result<RunState> {
    serde_json::from_slice(&std::fs::read(path)?).map_err(|e| Error::Model(format!("{}: {e}", path.display())))
}

fn read_record(path: &Path) -> Result<ModuleRecord> {
    ModuleRecord::load(path).map_err(|e| Error::Model(format!("{}: {e}", path.display())))
}

/// Starts from the layers of another run's checkpoint folder (e.g. ×2 for ×4) wherever the
/// architecture allows: everything but the scale-specific last layer. Also returns which
/// checkpoint that was, at which step, for the model card.
fn initialise_body(net: TrainNet, checkpoint_dir: &Path, device: &Device) -> Result<(TrainNet, String)> {
    let state_path = checkpoint_dir.join("state.json");
    let donor_state = read_state(&state_path)?;
    let donor_config = donor_state
        .config
        .ok_or_else(|| Error::Model(format!("{} does not say which architecture it holds", state_path.display())))?;
    let donor = donor_config
        .init_train(device)
        .try_load_record(read_record(&checkpoint_dir.join("net.bpk"))?)
        .map_err(|e| Error::Model(format!("{}: {e}", checkpoint_dir.display())))?;
    let mut described = format!("{} at step {}", checkpoint_dir.display(), donor_state.step);
    if donor_config.blocks < net.blocks() {
        described.push_str(&format!(
            " ({} × {}, deepened with identity layers between its own)",
            donor_config.channels, donor_config.blocks
        ));
    }
    Ok((net.with_body_from(&donor)?, described))
}

/// Fuses and scores the network, and saves it if it is the best so far (without validation
/// sets, the latest is kept); returns the card, the score to maximise (mean PSNR over the
/// validation sets) and whether it improved.
fn validate(
    net: &TrainNet,
    options: &TrainOptions,
    state: &RunState,
    sets: &[EvalSet],
) -> Result<(ModelCard, f64, bool)> {
    let cpu = Backend::cpu("validation");
    let fused = net.valid().fuse(&cpu.device);
    let config = options.config;
    let bytes = weights::to_bytes(fused)?;
    let mut card = ModelCard {
        name: options.name.clone(),
        config,
        architecture: Architecture::Upres,
        imported: None,
        weights: format!("{}.bpk", options.name),
        sha256: weights::sha256_hex(&bytes),
        parameters: config.fused_parameters(),
        macs_per_input_pixel: config.macs_per_input_pixel(),
        input: options.degradation.input_kind(),
        jpeg_qualities: options.degradation.qualities(),
        look: if options.distillation.is_some() { Look::Enhanced } else { Look::Faithful },
        training: Training {
            data: options.data.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            backend: state.backend.clone(),
            steps: state.step,
            batch: options.batch,
            patch: options.patch,
            wall_seconds: state.wall_seconds.round(),
            notes: format!(
                "{}{}, Adam, cosine from {:.1e}{}{}{}",
                options.loss.describe(),
                match options.edge_weight {
                    0.0 => String::new(),
                    weight => format!(" + {weight} × the same on neighbour differences"),
                },
                options.learning_rate,
                state
                    .initialised_from
                    .as_ref()
                    .map(|donor| format!(", hidden layers initialised from {donor}"))
                    .unwrap_or_default(),
                options.degradation.describe(),
                options
                    .distillation
                    .as_ref()
                    .map(|d| {
                        let share = match d.weight {
                            1.0 => "all of the loss against its outputs".to_string(),
                            w => format!(
                                "{:.0} % of the loss against its outputs, the rest against the originals",
                                100.0 * w
                            ),
                        };
                        format!("; distilled from the teacher in {} ({share})", d.teacher.display())
                    })
                    .unwrap_or_default(),
            ),
        },
        evaluation: Vec::new(),
    };
    let file = ModelFile::new(card.clone(), bytes)?;
    let upscaler = Upscaler::new(cpu, std::slice::from_ref(&file), Settings::default())?;
    for set in sets {
        let ours = eval::score(set, |image| {
            eval::network(
                &upscaler,
                set.scale,
                &image.lr,
                &Route::chosen(card.input, image.route.quality).with_look(card.look),
            )
        })?;
        let bicubic = eval::score(set, |image| Ok(eval::bicubic(&image.lr, set.scale)))?;
        card.evaluation.push(Evaluation {
            set: set.name.clone(),
            scale: set.scale,
            psnr: ours.psnr,
            ssim: ours.ssim,
            bicubic_psnr: bicubic.psnr,
            bicubic_ssim: bicubic.ssim,
        });
    }
    let score = card.evaluation.iter().map(|e| e.psnr).sum::<f64>() / card.evaluation.len().max(1) as f64;
    let improves = sets.is_empty() || score > state.best_score;
    if improves {
        std::fs::write(options.out_dir.join(&card.weights), &file.weights)?;
        std::fs::write(options.out_dir.join(format!("{}.json", options.name)), card.to_json())?;
    }
    Ok((card, score, improves))
}

/// Decodes every image under the folders (recursively), in a stable order.
fn load_images(folders: &[PathBuf]) -> Result<Vec<RgbImage>> {
    let mut paths = Vec::new();
    for folder in folders {
        collect_files(folder, &mut paths)?;
    }
    paths.sort();
    let mut images = Vec::new();
    for path in paths {
        match image::open(&path) {
            Ok(image) => images.push(image.to_rgb8()),
            Err(e) => eprintln!("skipping {}: {e}", path.display()),
        }
    }
    if images.is_empty() {
        return Err(Error::Parameter(format!("no training images found in {folders:?}")));
    }
    Ok(images)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg" | "bmp"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// LR margin cut beyond the network's input, so that the bicubic kernel (±2 LR pixels) sees real
/// pixels rather than the crop's mirrored edge.
const MARGIN: usize = 2;

/// LR pixels the teacher sees beyond the student's input on every side: the teacher pads with
/// zeros, and its outputs near its window's edges differ from those it gives inside a photo.
const TEACHER_MARGIN: usize = 4;

/// LR margin around the network's input in each training crop.
fn margin(options: &TrainOptions) -> usize {
    MARGIN + if options.distillation.is_some() { TEACHER_MARGIN } else { 0 }
}

/// Planar training patches: LR inputs `[B, 3, input, input]`, HR targets
/// `[B, 3, s·patch, s·patch]`, and for a teacher the same inputs with [`TEACHER_MARGIN`] more.
struct Batch {
    lr: Vec<f32>,
    hr: Vec<f32>,
    teacher_lr: Vec<f32>,
}

/// The teacher's output for a batch's `teacher_lr` (`count` squares), cut to the HR targets'
/// squares (`patch` LR pixels inside the student's `context`), planar, in 8-bit steps (the
/// engine's output, as a photo the teacher upscaled would hold it).
///
/// The teacher pads each layer with zeros, so its output at the targets is the engine's on the
/// window its layers reach around them, with zeros where the window leaves the square.
fn teach(teacher: &PackedNet, teacher_lr: &[f32], (count, patch, context): (usize, usize, usize)) -> Result<Vec<f32>> {
    let scale = teacher.scale();
    let side = patch + 2 * (context + TEACHER_MARGIN);
    let reach = teacher.context();
    let window = patch + 2 * reach;
    // The window's first pixel in the square's coordinates, before it where the teacher pads.
    let first = (context + TEACHER_MARGIN) as isize - reach as isize;
    let beyond = reach.saturating_sub(context + TEACHER_MARGIN);
    let outside = Outside { left: beyond, top: beyond, right: beyond, bottom: beyond };
    let hr = patch * scale;
    let mut taught = Vec::with_capacity(count * 3 * hr * hr);
    let mut input = vec![0.0; 3 * window * window];
    for square in teacher_lr.chunks_exact(3 * side * side).take(count) {
        for (plane, square) in input.chunks_exact_mut(window * window).zip(square.chunks_exact(side * side)) {
            for (y, line) in plane.chunks_exact_mut(window).enumerate() {
                let from_row = usize::try_from(first + y as isize).ok().filter(|&row| row < side);
                for (x, value) in line.iter_mut().enumerate() {
                    let from_column = usize::try_from(first + x as isize).ok().filter(|&column| column < side);
                    *value = match (from_row, from_column) {
                        (Some(row), Some(column)) => square[row * side + column],
                        _ => 0.0,
                    };
                }
            }
        }
        let rgb = teacher.run(&input, window, window, outside, None)?;
        for colour in 0..3 {
            taught.extend(rgb.iter().skip(colour).step_by(3).map(|&value| f32::from(value) / 255.0));
        }
    }
    Ok(taught)
}

fn sample_batch(images: &[RgbImage], options: &TrainOptions, input: usize, rng: &mut StdRng) -> Result<Batch> {
    let scale = options.config.scale;
    let context = options.config.context();
    let slack = options.degradation.grid_slack();
    let margin = margin(options);
    let small = input + 2 * margin + slack;
    let crop = small * scale;
    let mut lr = Vec::with_capacity(options.batch * 3 * input * input);
    let mut hr = Vec::new();
    let mut teacher_lr = Vec::new();
    for _ in 0..options.batch {
        let patch = textured_crop(images, crop, rng);
        let patch = augment(patch, rng.random_range(0..8));
        let low = options.degradation.degrade(patch.as_raw(), crop, crop, scale, rng)?;
        // Where the input sits in the degraded image: anywhere in the slack, so anywhere
        // relative to the JPEG block grid, which starts at the image's corner.
        let (x, y) = (margin + rng.random_range(0..=slack), margin + rng.random_range(0..=slack));
        push_planar(&mut lr, &low, small, (x, y), input);
        if options.distillation.is_some() {
            let teacher_input = input + 2 * TEACHER_MARGIN;
            push_planar(&mut teacher_lr, &low, small, (x - TEACHER_MARGIN, y - TEACHER_MARGIN), teacher_input);
        }
        let target = ((x + context) * scale, (y + context) * scale);
        push_planar(&mut hr, patch.as_raw(), crop, target, options.patch * scale);
    }
    Ok(Batch { lr, hr, teacher_lr })
}

/// Appends the `side`² square at `(x, y)` of an interleaved RGB image, planar, 0..1.
fn push_planar(out: &mut Vec<f32>, pixels: &[u8], width: usize, (x, y): (usize, usize), side: usize) {
    for channel in 0..3 {
        for row in y..y + side {
            let row = &pixels[(row * width + x) * 3..(row * width + x + side) * 3];
            out.extend(row.chunks_exact(3).map(|p| f32::from(p[channel]) / 255.0));
        }
    }
}

/// A random square crop, preferring textured ones: up to 8 tries for one whose mean absolute
/// luma gradient passes a threshold (flat sky and bokeh teach the network nothing).
fn textured_crop(images: &[RgbImage], side: usize, rng: &mut StdRng) -> RgbImage {
    let usable: Vec<&RgbImage> =
        images.iter().filter(|i| i.width() as usize >= side && i.height() as usize >= side).collect();
    let mut crop = RgbImage::new(side as u32, side as u32);
    for _ in 0..8 {
        let image = usable[rng.random_range(0..usable.len())];
        let x = rng.random_range(0..=image.width() - side as u32);
        let y = rng.random_range(0..=image.height() - side as u32);
        crop = image::imageops::crop_imm(image, x, y, side as u32, side as u32).to_image();
        if mean_gradient(&crop) > 6.0 {
            break;
        }
    }
    crop
}

fn mean_gradient(image: &RgbImage) -> f64 {
    let luma = |x: u32, y: u32| {
        let p = image.get_pixel(x, y).0;
        0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])
    };
    let (w, h) = image.dimensions();
    let mut sum = 0.0;
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            sum += (luma(x + 1, y) - luma(x, y)).abs() + (luma(x, y + 1) - luma(x, y)).abs();
        }
    }
    sum / f64::from((w - 1) * (h - 1))
}

/// One of the 8 symmetries of the square.
fn augment(image: RgbImage, which: u8) -> RgbImage {
    use image::imageops::{flip_horizontal, rotate90, rotate180, rotate270};
    let rotated = match which % 4 {
        0 => image,
        1 => rotate90(&image),
        2 => rotate180(&image),
        _ => rotate270(&image),
    };
    if which >= 4 { flip_horizontal(&rotated) } else { rotated }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::testing::{graph, nearest, weights};

    /// With a nearest-neighbour teacher, the cut of its output is the student's input window
    /// upscaled, from the first pixel after the student's context: where the HR targets are.
    #[test]
    fn the_teachers_output_is_cut_where_the_targets_are() {
        let (scale, count, patch, context) = (2, 2, 3, 2);
        let teacher = PackedNet::from_compact(&nearest(3, 4, 1, scale));
        let side = patch + 2 * (context + TEACHER_MARGIN);
        let lr: Vec<f32> = (0..count * 3 * side * side).map(|i| (i % 97) as f32 / 97.0).collect();
        let taught = teach(&teacher, &lr, (count, patch, context)).unwrap();

        let hr = patch * scale;
        assert_eq!(taught.len(), count * 3 * hr * hr);
        for plane in 0..count * 3 {
            for y in 0..hr {
                for x in 0..hr {
                    let source = (context + TEACHER_MARGIN) * scale;
                    let (row, column) = ((source + y) / scale, (source + x) / scale);
                    let expected = (lr[(plane * side + row) * side + column] * 255.0).round() / 255.0;
                    assert_eq!(taught[(plane * hr + y) * hr + x], expected);
                }
            }
        }
    }

    /// A teacher whose layers reach beyond its square pads with zeros there, as burn's padded
    /// forward pass does: the engine's cut matches it to the 8-bit step.
    #[test]
    fn the_teacher_pads_with_zeros_as_burn_does() {
        let (scale, count, patch, context) = (2, 2, 3, 1);
        // The test weights scaled up, so that what a layer makes beyond the square (its bias,
        // unless zeroed again) reaches the targets by more than the 8-bit step.
        let stronger = 4.0;
        let bin = weights(3, 8, 6, scale, false);
        let bin: Vec<u8> = bin
            .chunks_exact(4)
            .flat_map(|b| (f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * stronger).to_le_bytes())
            .collect();
        let model = CompactModel::from_ncnn(&graph(3, 8, 6, scale), &bin).unwrap();
        assert!(model.context() > context + TEACHER_MARGIN, "the test needs a teacher that reaches past the square");
        let side = patch + 2 * (context + TEACHER_MARGIN);
        let lr: Vec<f32> = (0..count * 3 * side * side).map(|i| (i * 37 % 101) as f32 / 101.0).collect();
        let taught = teach(&PackedNet::from_compact(&model), &lr, (count, patch, context)).unwrap();

        let device = Device::flex();
        let input = Tensor::<4>::from_data(TensorData::new(lr, [count, 3, side, side]), &device);
        let (start, hr) = ((context + TEACHER_MARGIN) * scale, patch * scale);
        let padded = model.load(&device).forward(input).slice(s![.., .., start..start + hr, start..start + hr]);
        let padded = padded.clamp(0.0, 1.0).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(taught.len(), padded.len());
        let worst = taught.iter().zip(&padded).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst <= 0.5 / 255.0 + 1e-4, "the engine's teacher is {worst} from burn's");
        assert!(padded.iter().any(|&v| v > 0.05 && v < 0.95), "the outputs should not all be clamped");
    }
}
