//! The wgpu code path gives the same pictures as the CPU path. In CI it runs on Mesa's lavapipe
//! (software Vulkan, installed by .ci/run); elsewhere it is skipped when no adapter starts.

use crate::common;

use std::ops::ControlFlow;

use upres::backend::{Backend, BackendChoice};
use upres::codec;
use upres::plan::Target;
use upres::route::{InputKind, Route};
use upres::upscale::{Settings, Upscaler};

#[test]
fn wgpu_and_cpu_agree() {
    let wgpu = match Backend::select(BackendChoice::Wgpu) {
        Ok(backend) => backend,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI must run the wgpu path (install mesa-vulkan-drivers): {e}")
        }
        Err(e) => {
            eprintln!("wgpu_and_cpu_agree: SKIPPED, {e}");
            return;
        }
    };
    eprintln!("wgpu backend: {}", wgpu.description);
    let models = common::random_models();
    let decoded = codec::Decoded::from_rgb(common::test_image(45, 37));
    let run = |backend: Backend| {
        let settings = Settings { tile_size: Some(24), ..Settings::default() };
        let upscaler = Upscaler::new(backend, &models, settings).unwrap();
        let image = decoded.clone();
        pollster::block_on(upscaler.upscale(image, Target::Scale(4), &clean(), &mut |_| ControlFlow::Continue(())))
            .unwrap()
            .rgb
    };
    let gpu = run(wgpu);
    let cpu = run(Backend::cpu("test"));
    let worst = gpu.as_raw().iter().zip(cpu.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(worst <= 1, "wgpu and cpu differ by {worst}/255");
}

/// The clean models, as for a PNG.
fn clean() -> Route {
    Route::chosen(InputKind::Clean, None)
}
