//! What happened to each input: one [`Record`] per file, written as a line of JSON (`--report`)
//! as soon as the file is finished, told to the person at the terminal, and counted for the
//! summary at the end. Shards write a report each; `cat` joins them (see the README).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use upres::upscale::Encoded;

/// What became of one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Upscaled, or with `--copy-rest` copied because it was large enough (reason `copied`).
    Done,
    /// Nothing to do; `reason` says why.
    Skipped,
    /// Nothing written; `reason` says whose fault, `message` what happened.
    Failed,
}

/// Why a file was skipped or failed, decided before or instead of running the network.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// `exists`, `large-enough`, `not-an-image`, `not-a-file`, `link-loop`, `link-outside`,
    /// `broken-link`.
    Skipped(&'static str),
    /// `reason`: an [`upres::Error::kind`], `io`, or one of the command's own: `collision`,
    /// `overwrites-input`, `outside-root`.
    Failed { reason: &'static str, message: String },
}

impl Verdict {
    pub fn failed(reason: &'static str, message: impl Into<String>) -> Self {
        Verdict::Failed { reason, message: message.into() }
    }
}

/// One line of the report. Every key is always there (`null` where unknown), so that a line
/// reads the same whatever happened.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub input: String,
    pub output: Option<String>,
    pub status: Status,
    pub reason: Option<&'static str>,
    pub message: Option<String>,
    /// Upright (EXIF orientation applied), from the header.
    pub input_width: Option<u32>,
    pub input_height: Option<u32>,
    pub output_width: Option<u32>,
    pub output_height: Option<u32>,
    /// The models that ran, joined with " + ".
    pub model: Option<String>,
    /// Which model family ran, and why.
    pub route: Option<String>,
    pub backend: Option<String>,
    /// What the output carries besides pixels ("colour profile, EXIF, 300 DPI"), and what of
    /// the input's metadata was left out and why; `null` when there was none.
    pub metadata: Option<String>,
    /// Time spent on this file, in milliseconds.
    pub ms: u64,
}

impl Record {
    pub fn new(input: &Path) -> Self {
        Self {
            input: input.to_string_lossy().into_owned(),
            output: None,
            status: Status::Done,
            reason: None,
            message: None,
            input_width: None,
            input_height: None,
            output_width: None,
            output_height: None,
            model: None,
            route: None,
            backend: None,
            metadata: None,
            ms: 0,
        }
    }

    pub fn set_output(&mut self, output: &Path) {
        self.output = Some(output.to_string_lossy().into_owned());
    }

    pub fn set_input_size(&mut self, size: Option<(u32, u32)>) {
        (self.input_width, self.input_height) = (size.map(|s| s.0), size.map(|s| s.1));
    }

    pub fn upscaled(&mut self, output: &Path, encoded: &Encoded, backend: &str) {
        self.set_output(output);
        (self.output_width, self.output_height) = (Some(encoded.width), Some(encoded.height));
        self.model = Some(encoded.models.join(" + "));
        self.route = Some(encoded.reason.to_string());
        self.backend = Some(backend.to_owned());
        self.metadata = (!encoded.metadata.is_empty()).then(|| encoded.metadata.describe());
    }

    pub fn copied(&mut self, output: &Path) {
        self.set_output(output);
        self.reason = Some("copied");
        (self.output_width, self.output_height) = (self.input_width, self.input_height);
    }

    /// Skipped or failed; what is known of the file so far (its size, an output that exists)
    /// stays.
    pub fn settle(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Skipped(reason) => {
                self.status = Status::Skipped;
                self.reason = Some(reason);
            }
            Verdict::Failed { reason, message } => {
                self.status = Status::Failed;
                self.reason = Some(reason);
                self.message = Some(message);
            }
        }
    }

    /// The line for the person watching, or `None` for what is not worth a line each: outputs
    /// that exist already (a resumed run has thousands), counted in the summary instead.
    pub fn line(&self) -> Option<String> {
        let input = &self.input;
        let output = self.output.as_deref().unwrap_or_default();
        match (self.status, self.reason) {
            (Status::Done, Some("copied")) => Some(format!("{input} → {output} (copied: large enough already)")),
            (Status::Done, _) => Some(format!(
                "{input} → {output} ({}: {}{})",
                self.route.as_deref().unwrap_or_default(),
                self.model.as_deref().unwrap_or_default(),
                self.metadata.as_ref().map(|kept| format!("; {kept}")).unwrap_or_default()
            )),
            (Status::Skipped, Some("exists")) => None,
            (Status::Skipped, reason) => Some(format!("{input}: skipped ({})", reason.unwrap_or_default())),
            (Status::Failed, _) => Some(format!("{input}: {}", self.message.as_deref().unwrap_or_default())),
        }
    }
}

/// The `--report` file (or standard output), a line per record, flushed at once: what a killed
/// run reports is what it did.
pub struct Report {
    out: Option<Box<dyn Write>>,
    broken: bool,
}

impl Report {
    pub fn open(path: Option<&Path>) -> Result<Self> {
        let out: Option<Box<dyn Write>> = match path {
            None => None,
            Some(path) if path == Path::new("-") => Some(Box::new(std::io::stdout())),
            Some(path) => {
                if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create the folder for the report {}", path.display()))?;
                }
                let file = File::create(path).with_context(|| format!("cannot write the report {}", path.display()))?;
                Some(Box::new(BufWriter::new(file)))
            }
        };
        Ok(Self { out, broken: false })
    }

    /// Appends `record`; a report that cannot be written is said once, and makes the run count
    /// as failed (the outputs themselves are still written).
    pub fn write(&mut self, record: &Record) {
        let Some(out) = &mut self.out else { return };
        if self.broken {
            return;
        }
        let written = serde_json::to_writer(&mut *out, record)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(error) = written {
            eprintln!("upres: cannot write the report: {error}; going on without it");
            self.broken = true;
        }
    }

    pub fn broken(&self) -> bool {
        self.broken
    }
}

/// Counts for the summary.
#[derive(Default)]
pub struct Tally {
    pub upscaled: usize,
    pub copied: usize,
    pub skipped: BTreeMap<&'static str, usize>,
    pub failed: usize,
}

impl Tally {
    pub fn add(&mut self, record: &Record) {
        match (record.status, record.reason) {
            (Status::Done, Some("copied")) => self.copied += 1,
            (Status::Done, _) => self.upscaled += 1,
            (Status::Skipped, reason) => *self.skipped.entry(reason.unwrap_or_default()).or_default() += 1,
            (Status::Failed, _) => self.failed += 1,
        }
    }

    pub fn processed(&self) -> usize {
        self.upscaled + self.copied + self.skipped.values().sum::<usize>() + self.failed
    }

    /// E.g. "12 files: 8 upscaled, 3 skipped (2 exists, 1 not-an-image), 1 failed", or "nothing
    /// to do: …" when nothing was written and nothing failed.
    pub fn summary(&self) -> String {
        let total = self.processed();
        if total == 0 {
            return "nothing to do: no files".into();
        }
        let skipped: usize = self.skipped.values().sum();
        let reasons: Vec<String> = self.skipped.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
        let reasons = reasons.join(", ");
        if skipped == total {
            let redo =
                if self.skipped.contains_key("exists") { "; --overwrite redoes the outputs that exist" } else { "" };
            return format!("nothing to do: all {total} files skipped ({reasons}){redo}");
        }
        let mut parts = vec![format!("{} upscaled", self.upscaled)];
        if self.copied > 0 {
            parts.push(format!("{} copied", self.copied));
        }
        if skipped > 0 {
            parts.push(format!("{skipped} skipped ({reasons})"));
        }
        parts.push(format!("{} failed", self.failed));
        format!("{total} files: {}", parts.join(", "))
    }
}
