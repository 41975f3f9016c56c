//! Catalogs and archives: a folder in, a mirrored tree out, a report line per file, runs that
//! resume where they stopped, and shards that split a catalog between processes that never talk.
//! Tiny images (8×6 and the like) at 2×, on the CPU, with the models built into the binary.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::SystemTime;

use serde_json::Value;

use crate::cli::{exit_code, s, signal, temp_dir, upres, wait_for};
use crate::common;

/// The batch engines' variables, which must not leak in from wherever the tests run.
const ENGINE_VARS: [&str; 6] = [
    "JOB_COMPLETION_INDEX",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_ARRAY_TASK_COUNT",
];

/// `upres` with `args` and `--backend cpu`, with no batch engine's variables but `env`.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_upres"));
    command.args(args).args(["--backend", "cpu"]);
    for var in ENGINE_VARS {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command
}

fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = command(args, &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the upres binary runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn png(path: &Path, width: u32, height: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    common::test_image(width, height).save(path).unwrap();
}

/// Every file below `dir`, hidden ones too (a temporary file left behind would show), as paths
/// relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn visit(dir: &Path, base: &Path, files: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.symlink_metadata().unwrap().is_dir() {
                visit(&path, base, files);
            } else {
                files.push(path.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut files = Vec::new();
    visit(dir, dir, &mut files);
    files.sort();
    files
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn parse_report(text: &str) -> Vec<Value> {
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
}

fn read_report(path: &Path) -> Vec<Value> {
    parse_report(&std::fs::read_to_string(path).unwrap())
}

/// Each input's path relative to `root`, with its status and reason ("-" for none); panics if an
/// input has two lines.
fn outcomes(report: &[Value], root: &Path) -> BTreeMap<String, (String, String)> {
    let mut outcomes = BTreeMap::new();
    for line in report {
        let input = Path::new(line["input"].as_str().unwrap());
        let input = input.strip_prefix(root).unwrap_or(input).to_string_lossy().into_owned();
        let status = line["status"].as_str().unwrap().to_owned();
        let reason = line["reason"].as_str().unwrap_or("-").to_owned();
        assert!(outcomes.insert(input.clone(), (status, reason)).is_none(), "two lines for {input}");
    }
    outcomes
}

fn expect(pairs: &[(&str, &str, &str)]) -> BTreeMap<String, (String, String)> {
    pairs.iter().map(|(input, status, reason)| (input.to_string(), (status.to_string(), reason.to_string()))).collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A catalog as shops have them: the same file name in different folders, a sub-folder, a
/// corrupt upload and an empty one, a file that is no image, a hidden folder, a link that loops,
/// and one image whose output an earlier run finished.
#[test]
fn a_folder_becomes_a_mirrored_tree_with_a_report_line_per_file_and_a_second_run_does_nothing() {
    let dir = temp_dir("batch-tree");
    let catalog = dir.join("catalog");
    png(&catalog.join("shoes/photo.png"), 8, 6);
    png(&catalog.join("bags/photo.png"), 6, 8);
    std::fs::create_dir_all(catalog.join("bags/summer")).unwrap();
    image::DynamicImage::from(common::test_image(8, 6)).save(catalog.join("bags/summer/photo.jpg")).unwrap();
    std::fs::write(catalog.join("broken.png"), b"\x89PNG\r\n\x1a\n but the rest is not").unwrap();
    std::fs::write(catalog.join("notes.txt"), b"prices go up in May").unwrap();
    std::fs::write(catalog.join("shoes/empty.jpg"), b"").unwrap();
    png(&catalog.join(".thumbnails/photo.png"), 8, 6);
    symlink("..", catalog.join("shoes/loop")).unwrap();
    png(&catalog.join("finished.png"), 8, 6);
    let out = dir.join("out");
    png(&out.join("finished@2x.png"), 16, 12);
    let earlier = std::fs::read(out.join("finished@2x.png")).unwrap();

    let report = dir.join("reports/first.jsonl");
    let result = upres(&["upscale", s(&catalog), "-o", s(&out), "--scale", "2", "--report", s(&report)]);
    let stderr_text = stderr(&result);
    assert_eq!(result.status.code(), Some(1), "the corrupt file failed: {stderr_text}");
    assert!(stderr_text.contains("broken.png") && stderr_text.contains("corrupt"), "{stderr_text}");
    assert_eq!(
        tree(&out),
        ["bags/photo@2x.png", "bags/summer/photo@2x.jpg", "finished@2x.png", "shoes/photo@2x.png"],
        "the catalog's tree, no hidden folder, no temporary file"
    );
    let bags = image::open(out.join("bags/photo@2x.png")).unwrap();
    assert_eq!((bags.width(), bags.height()), (12, 16), "the bags' photo, not the shoes'");
    assert_eq!(std::fs::read(out.join("finished@2x.png")).unwrap(), earlier, "a finished output is left alone");

    let lines = read_report(&report);
    assert_eq!(
        outcomes(&lines, &catalog),
        expect(&[
            ("bags/photo.png", "done", "-"),
            ("bags/summer/photo.jpg", "done", "-"),
            ("broken.png", "failed", "decode"),
            ("finished.png", "skipped", "exists"),
            ("notes.txt", "skipped", "not-an-image"),
            ("shoes/empty.jpg", "failed", "decode"),
            ("shoes/loop", "skipped", "link-loop"),
            ("shoes/photo.png", "done", "-"),
        ])
    );
    let jpeg = lines.iter().find(|l| l["input"].as_str().unwrap().ends_with("photo.jpg")).unwrap();
    assert_eq!(jpeg["output"].as_str().unwrap(), s(&out.join("bags/summer/photo@2x.jpg")));
    assert_eq!((jpeg["input_width"].as_u64(), jpeg["input_height"].as_u64()), (Some(8), Some(6)));
    assert_eq!((jpeg["output_width"].as_u64(), jpeg["output_height"].as_u64()), (Some(16), Some(12)));
    assert!(jpeg["model"].as_str().unwrap().starts_with("upres-x2"), "{jpeg}");
    assert!(jpeg["route"].as_str().unwrap().contains("JPEG quality"), "{jpeg}");
    assert!(jpeg["backend"].as_str().unwrap().starts_with("cpu"), "{jpeg}");
    assert!(jpeg["ms"].is_u64(), "{jpeg}");
    let broken = lines.iter().find(|l| l["input"].as_str().unwrap().ends_with("broken.png")).unwrap();
    assert!(broken["output"].is_null() && broken["message"].as_str().unwrap().contains("corrupt"), "{broken}");

    // Again: every output is there, so nothing is written; only the broken files fail again.
    let written: Vec<SystemTime> = tree(&out).iter().map(|f| modified(&out.join(f))).collect();
    let again = dir.join("reports/second.jsonl");
    let result = upres(&["upscale", s(&catalog), "-o", s(&out), "--scale", "2", "--report", s(&again)]);
    let stderr_text = stderr(&result);
    assert_eq!(result.status.code(), Some(1), "{stderr_text}");
    assert!(
        stderr_text.contains("0 upscaled, 6 skipped (4 exists, 1 link-loop, 1 not-an-image), 2 failed"),
        "{stderr_text}"
    );
    let second = outcomes(&read_report(&again), &catalog);
    assert_eq!(second.len(), 8, "{second:?}");
    assert!(second.values().all(|(status, _)| status != "done"), "{second:?}");
    assert_eq!(second["shoes/photo.png"], ("skipped".into(), "exists".into()));
    assert_eq!(written, tree(&out).iter().map(|f| modified(&out.join(f))).collect::<Vec<_>>(), "nothing rewritten");

    // Without the broken files there is nothing to do at all, and the run says so.
    std::fs::remove_file(catalog.join("broken.png")).unwrap();
    std::fs::remove_file(catalog.join("shoes/empty.jpg")).unwrap();
    let result = upres(&["upscale", s(&catalog), "-o", s(&out), "--scale", "2"]);
    let stderr_text = stderr(&result);
    assert_eq!(result.status.code(), Some(0), "{stderr_text}");
    assert!(stderr_text.contains("nothing to do: all 6 files skipped (4 exists"), "{stderr_text}");
}

/// Killed half-way (Ctrl-C), the run keeps what it finished; started again, it does only the
/// rest.
#[test]
fn an_interrupted_folder_run_restarted_finishes_only_the_rest() {
    let dir = temp_dir("batch-resume");
    let catalog = dir.join("catalog");
    // A quarter of a second each at 16-pixel tiles: seconds in all, far longer than the signal
    // takes to arrive after the first output.
    let inputs: Vec<String> = (0..12).map(|i| format!("{}/item{i}.png", ["a", "b", "c"][i % 3])).collect();
    for input in &inputs {
        png(&catalog.join(input), 240, 180);
    }
    let out = dir.join("out");
    let args = |report: &Path| -> Vec<String> {
        ["upscale", s(&catalog), "-o", s(&out), "--scale", "4", "--tile", "16", "--report", s(report)]
            .map(String::from)
            .to_vec()
    };
    let first_report = dir.join("first.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_upres"))
        .args(args(&first_report))
        .args(["--backend", "cpu"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("the upres binary runs");
    wait_for("the first output", 120, || tree(&out).iter().any(|f| f.ends_with("@4x.png")));
    signal(&child, "INT");
    let code = exit_code(&mut child);
    let mut stderr_text = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr_text).unwrap();
    assert_eq!(code, Some(130), "{stderr_text}");

    let finished = tree(&out);
    assert!(!finished.is_empty() && finished.len() < inputs.len(), "stopped half-way: {finished:?}");
    assert!(finished.iter().all(|f| f.ends_with("@4x.png") && !f.contains("/.")), "whole outputs only: {finished:?}");
    let first = outcomes(&read_report(&first_report), &catalog);
    assert_eq!(first.len(), finished.len(), "a line for each finished file, none for the rest: {first:?}");
    assert!(first.values().all(|(status, _)| status == "done"), "{first:?}");
    let times: Vec<SystemTime> = finished.iter().map(|f| modified(&out.join(f))).collect();

    let second_report = dir.join("second.jsonl");
    let result = command(&args(&second_report).iter().map(String::as_str).collect::<Vec<_>>(), &[]).output().unwrap();
    assert_eq!(result.status.code(), Some(0), "{}", stderr(&result));
    let second = outcomes(&read_report(&second_report), &catalog);
    assert_eq!(second.len(), inputs.len(), "{second:?}");
    for input in &inputs {
        let output = input.replace(".png", "@4x.png");
        let expected = if finished.contains(&output) { ("skipped", "exists") } else { ("done", "-") };
        assert_eq!(second[input], (expected.0.into(), expected.1.into()), "{input}");
    }
    assert_eq!(tree(&out).len(), inputs.len(), "{:?}", tree(&out));
    let times_after: Vec<SystemTime> = finished.iter().map(|f| modified(&out.join(f))).collect();
    assert_eq!(times, times_after, "the outputs of the first run were not made again");
}

/// A catalog for the shard tests: 19 files in folders of different sizes, one of them not an
/// image (reported too, so it belongs to a shard like the others).
fn shard_catalog(dir: &Path) -> (PathBuf, Vec<String>) {
    let catalog = dir.join("catalog");
    let mut files = Vec::new();
    for (folder, count) in [("a", 1), ("b", 9), ("b/deep", 3), ("c", 5)] {
        for i in 0..count {
            let file = format!("{folder}/{i}.png");
            png(&catalog.join(&file), 8, 6);
            files.push(file);
        }
    }
    std::fs::write(catalog.join("c/readme.txt"), b"not an image").unwrap();
    files.push("c/readme.txt".into());
    png(&catalog.join(".hidden/x.png"), 8, 6);
    files.sort();
    (catalog, files)
}

/// The inputs of one shard's report (read from standard output).
fn shard_inputs(output: &Output, catalog: &Path) -> Vec<String> {
    assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
    outcomes(&parse_report(&String::from_utf8_lossy(&output.stdout)), catalog).into_keys().collect()
}

#[test]
fn shards_k_of_n_cover_every_file_exactly_once_for_n_from_1_to_7() {
    let dir = temp_dir("batch-shards");
    let (catalog, files) = shard_catalog(&dir);
    for n in 1..=7 {
        let out = dir.join(format!("out{n}"));
        let mut seen = Vec::new();
        for k in 1..=n {
            let shard = format!("{k}/{n}");
            let args = ["upscale", s(&catalog), "-o", s(&out), "--scale", "2", "--shard", &shard, "--report", "-"];
            let inputs = shard_inputs(&command(&args, &[]).output().unwrap(), &catalog);
            let (fewest, most) = (files.len() / n, files.len().div_ceil(n));
            assert!((fewest..=most).contains(&inputs.len()), "shard {shard}: {} files", inputs.len());
            seen.extend(inputs);
        }
        seen.sort();
        assert_eq!(seen, files, "{n} shards: every file once");
        assert_eq!(tree(&out).len(), files.len() - 1, "{n} shards: every image upscaled");
    }
}

#[test]
fn shard_from_env_reads_kubernetes_and_slurm_task_indices() {
    let dir = temp_dir("batch-shard-env");
    let (catalog, _) = shard_catalog(&dir);
    let out = dir.join("out");
    let shard = |flags: &[&str], env: &[(&str, &str)]| -> Output {
        let mut args = vec!["upscale", s(&catalog), "-o", s(&out), "--scale", "2", "--report", "-", "--overwrite"];
        args.extend(flags);
        command(&args, env).output().unwrap()
    };
    let third_of_three = shard_inputs(&shard(&["--shard", "3/3"], &[]), &catalog);

    let kubernetes = shard(&["--shard-from-env", "--shard-count", "3"], &[("JOB_COMPLETION_INDEX", "2")]);
    assert!(stderr(&kubernetes).contains("shard 3/3 (from JOB_COMPLETION_INDEX=2"), "{}", stderr(&kubernetes));
    assert_eq!(shard_inputs(&kubernetes, &catalog), third_of_three);
    let slurm = [("SLURM_ARRAY_TASK_ID", "12"), ("SLURM_ARRAY_TASK_MIN", "10"), ("SLURM_ARRAY_TASK_COUNT", "3")];
    assert_eq!(shard_inputs(&shard(&["--shard-from-env"], &slurm), &catalog), third_of_three);

    let without_count = shard(&["--shard-from-env"], &[("JOB_COMPLETION_INDEX", "2")]);
    assert_eq!(without_count.status.code(), Some(2));
    assert!(stderr(&without_count).contains("--shard-count"), "{}", stderr(&without_count));
    let nowhere = shard(&["--shard-from-env"], &[]);
    assert_eq!(nowhere.status.code(), Some(2));
    assert!(stderr(&nowhere).contains("JOB_COMPLETION_INDEX"), "{}", stderr(&nowhere));
    let beyond = shard(&["--shard", "4/3"], &[]);
    assert_eq!(beyond.status.code(), Some(2));
}

#[test]
fn four_shards_side_by_side_make_the_same_tree_as_one_run() {
    let dir = temp_dir("batch-side-by-side");
    let (catalog, files) = shard_catalog(&dir);
    let (one, four) = (dir.join("one"), dir.join("four"));
    let single =
        command(&["upscale", s(&catalog), "-o", s(&one), "--scale", "2", "--jobs", "3"], &[]).output().unwrap();
    assert_eq!(single.status.code(), Some(0), "{}", stderr(&single));

    let children: Vec<Child> = (1..=4)
        .map(|k| {
            let (shard, report) = (format!("{k}/4"), dir.join(format!("reports/{k}.jsonl")));
            let args =
                ["upscale", s(&catalog), "-o", s(&four), "--scale", "2", "--shard", &shard, "--report", s(&report)];
            command(&args, &[]).stderr(Stdio::piped()).spawn().expect("the upres binary runs")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    assert_eq!(tree(&four), tree(&one));
    assert_eq!(tree(&one).len(), files.len() - 1);
    for file in tree(&one) {
        let (a, b) = (image::open(one.join(&file)).unwrap(), image::open(four.join(&file)).unwrap());
        assert_eq!((a.width(), a.height()), (b.width(), b.height()), "{file}");
    }
    // The reports joined (`cat reports/*.jsonl`) have a line for each file, once.
    let joined: Vec<Value> = (1..=4).flat_map(|k| read_report(&dir.join(format!("reports/{k}.jsonl")))).collect();
    let joined = outcomes(&joined, &catalog);
    assert_eq!(joined.keys().cloned().collect::<Vec<_>>(), files);
}

/// Large enough is decided from the header alone: a file cut short after its header is large
/// enough all the same (decoding it would fail). With --copy-rest the large ones are copied.
#[test]
fn if_smaller_reads_only_headers_and_copy_rest_fills_the_tree() {
    let dir = temp_dir("batch-if-smaller");
    let catalog = dir.join("catalog");
    png(&catalog.join("small.png"), 8, 6);
    png(&catalog.join("wide/banner.png"), 60, 20);
    let mut whole = Vec::new();
    image::DynamicImage::from(common::test_image(300, 200))
        .write_to(&mut std::io::Cursor::new(&mut whole), image::ImageFormat::Png)
        .unwrap();
    std::fs::write(catalog.join("cut.png"), &whole[..whole.len() / 2]).unwrap();

    let out = dir.join("out");
    let args = ["upscale", s(&catalog), "-o", s(&out), "--scale", "2", "--if-smaller", "50", "--report", "-"];
    let result = command(&args, &[]).output().unwrap();
    assert_eq!(result.status.code(), Some(0), "{}", stderr(&result));
    let lines = parse_report(&String::from_utf8_lossy(&result.stdout));
    assert_eq!(
        outcomes(&lines, &catalog),
        expect(&[
            ("cut.png", "skipped", "large-enough"),
            ("small.png", "done", "-"),
            ("wide/banner.png", "skipped", "large-enough"),
        ])
    );
    let cut = lines.iter().find(|l| l["input"].as_str().unwrap().ends_with("cut.png")).unwrap();
    assert_eq!((cut["input_width"].as_u64(), cut["input_height"].as_u64()), (Some(300), Some(200)));
    assert_eq!(tree(&out), ["small@2x.png"]);

    // The box: 60×20 lies inside 61×50 (both sides smaller); 300×200 does not, and is copied.
    let args = [
        "upscale",
        s(&catalog),
        "-o",
        s(&out),
        "--scale",
        "2",
        "--if-smaller",
        "61x50",
        "--copy-rest",
        "--report",
        "-",
    ];
    let result = command(&args, &[]).output().unwrap();
    assert_eq!(result.status.code(), Some(0), "{}", stderr(&result));
    assert_eq!(
        outcomes(&parse_report(&String::from_utf8_lossy(&result.stdout)), &catalog),
        expect(&[("cut.png", "done", "copied"), ("small.png", "skipped", "exists"), ("wide/banner.png", "done", "-"),])
    );
    assert_eq!(tree(&out), ["cut.png", "small@2x.png", "wide/banner@2x.png"]);
    assert_eq!(std::fs::read(out.join("cut.png")).unwrap(), &whole[..whole.len() / 2], "copied unchanged");

    let bad = command(&["upscale", s(&catalog), "-o", s(&out), "--if-smaller", "big"], &[]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--if-smaller"), "{}", stderr(&bad));
}

/// `find … | upres upscale --from -`: the listed files mirror their paths below --root.
#[test]
fn a_list_from_standard_input_mirrors_paths_below_root() {
    let dir = temp_dir("batch-from");
    let catalog = dir.join("catalog");
    png(&catalog.join("a/x.png"), 8, 6);
    png(&catalog.join("b/x.png"), 8, 6);
    std::fs::write(catalog.join("readme.txt"), b"hello").unwrap();
    png(&dir.join("elsewhere/y.png"), 8, 6);
    let out = dir.join("out");
    let list = ["a/x.png", "b/x.png", "readme.txt", "../elsewhere/y.png", "b", "a/x.png"]
        .map(|p| s(&catalog.join(p)).to_owned())
        .join("\n");
    let args = ["upscale", "--from", "-", "--root", s(&catalog), "-o", s(&out), "--scale", "2", "--report", "-"];
    let result = run_with_stdin(&args, &list);
    assert_eq!(result.status.code(), Some(1), "the file outside --root failed: {}", stderr(&result));
    let lines = parse_report(&String::from_utf8_lossy(&result.stdout));
    assert_eq!(
        outcomes(&lines, &catalog),
        expect(&[
            ("../elsewhere/y.png", "failed", "outside-root"),
            ("a/x.png", "done", "-"),
            ("b", "skipped", "not-a-file"),
            ("b/x.png", "done", "-"),
            ("readme.txt", "skipped", "not-an-image"),
        ])
    );
    assert_eq!(tree(&out), ["a/x@2x.png", "b/x@2x.png"]);

    // Lists resume like folders: NUL-separated this time, as `find -print0` writes.
    let list = ["a/x.png", "b/x.png"].map(|p| s(&catalog.join(p)).to_owned()).join("\0");
    let result = run_with_stdin(&args, &list);
    assert_eq!(result.status.code(), Some(0), "{}", stderr(&result));
    let lines = parse_report(&String::from_utf8_lossy(&result.stdout));
    let statuses: BTreeSet<_> = outcomes(&lines, &catalog).into_values().collect();
    assert_eq!(statuses, BTreeSet::from([("skipped".into(), "exists".into())]));
}

/// Named files keep the flat output folder; two of the same name no longer overwrite each other.
#[test]
fn named_files_of_the_same_name_collide_instead_of_overwriting() {
    let dir = temp_dir("batch-collide");
    let (first, second) = (dir.join("one/photo.png"), dir.join("two/photo.png"));
    png(&first, 8, 6);
    png(&second, 6, 8);
    let out = dir.join("out");
    let result = upres(&["upscale", s(&first), s(&second), "-o", s(&out), "--scale", "2"]);
    let stderr_text = stderr(&result);
    assert_eq!(result.status.code(), Some(1), "{stderr_text}");
    assert!(stderr_text.contains("two/photo.png: its output would have the same name as that of"), "{stderr_text}");
    assert_eq!(tree(&out), ["photo@2x.png"]);
    let written = image::open(out.join("photo@2x.png")).unwrap();
    assert_eq!((written.width(), written.height()), (16, 12), "the first one's");
}

#[test]
fn an_output_folder_inside_the_catalog_is_not_walked_and_the_catalog_itself_is_refused() {
    let dir = temp_dir("batch-inside");
    let catalog = dir.join("catalog");
    png(&catalog.join("a.png"), 8, 6);
    let out = catalog.join("upscaled");
    for _ in 0..2 {
        let result = upres(&["upscale", s(&catalog), "-o", s(&out), "--scale", "2"]);
        assert_eq!(result.status.code(), Some(0), "{}", stderr(&result));
    }
    assert_eq!(tree(&out), ["a@2x.png"], "the outputs were not taken for inputs");

    let result = upres(&["upscale", s(&catalog), "-o", s(&catalog), "--scale", "2"]);
    assert_eq!(result.status.code(), Some(2));
    assert!(stderr(&result).contains("both the folder to upscale and the output folder"), "{}", stderr(&result));
}
