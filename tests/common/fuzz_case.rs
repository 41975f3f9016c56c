//! One fuzz input through the whole pipeline, and the checks that make a result a bug: shared
//! by the fuzz target (`fuzz/`) and the replay of saved crashers (`tests/regression/`).
//!
//! The first three bytes choose the job (target, output format, tile size, models) so that the
//! fuzzer explores planning and tiling as well as the decoders; the rest is the file. The
//! network is a tiny one with random weights on the CPU backend: its numbers do not matter here,
//! only that every shape, index and allocation is right for whatever the file declares. The
//! limits are small so that each run takes milliseconds; the code paths are the same at any size.

use std::ops::ControlFlow;

use upres::Error;
use upres::backend::Backend;
use upres::codec::{self, OutputFormat};
use upres::job::Job;
use upres::limits::Limits;
use upres::metadata::MetadataChoice;
use upres::plan::{Fit, Plan, Target};
use upres::route::{InputChoice, Look};
use upres::upscale::{Settings, Upscaler};

const LIMITS: Limits = Limits { max_input_pixels: 128 * 128, max_output_pixels: 512 * 512 };

/// Down to 5 pixels (many tiles, most of them shifted back inside the image); `None` is the
/// size the memory budget picks, as in the CLI.
const TILES: [Option<usize>; 4] = [Some(5), Some(16), Some(48), None];

thread_local! {
    /// Loaded once per tile size and kept, as a long-lived worker keeps its models between jobs.
    static UPSCALERS: Vec<Upscaler> = TILES
        .iter()
        .map(|&tile_size| {
            let settings = Settings { limits: LIMITS, tile_size, ..Settings::default() };
            Upscaler::new(Backend::cpu("fuzzing"), &super::random_models(), settings).expect("random models load")
        })
        .collect();
}

/// The job encoded in three bytes: what to make, in which format, with which tiles (an index
/// into `TILES`), and which models.
fn job([choice, a, b]: [u8; 3]) -> (Job, usize) {
    let side = |v: u8| u32::from(v) * 2 + 1;
    let target = match choice & 0b111 {
        0 => Target::Scale(2),
        1 => Target::Scale(3),
        2 => Target::Scale(4),
        3 => Target::Scale(8),
        4 => Target::LongEdge(side(a)),
        5 => Target::Size { width: side(a), height: side(b), fit: Fit::Contain },
        6 => Target::Size { width: side(a), height: side(b), fit: Fit::Cover },
        // Out of range on purpose: options come from people and pages too.
        _ => Target::Scale(usize::from(a)),
    };
    let format = match (choice >> 3) & 0b11 {
        0 => OutputFormat::Png,
        1 => OutputFormat::Jpeg { quality: b % 100 + 1 },
        _ => OutputFormat::WebP { quality: None },
    };
    let input = [InputChoice::Auto, InputChoice::Compressed][usize::from(choice >> 7)];
    // Built as a literal, not checked by `Job::new`: the pipeline must refuse a bad target itself.
    (
        Job { target, format, input, metadata: MetadataChoice::default(), look: Look::default() },
        usize::from(choice >> 5) % 4,
    )
}

/// Runs one fuzz input (three bytes of job, then the file) and panics on anything that is a
/// bug: a panic inside, a result that contradicts the plan, an output our own decoder refuses,
/// a readable file failing for another reason than its size or its options.
pub fn check(data: &[u8]) {
    let Some((&header, file)) = data.split_first_chunk::<3>() else {
        return;
    };
    let (job, tiles) = job(header);
    let target = job.target;
    UPSCALERS.with(|upscalers| {
        let decoded = codec::decode(file, &LIMITS);
        let result = pollster::block_on(upscalers[tiles].run(&job, file, &mut |_| ControlFlow::Continue(())));
        match (decoded, result) {
            (Ok(decoded), Ok(encoded)) => {
                let (width, height) = decoded.rgb.dimensions();
                let plan = Plan::new(width, height, target, &LIMITS).expect("the job ran, so it had a plan");
                assert_eq!((encoded.width, encoded.height), plan.output, "{target:?} of {width}×{height}");
                let unlimited = Limits { max_input_pixels: u64::MAX, max_output_pixels: u64::MAX };
                let back = codec::decode(&encoded.bytes, &unlimited).expect("our own output decodes");
                assert_eq!(back.rgb.dimensions(), plan.output);
            }
            (Err(error), Ok(_)) => {
                panic!("the pipeline accepted a file that decode refuses: {error}")
            }
            // A readable file may still ask for too much, or for a scale that does not exist;
            // anything else (a backend or encoder failure) is a bug.
            (Ok(_), Err(error)) => assert!(
                matches!(error, Error::Limits(_) | Error::Parameter(_)),
                "{target:?} of a readable file failed: {error}"
            ),
            (Err(_), Err(_)) => {}
        }
    });
}
