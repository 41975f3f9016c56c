//! `upres eval`: the quality table of a model beside bicubic and Lanczos3, per benchmark set.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use upres::eval::{self, EvalImage, EvalSet, LrInputs, Pixels, Score};
use upres::plan::{Plan, Target};
use upres::resolve;
use upres::route::{InputKind, Look, Route};
use upres::upscale::{Settings, Upscaler};

use super::{ModelArgs, Outcome, describe};

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Benchmark sets: folders of HR images, each with a sibling NAME_lr_matlab/X{S} (e.g. ../shared/data/eval/set5).
    #[arg(long, required = true, num_args = 1.., value_name = "DIR")]
    data: Vec<PathBuf>,
    /// Scale: 2, 3, 4 or 8 (8 = the ×4 model then the ×2 model).
    #[arg(long, value_parser = super::parse_scale)]
    scale: usize,
    /// Score the sets' JPEG inputs of these qualities (NAME_lr_jpeg/qQ/X{S}) instead of the
    /// clean ones: what people with compressed photos get.
    #[arg(long, num_args = 1.., value_name = "Q")]
    jpeg: Vec<u8>,
    /// Score the sets' inputs made as real photos are (NAME_lr_real/X{S}: blur, an unknown
    /// resizer, sharpening, noise, JPEG; a chain per image) instead of the clean ones (with
    /// --jpeg: as well as those).
    #[arg(long)]
    real: bool,
    /// Also score images made by another tool: NAME=DIR, with DIR/<set>/X<scale>/<image>.png
    /// upscaled from the same LR files (repeatable).
    #[arg(long = "outputs", value_name = "NAME=DIR", value_parser = parse_pair)]
    outputs: Vec<(String, PathBuf)>,
    /// Also write a picture of what the numbers mean: a centred 100 % crop of the named image
    /// (in the first set that has it) as bicubic, each model and the original, side by side.
    #[arg(long, value_name = "IMAGE=FILE.png", value_parser = parse_pair)]
    side_by_side: Option<(String, PathBuf)>,
    /// Also write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

/// What a method runs on one image: the kind it names for the file's JPEG quality, or (`None`)
/// the automatic route, in its look.
fn route((kind, look): (Option<InputKind>, Look), image: &EvalImage) -> Route {
    kind.map_or_else(|| image.route.clone(), |kind| Route::chosen(kind, image.route.quality)).with_look(look)
}

/// Side of the square crop of `--side-by-side`, in output pixels.
const SIDE_BY_SIDE_CROP: usize = 160;

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

fn parse_pair(value: &str) -> Result<(String, PathBuf), String> {
    match value.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok((name.to_string(), PathBuf::from(path))),
        _ => Err(format!("expected NAME=PATH (e.g. esrgan-slim=bench/out/esrgan-slim), got {value:?}")),
    }
}

pub fn run(args: EvalArgs) -> Result<Outcome> {
    let scale = args.scale;
    let upscaler = Upscaler::new(args.model.backend()?, &args.model.model_files()?, Settings::default())?;
    eprintln!("{}", describe(&upscaler));
    let passes = Plan::for_scales(1, 1, Target::Scale(scale), upscaler.limits(), &upscaler.scales())?.passes;
    // The models each family runs at this scale, as the pipeline picks them (compression-aware
    // ones may be several, each for a range of JPEG qualities: each file gets the one for its
    // own quality); none for a family that some pass lacks.
    let model_name = |(kind, look): (Option<InputKind>, Look)| {
        let passes = resolve::family(upscaler.models(), kind, look, &passes)?;
        let names = passes.iter().map(|pass| pass.iter().map(|m| m.card.name.as_str()).collect::<Vec<_>>().join(" / "));
        Some(names.collect::<Vec<_>>().join(" + "))
    };
    // Each kind of faithful model that is loaded; with both, `auto` too (kind `None`): each file
    // routed by its own header, which is what users get; and the enhanced look where it has a
    // model.
    let mut methods: Vec<(String, (Option<InputKind>, Look))> = [InputKind::Clean, InputKind::Compressed]
        .into_iter()
        .filter_map(|kind| model_name((Some(kind), Look::Faithful)).map(|name| (name, (Some(kind), Look::Faithful))))
        .collect();
    // A person's own models run alone, whatever the route: one method.
    if upscaler.models().iter().any(|m| m.card.imported.is_some()) {
        let route = Route::chosen(InputKind::Clean, None);
        let own = resolve::resolve(upscaler.models(), &route, &passes, resolve::Layer::Colour)?;
        let names: Vec<&str> = own.passes.iter().map(|m| m.card.name.as_str()).collect();
        methods = vec![(format!("{} (yours)", names.join(" + ")), (None, Look::Faithful))];
    } else if methods.len() == 2 {
        methods.push(("auto".to_string(), (None, Look::Faithful)));
    }
    if let Some(enhanced) = model_name((None, Look::Enhanced)) {
        methods.push((format!("{enhanced} (enhanced)"), (None, Look::Enhanced)));
    }
    if methods.is_empty() {
        bail!("no ×{scale} model is loaded");
    }

    let mut rows = Vec::new();
    let mut inputs: Vec<LrInputs> = args.jpeg.iter().copied().map(LrInputs::Jpeg).collect();
    if args.real {
        inputs.push(LrInputs::Real);
    }
    if inputs.is_empty() {
        inputs.push(LrInputs::Matlab);
    }
    let sets = args.data.iter().flat_map(|dir| inputs.iter().map(move |&lr| EvalSet::load(dir, scale, lr)));
    let mut side_by_side = args.side_by_side.clone();
    for set in sets {
        let set = set?;
        if let Some((name, path)) = &side_by_side
            && let Some(image) = set.images.iter().find(|image| &image.name == name)
        {
            let mut panels = vec![eval::bicubic(&image.lr, scale)];
            for (_, family) in methods.iter().filter(|(name, _)| name != "auto") {
                panels.push(eval::network(&upscaler, scale, &image.lr, &route(*family, image))?);
            }
            panels.push(image.hr.clone());
            let picture = eval::side_by_side(&panels, SIDE_BY_SIDE_CROP);
            picture.save(path).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "{}: {} ×{scale}, {}: bicubic, {}, original",
                path.display(),
                set.name,
                name,
                methods
                    .iter()
                    .filter(|(name, _)| name != "auto")
                    .map(|(m, _)| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            side_by_side = None;
        }
        let mut results: Vec<(&str, Score, bool)> = vec![
            ("bicubic", eval::score(&set, |image| Ok(eval::bicubic(&image.lr, scale)))?, true),
            ("lanczos3", eval::score(&set, |image| Ok(eval::lanczos3(&image.lr, scale)))?, true),
        ];
        for (name, family) in &methods {
            let score = eval::score(&set, |image| eval::network(&upscaler, scale, &image.lr, &route(*family, image)))?;
            results.push((name.as_str(), score, true));
        }
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
    if let Some((name, _)) = side_by_side {
        bail!("--side-by-side: no image named {name:?} in the sets");
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&rows)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Outcome::Success)
}
