//! `upres eval`: the quality table of a model beside bicubic and Lanczos3, per benchmark set.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;
use upres::eval::{self, EvalSet, Pixels, Score};
use upres::limits::Limits;
use upres::upscale::Upscaler;

use super::{ModelArgs, Outcome, describe};

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Benchmark sets: folders of HR images, each with a sibling NAME_lr_matlab/X{S} (e.g. ../shared/data/eval/set5).
    #[arg(long, required = true, num_args = 1.., value_name = "DIR")]
    data: Vec<PathBuf>,
    /// Scale: 2, 3, 4 or 8 (8 = the ×4 model then the ×2 model).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["2", "3", "4", "8"]))]
    scale: String,
    /// Also score images made by another tool: NAME=DIR, with DIR/<set>/X<scale>/<image>.png
    /// upscaled from the same LR files (repeatable).
    #[arg(long = "outputs", value_name = "NAME=DIR", value_parser = parse_outputs)]
    outputs: Vec<(String, PathBuf)>,
    /// Also write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

/// One row of the table.
#[derive(Serialize)]
struct Row {
    set: String,
    scale: usize,
    method: String,
    psnr: f64,
    ssim: f64,
    /// None for outputs made by another tool (only their quality is measured here).
    ms_per_image: Option<f64>,
}

fn parse_outputs(value: &str) -> Result<(String, PathBuf), String> {
    match value.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !dir.is_empty() => Ok((name.to_string(), PathBuf::from(dir))),
        _ => Err(format!("expected NAME=DIR, e.g. esrgan-slim=bench/out/esrgan-slim, got {value:?}")),
    }
}

pub fn run(args: EvalArgs) -> Result<Outcome> {
    let scale: usize = args.scale.parse()?;
    let upscaler = Upscaler::new(args.model.backend()?, &args.model.model_files()?, Limits::default())?;
    eprintln!("{}", describe(&upscaler));
    let model_name = if scale == 8 {
        format!("{} + {}", upscaler.model(4)?.card.name, upscaler.model(2)?.card.name)
    } else {
        upscaler.model(scale)?.card.name.clone()
    };

    let mut rows = Vec::new();
    for dir in &args.data {
        let set = EvalSet::load(dir, scale)?;
        let mut results: Vec<(&str, Score, bool)> = vec![
            ("bicubic", eval::score(&set, |image| Ok(eval::bicubic(&image.lr, scale)))?, true),
            ("lanczos3", eval::score(&set, |image| Ok(eval::lanczos3(&image.lr, scale)))?, true),
            (model_name.as_str(), eval::score(&set, |image| eval::network(&upscaler, scale, &image.lr))?, true),
        ];
        for (name, dir) in &args.outputs {
            let folder = dir.join(&set.name).join(format!("X{scale}"));
            // Tools write RGB for grey inputs too; grey is scored on grey, as for our own outputs.
            let score = eval::score(&set, |image| {
                let output = Pixels::read(&folder.join(&image.name))?;
                Ok(Pixels::from_rgb(&output.to_rgb(), image.hr.channels))
            })
            .with_context(|| format!("scoring {name}'s outputs in {}", folder.display()))?;
            results.push((name.as_str(), score, false));
        }
        println!("\n{} ×{scale} ({} images)", set.name, set.images.len());
        println!("| method | PSNR-Y (dB) | SSIM-Y | ms / image |");
        println!("|---|---|---|---|");
        for (method, score, timed) in results {
            let ms_per_image = timed.then_some(score.ms_per_image);
            let shown = ms_per_image.map_or("—".to_string(), |ms| format!("{ms:.1}"));
            println!("| {method} | {:.2} | {:.4} | {shown} |", score.psnr, score.ssim);
            rows.push(Row {
                set: set.name.clone(),
                scale,
                method: method.to_string(),
                psnr: score.psnr,
                ssim: score.ssim,
                ms_per_image,
            });
        }
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&rows)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Outcome::Success)
}
