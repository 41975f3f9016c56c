//! Where a job's time goes on one thread: decoding, tiling and copies, each kind of network
//! operation, stitching, the resize and the encoder. The pipeline records a stage only when it
//! runs with a [`Profiler`] (`upres bench --profile` natively, `Engine.profile` in the browser,
//! both through [`crate::upscale::Upscaler::profile`]), so that both measure the same code.
//!
//! A leaf: the pipeline imports it to record stages, so it imports nothing of the pipeline.

use std::cell::RefCell;

/// A stage of the pipeline, as reported (in this order: [`Stage::ALL`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Decode,
    PlanAndRoute,
    TileCopies,
    Convolution,
    Activation,
    ResidualAndShuffle,
    ReadBack,
    Stitch,
    Resize,
    Encode,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 10] = [
        Stage::Decode,
        Stage::PlanAndRoute,
        Stage::TileCopies,
        Stage::Convolution,
        Stage::Activation,
        Stage::ResidualAndShuffle,
        Stage::ReadBack,
        Stage::Stitch,
        Stage::Resize,
        Stage::Encode,
    ];

    /// As reported: in the bench table, its JSON and the page's profile.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::PlanAndRoute => "plan and route",
            Stage::TileCopies => "tile copies",
            Stage::Convolution => "convolution",
            Stage::Activation => "activation",
            Stage::ResidualAndShuffle => "residual and shuffle",
            Stage::ReadBack => "read back",
            Stage::Stitch => "stitch",
            Stage::Resize => "resize",
            Stage::Encode => "encode",
        }
    }

    /// The stages that are the network itself.
    fn is_network(self) -> bool {
        matches!(self, Stage::Convolution | Stage::Activation | Stage::ResidualAndShuffle | Stage::ReadBack)
    }
}

/// Milliseconds spent per stage, on a clock the caller provides (`performance.now()` in a
/// browser, a monotonic clock natively).
pub struct Profiler {
    clock: fn() -> f64,
    spent: RefCell<[f64; Stage::ALL.len()]>,
}

impl Profiler {
    pub fn new(clock: fn() -> f64) -> Self {
        Self { clock, spent: RefCell::new([0.0; Stage::ALL.len()]) }
    }

    /// Runs `work`, adding its time to `stage`.
    pub fn time<T>(&self, stage: Stage, work: impl FnOnce() -> T) -> T {
        let start = (self.clock)();
        let result = work();
        self.add(stage, (self.clock)() - start);
        result
    }

    /// Adds `milliseconds` to `stage`.
    pub fn add(&self, stage: Stage, milliseconds: f64) {
        // `ALL` lists the variants in declaration order.
        self.spent.borrow_mut()[stage as usize] += milliseconds;
    }

    /// The current time on this profiler's clock, in milliseconds.
    pub fn now(&self) -> f64 {
        (self.clock)()
    }

    /// The profile of a job that took `total_ms` and did `gflop` of network work.
    pub fn profile(&self, total_ms: f64, gflop: f64) -> Profile {
        let spent = self.spent.borrow();
        let mut stages: Vec<(&'static str, f64)> = Stage::ALL.iter().map(|&s| (s.name(), spent[s as usize])).collect();
        let covered: f64 = spent.iter().sum();
        stages.push(("other", (total_ms - covered).max(0.0)));
        let network_ms: f64 = Stage::ALL.iter().filter(|s| s.is_network()).map(|&s| spent[s as usize]).sum();
        Profile {
            stages,
            total_ms,
            gflop,
            network_gflops: gflop / network_ms * 1e3,
            job_gflops: gflop / total_ms * 1e3,
        }
    }
}

/// Runs `work`, adding its time to `stage` when there is a profiler.
pub fn time<T>(profiler: Option<&Profiler>, stage: Stage, work: impl FnOnce() -> T) -> T {
    match profiler {
        Some(profiler) => profiler.time(stage, work),
        None => work(),
    }
}

/// One job's profile.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Profile {
    /// Milliseconds per stage ([`Stage::name`]), in pipeline order; then "other", what no stage
    /// covers (progress reports, the live preview, waiting on the event loop).
    pub stages: Vec<(&'static str, f64)>,
    pub total_ms: f64,
    /// The network's work: two operations per multiply-accumulate, over every colour pass.
    pub gflop: f64,
    /// Achieved by the network's operations alone, and over the whole job.
    pub network_gflops: f64,
    pub job_gflops: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_is_listed_once_in_declaration_order() {
        for (index, stage) in Stage::ALL.iter().enumerate() {
            assert_eq!(*stage as usize, index, "{stage:?}");
        }
    }
}
