//! `upres upscale`: a batch of files into a folder. A failed file is reported and the batch goes
//! on; inputs are never overwritten; each output appears whole or not at all (temp + rename),
//! also when the batch is interrupted (see `interrupt`).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use upres::codec::OutputFormat;
use upres::job::Job;
use upres::limits::Limits;
use upres::plan::{Fit, Target};
use upres::route::InputChoice;
use upres::upscale::{Encoded, Settings, Upscaler};

use super::interrupt::{self, write_atomically};
use super::{ModelArgs, Outcome, describe};

#[derive(clap::Args, Debug)]
pub struct UpscaleArgs {
    /// Images to upscale (PNG, JPEG, WebP, BMP, GIF, TIFF).
    #[arg(required = true, value_name = "IN")]
    inputs: Vec<PathBuf>,
    /// Folder for the results (created if missing).
    #[arg(short, long, value_name = "OUT_DIR")]
    output: PathBuf,
    /// Upscaling factor: 2, 3, 4 or 8 (8 = 4× then 2×).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["2", "3", "4", "8"]),
          conflicts_with_all = ["target", "long_edge"])]
    scale: Option<String>,
    /// Fit the result into WIDTHxHEIGHT (see --fit).
    #[arg(long, value_name = "WxH", conflicts_with = "long_edge")]
    target: Option<String>,
    /// Make the longer side exactly N pixels.
    #[arg(long, value_name = "N")]
    long_edge: Option<u32>,
    /// With --target: contain (inside the box) or cover (fill the box, crop the overflow).
    #[arg(long, value_enum, default_value_t = Fit::Contain)]
    fit: Fit,
    /// Which models: auto (JPEGs below quality 96 go to the compression-aware models, the rest
    /// to the clean ones), clean, or compressed.
    #[arg(long, value_enum, default_value_t = InputChoice::Auto)]
    input: InputChoice,
    /// Output format: png, jpeg or webp (lossless). Default: the input's, or PNG.
    #[arg(long)]
    format: Option<String>,
    /// JPEG quality, 1–100.
    #[arg(long, value_name = "Q")]
    quality: Option<u8>,
    /// Tile size in input pixels (default: from a memory budget).
    #[arg(long, value_name = "N")]
    tile: Option<usize>,
    /// Largest input accepted, in megapixels.
    #[arg(long, default_value_t = 40.0, value_name = "MP")]
    max_input_mp: f64,
    /// Largest output produced, in megapixels.
    #[arg(long, default_value_t = 200.0, value_name = "MP")]
    max_output_mp: f64,
    #[command(flatten)]
    model: ModelArgs,
}

impl UpscaleArgs {
    fn target(&self) -> Result<Target> {
        if let Some(text) = &self.target {
            let (width, height) = text
                .split_once(['x', 'X', '×'])
                .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
                .with_context(|| format!("--target {text:?}: expected WIDTHxHEIGHT, e.g. 2000x2000"))?;
            return Ok(Target::Size { width, height, fit: self.fit });
        }
        if let Some(n) = self.long_edge {
            return Ok(Target::LongEdge(n));
        }
        let scale = self.scale.as_deref().unwrap_or("4").parse()?;
        Ok(Target::Scale(scale))
    }

    fn limits(&self) -> Result<Limits> {
        let pixels = |mp: f64, flag: &str| -> Result<u64> {
            if !(mp.is_finite() && mp > 0.0) {
                bail!("{flag} must be a positive number of megapixels");
            }
            Ok((mp * 1e6) as u64)
        };
        Ok(Limits {
            max_input_pixels: pixels(self.max_input_mp, "--max-input-mp")?,
            max_output_pixels: pixels(self.max_output_mp, "--max-output-mp")?,
        })
    }
}

pub fn run(args: UpscaleArgs) -> Result<Outcome> {
    let target = args.target()?;
    target.validate()?;
    let explicit_format = args.format.as_deref().map(|name| OutputFormat::parse(name, args.quality)).transpose()?;
    if args.tile == Some(0) {
        bail!("--tile must be at least 1");
    }
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create the output folder {}", args.output.display()))?;

    interrupt::install()?;
    let settings = Settings { limits: args.limits()?, tile_size: args.tile, ..Settings::default() };
    let upscaler = Upscaler::new(args.model.backend()?, &args.model.model_files()?, settings)?;
    eprintln!("{}", describe(&upscaler));

    let inputs: Vec<PathBuf> = args.inputs.iter().map(|p| p.canonicalize().unwrap_or_else(|_| p.clone())).collect();
    let mut failed = 0;
    for (index, input) in args.inputs.iter().enumerate() {
        if interrupt::requested() {
            return Ok(interrupted(index, args.inputs.len()));
        }
        let bar = ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] tile {pos}/{len} {elapsed} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(format!("[{}/{}] {}", index + 1, args.inputs.len(), input.display()));
        match upscale_file(&upscaler, input, &args, target, explicit_format, &inputs, &bar) {
            Ok((written, encoded)) => {
                bar.finish_and_clear();
                eprintln!(
                    "{} → {} ({}: {})",
                    input.display(),
                    written.display(),
                    encoded.route.reason,
                    encoded.models.join(" + ")
                );
            }
            Err(_) if interrupt::requested() => {
                bar.abandon();
                return Ok(interrupted(index, args.inputs.len()));
            }
            Err(error) => {
                bar.abandon();
                eprintln!("{}: {error:#}", input.display());
                failed += 1;
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} files failed", args.inputs.len());
        return Ok(Outcome::SomeFailed);
    }
    Ok(Outcome::Success)
}

/// Says how far the batch got: the files before `index` were written (or reported as failed).
fn interrupted(index: usize, total: usize) -> Outcome {
    eprintln!("interrupted: {index} of {total} files processed; the rest have no output");
    Outcome::Interrupted
}

fn upscale_file(
    upscaler: &Upscaler,
    input: &Path,
    args: &UpscaleArgs,
    target: Target,
    explicit_format: Option<OutputFormat>,
    all_inputs: &[PathBuf],
    bar: &ProgressBar,
) -> Result<(PathBuf, Encoded)> {
    let bytes = std::fs::read(input).context("cannot read the file")?;
    let format = match explicit_format {
        Some(format) => format,
        None => same_format_as(&bytes, args.quality)?,
    };
    let stem = input.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default();
    let output = args.output.join(format!("{stem}@{}.{}", target.label(), format.extension()));
    let resolved = output
        .parent()
        .and_then(|dir| dir.canonicalize().ok())
        .map(|dir| dir.join(output.file_name().unwrap_or_default()));
    if resolved.as_ref().is_some_and(|out| all_inputs.contains(out)) {
        bail!("refusing to overwrite an input with its output ({})", output.display());
    }

    let mut report = |p: upres::upscale::Progress<'_>| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        if interrupt::requested() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    };
    let job = Job::new(target, format, args.input)?;
    let encoded = pollster::block_on(upscaler.run(&job, &bytes, &mut report))?;
    write_atomically(&output, &encoded.bytes)?;
    Ok((output, encoded))
}

/// Keeps PNG/JPEG/WebP inputs in their format; anything else becomes PNG. `--quality` only
/// applies to the JPEGs of a mixed batch.
fn same_format_as(bytes: &[u8], quality: Option<u8>) -> Result<OutputFormat> {
    Ok(match image::guess_format(bytes) {
        Ok(image::ImageFormat::Jpeg) => OutputFormat::parse("jpeg", quality)?,
        Ok(image::ImageFormat::WebP) => OutputFormat::WebP,
        _ => OutputFormat::Png,
    })
}
