//! The Compact (SRVGGNetCompact) reader on the shared teacher: the port reproduces the output
//! ncnn computed, and damaged or foreign files are refused.

use burn::prelude::*;
use upres::compact::CompactModel;

use crate::common;

fn teacher_files(test: &str) -> Option<(String, Vec<u8>, std::path::PathBuf)> {
    let dir = common::shared_teacher(test)?;
    let param = std::fs::read_to_string(dir.join("model.param")).expect("read model.param");
    let bin = std::fs::read(dir.join("model.bin")).expect("read model.bin");
    Some((param, bin, dir))
}

#[test]
fn teacher_port_reproduces_ncnn_reference_output() {
    let Some((param, bin, dir)) = teacher_files("teacher_port_reproduces_ncnn_reference_output") else { return };
    let model = CompactModel::from_ncnn(&param, &bin).expect("the teacher loads");
    assert_eq!((model.channels, model.width, model.depth, model.scale), (3, 64, 32, 4));
    assert_eq!(model.parameters(), 1_213_296);

    let input = image::open(dir.join("reference/input.png")).expect("reference input").to_rgb8();
    let expected = image::open(dir.join("reference/output.png")).expect("reference output").to_rgb8();
    let (w, h) = (input.width() as usize, input.height() as usize);
    let planar: Vec<f32> =
        (0..3).flat_map(|c| input.as_raw().iter().skip(c).step_by(3).map(|&v| f32::from(v) / 255.0)).collect();
    let device = Device::flex();
    let tensor = Tensor::<4>::from_data(TensorData::new(planar, [1, 3, h, w]), &device);
    let output = model.load(&device).forward(tensor).into_data().try_to_vec::<f32>().expect("f32 output");
    assert_eq!(output.len(), 3 * 16 * w * h);
    assert_eq!((expected.width() as usize, expected.height() as usize), (4 * w, 4 * h));

    let plane = 16 * w * h;
    let squared: f64 = expected
        .as_raw()
        .iter()
        .enumerate()
        .map(|(i, &theirs)| {
            let ours = (output[(i % 3) * plane + i / 3].clamp(0.0, 1.0) * 255.0).round();
            (f64::from(ours) - f64::from(theirs)).powi(2)
        })
        .sum();
    let psnr = 10.0 * (255.0f64.powi(2) / (squared / expected.as_raw().len() as f64)).log10();
    eprintln!("teacher port against ncnn's reference output: {psnr:.2} dB");
    assert!(psnr >= 45.0, "the port reproduces ncnn's output at {psnr:.2} dB, below 45");
}

#[test]
fn teacher_files_truncated_or_of_another_architecture_are_refused() {
    let Some((param, bin, _)) = teacher_files("teacher_files_truncated_or_of_another_architecture_are_refused") else {
        return;
    };
    let refusal =
        |param: &str, bin: &[u8]| CompactModel::from_ncnn(param, bin).expect_err("must be refused").to_string();

    let truncated = refusal(&param, &bin[..bin.len() / 2]);
    assert!(truncated.contains("truncated"), "{truncated}");
    let empty = refusal(&param, &[]);
    assert!(empty.contains("truncated"), "{empty}");
    // A bilinear residual, as some other families use, and a ReLU where a PReLU belongs.
    let bilinear = refusal(
        &param.replace(
            "Resize_68                1 1 input_splitncnn_0 240 0=1",
            "Resize_68 1 1 input_splitncnn_0 240 0=2",
        ),
        &bin,
    );
    assert!(bilinear.contains("not a Compact"), "{bilinear}");
    let relu = refusal(
        &param.replacen("PReLU            PRelu_3                  1 1 106 109 0=64", "ReLU PRelu_3 1 1 106 109", 1),
        &bin,
    );
    assert!(relu.contains("not a Compact"), "{relu}");
    // A graph one layer deeper than its weights.
    let deeper = param.replacen(
        "Convolution      Conv_2 ",
        "Convolution Conv_extra 1 1 105 105b 0=64 1=3 4=1 5=1 6=36864\nPReLU PRelu_extra 1 1 105b 105 0=64\nConvolution      Conv_2 ",
        1,
    );
    let deeper = deeper.replacen("72 73", "74 75", 1);
    let mismatch = refusal(&deeper, &bin);
    assert!(mismatch.contains("another model"), "{mismatch}");
}
