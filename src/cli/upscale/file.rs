//! One item of the work list, from its path to its report line: is it a file, an image, is its
//! output there already, is it small enough to need upscaling; then read, upscale, write.
//!
//! The cheap questions come first and read as little as they can. A found file is first only
//! peeked at (its signature, for the output's name), then its header is read if its size
//! matters, and only a file that will be upscaled (or copied) is read whole: a resumed run over
//! thousands of finished files reads almost nothing, and no pixel is decoded to skip a file.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use image::metadata::Orientation;
use image::{ImageDecoder, ImageReader};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use upres::codec::OutputFormat;
use upres::job::Job;
use upres::metadata::MetadataChoice;
use upres::plan::Target;
use upres::route::{InputChoice, Look};
use upres::upscale::Upscaler;

use super::list::{Item, Origin};
use super::report::{Record, Verdict};
use crate::cli::interrupt::{self, write_atomically};

/// Enough of a file's start to recognise every format's signature.
const HEAD_BYTES: u64 = 64;

/// What a header read may allocate (PNG inflates its ICC profile while it reads the header), as
/// the decoder allows.
const HEADER_BYTES: u64 = 16 << 20;

/// Names that say "image": such a file without an image's signature is a broken image (failed),
/// not some other file in the folder (skipped).
const IMAGE_EXTENSIONS: [&str; 9] = ["png", "jpg", "jpeg", "jpe", "webp", "bmp", "gif", "tif", "tiff"];

/// How outputs are named: `STEM@LABEL.EXT`.
pub struct Naming {
    pub label: String,
    /// `--format`; without it, each output keeps its input's format (PNG for the others).
    pub format: Option<OutputFormat>,
    /// What a JPEG input becomes without `--format` (`--quality` applies to it).
    pub jpeg: OutputFormat,
}

impl Naming {
    /// The output format for a file that starts with `head`.
    pub fn format(&self, head: &[u8]) -> OutputFormat {
        self.format.unwrap_or_else(|| match image::guess_format(head) {
            Ok(image::ImageFormat::Jpeg) => self.jpeg,
            Ok(image::ImageFormat::WebP) => OutputFormat::WebP { quality: None },
            _ => OutputFormat::Png,
        })
    }

    /// The output of the input at `place` (relative to the output folder `out`).
    pub fn output(&self, out: &Path, place: &Path, format: OutputFormat) -> PathBuf {
        let stem = place.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default();
        out.join(place.with_file_name(format!("{stem}@{}.{}", self.label, format.extension())))
    }

    /// The output extension of `item`, or `None` if it is not an image (or cannot be read):
    /// for finding outputs that would share a name.
    pub fn extension(&self, item: &Item) -> Option<&'static str> {
        let head = read_head(&item.input).ok()?;
        image::guess_format(&head).ok()?;
        Some(self.format(&head).extension())
    }
}

/// Everything an item needs, shared by the workers.
pub struct Context<'a> {
    pub upscaler: &'a Upscaler,
    pub output: &'a Path,
    pub naming: &'a Naming,
    pub target: Target,
    pub input_choice: InputChoice,
    pub look: Look,
    pub metadata: MetadataChoice,
    /// Outputs that exist are left alone (a folder run or a list, without `--overwrite`).
    pub skip_existing: bool,
    /// `--if-smaller`: only images strictly inside this box are upscaled.
    pub if_smaller: Option<(u32, u32)>,
    pub copy_rest: bool,
    pub inputs: &'a Inputs,
    pub bars: &'a MultiProgress,
}

/// How an item ended: with a record, or cut short by a signal (then it has no output and no
/// record: it was not processed).
pub enum Outcome {
    Finished(Box<Record>),
    Interrupted,
}

enum Stop {
    Verdict(Verdict),
    Interrupted,
}

impl From<Verdict> for Stop {
    fn from(verdict: Verdict) -> Self {
        Stop::Verdict(verdict)
    }
}

fn skipped(reason: &'static str) -> Stop {
    Stop::Verdict(Verdict::Skipped(reason))
}

fn io_failure(what: &str) -> impl FnOnce(std::io::Error) -> Stop + '_ {
    move |error| Stop::Verdict(Verdict::failed("io", format!("{what}: {error}")))
}

fn upres_failure(error: upres::Error) -> Stop {
    Stop::Verdict(Verdict::failed(error.kind(), error.to_string()))
}

/// Processes the item at `position` (counting from 0) of `total`.
pub fn process(item: &Item, position: usize, total: usize, ctx: &Context<'_>) -> Outcome {
    let started = Instant::now();
    let mut record = Record::new(&item.input);
    let result = match &item.settled {
        Some(verdict) => Err(Stop::Verdict(verdict.clone())),
        None => attempt(item, (position, total), ctx, &mut record),
    };
    match result {
        Ok(()) => {}
        Err(Stop::Verdict(verdict)) => record.settle(verdict),
        Err(Stop::Interrupted) => return Outcome::Interrupted,
    }
    record.ms = started.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
    Outcome::Finished(Box::new(record))
}

fn attempt(item: &Item, position: (usize, usize), ctx: &Context<'_>, record: &mut Record) -> Result<(), Stop> {
    let input = &item.input;
    // A named file is read whole at once, as it always was: it may be a pipe, which can be read
    // only once. A found one must be a plain file (not a pipe that would never end).
    let mut bytes = None;
    let head = match item.origin {
        Origin::Named => {
            let all = std::fs::read(input).map_err(io_failure("cannot read the file"))?;
            let head = all[..all.len().min(HEAD_BYTES as usize)].to_vec();
            bytes = Some(all);
            head
        }
        Origin::Found => {
            let metadata = std::fs::metadata(input).map_err(io_failure("cannot read the file"))?;
            if !metadata.is_file() {
                return Err(skipped("not-a-file"));
            }
            read_head(input).map_err(io_failure("cannot read the file"))?
        }
    };
    if item.origin == Origin::Found && image::guess_format(&head).is_err() && !named_as_image(&item.place) {
        return Err(skipped("not-an-image"));
    }

    let format = ctx.naming.format(&head);
    let output = ctx.naming.output(ctx.output, &item.place, format);
    if ctx.skip_existing && exists(&output) {
        record.set_output(&output);
        return Err(skipped("exists"));
    }

    if let Some(limit) = ctx.if_smaller {
        let size = match &bytes {
            Some(bytes) => header_size(Cursor::new(bytes)),
            None => File::open(input).ok().and_then(|file| header_size(BufReader::new(file))),
        };
        record.set_input_size(size);
        // A header that cannot be read says nothing about the size: the decoder will say what is
        // wrong with the file.
        if let Some((width, height)) = size
            && !(width < limit.0 && height < limit.1)
        {
            if !ctx.copy_rest {
                return Err(skipped("large-enough"));
            }
            return copy(item, bytes, ctx, record);
        }
    }

    if exists(&output) && ctx.inputs.contains(&output) {
        let message = format!("refusing to overwrite an input with its output ({})", output.display());
        return Err(Verdict::failed("overwrites-input", message).into());
    }
    let bytes = match bytes {
        Some(bytes) => bytes,
        None => std::fs::read(input).map_err(io_failure("cannot read the file"))?,
    };
    if record.input_width.is_none() {
        record.set_input_size(header_size(Cursor::new(&bytes)));
    }

    let bar = ctx.bars.add(
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] tile {pos}/{len} {elapsed} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
    );
    bar.set_prefix(format!("[{}/{}] {}", position.0 + 1, position.1, input.display()));
    let mut progress = |p: upres::upscale::Progress<'_>| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        if interrupt::requested() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    };
    let job = Job::new(ctx.target, format, ctx.input_choice, ctx.metadata)
        .map(|job| job.with_look(ctx.look))
        .map_err(upres_failure);
    let result = job.and_then(|job| {
        pollster::block_on(ctx.upscaler.run(&job, &bytes, &mut progress))
            .map_err(|error| if interrupt::requested() { Stop::Interrupted } else { upres_failure(error) })
    });
    bar.finish_and_clear();
    ctx.bars.remove(&bar);
    let encoded = result?;

    write(&output, &encoded.bytes)?;
    record.upscaled(&output, &encoded, &ctx.upscaler.backend.description);
    Ok(())
}

/// `--copy-rest`: an image large enough already goes unchanged to its place in the output tree.
fn copy(item: &Item, bytes: Option<Vec<u8>>, ctx: &Context<'_>, record: &mut Record) -> Result<(), Stop> {
    let destination = ctx.output.join(&item.place);
    if exists(&destination) {
        let same = destination.canonicalize().ok().is_some_and(|d| item.input.canonicalize().ok() == Some(d));
        if ctx.skip_existing || same {
            record.set_output(&destination);
            return Err(skipped("exists"));
        }
        if ctx.inputs.contains(&destination) {
            let message = format!("refusing to overwrite an input with a copy of another ({})", destination.display());
            return Err(Verdict::failed("overwrites-input", message).into());
        }
    }
    let bytes = match bytes {
        Some(bytes) => bytes,
        None => std::fs::read(&item.input).map_err(io_failure("cannot read the file"))?,
    };
    write(&destination, &bytes)?;
    record.copied(&destination);
    Ok(())
}

/// Writes an output whole (temporary file + rename), creating its folder in the mirrored tree.
/// One write at a time: the interrupt handler knows of one temporary file, the one it removes
/// on a second signal.
fn write(path: &Path, bytes: &[u8]) -> Result<(), Stop> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_failure(&format!("cannot create the folder {}", dir.display())))?;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    write_atomically(path, bytes).map_err(|error| Verdict::failed("io", format!("{error:#}")).into())
}

/// Whether something is at `path` (a dangling link counts: it is not ours to replace unasked).
fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

fn named_as_image(place: &Path) -> bool {
    let extension = place.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    extension.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    File::open(path)?.take(HEAD_BYTES).read_to_end(&mut head)?;
    Ok(head)
}

/// Width and height from the header alone, upright (a phone's sideways JPEG counts as it is
/// shown); `None` when the header cannot be read.
fn header_size(reader: impl BufRead + Seek) -> Option<(u32, u32)> {
    let mut reader = ImageReader::new(reader).with_guessed_format().ok()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(HEADER_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().ok()?;
    let (width, height) = decoder.dimensions();
    let sideways = matches!(
        decoder.orientation(),
        Ok(Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH)
    );
    Some(if sideways { (height, width) } else { (width, height) })
}

/// The inputs of the whole list (not only this shard's), to make sure that no output replaces
/// one. Their real paths are looked up only when an output exists already and would be replaced.
pub struct Inputs {
    paths: Vec<PathBuf>,
    real: OnceLock<HashSet<PathBuf>>,
}

impl Inputs {
    pub fn new(items: &[Item]) -> Self {
        Self { paths: items.iter().map(|item| item.input.clone()).collect(), real: OnceLock::new() }
    }

    pub fn contains(&self, path: &Path) -> bool {
        let Ok(path) = path.canonicalize() else { return false };
        self.real.get_or_init(|| self.paths.iter().filter_map(|p| p.canonicalize().ok()).collect()).contains(&path)
    }
}
