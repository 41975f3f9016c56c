//! `upres train`: trains one network; resumes from `CHECKPOINTS/NAME/` when a checkpoint is there.

use std::path::PathBuf;

use anyhow::Result;
use upres::backend::{Backend, BackendChoice};
use upres::eval::LrInputs;
use upres::model::NetConfig;
use upres::route::InputKind;
use upres::train::degrade::RealDegradation;
use upres::train::{Degradation, Distillation, Loss, TrainOptions, train};

use super::Outcome;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Model scale: 2, 3 or 4.
    #[arg(long)]
    scale: usize,
    /// Folders of training images (searched recursively).
    #[arg(long, required = true, num_args = 1.., value_name = "DIR")]
    data: Vec<PathBuf>,
    /// Validation sets (HR folders with a sibling NAME_lr_matlab/X{S}); the best score is kept.
    #[arg(long, num_args = 1.., value_name = "DIR")]
    validate: Vec<PathBuf>,
    /// Validate on the sets' JPEG inputs of this quality (NAME_lr_jpeg/qQ/X{S}) instead.
    #[arg(long, value_name = "Q", conflicts_with = "validate_real")]
    validate_jpeg: Option<u8>,
    /// Validate on the sets' inputs made as real photos are (NAME_lr_real/X{S}) instead.
    #[arg(long)]
    validate_real: bool,
    /// Train for clean inputs, or for compressed ones (LR patches JPEG-compressed at a quality
    /// from --jpeg-qualities, a quarter of them twice, a tenth left clean).
    #[arg(long, value_enum, default_value_t = InputKind::Clean)]
    input: InputKind,
    /// Train for photos as they come instead: each LR patch made from its HR patch by a chain
    /// of what happens to real photos (blur, resizers, noise, sharpening, JPEG, twice over):
    /// `photo` for web photos' mix, `real-esrgan` for Real-ESRGAN's published ranges (harsher).
    #[arg(long, value_enum, value_name = "MIX", conflicts_with = "input")]
    real: Option<RealMix>,
    /// With --input compressed: the range the JPEG quality of each patch is drawn from.
    #[arg(long, value_name = "LOW-HIGH", default_value = "30-95", value_parser = parse_qualities)]
    jpeg_qualities: (u8, u8),
    /// What to minimise: L1 on RGB, or on the luma the benchmarks score (plus a quarter of the
    /// RGB loss, for colour).
    #[arg(long, value_enum, default_value_t = Loss::Rgb)]
    loss: Loss,
    /// Add this weight of the same loss on the images' differences between neighbours (edges),
    /// against the same targets: keeps a small network from softening them.
    #[arg(long, value_name = "WEIGHT", default_value_t = 0.0)]
    edge_weight: f64,
    /// Model name (files NAME.bpk and NAME.json). Default: upres-x{S}.
    #[arg(long)]
    name: Option<String>,
    #[arg(long, default_value_t = 16)]
    channels: usize,
    /// Hidden 3×3 layers.
    #[arg(long, default_value_t = 4)]
    blocks: usize,
    /// Total steps of the schedule (a resumed run continues to this).
    #[arg(long, default_value_t = 100_000)]
    steps: u64,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Output patch side in LR pixels.
    #[arg(long, default_value_t = 32)]
    patch: usize,
    #[arg(long, default_value_t = 5e-4)]
    lr: f64,
    #[arg(long, default_value_t = 1000)]
    validate_every: u64,
    /// Stop, after saving a checkpoint, once this many minutes have passed.
    #[arg(long, value_name = "MIN")]
    minutes: Option<f64>,
    /// A checkpoint folder (CHECKPOINTS/NAME) whose layers initialise this network: another
    /// scale's (all but the last layer), or the same scale's (all of them, to fine-tune; a
    /// shallower one of the same width gets identity layers inserted, to deepen it).
    #[arg(long, value_name = "DIR")]
    init_from: Option<PathBuf>,
    /// Where the model goes.
    #[arg(long, default_value = "models")]
    out: PathBuf,
    /// Where the checkpoint goes (CHECKPOINTS/NAME); a run resumes from it.
    #[arg(long, default_value = "training")]
    checkpoints: PathBuf,
    /// Distil from a larger model: a folder with its ncnn files (model.param, model.bin), a
    /// Compact model of the same scale (e.g. ../shared/teachers/realesr-general-x4v3).
    #[arg(long, value_name = "DIR")]
    teacher: Option<PathBuf>,
    /// With --teacher: the share of the loss against the teacher's outputs (the rest is
    /// against the originals).
    #[arg(long, default_value_t = 0.8, value_parser = parse_share)]
    teacher_weight: f64,
    #[arg(long, default_value = "cpu")]
    backend: BackendChoice,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_qualities(text: &str) -> Result<(u8, u8), String> {
    let range =
        text.split_once(['-', '–']).and_then(|(low, high)| Some((low.trim().parse().ok()?, high.trim().parse().ok()?)));
    match range {
        Some((low, high)) if 1 <= low && low <= high && high <= 100 => Ok((low, high)),
        _ => Err(format!("expected LOW-HIGH with 1 ≤ LOW ≤ HIGH ≤ 100, e.g. 30-95, not {text:?}")),
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum RealMix {
    Photo,
    RealEsrgan,
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("expected a share from 0 to 1, e.g. 0.8, not {text:?}")),
    }
}

pub fn run(args: TrainArgs) -> Result<Outcome> {
    let options = TrainOptions {
        name: args.name.unwrap_or_else(|| format!("upres-x{}", args.scale)),
        config: NetConfig::new(args.scale, args.channels, args.blocks),
        steps: args.steps,
        batch: args.batch.max(1),
        patch: args.patch.max(1),
        learning_rate: args.lr,
        validate_every: args.validate_every.max(1),
        max_seconds: args.minutes.map(|m| m * 60.0),
        data: args.data,
        validation: args.validate,
        validation_inputs: match (args.validate_jpeg, args.validate_real) {
            (Some(quality), _) => LrInputs::Jpeg(quality),
            (None, true) => LrInputs::Real,
            (None, false) => LrInputs::Matlab,
        },
        degradation: match (args.real, args.input) {
            (Some(RealMix::Photo), _) => Degradation::Real(RealDegradation::PHOTO),
            (Some(RealMix::RealEsrgan), _) => Degradation::Real(RealDegradation::REAL_ESRGAN),
            (None, InputKind::Clean) => Degradation::Clean,
            (None, InputKind::Compressed) => Degradation::jpeg(args.jpeg_qualities),
        },
        loss: args.loss,
        edge_weight: args.edge_weight,
        out_dir: args.out,
        checkpoints: args.checkpoints,
        init_from: args.init_from,
        distillation: args.teacher.map(|teacher| Distillation { teacher, weight: args.teacher_weight }),
        seed: args.seed,
    };
    // Training runs burn's kernels: on the CPU, burn's CPU backend.
    let backend = match args.backend {
        BackendChoice::Cpu => Backend::burn_cpu("requested"),
        choice => Backend::select(choice)?,
    };
    eprintln!("training on {} — {}", backend.description, backend.reason);
    let card = train(&options, &backend)?;
    eprintln!("best model: {}\n{}", card.name, card.to_json());
    Ok(Outcome::Success)
}
