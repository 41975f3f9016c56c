//! The pipeline end to end through the library: planning, alpha, targets, progress, cancel.

use crate::common;

use std::ops::ControlFlow;

use upres::Error;
use upres::backend::Backend;
use upres::codec::{self, OutputFormat};
use upres::job::Job;
use upres::limits::Limits;
use upres::metadata::MetadataChoice;
use upres::plan::{Fit, Plan, Target};
use upres::profile::Stage;
use upres::route::{InputChoice, InputKind, Look, Route};
use upres::upscale::{Settings, Upscaler};

fn upscaler() -> Upscaler {
    Upscaler::new(Backend::cpu("test"), &common::random_models(), Settings::default()).unwrap()
}

fn png(image: image::DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

fn run(upscaler: &Upscaler, bytes: &[u8], target: Target) -> upres::Result<upres::upscale::Encoded> {
    let job = Job::new(target, OutputFormat::Png, InputChoice::Auto, MetadataChoice::default())?;
    pollster::block_on(upscaler.run(&job, bytes, &mut |_| ControlFlow::Continue(())))
}

#[test]
fn plan_picks_the_smallest_sufficient_scale() {
    let limits = Limits::default();
    let plan = |w, h, t| Plan::new(w, h, t, &limits).unwrap();
    assert_eq!(plan(600, 400, Target::Scale(8)).passes, [4, 2]);
    let long_edge = plan(600, 400, Target::LongEdge(2000));
    assert_eq!(long_edge.passes, [4]);
    assert_eq!(long_edge.network_size, (2400, 1600));
    assert_eq!(long_edge.output, (2000, 1333));
    assert_eq!(plan(800, 500, Target::LongEdge(2000)).passes, [3]);
    assert_eq!(plan(1000, 500, Target::LongEdge(2000)).passes, [2]);
    let shrink = plan(3000, 2000, Target::LongEdge(2000));
    assert!(shrink.passes.is_empty());
    assert_eq!(shrink.output, (2000, 1333));
    let cover = plan(600, 400, Target::Size { width: 1000, height: 1000, fit: Fit::Cover });
    assert_eq!((cover.passes.as_slice(), cover.resized, cover.output), (&[3][..], (1500, 1000), (1000, 1000)));
    let contain = plan(600, 400, Target::Size { width: 1000, height: 1000, fit: Fit::Contain });
    assert_eq!((contain.passes.as_slice(), contain.output), (&[2][..], (1000, 667)));
    assert_eq!(plan(100, 100, Target::LongEdge(1000)).passes, [4, 3], "10× is 12× (4× then 3×) then Lanczos3");
}

#[test]
fn plan_refuses_outputs_over_the_limit_and_bad_options() {
    let limits = Limits { max_input_pixels: 40_000_000, max_output_pixels: 1_000_000 };
    let error = Plan::new(400, 300, Target::Scale(4), &limits).unwrap_err();
    assert!(matches!(error, Error::Limits(_)), "{error}");
    assert!(error.to_string().contains("1.0 megapixels"), "{error}");
    assert!(matches!(Plan::new(4, 3, Target::Scale(5), &limits), Err(Error::Parameter(_))));
    assert!(matches!(Plan::new(4, 3, Target::LongEdge(0), &limits), Err(Error::Parameter(_))));
}

#[test]
fn every_scale_gives_the_right_size() {
    let upscaler = upscaler();
    let bytes = png(common::test_image(21, 13).into());
    for scale in [2, 3, 4, 8] {
        let out = run(&upscaler, &bytes, Target::Scale(scale)).unwrap();
        assert_eq!((out.width, out.height), (21 * scale as u32, 13 * scale as u32));
        let decoded = image::load_from_memory(&out.bytes).unwrap();
        assert_eq!(decoded.width(), 21 * scale as u32);
    }
}

#[test]
fn eight_times_is_four_then_two() {
    let upscaler = upscaler();
    let image = common::test_image(17, 11);
    let eight = run(&upscaler, &png(image.clone().into()), Target::Scale(8)).unwrap();
    let four = run(&upscaler, &png(image.into()), Target::Scale(4)).unwrap();
    let two_of_four = run(&upscaler, &four.bytes, Target::Scale(2)).unwrap();
    assert_eq!(eight.bytes, two_of_four.bytes);
}

#[test]
fn long_edge_target_and_cover_crop() {
    let upscaler = upscaler();
    let bytes = png(common::test_image(40, 30).into());
    let out = run(&upscaler, &bytes, Target::LongEdge(100)).unwrap();
    assert_eq!((out.width, out.height), (100, 75));
    let out = run(&upscaler, &bytes, Target::Size { width: 90, height: 90, fit: Fit::Cover }).unwrap();
    assert_eq!((out.width, out.height), (90, 90));
}

#[test]
fn alpha_is_kept_when_used_and_dropped_when_opaque() {
    let upscaler = upscaler();
    let rgb = common::test_image(16, 12);
    let rgba = image::RgbaImage::from_fn(16, 12, |x, y| {
        let p = rgb.get_pixel(x, y).0;
        image::Rgba([p[0], p[1], p[2], if x < 8 { 0 } else { 255 }])
    });
    let out = run(&upscaler, &png(rgba.clone().into()), Target::Scale(2)).unwrap();
    let decoded = image::load_from_memory(&out.bytes).unwrap();
    assert!(decoded.color().has_alpha());
    let alpha = decoded.to_rgba8();
    assert_eq!(alpha.get_pixel(2, 5)[3], 0);
    assert_eq!(alpha.get_pixel(30, 5)[3], 255);

    let opaque = image::RgbaImage::from_fn(16, 12, |x, y| {
        let p = rgb.get_pixel(x, y).0;
        image::Rgba([p[0], p[1], p[2], 255])
    });
    let out = run(&upscaler, &png(opaque.into()), Target::Scale(2)).unwrap();
    assert!(!image::load_from_memory(&out.bytes).unwrap().color().has_alpha());
}

#[test]
fn progress_counts_every_tile_and_cancel_stops_between_tiles() {
    let settings = Settings { tile_size: Some(16), ..Settings::default() };
    let upscaler = Upscaler::new(Backend::cpu("test"), &common::random_models(), settings).unwrap();
    let decoded = codec::decode(&png(common::test_image(40, 40).into()), &Limits::default()).unwrap();
    let mut seen = Vec::new();
    pollster::block_on(upscaler.upscale(decoded.clone(), Target::Scale(8), &clean(), &mut |p| {
        seen.push((p.done, p.total));
        ControlFlow::Continue(())
    }))
    .unwrap();
    // 8×: 9 tiles of the ×4 pass, then 10×10 tiles of the ×2 pass on the 160×160 result.
    assert_eq!(seen.len(), 109);
    assert!(seen.iter().enumerate().all(|(i, &(done, total))| done == i + 1 && total == 109));

    let mut calls = 0;
    let result = pollster::block_on(upscaler.upscale(decoded.clone(), Target::Scale(2), &clean(), &mut |_| {
        calls += 1;
        if calls == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }));
    assert!(matches!(result, Err(Error::Cancelled)));
    assert_eq!(calls, 2, "no tile runs after a cancel");
    // The models stay loaded: the next job runs at once.
    let again =
        pollster::block_on(upscaler.upscale(decoded, Target::Scale(2), &clean(), &mut |_| ControlFlow::Continue(())));
    assert_eq!(again.unwrap().rgb.dimensions(), (80, 80));
}

#[test]
fn tiny_and_one_pixel_wide_images_upscale() {
    // 1×1 and 1×N inputs must work: reflection folds over a one-pixel edge.
    let upscaler = upscaler();
    for (w, h) in [(1, 1), (1, 40), (40, 1)] {
        let out = run(&upscaler, &png(common::test_image(w, h).into()), Target::Scale(3)).unwrap();
        assert_eq!((out.width, out.height), (3 * w, 3 * h));
    }
}

#[test]
fn a_jpeg_without_a_compression_aware_model_runs_the_clean_one_and_says_so() {
    let upscaler = upscaler();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode_image(&common::test_image(20, 12))
        .unwrap();
    let out = run(&upscaler, &jpeg, Target::Scale(2)).unwrap();
    assert_eq!(out.models, ["random-x2"]);
    assert_eq!(out.route.kind, InputKind::Compressed);
    assert_eq!(
        out.reason.to_string(),
        "JPEG quality ≈ 70: compression-aware model, but none is loaded for this scale: clean model"
    );
}

/// The clean models, as for a PNG.
fn clean() -> Route {
    Route::chosen(InputKind::Clean, None)
}

/// Compression-aware models may each be trained for a range of JPEG qualities: a file goes to
/// the narrowest range that holds its quality, else to the widest; a PNG to the clean model.
#[test]
fn each_jpeg_gets_the_compression_aware_model_for_its_quality() {
    let model = |name: &str, input, jpeg_qualities, seed| {
        let file = common::random_model(2, seed);
        let card = upres::weights::ModelCard { name: name.into(), input, jpeg_qualities, ..file.card };
        upres::weights::ModelFile::new(card, file.weights).unwrap()
    };
    let files = [
        model("clean", InputKind::Clean, None, 1),
        model("all-qualities", InputKind::Compressed, Some([30, 95]), 2),
        model("light", InputKind::Compressed, Some([70, 95]), 3),
    ];
    let upscaler = Upscaler::new(Backend::cpu("test"), &files, Settings::default()).unwrap();
    let jpeg = |quality| {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
            .encode_image(&common::test_image(12, 10))
            .unwrap();
        bytes
    };
    let ran = |bytes: &[u8], input| {
        let job = Job::new(Target::Scale(2), OutputFormat::Png, input, MetadataChoice::default()).unwrap();
        pollster::block_on(upscaler.run(&job, bytes, &mut |_| ControlFlow::Continue(()))).unwrap().models
    };
    assert_eq!(ran(&jpeg(85), InputChoice::Auto), ["light"]);
    assert_eq!(ran(&jpeg(50), InputChoice::Auto), ["all-qualities"]);
    assert_eq!(ran(&jpeg(20), InputChoice::Auto), ["all-qualities"], "outside every range: the widest");
    assert_eq!(ran(&jpeg(98), InputChoice::Auto), ["clean"]);
    assert_eq!(ran(&jpeg(98), InputChoice::Compressed), ["light"], "chosen: by its quality still");
    let png = png(common::test_image(12, 10).into());
    assert_eq!(ran(&png, InputChoice::Auto), ["clean"]);
    assert_eq!(ran(&png, InputChoice::Compressed), ["all-qualities"]);
}

/// The enhanced look runs the enhanced model of a scale for every input, and says so; at a
/// scale without one it runs the faithful models, saying that too.
#[test]
fn the_enhanced_look_runs_its_own_model_where_a_scale_has_one() {
    let model = |name: &str, scale, input, look, seed| {
        let file = common::random_model(scale, seed);
        let card = upres::weights::ModelCard { name: name.into(), input, look, ..file.card };
        upres::weights::ModelFile::new(card, file.weights).unwrap()
    };
    let files = [
        model("clean-x2", 2, InputKind::Clean, Look::Faithful, 1),
        model("compressed-x2", 2, InputKind::Compressed, Look::Faithful, 2),
        model("enhanced-x2", 2, InputKind::Compressed, Look::Enhanced, 3),
        model("clean-x3", 3, InputKind::Clean, Look::Faithful, 4),
    ];
    let upscaler = Upscaler::new(Backend::cpu("test"), &files, Settings::default()).unwrap();
    let run = |bytes: &[u8], scale, look| {
        let job = Job::new(Target::Scale(scale), OutputFormat::Png, InputChoice::Auto, MetadataChoice::default())
            .unwrap()
            .with_look(look);
        let out = pollster::block_on(upscaler.run(&job, bytes, &mut |_| ControlFlow::Continue(()))).unwrap();
        (out.models, out.reason.to_string())
    };
    let photo = png(common::test_image(12, 10).into());
    assert_eq!(run(&photo, 2, Look::Faithful).0, ["clean-x2"]);
    let (models, reason) = run(&photo, 2, Look::Enhanced);
    assert_eq!(models, ["enhanced-x2"]);
    assert_eq!(reason, "enhanced look: the model for photos as they come");
    let (models, reason) = run(&photo, 3, Look::Enhanced);
    assert_eq!(models, ["clean-x3"]);
    assert_eq!(reason, "no enhanced model for this scale, so the faithful one; PNG: clean model");
}

/// Cut-out masks as a shop's photos have them, at 192×192: hard-edged shapes (a disc, a rotated
/// square, letter-like strokes) and soft-edged ones (a feathered disc, a photo cut-out with a
/// blurred outline).
fn cut_out_masks() -> Vec<(&'static str, image::GrayImage)> {
    let side = 192u32;
    let disc = |x: u32, y: u32, r: f64| ((f64::from(x) - 96.0).hypot(f64::from(y) - 96.0) - r).clamp(-0.5, 0.5);
    let hard = |inside: bool| if inside { 255 } else { 0 };
    let mask = |f: &dyn Fn(u32, u32) -> u8| image::GrayImage::from_fn(side, side, |x, y| image::Luma([f(x, y)]));
    let feather = |d: f64, width: f64| (255.0 * (0.5 - d / width).clamp(0.0, 1.0)).round() as u8;
    vec![
        ("disc", mask(&|x, y| hard(disc(x, y, 61.3) < 0.0))),
        (
            "rotated square",
            mask(&|x, y| {
                let (u, v) = (f64::from(x) - 96.0, f64::from(y) - 96.0);
                hard((u + v).abs() < 80.0 && (u - v).abs() < 80.0)
            }),
        ),
        (
            "strokes",
            mask(&|x, y| {
                hard((x / 9) % 3 == 0 && (20..172).contains(&y) || (y / 7) % 4 == 1 && (30..160).contains(&x))
            }),
        ),
        ("feathered disc", mask(&|x, y| feather((f64::from(x) - 96.0).hypot(f64::from(y) - 96.0) - 60.0, 16.0))),
        (
            "cut-out",
            mask(&|x, y| {
                let (u, v) = (f64::from(x) - 96.0, f64::from(y) - 96.0);
                let radius = 58.0 + 14.0 * (3.0 * v.atan2(u)).sin() + 6.0 * (7.0 * v.atan2(u)).cos();
                feather(u.hypot(v) - radius, 3.0)
            }),
        ),
    ]
}

/// The shipped clean models upscale alpha sharper than bicubic: each mask is downscaled (MATLAB
/// bicubic), upscaled back through the pipeline and scored against the original (PSNR over the
/// whole mask); bicubic from the same downscale alongside. Flat areas stay exactly 0 and 255.
#[test]
fn alpha_upscaled_by_the_network_is_sharper_than_bicubic() {
    let upscaler = Upscaler::new(Backend::cpu("test"), &common::shipped_models(), Settings::default()).unwrap();
    let psnr = |a: &image::GrayImage, b: &image::GrayImage| {
        let mse = a.as_raw().iter().zip(b.as_raw()).map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2)).sum::<f64>()
            / a.as_raw().len() as f64;
        10.0 * (255.0f64.powi(2) / mse).log10()
    };
    for scale in [2u32, 4] {
        let (mut network_total, mut bicubic_total) = (0.0, 0.0);
        for (name, hr) in cut_out_masks() {
            let lr_side = 192 / scale as usize;
            let lr = image::GrayImage::from_raw(
                lr_side as u32,
                lr_side as u32,
                upres::resample::resize_u8(
                    hr.as_raw(),
                    192,
                    192,
                    1,
                    lr_side,
                    lr_side,
                    upres::resample::Filter::Bicubic,
                ),
            )
            .unwrap();
            let bicubic = image::GrayImage::from_raw(
                192,
                192,
                upres::resample::resize_u8(
                    lr.as_raw(),
                    lr_side,
                    lr_side,
                    1,
                    192,
                    192,
                    upres::resample::Filter::Bicubic,
                ),
            )
            .unwrap();
            let decoded = codec::Decoded {
                alpha: Some(lr.clone()),
                ..codec::Decoded::from_rgb(image::RgbImage::from_pixel(
                    lr.width(),
                    lr.height(),
                    image::Rgb([200, 40, 40]),
                ))
            };
            let route = Route::chosen(InputKind::Clean, None);
            let upscaled = pollster::block_on(upscaler.upscale(
                decoded,
                Target::Scale(scale as usize),
                &route,
                &mut |_| ControlFlow::Continue(()),
            ))
            .unwrap();
            let alpha = upscaled.alpha.expect("alpha kept");
            let (network, smooth) = (psnr(&alpha, &hr), psnr(&bicubic, &hr));
            eprintln!("×{scale} {name}: alpha PSNR network {network:.2} dB, bicubic {smooth:.2} dB");
            network_total += network;
            bicubic_total += smooth;
            // Wholly transparent corners and a wholly opaque centre stay exact.
            assert_eq!(alpha.get_pixel(0, 0)[0], 0, "×{scale} {name}");
            if hr.get_pixel(96, 96)[0] == 255 && lr.get_pixel(lr.width() / 2, lr.height() / 2)[0] == 255 {
                assert_eq!(alpha.get_pixel(96, 96)[0], 255, "×{scale} {name}");
            }
        }
        let count = cut_out_masks().len() as f64;
        eprintln!("×{scale} mean: network {:.2} dB, bicubic {:.2} dB", network_total / count, bicubic_total / count);
        assert!(network_total > bicubic_total + count, "×{scale}: the network is at least 1 dB sharper on average");
    }
}

/// The browser's pool of tile workers, in one thread: its own instance of each model (as each
/// worker has), several tiles in flight, each finishing after a different number of polls so
/// that they complete out of order.
struct OutOfOrderTiles {
    nets: Vec<(String, upres::upscale::Runnable)>,
    device: burn::prelude::Device,
    started: std::cell::Cell<usize>,
    running: std::cell::Cell<usize>,
    most_running: std::cell::Cell<usize>,
}

impl upres::upscale::TileRunner for OutOfOrderTiles {
    fn in_flight(&self) -> usize {
        3
    }

    fn run<'a>(
        &'a self,
        model: &'a upres::weights::ModelCard,
        input: Vec<f32>,
        size: (usize, usize),
        outside: upres::tiling::Outside,
    ) -> upres::upscale::LocalFuture<'a, upres::Result<Vec<u8>>> {
        let order = self.started.get();
        self.started.set(order + 1);
        self.running.set(self.running.get() + 1);
        self.most_running.set(self.most_running.get().max(self.running.get()));
        Box::pin(async move {
            // Later tiles wait fewer polls: they overtake earlier ones.
            for _ in 0..(3 - order % 3) * 2 {
                yield_once().await;
            }
            let (_, net) = self.nets.iter().find(|(name, _)| *name == model.name).expect("the model is loaded");
            let output = net.infer(&self.device, input, size, outside).await;
            self.running.set(self.running.get() - 1);
            output
        })
    }
}

/// Pending once (waking itself at once), then ready.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|context| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        context.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

/// Weights handed over only when a job asks, counting the asks.
struct CountedWeights {
    files: Vec<upres::weights::ModelFile>,
    asked: std::cell::RefCell<Vec<String>>,
}

impl upres::upscale::WeightSource for CountedWeights {
    fn fetch<'a>(
        &'a self,
        card: &'a upres::weights::ModelCard,
    ) -> upres::upscale::LocalFuture<'a, upres::Result<Vec<u8>>> {
        self.asked.borrow_mut().push(card.name.clone());
        let file = self.files.iter().find(|file| file.card == *card).expect("a known card");
        Box::pin(std::future::ready(Ok(file.weights.clone())))
    }
}

#[test]
fn tiles_run_elsewhere_out_of_order_give_the_same_file() {
    let files = common::random_models();
    let settings = Settings { tile_size: Some(24), ..Settings::default() };
    let local = Upscaler::new(Backend::cpu("test"), &files, settings).unwrap();
    let device = local.backend.device.clone();
    let pool = OutOfOrderTiles {
        nets: files
            .iter()
            .map(|file| (file.card.name.clone(), upres::upscale::Runnable::load(file, &local.backend).unwrap()))
            .collect(),
        device,
        started: Default::default(),
        running: Default::default(),
        most_running: Default::default(),
    };
    // The upscaler that hands tiles out has no weights until a job asks for them.
    let weights = CountedWeights { files: files.clone(), asked: Default::default() };
    let offloading = Upscaler::with_cards(Backend::cpu("test"), files.iter().map(|f| f.card.clone()), settings);
    let offload = upres::upscale::Hooks { tiles: Some(&pool), weights: Some(&weights), profiler: None };

    let bytes = png(image::DynamicImage::ImageRgba8(image::RgbaImage::from_fn(70, 50, |x, y| {
        image::Rgba([(x * 3) as u8, (y * 5) as u8, ((x + y) * 2) as u8, if x < 10 { 0 } else { 255 }])
    })));
    let job = Job::new(Target::Scale(8), OutputFormat::Png, InputChoice::Auto, MetadataChoice::default()).unwrap();
    let mut previews = 0;
    let expected = pollster::block_on(local.run(&job, &bytes, &mut |_| ControlFlow::Continue(()))).unwrap();
    let actual = pollster::block_on(offloading.run_with(
        &job,
        &bytes,
        &mut |_| {
            previews += 1;
            ControlFlow::Continue(())
        },
        offload,
    ))
    .unwrap();

    assert_eq!(actual.bytes, expected.bytes, "the same file, tiles pasted in whatever order they finished");
    assert_eq!(pool.started.get(), previews, "every tile ran in the pool, each reported once");
    assert_eq!(pool.most_running.get(), 3, "three tiles in flight at once");
    // ×8 is the ×4 pass then the ×2 pass, for colour and then for alpha: each model asked for once.
    assert_eq!(*weights.asked.borrow(), ["random-x4", "random-x2"]);
}

#[test]
fn a_model_without_weights_or_a_source_is_a_model_error() {
    let files = common::random_models();
    let upscaler =
        Upscaler::with_cards(Backend::cpu("test"), files.iter().map(|f| f.card.clone()), Settings::default());
    let error = run(&upscaler, &png(common::test_image(16, 12).into()), Target::Scale(2)).unwrap_err();
    assert!(matches!(error, Error::Model(_)), "{error}");
    assert!(error.to_string().contains("weights of random-x2 are not loaded"), "{error}");
}

#[test]
fn a_profile_accounts_for_the_whole_job_and_counts_the_network_work() {
    let upscaler = upscaler();
    let bytes = png(common::test_image(40, 30).into());
    let job = Job::new(Target::Scale(8), OutputFormat::Png, InputChoice::Clean, MetadataChoice::None).unwrap();
    let clock = || {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1e3
    };
    let mut tiles = 0;
    let profile = pollster::block_on(upscaler.profile(
        &job,
        &bytes,
        clock,
        &mut |_| {
            tiles += 1;
            ControlFlow::Continue(())
        },
        None,
    ))
    .unwrap();

    assert!(tiles > 0, "progress is still reported");
    let names: Vec<&str> = profile.stages.iter().map(|(name, _)| *name).collect();
    assert_eq!(names[..Stage::ALL.len()], Stage::ALL.map(Stage::name));
    assert_eq!(names.last(), Some(&"other"));
    let spent = |stage: &str| profile.stages.iter().find(|(name, _)| *name == stage).map(|(_, ms)| *ms).unwrap();
    // The CPU engine applies the activations inside the convolutions: they take no time of their own.
    for stage in ["decode", "convolution", "residual and shuffle", "stitch", "resize", "encode"] {
        assert!(spent(stage) > 0.0, "{stage} was timed: {:?}", profile.stages);
    }
    let sum: f64 = profile.stages.iter().map(|(_, ms)| ms).sum();
    assert!((sum - profile.total_ms).abs() < 1e-6 * profile.total_ms.max(1.0), "{sum} vs {}", profile.total_ms);
    // ×8: the ×4 model on 40×30 pixels, then the ×2 model on 160×120.
    let macs =
        |scale| upscaler.models().iter().find(|m| m.card.config.scale == scale).unwrap().card.macs_per_input_pixel;
    let expected = 2.0 * (1200.0 * macs(4) as f64 + 19200.0 * macs(2) as f64) / 1e9;
    assert!((profile.gflop - expected).abs() < 1e-12, "{} vs {expected}", profile.gflop);
    assert!(profile.network_gflops > profile.job_gflops && profile.job_gflops > 0.0);
}
