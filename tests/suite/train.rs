//! Training runs end to end on a tiny network: it writes the model and a checkpoint, a second
//! run resumes where the first stopped, and a checkpoint is never loaded into another
//! architecture.
#![cfg(feature = "train")]

use std::path::Path;

use image::{Rgb, RgbImage};
use upres::backend::Backend;
use upres::eval::{self, EvalSet, LrInputs, Pixels};
use upres::model::NetConfig;

use crate::common;
use upres::metrics;
use upres::route::{InputKind, Look};
use upres::train::degrade::RealDegradation;
use upres::train::degrade::jpeg_round_trip;
use upres::train::{Degradation, Distillation, Loss, TrainOptions, train};
use upres::weights::ModelFile;

/// Textured images (the sampler prefers textured patches), big enough for ×4 crops.
fn write_training_images(dir: &Path) {
    std::fs::create_dir_all(dir).expect("create image folder");
    for index in 0..2u32 {
        let image = RgbImage::from_fn(192, 176, |x, y| {
            let v = ((x * 37 + y * 91 + index * 53) ^ (x * y)) % 256;
            Rgb([v as u8, (255 - v) as u8, ((x * 8) % 256) as u8])
        });
        image.save(dir.join(format!("texture-{index}.png"))).expect("write image");
    }
}

fn options(out: &Path, data: &Path, channels: usize, steps: u64) -> TrainOptions {
    TrainOptions {
        name: "tiny-x2".into(),
        config: NetConfig::new(2, channels, 1),
        steps,
        batch: 2,
        patch: 8,
        learning_rate: 1e-3,
        validate_every: 2,
        max_seconds: None,
        data: vec![data.to_path_buf()],
        validation: Vec::new(),
        validation_inputs: LrInputs::Matlab,
        degradation: Degradation::Clean,
        loss: Loss::Rgb,
        edge_weight: 0.0,
        out_dir: out.to_path_buf(),
        checkpoints: out.join("train"),
        init_from: None,
        distillation: None,
        seed: 7,
    }
}

fn checkpoint_step(out: &Path) -> u64 {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("train/tiny-x2/state.json")).expect("state.json"))
            .expect("json");
    state["step"].as_u64().expect("step")
}

#[test]
fn training_writes_the_model_and_resumes_from_its_checkpoint() {
    let scratch = scratch_dir("resume");
    let data = scratch.join("images");
    write_training_images(&data);
    let backend = Backend::cpu("test");

    let card = train(&options(&scratch, &data, 4, 3), &backend).expect("first run");
    assert_eq!(card.training.steps, 3);
    assert_eq!(checkpoint_step(&scratch), 3);
    // The shipped files load back: card and weights agree (hash checked by ModelFile::read).
    let file = ModelFile::read(&scratch.join("tiny-x2.json")).expect("model written");
    assert_eq!(file.card.config, NetConfig::new(2, 4, 1));

    // Mark the checkpoint: a resumed run carries its wall time on, a fresh one would start at 0.
    let state_path = scratch.join("train/tiny-x2/state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).expect("state")).expect("json");
    state["wall_seconds"] = 1000.0.into();
    std::fs::write(&state_path, state.to_string()).expect("rewrite state");
    let card = train(&options(&scratch, &data, 4, 5), &backend).expect("resumed run");
    assert_eq!(card.training.steps, 5);
    assert!(card.training.wall_seconds >= 1000.0, "the second run goes on from the checkpoint's state");
    assert_eq!(checkpoint_step(&scratch), 5);
    // What the repository keeps of a run (training/README.md) is enough to resume it.
    std::fs::remove_file(scratch.join("train/tiny-x2/optimizer.bpk")).expect("optimizer state");
    let card = train(&options(&scratch, &data, 4, 6), &backend).expect("resumed without the optimizer's state");
    assert_eq!(card.training.steps, 6);
    assert!(scratch.join("train/tiny-x2/optimizer.bpk").exists(), "the state is saved again");

    let error = train(&options(&scratch, &data, 8, 7), &backend).expect_err("other architecture");
    let message = error.to_string();
    assert!(message.contains("4 channels × 1 hidden layers") && message.contains("--channels 4"), "{message}");
    assert_eq!(checkpoint_step(&scratch), 6, "the refused run leaves the checkpoint alone");
    std::fs::remove_dir_all(&scratch).ok();
}

#[test]
fn a_run_started_from_another_says_so_on_its_card_after_resuming() {
    let scratch = scratch_dir("init");
    let data = scratch.join("images");
    write_training_images(&data);
    let backend = Backend::cpu("test");
    train(&options(&scratch, &data, 4, 3), &backend).expect("donor run");

    let started = |steps| TrainOptions {
        name: "tiny-x3".into(),
        config: NetConfig::new(3, 4, 1),
        init_from: Some(scratch.join("train/tiny-x2")),
        ..options(&scratch, &data, 4, steps)
    };
    let donor = format!("hidden layers initialised from {} at step 3", scratch.join("train/tiny-x2").display());
    let card = train(&started(2), &backend).expect("initialised run");
    assert!(card.training.notes.ends_with(&donor), "{}", card.training.notes);
    // Resumed without --init-from, the card still says where the run began.
    let resumed = TrainOptions { init_from: None, ..started(4) };
    let card = train(&resumed, &backend).expect("resumed run");
    assert_eq!(card.training.steps, 4);
    assert!(card.training.notes.ends_with(&donor), "{}", card.training.notes);
    std::fs::remove_dir_all(&scratch).ok();
}

/// A fresh folder under the system's temporary directory.
fn scratch_dir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("upres-train-{label}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}

#[test]
fn a_compression_aware_run_says_so_on_its_card() {
    let scratch = scratch_dir("jpeg");
    let data = scratch.join("images");
    write_training_images(&data);
    let options = TrainOptions { degradation: Degradation::JPEG, ..options(&scratch, &data, 4, 2) };
    let card = train(&options, &Backend::cpu("test")).expect("a JPEG-degraded run");
    assert_eq!(card.input, InputKind::Compressed);
    assert!(
        card.training.notes.contains("JPEG-compressed (4:2:0, IJG tables) at quality 30–95"),
        "{}",
        card.training.notes
    );
    std::fs::remove_dir_all(&scratch).ok();
}

/// Taught by the shared teacher on real photos' degradations, a run gives an enhanced-look
/// model whose card credits the teacher; a teacher of another scale is refused.
#[test]
fn a_distilled_run_is_an_enhanced_model_crediting_its_teacher() {
    let Some(teacher) = common::shared_teacher("a_distilled_run_is_an_enhanced_model_crediting_its_teacher") else {
        return;
    };
    let scratch = scratch_dir("distil");
    let data = scratch.join("images");
    write_training_images(&data);
    let distillation = Some(Distillation { teacher: teacher.clone(), weight: 0.8 });
    let taught = TrainOptions {
        name: "tiny-x4".into(),
        config: NetConfig::new(4, 4, 1),
        degradation: Degradation::Real(RealDegradation::PHOTO),
        distillation: distillation.clone(),
        edge_weight: 0.5,
        ..options(&scratch, &data, 4, 2)
    };
    let card = train(&taught, &Backend::cpu("test")).expect("a distilled run");
    assert_eq!(card.look, Look::Enhanced);
    let notes = &card.training.notes;
    assert!(notes.contains(&format!("distilled from the teacher in {}", teacher.display())), "{notes}");
    assert!(notes.starts_with("L1 + 0.5 × the same on neighbour differences,"), "{notes}");

    let other_scale = TrainOptions { name: "tiny-x2-taught".into(), distillation, ..options(&scratch, &data, 4, 2) };
    let refusal = train(&other_scale, &Backend::cpu("test")).expect_err("a ×4 teacher cannot teach ×2").to_string();
    assert!(refusal.contains("upscales ×4, it cannot teach a ×2 network"), "{refusal}");
    std::fs::remove_dir_all(&scratch).ok();
}

/// The training degradation must look like the web's JPEGs: the shared benchmark files were
/// written by libjpeg-turbo (4:2:0) from the same MATLAB LR images. Our round trip of those LR
/// images must give the same bicubic baseline (within 0.1 dB) and nearly the same pixels.
#[test]
fn training_jpegs_match_libjpeg_files() {
    let Some(data) = common::shared_data("training_jpegs_match_libjpeg_files") else {
        return;
    };
    for quality in [90, 75, 50] {
        for set in ["set5", "set14"] {
            let theirs = EvalSet::load(&data.join("eval").join(set), 4, LrInputs::Jpeg(quality)).expect("JPEG set");
            let clean = EvalSet::load(&data.join("eval").join(set), 4, LrInputs::Matlab).expect("clean set");
            let mut ours = clean.clone();
            let mut agreement = 0.0;
            for (image, libjpeg) in ours.images.iter_mut().zip(&theirs.images) {
                let rgb = image.lr.to_rgb();
                let (w, h) = (rgb.width() as usize, rgb.height() as usize);
                let round_trip = jpeg_round_trip(rgb.as_raw(), w, h, quality).expect("round trip");
                let rgb = image::RgbImage::from_raw(w as u32, h as u32, round_trip).expect("size");
                image.lr = Pixels::from_rgb(&rgb, image.lr.channels);
                let (a, b) = (luma(&image.lr), luma(&libjpeg.lr));
                agreement += metrics::psnr(&a, &b, w, h, 0).expect("psnr");
            }
            agreement /= ours.images.len() as f64;
            let bicubic =
                |set: &EvalSet| eval::score(set, |image| Ok(eval::bicubic(&image.lr, 4))).expect("score").psnr;
            let (ours_db, theirs_db) = (bicubic(&ours), bicubic(&theirs));
            eprintln!(
                "{set} q{quality}: bicubic {ours_db:.3} dB on ours, {theirs_db:.3} on libjpeg's; ours vs libjpeg {agreement:.1} dB"
            );
            assert!((ours_db - theirs_db).abs() <= 0.1, "{set} q{quality}: {ours_db:.3} vs {theirs_db:.3} dB");
            assert!(agreement >= 35.0, "{set} q{quality}: our JPEGs differ from libjpeg's ({agreement:.1} dB)");
        }
    }
}

fn luma(pixels: &Pixels) -> Vec<f64> {
    metrics::luma(&pixels.data, pixels.width, pixels.height, pixels.channels).expect("luma")
}
