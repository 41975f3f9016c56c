//! Where a job's time goes on one thread: decoding, tiling and copies, each kind of network
//! operation, stitching, the resize and the encoder. The pipeline records a stage only when it
//! runs with a [`Profiler`] (`upres bench --profile` natively, `Engine.profile` in the browser),
//! so that both measure the same code.

use std::cell::RefCell;
use std::ops::ControlFlow;

use crate::Result;
use crate::job::Job;
use crate::upscale::{Hooks, Progress, Upscaler, WeightSource};

/// Named stages, as reported (in this order).
pub const STAGES: [&str; 10] = [
    "decode",
    "plan and route",
    "tile copies",
    "convolution",
    "activation",
    "residual and shuffle",
    "read back",
    "stitch",
    "resize",
    "encode",
];

/// Milliseconds spent per stage, on a clock the caller provides (`performance.now()` in a
/// browser, a monotonic clock natively).
pub struct Profiler {
    clock: fn() -> f64,
    spent: RefCell<[f64; STAGES.len()]>,
}

impl Profiler {
    pub fn new(clock: fn() -> f64) -> Self {
        Self { clock, spent: RefCell::new([0.0; STAGES.len()]) }
    }

    /// Runs `work`, adding its time to `stage` (one of [`STAGES`]).
    pub fn time<T>(&self, stage: &str, work: impl FnOnce() -> T) -> T {
        let start = (self.clock)();
        let result = work();
        self.add(stage, (self.clock)() - start);
        result
    }

    /// Adds `milliseconds` to `stage`.
    pub fn add(&self, stage: &str, milliseconds: f64) {
        if let Some(index) = STAGES.iter().position(|name| *name == stage) {
            self.spent.borrow_mut()[index] += milliseconds;
        }
    }

    /// The current time on this profiler's clock, in milliseconds.
    pub fn now(&self) -> f64 {
        (self.clock)()
    }

    /// Each stage with its milliseconds, in pipeline order.
    pub fn stages(&self) -> Vec<(&'static str, f64)> {
        STAGES.iter().copied().zip(self.spent.borrow().iter().copied()).collect()
    }
}

/// Runs `work`, adding its time to `stage` when there is a profiler.
pub fn time<T>(profiler: Option<&Profiler>, stage: &str, work: impl FnOnce() -> T) -> T {
    match profiler {
        Some(profiler) => profiler.time(stage, work),
        None => work(),
    }
}

/// One job's profile.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Profile {
    /// Milliseconds per stage, in pipeline order; "other" is what no stage covers (progress
    /// reports, the live preview, waiting on the event loop).
    pub stages: Vec<(&'static str, f64)>,
    pub total_ms: f64,
    /// The network's work: two operations per multiply-accumulate, over every colour pass.
    pub gflop: f64,
    /// Achieved by the network's operations alone, and over the whole job.
    pub network_gflops: f64,
    pub job_gflops: f64,
}

/// The stages that are the network itself.
const NETWORK: [&str; 4] = ["convolution", "activation", "residual and shuffle", "read back"];

/// Runs `job` on `bytes` on this thread (no tile runner) with a profiler on `clock`.
pub async fn profile_job(
    upscaler: &Upscaler,
    job: &Job,
    bytes: &[u8],
    clock: fn() -> f64,
    on_progress: &mut dyn FnMut(Progress<'_>) -> ControlFlow<()>,
    weights: Option<&dyn WeightSource>,
) -> Result<Profile> {
    let profiler = Profiler::new(clock);
    let hooks = Hooks { tiles: None, weights, profiler: Some(&profiler) };
    let start = clock();
    let encoded = upscaler.run_with(job, bytes, on_progress, hooks).await?;
    let total_ms = clock() - start;

    let mut stages = profiler.stages();
    let covered: f64 = stages.iter().map(|(_, ms)| ms).sum();
    stages.push(("other", (total_ms - covered).max(0.0)));
    let network_ms: f64 = stages.iter().filter(|(name, _)| NETWORK.contains(name)).map(|(_, ms)| ms).sum();
    // The pixel count is the same whichever way up the image is shown.
    let (width, height) = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()
        .and_then(|reader| reader.into_dimensions().ok())
        .unwrap_or_default();
    let mut pixels = f64::from(width) * f64::from(height);
    let mut macs = 0.0;
    for name in &encoded.models {
        if let Some(model) = upscaler.models().iter().find(|m| m.card.name == *name) {
            macs += pixels * model.card.macs_per_input_pixel as f64;
            pixels *= (model.card.config.scale * model.card.config.scale) as f64;
        }
    }
    let gflop = 2.0 * macs / 1e9;
    Ok(Profile {
        stages,
        total_ms,
        gflop,
        network_gflops: gflop / network_ms * 1e3,
        job_gflops: gflop / total_ms * 1e3,
    })
}
