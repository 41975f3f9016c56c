//! The network: fusion, weights round trips, shipped weights, tiling equivalence.

use crate::common;

use burn::module::Module;
use burn::prelude::*;
use std::ops::ControlFlow;

use upres::backend::Backend;
use upres::codec::Decoded;
use upres::model::NetConfig;
use upres::plan::Target;
use upres::resolve::{Layer, resolve};
use upres::route::{InputKind, Route};
use upres::upscale::{Settings, Upscaler};
use upres::weights::{self, ModelFile};

fn max_abs_difference(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn fused_network_equals_the_trained_one_for_every_scale() {
    let device = Device::flex();
    device.seed(7);
    for scale in [2, 3, 4] {
        let config = NetConfig::new(scale, 12, 3);
        let trained = config.init_train(&device);
        let fused = trained.fuse(&device);
        let context = config.context();
        let input = Tensor::<4>::random(
            [2, 3, 20 + 2 * context, 17 + 2 * context],
            burn::tensor::Distribution::Default,
            &device,
        );
        let expected = trained.forward(input.clone());
        assert_eq!(expected.dims(), [2, 3, 20 * scale, 17 * scale]);
        let difference = max_abs_difference(expected, fused.forward(input));
        assert!(difference < 1e-4, "×{scale}: fused differs by {difference}");
        assert_eq!(fused.num_params(), config.fused_parameters(), "×{scale}: parameter count");
    }
}

#[test]
fn fusion_is_not_trivially_equal_when_a_branch_is_dropped() {
    // Guards the test above: a network whose blocks differ must not compare equal.
    let device = Device::flex();
    device.seed(8);
    let config = NetConfig::new(2, 8, 1);
    let a = config.init_train(&device).fuse(&device);
    let b = config.init_train(&device).fuse(&device);
    let input = Tensor::<4>::random([1, 3, 12, 12], burn::tensor::Distribution::Default, &device);
    assert!(max_abs_difference(a.forward(input.clone()), b.forward(input)) > 1e-3);
}

#[test]
fn weights_round_trip_through_bytes() {
    let device = Device::flex();
    let file = common::random_model(3, 11);
    let net = file.load(&device).expect("load");
    let again = ModelFile::new(file.card.clone(), weights::to_bytes(net.clone()).unwrap()).unwrap();
    let reloaded = again.load(&device).unwrap();
    let input = Tensor::<4>::random([1, 3, 16, 16], burn::tensor::Distribution::Default, &device);
    assert_eq!(max_abs_difference(net.forward(input.clone()), reloaded.forward(input)), 0.0);
}

#[test]
fn damaged_weights_are_refused_with_the_model_name() {
    let file = common::random_model(2, 3);
    let mut bytes = file.weights.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let error = ModelFile::new(file.card.clone(), bytes).unwrap_err().to_string();
    assert!(error.contains("random-x2") && error.contains("do not match"), "{error}");

    let mut card = file.card.clone();
    card.config.channels += 1;
    let wrong_shape = ModelFile { card, weights: file.weights.clone() };
    let error = wrong_shape.load(&Device::flex()).unwrap_err().to_string();
    assert!(error.contains("do not fit the architecture"), "{error}");
}

#[test]
fn shipped_weights_load_into_todays_network() {
    let files = common::shipped_models();
    let device = Device::flex();
    for file in &files {
        let card = &file.card;
        assert_eq!(card.parameters, card.config.fused_parameters(), "{}", card.name);
        assert_eq!(card.macs_per_input_pixel, card.config.macs_per_input_pixel(), "{}", card.name);
        let net = file.load(&device).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(net.num_params(), card.parameters, "{}", card.name);
        let c = card.config.context();
        let out = net.forward(Tensor::<4>::zeros([1, 3, 4 + 2 * c, 4 + 2 * c], &device));
        assert_eq!(out.dims(), [1, 3, 4 * card.config.scale, 4 * card.config.scale]);
    }
    for scale in [2, 3, 4] {
        assert!(files.iter().any(|f| f.card.config.scale == scale), "no ×{scale} model shipped");
    }
}

#[test]
fn tiled_result_equals_untiled_for_every_scale() {
    let image = common::test_image(101, 83);
    let with_tiles = |tile_size| {
        let settings = Settings { tile_size: Some(tile_size), ..Settings::default() };
        Upscaler::new(Backend::cpu("test"), &common::random_models(), settings).unwrap()
    };
    let (whole, tiled_upscaler) = (with_tiles(1000), with_tiles(32));
    // Runs ×scale; returns the result and the tiles, as progress counted them.
    let run = |upscaler: &Upscaler, scale| {
        let mut tiles = Vec::new();
        let image = Decoded::from_rgb(image.clone());
        let result = pollster::block_on(upscaler.upscale(image, Target::Scale(scale), &clean(), &mut |p| {
            tiles.push((p.done, p.total));
            ControlFlow::Continue(())
        }))
        .unwrap();
        (result.rgb, tiles)
    };
    for scale in [2, 3, 4] {
        let name = &resolve(whole.models(), &clean(), &[scale], Layer::Colour).unwrap().passes[0].card.name;
        let (untiled, one) = run(&whole, scale);
        assert_eq!(one, [(1, 1)]);
        let (tiled, tiles) = run(&tiled_upscaler, scale);
        assert!(tiles.len() >= 9, "{} tiles", tiles.len());
        assert!(tiles.iter().enumerate().all(|(i, &(done, total))| done == i + 1 && total == tiles.len()));
        assert_eq!(tiled.dimensions(), (101 * scale as u32, 83 * scale as u32));
        let worst = tiled.as_raw().iter().zip(untiled.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(worst <= 1, "×{scale} ({name}): tiled differs by {worst}/255");
    }
}

/// The clean models, as for a PNG.
fn clean() -> Route {
    Route::chosen(InputKind::Clean, None)
}
