//! The `upres` binary as a user runs it, with the models built into it.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn upres(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_upres"))
        .args(args)
        .args(["--backend", "cpu"])
        .output()
        .expect("the upres binary runs")
}

pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("upres-cli-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn s(path: &Path) -> &str {
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

/// Starts `upres upscale` on `inputs` at 4×, as a child that can be signalled.
fn spawn_upscale(inputs: &[&Path], out: &Path, tile: usize) -> Child {
    Command::new(env!("CARGO_BIN_EXE_upres"))
        .arg("upscale")
        .args(inputs)
        .args(["-o", s(out), "--scale", "4", "--backend", "cpu", "--tile", &tile.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("the upres binary runs")
}

/// Sends a real signal, as a terminal's Ctrl-C or a service manager's stop would.
pub(crate) fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args(["-s", name, &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success(), "kill -s {name}");
}

/// Waits for `condition`, polling; panics after `seconds`.
pub(crate) fn wait_for(what: &str, seconds: u64, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The exit code, once the child has exited (which it must within a minute).
pub(crate) fn exit_code(child: &mut Child) -> Option<i32> {
    let mut status = None;
    wait_for("upres to exit after the signal", 60, || {
        status = child.try_wait().expect("wait");
        status.is_some()
    });
    status.and_then(|status| status.code())
}

/// Reads the child's error output up to and including the first line that contains `text`.
fn read_until(stderr: &mut impl BufRead, text: &str) -> String {
    let mut seen = String::new();
    while !seen.lines().any(|line| line.contains(text)) {
        let read = stderr.read_line(&mut seen).unwrap();
        assert!(read > 0, "upres ended without saying {text:?}: {seen}");
    }
    seen
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_interrupted_batch_keeps_whole_outputs_and_leaves_no_partial_file() {
    for name in ["INT", "TERM"] {
        let dir = temp_dir(&format!("interrupt-{name}"));
        let (first, big) = (dir.join("first.png"), dir.join("big.png"));
        common::test_image(40, 30).save(&first).unwrap();
        // Hundreds of 64-pixel tiles: far longer than the test waits.
        common::test_image(1600, 1200).save(&big).unwrap();
        let out = dir.join("out");
        let mut child = spawn_upscale(&[&first, &big], &out, 64);
        wait_for("the first output", 120, || out.join("first@4x.png").exists());
        // Into the big file's tiles.
        std::thread::sleep(Duration::from_millis(500));
        let signalled = Instant::now();
        signal(&child, name);
        let code = exit_code(&mut child);
        let stopped_after = signalled.elapsed();
        let mut stderr = String::new();
        child.stderr.take().expect("piped").read_to_string(&mut stderr).unwrap();

        assert_eq!(code, Some(130), "SIG{name}: {stderr}");
        assert!(stderr.contains("interrupted: 1 of 2 files processed"), "SIG{name}: {stderr}");
        assert!(stopped_after < Duration::from_secs(20), "SIG{name}: stopped {stopped_after:?} after the signal");
        assert_eq!(file_names(&out), ["first@4x.png"], "SIG{name}: the finished output, and nothing else");
        let written = image::open(out.join("first@4x.png")).unwrap();
        assert_eq!((written.width(), written.height()), (160, 120));
    }
}

#[test]
fn a_second_signal_stops_at_once() {
    let dir = temp_dir("interrupt-twice");
    let big = dir.join("big.png");
    common::test_image(1600, 1200).save(&big).unwrap();
    let out = dir.join("out");
    // One tile of a million pixels: seconds of work before the first signal would be noticed.
    let mut child = spawn_upscale(&[&big], &out, 1024);
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    // Printed once the models are loaded, just before the file list is worked through; a signal
    // that arrived before the first file starts ends the batch there (nothing to finish), so
    // give the tile a moment to start: it takes seconds.
    read_until(&mut stderr, "backend:");
    std::thread::sleep(Duration::from_millis(1000));
    signal(&child, "INT");
    read_until(&mut stderr, "stopping after the current tile");
    signal(&child, "INT");
    let code = exit_code(&mut child);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(code, Some(130), "{rest}");
    assert!(rest.contains("interrupted again; stopped at once"), "{rest}");
    assert!(file_names(&out).is_empty(), "no output, no temporary file: {:?}", file_names(&out));
}

/// The built-in models include a compression-aware one per scale; a JPEG goes to it, a PNG to
/// the clean one, and each output line says which ran and why.
#[test]
fn each_output_says_which_model_ran_and_why() {
    let dir = temp_dir("route");
    let photo = dir.join("photo.jpg");
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 40)
        .encode_image(&common::test_image(24, 16))
        .unwrap();
    std::fs::write(&photo, jpeg).unwrap();
    let logo = dir.join("logo.png");
    common::test_image(24, 16).save(&logo).unwrap();
    let out = dir.join("out");

    let result = upres(&["upscale", s(&photo), s(&logo), "-o", s(&out), "--scale", "4"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(
        stderr.contains("photo@4x.jpg (JPEG quality ≈ 40: compression-aware model: upres-x4-jpeg-heavy)"),
        "{stderr}"
    );
    assert!(stderr.contains("logo@4x.png (PNG: clean model: upres-x4)"), "{stderr}");

    let forced = upres(&["upscale", s(&photo), "-o", s(&dir.join("forced")), "--scale", "2", "--input", "clean"]);
    let stderr = String::from_utf8_lossy(&forced.stderr);
    assert!(stderr.contains("(clean model, as chosen: upres-x2)"), "{stderr}");
}
