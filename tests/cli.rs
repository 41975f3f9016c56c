//! The `upres` binary as a user runs it, with the models built into it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn upres(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_upres"))
        .args(args)
        .args(["--backend", "cpu"])
        .output()
        .expect("the upres binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("upres-cli-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn batch_continues_past_a_bad_file_and_exit_code_says_so() {
    let dir = temp_dir("batch");
    let good = dir.join("photo.png");
    common::test_image(30, 20).save(&good).unwrap();
    let bad = dir.join("broken.png");
    std::fs::write(&bad, b"this is not a png").unwrap();
    let out = dir.join("out");
    let result = upres(&["upscale", s(&bad), s(&good), "-o", s(&out), "--scale", "2"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("broken.png") && stderr.contains("not an image"), "{stderr}");
    assert!(stderr.contains("models: ") && stderr.contains("sha256") && stderr.contains("backend: cpu"), "{stderr}");
    let written = image::open(out.join("photo@2x.png")).unwrap();
    assert_eq!((written.width(), written.height()), (60, 40));
    let names: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "only the finished output, no temp files: {names:?}");
}

#[test]
fn long_edge_names_the_output_by_pixels_and_keeps_jpeg() {
    let dir = temp_dir("long-edge");
    let input = dir.join("item.jpg");
    image::DynamicImage::from(common::test_image(40, 30)).save(&input).unwrap();
    let result = upres(&["upscale", s(&input), "-o", s(&dir), "--long-edge", "100", "--quality", "80"]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let written = dir.join("item@100px.jpg");
    assert_eq!(image::ImageFormat::from_path(&written).unwrap(), image::ImageFormat::Jpeg);
    let written = image::open(&written).unwrap();
    assert_eq!((written.width(), written.height()), (100, 75));
}

#[test]
fn never_overwrites_an_input() {
    let dir = temp_dir("overwrite");
    let first = dir.join("p.png");
    let second = dir.join("p@2x.png");
    common::test_image(10, 10).save(&first).unwrap();
    common::test_image(7, 7).save(&second).unwrap();
    let before = std::fs::read(&second).unwrap();
    let result = upres(&["upscale", s(&first), s(&second), "-o", s(&dir), "--scale", "2"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refusing to overwrite an input"), "{stderr}");
    assert_eq!(std::fs::read(&second).unwrap(), before);
    assert!(dir.join("p@2x@2x.png").exists(), "the other input still got its output");
}

#[test]
fn bad_arguments_exit_with_2() {
    let result = upres(&["upscale", "x.png", "-o", "/tmp", "--scale", "5"]);
    assert_eq!(result.status.code(), Some(2));
    let result = upres(&["upscale", "x.png", "-o", "/tmp", "--target", "wide"]);
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("WIDTHxHEIGHT"));
}

#[test]
fn eval_prints_the_table_with_the_shipped_models() {
    let Some(data) = common::shared_data("eval_prints_the_table_with_the_shipped_models") else {
        return;
    };
    let set5 = data.join("eval/set5");
    let result = upres(&["eval", "--data", s(&set5), "--scale", "4"]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let bicubic: f64 = stdout
        .lines()
        .find(|l| l.starts_with("| bicubic"))
        .and_then(|l| l.split('|').nth(2))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no bicubic row in {stdout}"));
    assert!((bicubic - 28.42).abs() <= 0.05, "bicubic ×4 on Set5: {bicubic}");
    assert!(stdout.contains("| lanczos3") && stdout.contains("| upres-x4"), "{stdout}");
}
