//! `upres bench-encoders`: what each output format costs on an upscaled photo. The centre of one
//! photo is upscaled ×4 (a real network output, not a synthetic picture), then written as PNG
//! and as each lossy format at the quality a delivery pipeline would use; the encode time is the
//! median of a few runs. The files go to a folder, with the lossless reference, so that
//! `scripts/bench-encoders.mjs` can score them as a browser decodes them (AVIF included, which the
//! CLI cannot read back).

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use upres::codec::{self, Decoded, OutputFormat};
use upres::metadata::Metadata;
use upres::plan::Target;
use upres::route::{InputKind, Route};
use upres::upscale::{Settings, Upscaler};

use super::{ModelArgs, Outcome, bench};

#[derive(clap::Args, Debug)]
pub struct EncodersArgs {
    /// The photo whose centre is upscaled.
    #[arg(long, value_name = "FILE")]
    image: PathBuf,
    /// Side of the square output, in pixels (a multiple of 4: the centre crop is upscaled ×4).
    #[arg(long, default_value_t = 2000)]
    size: u32,
    /// Encodes per format; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Folder for the reference and the encoded files, and `encoders.json`.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Serialize)]
struct Report {
    image: String,
    width: u32,
    height: u32,
    reference: String,
    formats: Vec<Encoding>,
}

#[derive(Serialize)]
struct Encoding {
    format: &'static str,
    quality: Option<u8>,
    speed: Option<u8>,
    file: String,
    bytes: usize,
    encode_ms: f64,
}

/// The formats and settings compared: the lossless ones, and each lossy one at a typical
/// delivery quality.
const FORMATS: [OutputFormat; 5] = [
    OutputFormat::Png,
    OutputFormat::WebP { quality: None },
    OutputFormat::Jpeg { quality: 85 },
    OutputFormat::WebP { quality: Some(80) },
    OutputFormat::Avif { quality: 60, speed: OutputFormat::DEFAULT_AVIF_SPEED },
];

pub fn run(args: EncodersArgs) -> Result<Outcome> {
    if args.size == 0 || !args.size.is_multiple_of(4) || args.runs == 0 {
        bail!("--size must be a positive multiple of 4 and --runs at least 1");
    }
    let photo = image::open(&args.image).with_context(|| format!("cannot read {}", args.image.display()))?.to_rgb8();
    let crop = bench::centre_crop(&photo, args.size / 4)?;
    let upscaler = Upscaler::new(args.model.backend()?, &args.model.model_files()?, Settings::default())?;
    let route = Route::chosen(InputKind::Clean, None);
    let upscaled =
        pollster::block_on(
            upscaler.upscale(Decoded::from_rgb(crop), Target::Scale(4), &route, &mut |_| ControlFlow::Continue(())),
        )?;

    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut formats = Vec::new();
    for format in FORMATS {
        let encode = || codec::encode(&upscaled.rgb, None, format, &Metadata::default());
        let bytes = encode()?;
        let encode_time = bench::median(
            (0..args.runs)
                .map(|_| {
                    bench::timed(|| {
                        encode()?;
                        Ok(())
                    })
                })
                .collect::<Result<_>>()?,
        );
        let lossless = if format.quality().is_none() { "-lossless" } else { "" };
        let file = format!("{}{lossless}.{}", format.extension(), format.extension());
        std::fs::write(args.out.join(&file), &bytes)?;
        let encoding = Encoding {
            format: format.name(),
            quality: format.quality(),
            speed: format.speed(),
            file,
            bytes: bytes.len(),
            encode_ms: encode_time.as_secs_f64() * 1000.0,
        };
        eprintln!(
            "{:<14} {:>9} bytes  {:>8.1} ms",
            format!("{}{}", encoding.format, encoding.quality.map(|q| format!(" q{q}")).unwrap_or_default()),
            encoding.bytes,
            encoding.encode_ms
        );
        formats.push(encoding);
    }
    let report = Report {
        image: args.image.display().to_string(),
        width: upscaled.rgb.width(),
        height: upscaled.rgb.height(),
        reference: "png-lossless.png".into(),
        formats,
    };
    std::fs::write(args.out.join("encoders.json"), serde_json::to_vec_pretty(&report)?)?;
    Ok(Outcome::Success)
}
