//! One error type for the whole pipeline, grouped by who is at fault, so that the CLI and the web
//! page can tell a person what went wrong with *their* file and what limit applies.

use std::fmt;

/// What went wrong, and whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a valid image of a format we read (wrong magic, corrupt, truncated).
    #[error("{0}")]
    Decode(String),
    /// A real image, but in a format or variant that upres does not handle.
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// The input, or the output it would produce, is over a configured size limit.
    #[error("{0}")]
    Limits(LimitError),
    /// An option the caller gave is invalid (scale 5, quality 0, target 0×0, …).
    #[error("invalid option: {0}")]
    Parameter(String),
    /// Writing the output image failed.
    #[error("could not encode the result: {0}")]
    Encode(String),
    /// A weights file or model card is unusable with this build.
    #[error("model: {0}")]
    Model(String),
    /// The compute backend failed (device lost, out of memory, …).
    #[error("compute backend failed: {0}")]
    Backend(String),
    /// The job was cancelled by the caller.
    #[error("cancelled")]
    Cancelled,
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// A short, stable name for whose fault it was: `decode`, `unsupported`, `limits`,
    /// `parameter`, `encode`, `model`, `backend`, `cancelled` or `io`. The web page picks its
    /// wording and the state it shows by this name.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Decode(_) => "decode",
            Error::Unsupported(_) => "unsupported",
            Error::Limits(_) => "limits",
            Error::Parameter(_) => "parameter",
            Error::Encode(_) => "encode",
            Error::Model(_) => "model",
            Error::Backend(_) => "backend",
            Error::Cancelled => "cancelled",
            Error::Io(_) => "io",
        }
    }

    /// What went wrong, without the words that name the kind ("unsupported image: …"): for a
    /// caller that names the kind itself, as the web page does with a title per kind.
    pub fn detail(&self) -> String {
        match self {
            Error::Decode(detail)
            | Error::Unsupported(detail)
            | Error::Parameter(detail)
            | Error::Encode(detail)
            | Error::Model(detail)
            | Error::Backend(detail) => detail.clone(),
            Error::Limits(limit) => limit.to_string(),
            Error::Cancelled => self.to_string(),
            Error::Io(error) => error.to_string(),
        }
    }
}

/// A size limit that an input or output would exceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    /// What was measured: "input" or "output".
    pub what: &'static str,
    pub width: u64,
    pub height: u64,
    /// The limit in pixels.
    pub max_pixels: u64,
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pixels = self.width.saturating_mul(self.height);
        write!(
            f,
            "the {} would be {}×{} = {:.1} megapixels, over the limit of {:.1} megapixels",
            self.what,
            self.width,
            self.height,
            pixels as f64 / 1e6,
            self.max_pixels as f64 / 1e6
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
