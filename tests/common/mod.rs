//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The project's shared data folder (`../shared/data`, or `$UPRES_DATA`).
///
/// Returns `None` — and says the test was skipped — when it is missing on a developer's machine;
/// in CI (`CI=true`) a missing folder fails the test with a message saying where it was looked for.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("UPRES_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    if dir.join("eval").is_dir() && dir.join("train").is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: the evaluation data is missing: expected {} (with eval/ and train/), \
             or set UPRES_DATA to its location",
            dir.display()
        );
    }
    eprintln!("{test}: SKIPPED, no shared data at {}", dir.display());
    None
}

use burn::prelude::Device;
use upres::model::NetConfig;
use upres::weights::{self, ModelCard, ModelFile, Training};

/// A small network with random weights for `scale`, as a model file (card + burnpack bytes),
/// made through the same fuse → serialise path as trained models.
pub fn random_model(scale: usize, seed: u64) -> ModelFile {
    let device = Device::flex();
    device.seed(seed);
    let config = NetConfig::new(scale, 8, 2);
    let bytes = weights::to_bytes(config.init_train(&device).fuse(&device)).expect("serialise");
    let card = ModelCard {
        name: format!("random-x{scale}"),
        config,
        weights: format!("random-x{scale}.bpk"),
        sha256: weights::sha256_hex(&bytes),
        parameters: config.fused_parameters(),
        macs_per_input_pixel: config.macs_per_input_pixel(),
        training: Training {
            data: "none: random weights for tests".into(),
            backend: "cpu".into(),
            steps: 0,
            batch: 0,
            patch: 0,
            wall_seconds: 0.0,
            notes: String::new(),
        },
        evaluation: Vec::new(),
    };
    ModelFile::new(card, bytes).expect("hash matches")
}

/// Random models for every model scale.
pub fn random_models() -> Vec<ModelFile> {
    [2, 3, 4].iter().map(|&s| random_model(s, s as u64)).collect()
}

/// A deterministic test photo: smooth gradients, edges and fine texture.
pub fn test_image(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let stripes = if (x / 3 + y / 5) % 2 == 0 { 40.0 } else { 0.0 };
        image::Rgb([
            (fx * 255.0 / width as f32) as u8,
            ((fy * 255.0 / height as f32) * 0.7 + stripes) as u8,
            (128.0 + 100.0 * ((fx * 0.3).sin() * (fy * 0.2).cos())) as u8,
        ])
    })
}
