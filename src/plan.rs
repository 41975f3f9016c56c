//! Planning: from the size the user wants to the network passes and the resize that follow.
//! The smallest sufficient model scale runs (8× as 4× then 2×), and Lanczos3 takes the result
//! down to the exact size asked for.

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::model::MODEL_SCALES;
use crate::{Error, Result};

/// How the output is sized: fit `contain` keeps it inside the box, `cover` fills the box and
/// crops the overflow (centred), like CSS `object-fit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    Contain,
    Cover,
}

/// The size the user wants. As JSON (the page's jobs): `{"scale": 4}`, `{"longEdge": 2000}` or
/// `{"box": {"width": 1920, "height": 1080, "fit": "contain"}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Target {
    /// 2, 3, 4 or 8 (= 4× then 2×).
    Scale(usize),
    /// The longer side becomes exactly this many pixels.
    LongEdge(u32),
    /// A `width`×`height` box.
    #[serde(rename = "box")]
    Size { width: u32, height: u32, fit: Fit },
}

/// Scales the user may ask for directly.
pub const SCALES: [usize; 4] = [2, 3, 4, 8];

/// The scale when the user names no size.
pub const DEFAULT_SCALE: usize = 4;

impl Target {
    pub fn validate(&self) -> Result<()> {
        let ok = match *self {
            Target::Scale(s) => SCALES.contains(&s),
            Target::LongEdge(n) => n > 0,
            Target::Size { width, height, .. } => width > 0 && height > 0,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Parameter(match self {
                Target::Scale(s) => format!("scale {s} is not one of {SCALES:?}"),
                _ => "the target size must be at least 1 pixel".into(),
            }))
        }
    }

    /// The suffix of output names: `4x`, `2000px`, `1920x1080`.
    pub fn label(&self) -> String {
        match *self {
            Target::Scale(s) => format!("{s}x"),
            Target::LongEdge(n) => format!("{n}px"),
            Target::Size { width, height, .. } => format!("{width}x{height}"),
        }
    }
}

/// What the pipeline will do to one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Network passes in order (8× is `[4, 2]`; empty when the target is no larger than the input).
    pub passes: Vec<usize>,
    /// Size after the network passes.
    pub network_size: (u32, u32),
    /// Size after the Lanczos3 resize (equal to `network_size` when no resize is needed).
    pub resized: (u32, u32),
    /// Centred crop to this size (fit cover), if any.
    pub output: (u32, u32),
}

impl Plan {
    /// Picks the smallest sufficient model scale for the target (8× as 4× then 2×, never one
    /// pass) and the resize that follows; checks every intermediate against `limits`.
    pub fn new(width: u32, height: u32, target: Target, limits: &Limits) -> Result<Self> {
        target.validate()?;
        let (w, h) = (f64::from(width), f64::from(height));
        let (factor, resized) = match target {
            Target::Scale(s) => (s as f64, (width as u64 * s as u64, height as u64 * s as u64)),
            Target::LongEdge(n) => {
                let f = f64::from(n) / w.max(h);
                (f, scaled(width, height, f))
            }
            Target::Size { width: bw, height: bh, fit } => {
                let (fx, fy) = (f64::from(bw) / w, f64::from(bh) / h);
                let f = if fit == Fit::Contain { fx.min(fy) } else { fx.max(fy) };
                let mut size = scaled(width, height, f);
                if fit == Fit::Cover {
                    // Rounding must never leave the box uncovered.
                    size = (size.0.max(u64::from(bw)), size.1.max(u64::from(bh)));
                }
                (f, size)
            }
        };
        let output = match target {
            Target::Size { width: bw, height: bh, fit: Fit::Cover } => (u64::from(bw), u64::from(bh)),
            _ => resized,
        };
        let passes = passes_for(factor);
        let mut size = (u64::from(width), u64::from(height));
        for &pass in &passes {
            size = (size.0 * pass as u64, size.1 * pass as u64);
            limits.check_output(size.0, size.1)?;
        }
        limits.check_output(resized.0, resized.1)?;
        Ok(Self {
            passes,
            network_size: image_size(size, limits)?,
            resized: image_size(resized, limits)?,
            output: image_size(output, limits)?,
        })
    }
}

/// Image dimensions are 32-bit; a larger side is over any limit, however the limits were set.
fn image_size((width, height): (u64, u64), limits: &Limits) -> Result<(u32, u32)> {
    match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(Error::Limits(crate::error::LimitError {
            what: "output",
            width,
            height,
            max_pixels: limits.max_output_pixels,
        })),
    }
}

fn scaled(width: u32, height: u32, factor: f64) -> (u64, u64) {
    let side = |v: u32| ((f64::from(v) * factor).round() as u64).max(1);
    (side(width), side(height))
}

/// The smallest model scale that reaches `factor`; beyond 4×, 4× then 2×; beyond 8× the rest is
/// Lanczos3 (the network cannot invent more detail, and one huge pass would not fit anywhere).
fn passes_for(factor: f64) -> Vec<usize> {
    if factor <= 1.0 {
        return Vec::new();
    }
    match MODEL_SCALES.iter().find(|&&s| s as f64 >= factor - 1e-9) {
        Some(&s) => vec![s],
        None => vec![4, 2],
    }
}
