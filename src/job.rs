//! One upscaling job: what a person asks for, built the same way by the CLI, the web page (as
//! JSON) and the tests, and carried through the whole pipeline.

use serde::{Deserialize, Serialize};

use crate::codec::OutputFormat;
use crate::metadata::MetadataChoice;
use crate::plan::Target;
use crate::route::{InputChoice, Look};
use crate::{Error, Result};

/// What to make of one image.
///
/// As JSON (what the page sends): `{"target": {"scale": 4}, "format": "jpeg", "quality": 85,
/// "input": "auto", "metadata": "no-location"}`; `quality` for the lossy formats (it makes WebP
/// lossy), `speed` for AVIF, `input` optional (`auto`, `clean` or `compressed`), `metadata`
/// optional (`all`, `no-location`, `color` or `none`), `look` optional (`faithful` or
/// `enhanced`). See [`Target`] for the target's forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "JobJson", into = "JobJson")]
pub struct Job {
    pub target: Target,
    pub format: OutputFormat,
    /// Which model family: from the file (`auto`), or the user's say.
    pub input: InputChoice,
    /// Which of the source's metadata the output keeps.
    pub metadata: MetadataChoice,
    /// Which family of models: faithful to the source, or enhanced.
    pub look: Look,
}

impl Job {
    /// A job, checked: the target must be one upres can make.
    pub fn new(target: Target, format: OutputFormat, input: InputChoice, metadata: MetadataChoice) -> Result<Self> {
        target.validate()?;
        Ok(Self { target, format, input, metadata, look: Look::default() })
    }

    /// This job with the look chosen.
    pub fn with_look(self, look: Look) -> Self {
        Self { look, ..self }
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    speed: Option<u8>,
    #[serde(default)]
    input: InputChoice,
    #[serde(default)]
    metadata: MetadataChoice,
    #[serde(default)]
    look: Look,
}

impl TryFrom<JobJson> for Job {
    type Error = Error;

    fn try_from(json: JobJson) -> Result<Self> {
        let format = OutputFormat::parse(&json.format, json.quality, json.speed)?;
        Ok(Job::new(json.target, format, json.input, json.metadata)?.with_look(json.look))
    }
}

impl From<Job> for JobJson {
    fn from(job: Job) -> Self {
        Self {
            target: job.target,
            format: job.format.extension().into(),
            quality: job.format.quality(),
            speed: job.format.speed(),
            input: job.input,
            metadata: job.metadata,
            look: job.look,
        }
    }
}
