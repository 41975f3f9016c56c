//! One upscaling job: what a person asks for, built the same way by the CLI, the web page (as
//! JSON) and the tests, and carried through the whole pipeline.

use serde::{Deserialize, Serialize};

use crate::codec::OutputFormat;
use crate::plan::Target;
use crate::route::InputChoice;
use crate::{Error, Result};

/// What to make of one image.
///
/// As JSON (what the page sends): `{"target": {"scale": 4}, "format": "jpeg", "quality": 85,
/// "input": "auto"}`; `quality` only for JPEG, `input` optional (`auto`, `clean` or
/// `compressed`). See [`Target`] for the target's forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "JobJson", into = "JobJson")]
pub struct Job {
    pub target: Target,
    pub format: OutputFormat,
    /// Which model family: from the file (`auto`), or the user's say.
    pub input: InputChoice,
}

impl Job {
    /// A job, checked: the target must be one upres can make.
    pub fn new(target: Target, format: OutputFormat, input: InputChoice) -> Result<Self> {
        target.validate()?;
        Ok(Self { target, format, input })
    }

    /// Parses the page's JSON, with a message that says what was wrong.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::Parameter(format!("malformed job options: {e}")))
    }
}

/// The JSON form: the format as a name and its quality beside it, as people write them.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobJson {
    target: Target,
    format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quality: Option<u8>,
    #[serde(default)]
    input: InputChoice,
}

impl TryFrom<JobJson> for Job {
    type Error = Error;

    fn try_from(json: JobJson) -> Result<Self> {
        Job::new(json.target, OutputFormat::parse(&json.format, json.quality)?, json.input)
    }
}

impl From<Job> for JobJson {
    fn from(job: Job) -> Self {
        let quality = match job.format {
            OutputFormat::Jpeg { quality } => Some(quality),
            _ => None,
        };
        Self { target: job.target, format: job.format.extension().into(), quality, input: job.input }
    }
}
