//! The CPU engine against burn, its reference: every shipped model, on one tile and on many, with
//! every instruction set this CPU runs, and a chain as wide as the teacher's; each output within
//! [`MIN_PSNR_DB`] of burn's (in practice the same bytes but for a rare rounding, since both
//! round the same floats to 8 bits).

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::Distribution;
use image::RgbImage;
use upres::engine::{Isa, PackedNet};
use upres::model::{Net, NetConfig};
use upres::tiling::{Outside, TilePlan};
use upres::upscale::Runnable;

use crate::common;

/// The bar: far below the float noise of summing in another order (over 100 dB), far
/// above what a wrong weight, tap or phase gives (under 35 dB).
const MIN_PSNR_DB: f64 = 50.0;

/// Sizes that leave partial groups of columns and tiles that overlap.
const PICTURE: (u32, u32) = (37, 29);
const SMALL_TILE: usize = 13;

#[test]
fn the_engine_matches_burn_on_every_shipped_model_tiled_and_untiled() {
    let files = common::shipped_models();
    let device = Device::flex();
    let picture = common::test_image(PICTURE.0, PICTURE.1);
    let mut failures = Vec::new();
    for file in &files {
        let net = file.load(&device).expect("a shipped model loads");
        failures.extend(compare(&file.card.name, &net, &picture, &device));
    }
    assert!(failures.is_empty(), "the engine differs from burn:\n{}", failures.join("\n"));
}

/// The teacher's width (64 channels), so that a layer has more than one block of outputs on every
/// instruction set.
#[test]
fn a_chain_as_wide_as_the_teachers_matches_burn() {
    let device = Device::flex();
    device.seed(31);
    let net = NetConfig::new(4, 64, 3).init(&device).map(&mut Randomise);
    let picture = common::test_image(PICTURE.0, PICTURE.1);
    let failures = compare("64 × 3 ×4", &net, &picture, &device);
    assert!(failures.is_empty(), "the engine differs from burn:\n{}", failures.join("\n"));
}

/// Biases and slopes (the one-dimensional parameters) drawn from −½..½: the initial ones are 0
/// and ¼, which would leave a wrong bias or slope unseen.
struct Randomise;

impl ModuleMapper for Randomise {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D != 1 {
            return param;
        }
        param.map(|tensor| Tensor::random(tensor.shape(), Distribution::Uniform(-0.5, 0.5), &tensor.device()))
    }
}

/// `net` through the engine, untiled and in small tiles, against burn untiled: one line per
/// difference over the bar.
fn compare(name: &str, net: &Net, picture: &RgbImage, device: &Device) -> Vec<String> {
    let scale = net.scale();
    let context = net.context();
    let reference = burn_untiled(net, picture, device);
    let unsaturated = reference.as_raw().iter().filter(|&&v| v > 0 && v < 255).count();
    assert!(unsaturated * 2 > reference.len(), "{name}: burn's output is mostly saturated; the test would be blind");
    let mut failures = Vec::new();
    let mut isas = vec![Isa::Portable];
    if Isa::detect() != Isa::Portable {
        isas.push(Isa::detect());
    }
    for isa in isas {
        let packed = PackedNet::with_isa(net, isa).expect("the weights pack");
        assert_eq!(packed.context(), context);
        for tile in [PICTURE.0.max(PICTURE.1) as usize, SMALL_TILE] {
            let plan = TilePlan::new(picture.width() as usize, picture.height() as usize, tile, context).unwrap();
            let mut output = RgbImage::new(picture.width() * scale as u32, picture.height() * scale as u32);
            for &rect in &plan.tiles {
                let (width, height) = plan.input_size();
                let input = plan.extract(rect, picture);
                let rgb = packed.run(&input, width, height, Outside::default(), None).expect("a tile runs");
                plan.paste(rect, scale, &rgb, &mut output);
            }
            let db = psnr(&reference, &output);
            if db < MIN_PSNR_DB {
                failures.push(format!("{name} ({}, tiles of {tile}): {db:.1} dB from burn's output", isa.name()));
            }
        }
    }
    failures
}

/// burn's output on the whole picture as one tile.
fn burn_untiled(net: &Net, picture: &RgbImage, device: &Device) -> RgbImage {
    let scale = net.scale() as u32;
    let (width, height) = picture.dimensions();
    let plan = TilePlan::new(width as usize, height as usize, width.max(height) as usize, net.context()).unwrap();
    assert_eq!(plan.tiles.len(), 1);
    let (input_width, input_height) = plan.input_size();
    let input = plan.extract(plan.tiles[0], picture);
    let runnable = Runnable::Burn(net.clone());
    let rgb =
        pollster::block_on(runnable.infer(device, input, (input_width, input_height), Outside::default())).unwrap();
    RgbImage::from_raw(width * scale, height * scale, rgb).unwrap()
}

fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let squares: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum();
    10.0 * (255.0f64.powi(2) / (squares / a.len() as f64)).log10()
}
