//! Command-line arguments and dispatch: one function per subcommand.
//!
//! Exit codes: 0 every file succeeded (or was skipped); 1 at least one input failed (the others
//! were still written); 2 the command could not run at all (bad arguments, no model, no
//! backend); 130 a batch was interrupted (Ctrl-C, SIGTERM, SIGHUP), leaving only whole outputs.

mod bench;
mod encoders;
mod eval;
mod interrupt;
#[cfg(feature = "train")]
mod train;
mod upscale;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use upres::backend::{Backend, BackendChoice};
use upres::weights::ModelFile;

pub const EXIT_SOME_FAILED: u8 = 1;
pub const EXIT_ERROR: u8 = 2;
pub use interrupt::EXIT_INTERRUPTED;

/// How a run ended when it could run at all.
pub enum Outcome {
    Success,
    SomeFailed,
    /// A signal stopped the batch; the files finished before it keep their outputs.
    Interrupted,
}

#[derive(Parser, Debug)]
#[command(
    name = "upres",
    version,
    about = "Private AI image upscaling: a compact super-resolution network, run locally"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Upscale images, folders of them or lists into a folder (outputs named STEM@4x.EXT, …).
    Upscale(upscale::UpscaleArgs),
    /// Time the network on each backend beside bicubic and Lanczos3 (crops of one photo).
    Bench(bench::BenchArgs),
    /// Time each output format's encoder on an upscaled photo and write the files for scoring.
    BenchEncoders(encoders::EncodersArgs),
    /// Score the models against bicubic and Lanczos3 on benchmark sets (PSNR/SSIM on Y).
    Eval(eval::EvalArgs),
    /// Train a network (resumes from its checkpoint when there is one).
    #[cfg(feature = "train")]
    Train(train::TrainArgs),
}

pub fn run(args: Args) -> Result<Outcome> {
    match args.command {
        Command::Upscale(args) => upscale::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchEncoders(args) => encoders::run(args),
        Command::Eval(args) => eval::run(args),
        #[cfg(feature = "train")]
        Command::Train(args) => train::run(args),
    }
}

/// A scale as the user types it, checked against the scales upres makes.
fn parse_scale(text: &str) -> std::result::Result<usize, String> {
    let scales = upres::plan::SCALES;
    match text.trim().parse() {
        Ok(scale) if scales.contains(&scale) => Ok(scale),
        _ => {
            Err(format!("expected one of {} (8 = 4× then 2×), not {text:?}", scales.map(|s| s.to_string()).join(", ")))
        }
    }
}

/// Where models come from; shared by the subcommands that run them.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// A model: your own Compact (SRVGGNetCompact, Real-ESRGAN's compact) model as .pth,
    /// .safetensors or ncnn .param (its .bin beside it), or an upres card (JSON, weights beside
    /// it); repeat for several scales. Your own models run alone. Default: the models built into
    /// this binary.
    #[arg(long = "model", value_name = "FILE")]
    models: Vec<PathBuf>,
    /// Where to run the network: auto (a hardware GPU if any, else the CPU), wgpu, cpu (upres's
    /// engine), cpu-burn (burn's CPU backend, the engine's reference).
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
}

include!(concat!(env!("OUT_DIR"), "/embedded_models.rs"));

impl ModelArgs {
    fn model_files(&self) -> Result<Vec<ModelFile>> {
        let files = if self.models.is_empty() {
            ModelFile::from_named_files(EMBEDDED_MODEL_FILES)?
        } else {
            self.models.iter().map(|path| read_model(path)).collect::<Result<_>>()?
        };
        if files.is_empty() {
            bail!("no models: this binary was built without any in models/, and no --model was given");
        }
        Ok(files)
    }

    fn backend(&self) -> Result<Backend> {
        Backend::select(self.backend).context("cannot start the requested backend")
    }
}

/// The largest model file read: 64 MiB of fp32 weights ([`upres::compact::tensors::MAX_VALUES`])
/// and room for the container.
const MAX_MODEL_FILE: u64 = 80 << 20;

/// An upres card (`.json`) with its weights, or a model file of a person's own (with the `.bin`
/// beside an ncnn `.param`).
fn read_model(path: &std::path::Path) -> Result<ModelFile> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_lowercase);
    if extension.as_deref() == Some("json") {
        return Ok(ModelFile::read(path)?);
    }
    let read = |path: &std::path::Path| -> Result<Vec<u8>> {
        let size = std::fs::metadata(path).with_context(|| format!("cannot read model {}", path.display()))?.len();
        if size > MAX_MODEL_FILE {
            bail!(
                "{} is {} MiB: larger than any compact upscaler (upres reads model files up to {} MiB)",
                path.display(),
                size >> 20,
                MAX_MODEL_FILE >> 20
            );
        }
        std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))
    };
    let bytes = read(path)?;
    let weights = match extension.as_deref() {
        Some("param") => {
            let bin = path.with_extension("bin");
            let weights = read(&bin).with_context(|| {
                format!("{} is an ncnn graph: its weights must be beside it, as {}", path.display(), bin.display())
            })?;
            Some(weights)
        }
        _ => None,
    };
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    // The detail alone: "cannot use x.pth: model: …" would say "model" twice.
    ModelFile::import(&name, &bytes, weights.as_deref())
        .map_err(|error| anyhow::anyhow!("cannot use {}: {}", path.display(), error.detail()))
}

/// One line per model, so every run says exactly what produced its output.
fn describe(upscaler: &upres::upscale::Upscaler) -> String {
    let models: Vec<String> = upscaler
        .models()
        .iter()
        .map(|m| {
            let card = &m.card;
            if let Some(imported) = &card.imported {
                return format!(
                    "{} (×{}, {}, {} parameters, {} multiply-adds per pixel, from {} (sha256 {}))",
                    card.name,
                    card.config.scale,
                    card.shape(),
                    card.parameters,
                    card.macs_per_input_pixel,
                    imported.file,
                    imported.sha256,
                );
            }
            let qualities =
                card.jpeg_qualities.map(|[low, high]| format!(" of JPEG quality {low}–{high}")).unwrap_or_default();
            format!(
                "{} (×{}, {} inputs{qualities}, sha256 {})",
                card.name,
                card.config.scale,
                card.input.name(),
                card.short_hash()
            )
        })
        .collect();
    format!("models: {}\nbackend: {} — {}", models.join(", "), upscaler.backend.description, upscaler.backend.reason)
}
