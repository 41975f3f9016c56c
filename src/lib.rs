//! upres: private image upscaling with a compact super-resolution network.
//!
//! The data flow, top to bottom, for one [`job`]: [`codec`] decodes the bytes (format sniffed,
//! EXIF orientation applied, sizes checked against [`limits`] before any pixel is allocated);
//! [`route`] reads how the file was compressed and picks the clean or the compression-aware
//! family; [`plan`] turns the requested scale or target size into model passes and a resize;
//! [`resolve`] picks a loaded model for each pass, and says why; [`upscale`] cuts the image into
//! constant-shape tiles ([`tiling`]), runs the [`model`] on each (on the [`backend`] chosen: wgpu
//! or the CPU), stitches, resizes down with Lanczos3 where a target size asks for it
//! ([`resample`]) and hands the result back to [`codec`] to encode, with the source's colour
//! profile, EXIF and density as the user chose ([`metadata`], [`exif`], [`container`]).
//! [`weights`] loads and verifies shipped models; [`metrics`] and [`eval`] score them by the
//! standard protocol; `train` makes them.

pub mod backend;
pub mod codec;
pub mod compact;
pub mod container;
pub mod engine;
pub mod error;
pub mod eval;
pub mod exif;
pub mod job;
pub mod limits;
pub mod metadata;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod profile;
pub mod resample;
pub mod resolve;
pub mod route;
pub mod tiling;
#[cfg(feature = "train")]
pub mod train;
pub mod upscale;
#[cfg(feature = "web")]
pub mod web;
pub mod weights;

pub use error::{Error, Result};
