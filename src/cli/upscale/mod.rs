//! `upres upscale`: files, folders and lists of files into an output folder. A failed file is
//! reported and the batch goes on; inputs are never overwritten; each output appears whole or not
//! at all (temp + rename), also when the batch is interrupted (see `interrupt`).
//!
//! The run is a pipeline of small steps: the command line is checked before anything is read;
//! `list` builds the work list (folders walked, `--from` read, clashing output names found);
//! `shard` takes this process's part of it; workers take items in turn and `file` settles each;
//! `report` tells the person, the `--report` file and the summary. Folder and list runs skip
//! outputs that exist, so a stopped run resumes where it was.

mod file;
mod list;
mod report;
mod shard;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use indicatif::MultiProgress;
use upres::codec::OutputFormat;
use upres::limits::Limits;
use upres::metadata::MetadataChoice;
use upres::plan::{DEFAULT_SCALE, Fit, PrintSize, Target};
use upres::route::{InputChoice, Look};
use upres::upscale::{Settings, Upscaler};

use self::file::{Context as FileContext, Inputs, Naming};
use self::list::Item;
use self::report::{Report, Tally};
use self::shard::Shard;
use super::interrupt;
use super::{ModelArgs, Outcome, describe};

#[derive(clap::Args, Debug)]
pub struct UpscaleArgs {
    /// Images to upscale (PNG, JPEG, WebP, BMP, GIF, TIFF), or folders: a folder's images, at
    /// any depth, have their outputs in the same sub-folders of OUT_DIR.
    #[arg(value_name = "IN", required_unless_present = "from")]
    inputs: Vec<PathBuf>,
    /// Folder for the results (created if missing).
    #[arg(short, long, value_name = "OUT_DIR")]
    output: PathBuf,
    /// Also the files listed in LIST, one path a line (or NUL-separated, as `find -print0`
    /// writes); `-` reads standard input. Their outputs mirror their paths below --root.
    #[arg(long, value_name = "LIST")]
    from: Option<PathBuf>,
    /// With --from: the folder whose tree the listed files' outputs mirror (default: the
    /// current folder).
    #[arg(long, value_name = "DIR", requires = "from")]
    root: Option<PathBuf>,
    /// Upscaling factor: 2, 3, 4 or 8 (8 = 4× then 2×).
    #[arg(long, value_parser = super::parse_scale,
          conflicts_with_all = ["target", "long_edge", "print"])]
    scale: Option<usize>,
    /// Fit the result into WIDTHxHEIGHT (see --fit).
    #[arg(long, value_name = "WxH", conflicts_with_all = ["long_edge", "print"])]
    target: Option<String>,
    /// Make the longer side exactly N pixels.
    #[arg(long, value_name = "N", conflicts_with = "print")]
    long_edge: Option<u32>,
    /// Size for printing: WIDTHxHEIGHT with in, cm or mm, or a paper (A3–A6, letter, legal,
    /// tabloid), then @DPI (default 300): 8x10in@300, A4@300. The paper is turned to the
    /// image's orientation (see --fit), and the output records the density.
    #[arg(long, value_name = "SIZE")]
    print: Option<String>,
    /// With --target or --print: contain (inside the box) or cover (fill the box, crop the
    /// overflow).
    #[arg(long, value_enum, default_value_t = Fit::Contain)]
    fit: Fit,
    /// Which models: auto (JPEGs below quality 96 go to the compression-aware models, the rest
    /// to the clean ones), clean, or compressed.
    #[arg(long, value_enum, default_value_t = InputChoice::Auto)]
    input: InputChoice,
    /// How the result looks: faithful (as close to the original as can be measured; noise and
    /// blur in the source stay) or enhanced (clean and crisp, for photos as they come: noisy,
    /// soft, resized, sharpened, compressed).
    #[arg(long, value_enum, default_value_t = Look::default())]
    look: Look,
    /// Output format: png, jpeg, webp or avif. Default: the input's (WebP lossless), or PNG.
    #[arg(long)]
    format: Option<String>,
    /// Quality, 1–100, of JPEG (default 90) and AVIF (default 60); it makes WebP lossy.
    #[arg(long, value_name = "Q")]
    quality: Option<u8>,
    /// AVIF encoder speed, 1 (slowest, smallest files) to 10 (default 6).
    #[arg(long, value_name = "S")]
    speed: Option<u8>,
    /// What of the input's metadata the output keeps: all; no-location (all but the GPS
    /// position, also in XMP); color (the colour profile and density); none. The colour profile
    /// of CMYK and grey inputs is never kept: their pixels become RGB.
    #[arg(long, value_enum, default_value_t = MetadataChoice::NoLocation)]
    metadata: MetadataChoice,
    /// Only upscale images whose long edge is below N pixels, or with WxH, that lie inside that
    /// box on both sides; the others are skipped (or copied, see --copy-rest). Only headers are
    /// read to decide.
    #[arg(long, value_name = "N|WxH")]
    if_smaller: Option<String>,
    /// With --if-smaller: copy the images that are large enough unchanged to their place in
    /// OUT_DIR, so that it holds the whole catalog.
    #[arg(long, requires = "if_smaller")]
    copy_rest: bool,
    /// Replace outputs that exist. Without it, a run over a folder or a --from list skips them
    /// (a stopped run resumes); a run over named files replaces them.
    #[arg(long)]
    overwrite: bool,
    /// Write what became of each input as JSON Lines to FILE (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Only this process's part of the inputs: shard K of N (1 ≤ K ≤ N) takes every Nth input
    /// from the Kth, in the sorted order every shard agrees on. N processes, K = 1…N, cover
    /// every input once.
    #[arg(long, value_name = "K/N", conflicts_with_all = ["shard_from_env", "shard_count"])]
    shard: Option<String>,
    /// The shard from the batch engine: JOB_COMPLETION_INDEX (a Kubernetes Indexed Job, from 0)
    /// or SLURM_ARRAY_TASK_ID (a Slurm job array, from SLURM_ARRAY_TASK_MIN).
    #[arg(long)]
    shard_from_env: bool,
    /// With --shard-from-env: the number of shards, where the engine does not tell (Kubernetes:
    /// the Job's completions; Slurm says SLURM_ARRAY_TASK_COUNT).
    #[arg(long, value_name = "N", requires = "shard_from_env")]
    shard_count: Option<usize>,
    /// Files upscaled at once. The network already spreads one image over every core, so more
    /// helps only with many small images, where reading, writing and per-file work dominate.
    #[arg(long, default_value_t = 1, value_name = "N")]
    jobs: usize,
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
        if let Some(text) = &self.print {
            return PrintSize::parse(text, self.fit).map(Target::Print).with_context(|| format!("--print {text:?}"));
        }
        if let Some(text) = &self.target {
            let (width, height) =
                parse_box(text).with_context(|| format!("--target {text:?}: expected WIDTHxHEIGHT, e.g. 2000x2000"))?;
            return Ok(Target::Size { width, height, fit: self.fit });
        }
        if let Some(n) = self.long_edge {
            return Ok(Target::LongEdge(n));
        }
        Ok(Target::Scale(self.scale.unwrap_or(DEFAULT_SCALE)))
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

    fn naming(&self, target: Target) -> Result<Naming> {
        let format =
            self.format.as_deref().map(|name| OutputFormat::parse(name, self.quality, self.speed)).transpose()?;
        if self.speed.is_some() && format.is_none() {
            bail!("--speed applies to AVIF: give --format avif");
        }
        // Checked now rather than at the first JPEG of the batch.
        let jpeg = OutputFormat::parse("jpeg", self.quality, None)?;
        Ok(Naming { label: target.label(), format, jpeg })
    }

    /// `--if-smaller N` is the box N×N: the long edge below N is both sides below N.
    fn if_smaller(&self) -> Result<Option<(u32, u32)>> {
        let Some(text) = &self.if_smaller else { return Ok(None) };
        let size = match text.trim().parse::<u32>() {
            Ok(n) => Some((n, n)),
            Err(_) => parse_box(text),
        };
        match size {
            Some((width, height)) if width > 0 && height > 0 => Ok(Some((width, height))),
            _ => bail!("--if-smaller {text:?}: expected a number of pixels (the long edge), or WIDTHxHEIGHT"),
        }
    }

    fn shard(&self) -> Result<Option<Shard>> {
        if let Some(text) = &self.shard {
            return Shard::parse(text).map(Some);
        }
        if !self.shard_from_env {
            return Ok(None);
        }
        let (shard, source) = Shard::from_env(self.shard_count, |name| std::env::var(name).ok())?;
        eprintln!("shard {shard} (from {source})");
        Ok(Some(shard))
    }
}

fn parse_box(text: &str) -> Option<(u32, u32)> {
    text.split_once(['x', 'X', '×']).and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
}

pub fn run(args: UpscaleArgs) -> Result<Outcome> {
    // Everything the command line can get wrong, before anything is read.
    let target = args.target()?;
    target.validate()?;
    let naming = args.naming(target)?;
    if args.tile == Some(0) {
        bail!("--tile must be at least 1");
    }
    if args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let if_smaller = args.if_smaller()?;
    let shard = args.shard()?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create the output folder {}", args.output.display()))?;

    let mut work = list::build(&args.inputs, args.from.as_deref(), args.root.as_deref(), &args.output)?;
    list::mark_collisions(&mut work.items, |item| naming.extension(item));
    let mine: Vec<&Item> = match shard {
        Some(shard) => {
            let mine: Vec<&Item> =
                work.items.iter().enumerate().filter(|(i, _)| shard.contains(*i)).map(|(_, item)| item).collect();
            eprintln!("shard {shard}: {} of {} files", mine.len(), work.items.len());
            mine
        }
        None => work.items.iter().collect(),
    };
    let mut report = Report::open(args.report.as_deref())?;

    interrupt::install()?;
    let settings = Settings { limits: args.limits()?, tile_size: args.tile, ..Settings::default() };
    let upscaler = Upscaler::new(args.model.backend()?, &args.model.model_files()?, settings)?;
    eprintln!("{}", describe(&upscaler));

    let inputs = Inputs::new(&work.items);
    let bars = MultiProgress::new();
    let context = FileContext {
        upscaler: &upscaler,
        output: &args.output,
        naming: &naming,
        target,
        input_choice: args.input,
        look: args.look,
        metadata: args.metadata,
        skip_existing: work.batch && !args.overwrite,
        if_smaller,
        copy_rest: args.copy_rest,
        inputs: &inputs,
        bars: &bars,
    };
    let tally = run_items(&mine, &context, args.jobs, &mut report);

    let processed = tally.processed();
    if processed < mine.len() && interrupt::requested() {
        eprintln!("interrupted: {processed} of {} files processed; the rest have no output", mine.len());
        return Ok(Outcome::Interrupted);
    }
    eprintln!("{}", tally.summary());
    if tally.failed > 0 || report.broken() {
        return Ok(Outcome::SomeFailed);
    }
    Ok(Outcome::Success)
}

/// Works through `items` with `jobs` workers, each taking the next item when it is free; this
/// thread reports each as it finishes. After a signal no worker takes another item.
fn run_items(items: &[&Item], context: &FileContext<'_>, jobs: usize, report: &mut Report) -> Tally {
    let mut tally = Tally::default();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (sender, finished) = mpsc::channel();
        for _ in 0..jobs.min(items.len()) {
            let (sender, next) = (sender.clone(), &next);
            scope.spawn(move || {
                while !interrupt::requested() {
                    let position = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(position) else { break };
                    if sender.send(file::process(item, position, items.len(), context)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for outcome in finished {
            let file::Outcome::Finished(record) = outcome else { continue };
            if let Some(line) = record.line() {
                context.bars.suspend(|| eprintln!("{line}"));
            }
            report.write(&record);
            tally.add(&record);
        }
    });
    tally
}
