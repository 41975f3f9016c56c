//! Size budgets for the images upres accepts and produces.
//!
//! A 100-byte file can declare a 65535×65535 image, and an upscale multiplies the pixel count by
//! the square of the scale. Both are checked against these budgets from header dimensions alone,
//! before any pixel buffer is allocated, so that a hostile or merely huge input is refused with a
//! message instead of exhausting memory (in the browser, a tab has a few GiB at most).

use crate::error::{Error, LimitError, Result};

/// Size budgets, checked before any pixel buffer is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest input accepted, in pixels (width × height as stored in the file).
    pub max_input_pixels: u64,
    /// The largest result produced, in pixels.
    pub max_output_pixels: u64,
}

impl Default for Limits {
    /// 40 megapixels in (any current phone photo), 200 megapixels out (a 40 MP photo at about
    /// 2.2×, or a 12 MP one at 4×).
    fn default() -> Self {
        Limits { max_input_pixels: 40_000_000, max_output_pixels: 200_000_000 }
    }
}

impl Limits {
    /// Refuses an input of `width`×`height` pixels if it is over `max_input_pixels`.
    ///
    /// # Errors
    ///
    /// [`Error::Limits`], with `what: "input"`, the dimensions and the limit.
    pub fn check_input(&self, width: u32, height: u32) -> Result<()> {
        check("input", u64::from(width), u64::from(height), self.max_input_pixels)
    }

    /// Refuses a result of `width`×`height` pixels if it is over `max_output_pixels`.
    ///
    /// The sides are `u64` so that a caller can pass `width * scale` without overflowing first.
    ///
    /// # Errors
    ///
    /// [`Error::Limits`], with `what: "output"`, the dimensions and the limit.
    pub fn check_output(&self, width: u64, height: u64) -> Result<()> {
        check("output", width, height, self.max_output_pixels)
    }
}

fn check(what: &'static str, width: u64, height: u64, max_pixels: u64) -> Result<()> {
    // A product that does not fit in a u64 is over any budget.
    match width.checked_mul(height) {
        Some(pixels) if pixels <= max_pixels => Ok(()),
        _ => Err(Error::Limits(LimitError { what, width, height, max_pixels })),
    }
}
