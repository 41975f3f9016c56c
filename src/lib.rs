//! upres: private image upscaling with a compact super-resolution network.
//!
//! The data flow, top to bottom: [`codec`] decodes the bytes (format sniffed, EXIF orientation
//! applied, sizes checked against [`limits`] before any pixel is allocated); [`upscale`] plans
//! the model passes for the requested scale or target size, cuts the image into constant-shape
//! tiles ([`tiling`]), runs the [`model`] on each (on the [`backend`] chosen: wgpu or the CPU),
//! stitches, resizes down with Lanczos3 where a target size asks for it ([`resample`]) and hands
//! the result back to [`codec`] to encode. [`weights`] loads and verifies shipped models;
//! [`metrics`] and [`eval`] score them by the standard protocol; `train` makes them.

pub mod backend;
pub mod codec;
pub mod error;
pub mod eval;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod resample;
pub mod tiling;
#[cfg(feature = "train")]
pub mod train;
pub mod upscale;
pub mod weights;
#[cfg(feature = "web")]
pub mod web;

pub use error::{Error, Result};
