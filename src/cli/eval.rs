//! `upres eval`: the quality table of a model beside bicubic and Lanczos3, per benchmark set.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;
use upres::eval::{self, EvalSet, Score};
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
    ms_per_image: f64,
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
        let results: [(&str, Score); 3] = [
            ("bicubic", eval::score(&set, |lr| Ok(eval::bicubic(lr, scale)))?),
            ("lanczos3", eval::score(&set, |lr| Ok(eval::lanczos3(lr, scale)))?),
            (model_name.as_str(), eval::score(&set, |lr| eval::network(&upscaler, scale, lr))?),
        ];
        println!("\n{} ×{scale} ({} images)", set.name, set.images.len());
        println!("| method | PSNR-Y (dB) | SSIM-Y | ms / image |");
        println!("|---|---|---|---|");
        for (method, score) in results {
            println!("| {method} | {:.2} | {:.4} | {:.1} |", score.psnr, score.ssim, score.ms_per_image);
            rows.push(Row {
                set: set.name.clone(),
                scale,
                method: method.to_string(),
                psnr: score.psnr,
                ssim: score.ssim,
                ms_per_image: score.ms_per_image,
            });
        }
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&rows)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Outcome::Success)
}
