//! `upres bench`: how fast the network runs on each backend, beside bicubic and Lanczos3, on
//! square crops from the centre of one photo. Prints a table and writes JSON for BENCHMARKS.md.
//!
//! Per case: *cold* is loading the models onto the (already started) backend plus the first run,
//! which on wgpu includes compiling the kernels for that tile shape; *warm* is the median of the
//! runs after it. Peak memory is the process's peak resident set during the case (Linux only).

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use image::RgbImage;
use serde::Serialize;
use upres::backend::{Backend, BackendChoice};
use upres::codec::{Decoded, OutputFormat};
use upres::engine::PackedNet;
use upres::job::Job;
use upres::metadata::MetadataChoice;
use upres::model::NetConfig;
use upres::plan::Target;
use upres::profile::{Profile, Stage};
use upres::resample::{self, Filter};
use upres::route::{InputChoice, InputKind, Route};
use upres::tiling::{Outside, TilePlan};
use upres::upscale::{Settings, Upscaler};
use upres::weights::ModelFile;

use super::{ModelArgs, Outcome};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The photo the inputs are cropped from (its centre).
    #[arg(long, value_name = "FILE")]
    image: PathBuf,
    /// Input sides in pixels (square crops).
    #[arg(long, value_delimiter = ',', default_values_t = [256, 512])]
    sizes: Vec<u32>,
    /// Model scales.
    #[arg(long, value_delimiter = ',', default_values_t = [2, 4])]
    scales: Vec<usize>,
    /// Warm runs after the cold one; their median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Also write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Instead of timing each backend, profile whole jobs (PNG in, PNG out) on the CPU (the
    /// engine, or burn's kernels with `--backend cpu-burn`): each stage's time in the run of
    /// median length, and the GFLOP/s achieved. Set RAYON_NUM_THREADS=1 for one thread, as one
    /// browser worker runs.
    #[arg(long)]
    profile: bool,
    /// Also time the CPU engine on a ×4 chain of this shape with random weights (WIDTHxDEPTH:
    /// channels × hidden layers; 64x32 is Real-ESRGAN's compact teacher), on one tile per size.
    #[arg(long, value_name = "WIDTHxDEPTH", value_parser = parse_chain)]
    chain: Option<(usize, usize)>,
    /// Models, and the backend: with `auto` (the default) the CPU and, when any adapter
    /// starts, wgpu (software adapters included, and labelled as such).
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Serialize)]
struct Report {
    /// When the run ended, seconds since 1970 (UTC).
    unix_time: u64,
    machine: Machine,
    image: String,
    models: Vec<String>,
    runs: Vec<Run>,
}

#[derive(Serialize)]
struct Machine {
    cpu: String,
    cores: usize,
    os: String,
    /// Threads of burn's CPU backend (rayon): RAYON_NUM_THREADS, else one per core.
    threads: usize,
    /// How this binary was built: its Cargo profile decides what the timings mean.
    build: &'static str,
}

#[derive(Serialize)]
struct Run {
    method: String,
    backend: String,
    input: String,
    scale: usize,
    cold_ms: f64,
    warm_median_ms: f64,
    warm_runs: usize,
    output_mp_per_s: f64,
    /// None where the platform does not report it.
    peak_rss_mib: Option<f64>,
}

pub fn run(args: BenchArgs) -> Result<Outcome> {
    if args.runs == 0 {
        bail!("--runs must be at least 1: the warm time is the median of those runs");
    }
    let photo = image::open(&args.image)
        .with_context(|| format!("cannot read the benchmark photo {}", args.image.display()))?
        .to_rgb8();
    let files = args.model.model_files()?;
    let report_models = files
        .iter()
        .map(|f| format!("{} (×{}, sha256 {})", f.card.name, f.card.config.scale, f.card.short_hash()))
        .collect();
    if args.profile {
        return profile(&args, &photo, &files, report_models);
    }
    let backends = backends(args.model.backend)?;

    println!(
        "| method | backend | input | scale | cold ms | warm ms (median of {}) | output MP/s | peak RSS MiB |",
        args.runs
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut runs = Vec::new();
    for &size in &args.sizes {
        let input = centre_crop(&photo, size).with_context(|| format!("{}", args.image.display()))?;
        for &scale in &args.scales {
            for backend in &backends {
                runs.push(print(network(backend, &files, &input, scale, args.runs)?));
            }
            for (name, filter) in [("bicubic", Filter::Bicubic), ("lanczos3", Filter::Lanczos3)] {
                runs.push(print(resize(name, filter, &input, scale, args.runs)));
            }
        }
        if let Some(shape) = args.chain {
            runs.push(print(chain(shape, &input, args.runs)?));
        }
    }
    let report = Report {
        unix_time: unix_time(),
        machine: machine(),
        image: args.image.display().to_string(),
        models: report_models,
        runs,
    };
    write_json(args.json.as_deref(), &report)
}

#[derive(Serialize)]
struct ProfileReport {
    unix_time: u64,
    machine: Machine,
    image: String,
    models: Vec<String>,
    profiles: Vec<ProfiledCase>,
}

#[derive(Serialize)]
struct ProfiledCase {
    input: String,
    scale: usize,
    runs: usize,
    profile: Profile,
}

/// `upres bench --profile`: per case, a cold job, then `runs` profiled ones; the one of median
/// length is reported.
fn profile(args: &BenchArgs, photo: &RgbImage, files: &[ModelFile], models: Vec<String>) -> Result<Outcome> {
    let backend = match args.model.backend {
        BackendChoice::BurnCpu => Backend::burn_cpu("profiled"),
        _ => Backend::cpu("profiled"),
    };
    let upscaler = Upscaler::new(backend, files, Settings::default())?;
    let clock = || {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
    };
    let mut header = vec!["input", "scale", "total ms"];
    header.extend(Stage::ALL.map(Stage::name));
    header.extend(["other", "network GFLOP/s", "job GFLOP/s"]);
    println!("| {} |\n|{}", header.join(" | "), "---|".repeat(header.len()));
    let mut profiles = Vec::new();
    for &size in &args.sizes {
        let input = centre_crop(photo, size).with_context(|| format!("{}", args.image.display()))?;
        let mut bytes = Vec::new();
        input.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)?;
        for &scale in &args.scales {
            let job = Job::new(Target::Scale(scale), OutputFormat::Png, InputChoice::Clean, MetadataChoice::None)?;
            let run =
                || pollster::block_on(upscaler.profile(&job, &bytes, clock, &mut |_| ControlFlow::Continue(()), None));
            run()?;
            let mut runs = (0..args.runs).map(|_| run()).collect::<upres::Result<Vec<_>>>()?;
            runs.sort_by(|a, b| a.total_ms.total_cmp(&b.total_ms));
            let profile = runs.swap_remove(runs.len() / 2);
            let mut row = vec![format!("{size}x{size}"), format!("×{scale}"), format!("{:.1}", profile.total_ms)];
            row.extend(profile.stages.iter().map(|(_, ms)| format!("{ms:.1}")));
            row.extend([format!("{:.2}", profile.network_gflops), format!("{:.2}", profile.job_gflops)]);
            println!("| {} |", row.join(" | "));
            profiles.push(ProfiledCase { input: format!("{size}x{size}"), scale, runs: args.runs, profile });
        }
    }
    let report = ProfileReport {
        unix_time: unix_time(),
        machine: machine(),
        image: args.image.display().to_string(),
        models,
        profiles,
    };
    write_json(args.json.as_deref(), &report)
}

fn unix_time() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_secs())
}

fn write_json(path: Option<&std::path::Path>, report: &impl Serialize) -> Result<Outcome> {
    if let Some(path) = path {
        std::fs::write(path, serde_json::to_string_pretty(report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Outcome::Success)
}

fn backends(choice: BackendChoice) -> Result<Vec<Backend>> {
    Ok(match choice {
        BackendChoice::Auto => {
            let mut all = vec![Backend::cpu("benchmarked"), Backend::burn_cpu("benchmarked")];
            match Backend::select(BackendChoice::Wgpu) {
                Ok(wgpu) => all.push(wgpu),
                Err(e) => eprintln!("wgpu not benchmarked: {e}"),
            }
            all
        }
        choice => vec![Backend::select(choice).context("cannot start the requested backend")?],
    })
}

pub(super) fn centre_crop(photo: &RgbImage, size: u32) -> Result<RgbImage> {
    let (width, height) = photo.dimensions();
    if size == 0 || size > width || size > height {
        bail!("the photo is {width}×{height}: too small for a {size}×{size} crop");
    }
    Ok(image::imageops::crop_imm(photo, (width - size) / 2, (height - size) / 2, size, size).to_image())
}

fn network(backend: &Backend, files: &[ModelFile], input: &RgbImage, scale: usize, runs: usize) -> Result<Run> {
    let peak = PeakMemory::start();
    let started = Instant::now();
    let upscaler = Upscaler::new(backend.clone(), files, Settings::default())?;
    // The network passes with tiling and stitching, as an upscale to ×scale runs them.
    let run_once = || -> Result<Vec<String>> {
        let image = Decoded::from_rgb(input.clone());
        let target = Target::Scale(scale);
        let route = Route::chosen(InputKind::Clean, None);
        Ok(pollster::block_on(upscaler.upscale(image, target, &route, &mut |_| ControlFlow::Continue(())))?.models)
    };
    let ran = run_once()?;
    let cold = started.elapsed();
    let warm = median((0..runs).map(|_| timed(|| run_once().map(drop))).collect::<Result<_>>()?);
    Ok(result(ran.join(" + "), backend.description.clone(), input, scale, cold, warm, runs, peak.read()))
}

/// The engine alone on a ×4 chain of `width` channels and `depth` hidden layers (random weights),
/// on `input` with its border reflected as one tile.
fn chain((width, depth): (usize, usize), input: &RgbImage, runs: usize) -> Result<Run> {
    let peak = PeakMemory::start();
    let started = Instant::now();
    let backend = Backend::cpu("benchmarked");
    let config = NetConfig::new(4, width, depth);
    let packed = PackedNet::new(&config.init(&backend.device))?;
    let (side_x, side_y) = (input.width() as usize, input.height() as usize);
    let plan = TilePlan::new(side_x, side_y, side_x.max(side_y), config.context())?;
    let tile = plan.extract(plan.tiles[0], input);
    let (tile_width, tile_height) = plan.input_size();
    let run_once = || -> Result<()> {
        std::hint::black_box(packed.run(&tile, tile_width, tile_height, Outside::default(), None)?);
        Ok(())
    };
    run_once()?;
    let cold = started.elapsed();
    let warm = median((0..runs).map(|_| timed(run_once)).collect::<Result<_>>()?);
    let method = format!("chain {width}×{depth} ×4 (random weights)");
    Ok(result(method, backend.description, input, 4, cold, warm, runs, peak.read()))
}

fn parse_chain(text: &str) -> std::result::Result<(usize, usize), String> {
    text.split_once('x')
        .and_then(|(width, depth)| Some((width.parse().ok()?, depth.parse().ok()?)))
        .filter(|&(width, depth)| NetConfig::new(4, width, depth).validate().is_ok())
        .ok_or_else(|| format!("expected WIDTHxDEPTH, e.g. 64x32 (1–256 channels, at most 64 layers), not {text:?}"))
}

fn resize(name: &str, filter: Filter, input: &RgbImage, scale: usize, runs: usize) -> Run {
    let peak = PeakMemory::start();
    let (width, height) = (input.width() as usize, input.height() as usize);
    let run_once = || {
        std::hint::black_box(resample::resize_u8(
            input.as_raw(),
            width,
            height,
            3,
            width * scale,
            height * scale,
            filter,
        ));
        Ok(())
    };
    let cold = timed(run_once).unwrap_or_default();
    let warm = median((0..runs).map(|_| timed(run_once).unwrap_or_default()).collect());
    result(name.into(), "cpu (Rust, one thread)".into(), input, scale, cold, warm, runs, peak.read())
}

#[allow(clippy::too_many_arguments)]
fn result(
    method: String,
    backend: String,
    input: &RgbImage,
    scale: usize,
    cold: Duration,
    warm: Duration,
    runs: usize,
    peak_rss_mib: Option<f64>,
) -> Run {
    let output_pixels = f64::from(input.width()) * f64::from(input.height()) * (scale * scale) as f64;
    Run {
        method,
        backend,
        input: format!("{}x{}", input.width(), input.height()),
        scale,
        cold_ms: cold.as_secs_f64() * 1000.0,
        warm_median_ms: warm.as_secs_f64() * 1000.0,
        warm_runs: runs,
        output_mp_per_s: output_pixels / 1e6 / warm.as_secs_f64().max(1e-9),
        peak_rss_mib,
    }
}

fn print(run: Run) -> Run {
    println!(
        "| {} | {} | {} | ×{} | {:.1} | {:.1} | {:.2} | {} |",
        run.method,
        run.backend,
        run.input,
        run.scale,
        run.cold_ms,
        run.warm_median_ms,
        run.output_mp_per_s,
        run.peak_rss_mib.map_or("—".into(), |m| format!("{m:.0}"))
    );
    run
}

pub(super) fn timed(f: impl Fn() -> Result<()>) -> Result<Duration> {
    let started = Instant::now();
    f()?;
    Ok(started.elapsed())
}

pub(super) fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                line.strip_prefix("model name").map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Machine {
        cpu,
        cores,
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        threads: std::env::var("RAYON_NUM_THREADS").ok().and_then(|n| n.parse().ok()).unwrap_or(cores),
        build: if cfg!(debug_assertions) {
            "dev profile (dependencies at opt-level 3 without debug assertions; upres at opt-level 2 with them)"
        } else {
            "release profile (opt-level 3, thin LTO)"
        },
    }
}

/// The process's peak resident memory since `start`, which resets the kernel's high-water mark
/// (writing 5 to /proc/self/clear_refs); None where that is not available.
struct PeakMemory {
    reset: bool,
}

impl PeakMemory {
    fn start() -> Self {
        Self { reset: std::fs::write("/proc/self/clear_refs", "5").is_ok() }
    }

    fn read(&self) -> Option<f64> {
        if !self.reset {
            return None;
        }
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }
}
