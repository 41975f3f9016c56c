//! Training runs end to end on a tiny network: it writes the model and a checkpoint, a second
//! run resumes where the first stopped, and a checkpoint is never loaded into another
//! architecture.
#![cfg(feature = "train")]

use std::path::Path;

use image::{Rgb, RgbImage};
use upres::backend::Backend;
use upres::model::NetConfig;
use upres::train::{TrainOptions, train};
use upres::weights::ModelFile;

/// Textured images (the sampler prefers textured patches), big enough for ×2 crops.
fn write_training_images(dir: &Path) {
    std::fs::create_dir_all(dir).expect("create image folder");
    for index in 0..2u32 {
        let image = RgbImage::from_fn(96, 80, |x, y| {
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
        out_dir: out.to_path_buf(),
        init_from: None,
        seed: 7,
    }
}

fn checkpoint_step(out: &Path) -> u64 {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("train/tiny-x2/state.json")).expect("state.json")).expect("json");
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
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_path).expect("state")).expect("json");
    state["wall_seconds"] = 1000.0.into();
    std::fs::write(&state_path, state.to_string()).expect("rewrite state");
    let card = train(&options(&scratch, &data, 4, 5), &backend).expect("resumed run");
    assert_eq!(card.training.steps, 5);
    assert!(card.training.wall_seconds >= 1000.0, "the second run goes on from the checkpoint's state");
    assert_eq!(checkpoint_step(&scratch), 5);

    let error = train(&options(&scratch, &data, 8, 7), &backend).expect_err("other architecture");
    let message = error.to_string();
    assert!(message.contains("4 channels × 1 hidden layers") && message.contains("--channels 4"), "{message}");
    assert_eq!(checkpoint_step(&scratch), 5, "the refused run leaves the checkpoint alone");
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
