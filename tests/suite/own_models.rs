//! A person's own models (Compact, imported from ncnn, `.pth` or `.safetensors`) through the whole
//! pipeline: tiles that join into exactly what the network computes on the whole image (its
//! convolutions pad with zeros, ours do not), on the CPU engine and on burn; grey and ×2 models;
//! the shared teacher reproducing its reference output.

use std::ops::ControlFlow;

use burn::prelude::*;
use image::RgbImage;
use upres::backend::Backend;
use upres::codec::OutputFormat;
use upres::compact::tensors::NamedTensor;
use upres::compact::{CompactModel, safetensors};
use upres::job::Job;
use upres::metadata::MetadataChoice;
use upres::plan::Target;
use upres::route::InputChoice;
use upres::upscale::{Settings, Upscaler};
use upres::weights::ModelFile;

use crate::common;

/// A Compact state dict as `SRVGGNetCompact` names it, with weights from a fixed sequence: small
/// enough that the output stays mostly within 0..1, biases and slopes all different.
pub fn compact_tensors(colours: usize, width: usize, depth: usize, scale: usize) -> Vec<NamedTensor> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |spread: f32| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * spread
    };
    let mut channels = vec![[colours, width]];
    channels.extend(std::iter::repeat_n([width, width], depth));
    channels.push([width, colours * scale * scale]);
    let mut tensors = Vec::new();
    for (position, &[inputs, outputs]) in channels.iter().enumerate() {
        let index = 2 * position;
        let spread = 1.0 / (inputs as f32 * 9.0).sqrt();
        let weight = (0..outputs * inputs * 9).map(|_| next(2.0 * spread)).collect();
        tensors.push(NamedTensor {
            name: format!("body.{index}.weight"),
            shape: vec![outputs, inputs, 3, 3],
            values: weight,
        });
        let bias = (0..outputs).map(|_| next(0.1)).collect();
        tensors.push(NamedTensor { name: format!("body.{index}.bias"), shape: vec![outputs], values: bias });
        if position + 1 < channels.len() {
            let slopes = (0..outputs).map(|_| 0.25 + next(0.4)).collect();
            tensors.push(NamedTensor {
                name: format!("body.{}.weight", index + 1),
                shape: vec![outputs],
                values: slopes,
            });
        }
    }
    tensors
}

/// The model as a person would bring it, as a `.safetensors` file.
fn import(name: &str, tensors: &[NamedTensor]) -> ModelFile {
    ModelFile::import(name, &safetensors::write(tensors), None).expect("a Compact model imports")
}

/// `file` alone on `backend`, in tiles of `tile` pixels.
fn upscaler(file: &ModelFile, backend: Backend, tile: usize) -> Upscaler {
    let settings = Settings { tile_size: Some(tile), ..Settings::default() };
    Upscaler::new(backend, std::slice::from_ref(file), settings).expect("the model loads")
}

/// The pipeline's ×`scale` output, a PNG file.
fn upscale_png(upscaler: &Upscaler, picture: &RgbImage, scale: usize) -> Vec<u8> {
    let job = Job::new(Target::Scale(scale), OutputFormat::Png, InputChoice::Auto, MetadataChoice::default()).unwrap();
    let bytes = common::file(picture.clone(), image::ImageFormat::Png);
    pollster::block_on(upscaler.run(&job, &bytes, &mut |_| ControlFlow::Continue(()))).expect("runs").bytes
}

/// The pipeline's ×`scale` output, decoded.
fn upscale(upscaler: &Upscaler, picture: &RgbImage, scale: usize) -> RgbImage {
    image::load_from_memory(&upscale_png(upscaler, picture, scale)).expect("a PNG").to_rgb8()
}

/// The network on the whole picture at once, zero-padded at its edges as it was trained: what
/// every tiling must give.
fn whole(model: &CompactModel, picture: &RgbImage) -> RgbImage {
    let (width, height) = (picture.width() as usize, picture.height() as usize);
    let planar: Vec<f32> =
        (0..3).flat_map(|c| picture.as_raw().iter().skip(c).step_by(3).map(|&v| f32::from(v) / 255.0)).collect();
    let device = Device::flex();
    // A grey network sees each colour as a grey image.
    let batch = 3 / model.channels;
    let input = Tensor::<4>::from_data(TensorData::new(planar, [batch, model.channels, height, width]), &device);
    let output = model.load(&device).forward(input).into_data().try_to_vec::<f32>().unwrap();
    let s = model.scale;
    let plane = s * s * width * height;
    RgbImage::from_fn((s * width) as u32, (s * height) as u32, |x, y| {
        let at = y as usize * s * width + x as usize;
        image::Rgb(std::array::from_fn(|c| upres::tiling::to_u8(output[c * plane + at])))
    })
}

fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let squares: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum();
    10.0 * (255.0f64.powi(2) / (squares / a.len() as f64)).log10()
}

#[test]
fn own_models_in_tiles_give_what_they_compute_on_the_whole_image() {
    let picture = common::test_image(37, 29);
    for (colours, width, depth, scale) in [(3, 8, 2, 4), (1, 6, 1, 2)] {
        let file = import("mine.safetensors", &compact_tensors(colours, width, depth, scale));
        let expected = whole(&file.compact().unwrap(), &picture);
        let unsaturated = expected.as_raw().iter().filter(|&&v| v > 0 && v < 255).count();
        assert!(unsaturated * 2 > expected.len(), "the reference is mostly saturated; the test would be blind");
        // One tile; tiles smaller than the border, overlapping, at the edges and inside.
        for tile in [64, 13, 5] {
            for backend in [Backend::cpu("test"), Backend::burn_cpu("test")] {
                let label = format!("{colours} colours ×{scale}, tiles of {tile}, {}", backend.description);
                let output = upscale(&upscaler(&file, backend, tile), &picture, scale);
                let db = psnr(&expected, &output);
                assert!(db >= 50.0, "{label}: {db:.1} dB from the whole image's output");
            }
        }
    }
}

/// The same on the GPU path (burn on wgpu: the browser's WebGPU module runs it so). In CI on
/// Mesa's lavapipe; elsewhere skipped when no adapter starts.
#[test]
fn own_models_on_wgpu_give_what_they_compute_on_the_whole_image() {
    let start = || upres::backend::Backend::select(upres::backend::BackendChoice::Wgpu);
    if let Err(e) = start() {
        assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "CI must run the wgpu path: {e}");
        eprintln!("own_models_on_wgpu_give_what_they_compute_on_the_whole_image: SKIPPED, {e}");
        return;
    }
    let picture = common::test_image(37, 29);
    for (colours, width, depth, scale) in [(3, 8, 2, 4), (1, 6, 1, 2)] {
        let file = import("mine.safetensors", &compact_tensors(colours, width, depth, scale));
        let expected = whole(&file.compact().unwrap(), &picture);
        let output = upscale(&upscaler(&file, start().unwrap(), 13), &picture, scale);
        let db = psnr(&expected, &output);
        assert!(
            db >= 50.0,
            "{colours} colours ×{scale} on wgpu, tiles of 13: {db:.1} dB from the whole image's output"
        );
    }
}

#[test]
fn a_grey_model_keeps_a_grey_picture_grey_and_colours_apart() {
    let file = import("grey-x2.safetensors", &compact_tensors(1, 6, 1, 2));
    assert_eq!(file.card.architecture, upres::model::Architecture::Compact { colours: 1 });
    assert_eq!(file.card.shape(), "Compact (grey), 6 channels × 1 hidden layer");
    let upscaler = upscaler(&file, Backend::cpu("test"), 16);
    let grey = RgbImage::from_fn(20, 12, |x, y| {
        let v = (x * 11 + y * 7) as u8;
        image::Rgb([v, v, v])
    });
    let output = upscale(&upscaler, &grey, 2);
    assert!(output.pixels().all(|p| p[0] == p[1] && p[1] == p[2]), "a grey picture came out coloured");
    // Red alone stays red alone: each colour runs as its own grey image.
    let red = RgbImage::from_fn(20, 12, |x, _| image::Rgb([(x * 12) as u8, 0, 0]));
    let output = upscale(&upscaler, &red, 2);
    let grey_model_on_black = upscale(&upscaler, &RgbImage::new(20, 12), 2);
    for (ours, black) in output.pixels().zip(grey_model_on_black.pixels()) {
        assert_eq!((ours[1], ours[2]), (black[1], black[2]), "green and blue moved with red");
    }
}

#[test]
fn the_teacher_imported_from_ncnn_reproduces_its_reference_output_in_tiles() {
    let test = "the_teacher_imported_from_ncnn_reproduces_its_reference_output_in_tiles";
    let Some(dir) = common::shared_teacher(test) else { return };
    let param = std::fs::read(dir.join("model.param")).expect("read model.param");
    let bin = std::fs::read(dir.join("model.bin")).expect("read model.bin");
    let file = ModelFile::import("model.param", &param, Some(&bin)).expect("the teacher imports");
    assert_eq!((file.card.config.scale, file.card.config.channels, file.card.config.blocks), (4, 64, 32));
    assert_eq!(file.card.parameters, 1_213_296);
    let imported = file.card.imported.as_ref().expect("an imported card");
    assert_eq!(imported.sha256, upres::weights::sha256_hex(&bin));

    let input = image::open(dir.join("reference/input.png")).expect("reference input").to_rgb8();
    let expected = image::open(dir.join("reference/output.png")).expect("reference output").to_rgb8();
    // The 64² input in four tiles of 32 on the engine; whole on burn.
    for (backend, tile) in [(Backend::cpu("test"), 40), (Backend::burn_cpu("test"), 64)] {
        let label = format!("{}, tiles of {tile}", backend.description);
        let output = upscale(&upscaler(&file, backend, tile), &input, 4);
        let db = psnr(&expected, &output);
        eprintln!("teacher imported from ncnn, {label}: {db:.2} dB from ncnn's reference output");
        assert!(db >= 45.0, "{label}: {db:.2} dB from ncnn's reference output, below 45");
    }
}

#[test]
fn the_command_line_runs_a_model_file_alone_and_says_so() {
    use crate::cli::{s, temp_dir, upres};
    let dir = temp_dir("own-model");
    let model = dir.join("mine-x4.safetensors");
    std::fs::write(&model, safetensors::write(&compact_tensors(3, 8, 2, 4))).unwrap();
    let photo = dir.join("photo.png");
    common::test_image(30, 20).save(&photo).unwrap();
    let out = dir.join("out");

    // ×2 from a ×4 model: the model, then Lanczos3 down.
    let result = upres(&["upscale", s(&photo), "-o", s(&out), "--scale", "2", "--model", s(&model)]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(stderr.contains("mine-x4 (×4, Compact (RGB), 8 channels × 2 hidden layers, 4920 parameters"), "{stderr}");
    assert!(stderr.contains("photo@2x.png (your own model: mine-x4)"), "{stderr}");
    let written = image::open(out.join("photo@2x.png")).unwrap();
    assert_eq!((written.width(), written.height()), (60, 40));

    // What is not a model, half of one, a pickle that would run a command, a truncated file or
    // another architecture is refused before any image is read, naming the file and saying why.
    let hostile = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let text = hostile("evil.pth", b"import os; os.system('rm -rf ~')");
    let param = hostile("lonely.param", b"7767517\n");
    let shell = crate::torch_files::archive(b"\x80\x02cposix\nsystem\nX\x05\x00\x00\x00rm -rq\x00\x85R.", &[]);
    let shell = hostile("shell.pth", &shell);
    let good = safetensors::write(&compact_tensors(3, 8, 2, 4));
    let truncated = hostile("truncated.safetensors", &good[..good.len() / 2]);
    let mut other = compact_tensors(3, 8, 2, 4);
    other[0].name = "conv_first.weight".into();
    let other = hostile("esrgan.safetensors", &safetensors::write(&other));
    for (file, says) in [
        (&text, "not a model file upres reads"),
        (&param, "its weights must be beside it, as"),
        (&shell, "calls posix.system, which upres never runs"),
        (&truncated, "safetensors"),
        (&other, "not a Compact"),
    ] {
        let result = upres(&["upscale", s(&photo), "-o", s(&out), "--scale", "2", "--model", s(file)]);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(s(file)) && stderr.contains(says), "{stderr}");
        assert!(!stderr.contains(": model: "), "the error's kind said again: {stderr}");
    }
}

#[test]
fn eval_scores_a_model_file_by_the_shared_protocol() {
    use crate::cli::{s, temp_dir, upres};
    let Some(data) = common::shared_data("eval_scores_a_model_file_by_the_shared_protocol") else { return };
    let model = temp_dir("own-eval").join("mine-x4.safetensors");
    std::fs::write(&model, safetensors::write(&compact_tensors(3, 8, 2, 4))).unwrap();
    let result = upres(&["eval", "--data", s(&data.join("eval/set5")), "--scale", "4", "--model", s(&model)]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let row = stdout.lines().find(|l| l.starts_with("| mine-x4 (yours)")).unwrap_or_else(|| panic!("{stdout}"));
    let psnr: f64 = row.split('|').nth(2).and_then(|v| v.trim().parse().ok()).expect("a PSNR");
    assert!(psnr > 10.0 && psnr < 40.0, "{row}");
    assert!(stdout.contains("| bicubic") && !stdout.contains("| upres-x4"), "{stdout}");
}

/// One model in every form people publish it gives the same output, byte for byte: the teacher
/// as ncnn (fp16), then as `.pth` (fp32, and fp16 inside `params_ema` as Real-ESRGAN saves it)
/// and `.safetensors`; and a generated model, whose fp32 values fp16 would round, as `.pth` and
/// `.safetensors`.
#[test]
fn one_model_as_ncnn_pth_and_safetensors_gives_identical_outputs() {
    use crate::torch_files::write_pth;
    let picture = common::test_image(32, 24);
    let outputs = |files: Vec<(&str, ModelFile)>| {
        let mut first: Option<(&str, Vec<u8>)> = None;
        for (form, file) in files {
            let png = upscale_png(&upscaler(&file, Backend::cpu("test"), 64), &picture, 4);
            match &first {
                None => first = Some((form, png)),
                Some((reference, expected)) => assert!(png == *expected, "{form} differs from {reference}"),
            }
        }
    };
    let tensors = compact_tensors(3, 8, 2, 4);
    outputs(vec![
        ("safetensors", import("mine.safetensors", &tensors)),
        ("pth", ModelFile::import("mine.pth", &write_pth(&tensors, false, Some("params")), None).unwrap()),
    ]);

    let Some(dir) = common::shared_teacher("one_model_as_ncnn_pth_and_safetensors_gives_identical_outputs") else {
        return;
    };
    let param = std::fs::read(dir.join("model.param")).expect("read model.param");
    let bin = std::fs::read(dir.join("model.bin")).expect("read model.bin");
    let ncnn = ModelFile::import("model.param", &param, Some(&bin)).expect("the teacher imports");
    let tensors = ncnn.compact().unwrap().to_state_dict();
    let import = |name: &str, bytes: Vec<u8>| ModelFile::import(name, &bytes, None).expect("imports");
    outputs(vec![
        ("ncnn", ncnn),
        ("pth fp32", import("teacher.pth", write_pth(&tensors, false, None))),
        ("pth fp16 in params_ema", import("teacher.pth", write_pth(&tensors, true, Some("params_ema")))),
        ("safetensors", import("teacher.safetensors", safetensors::write(&tensors))),
    ]);
}
