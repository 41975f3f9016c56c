//! `upres bench`: every case is measured and reported consistently in its JSON.

use crate::common;

use std::process::Command;

#[test]
fn bench_reports_every_case_with_consistent_numbers() {
    let dir = std::env::temp_dir().join(format!("upres-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let photo = dir.join("photo.png");
    common::test_image(80, 60).save(&photo).unwrap();
    let json = dir.join("bench.json");
    let run = Command::new(env!("CARGO_BIN_EXE_upres"))
        .args(["bench", "--backend", "cpu", "--sizes", "32,48", "--scales", "2,4", "--runs", "3", "--image"])
        .arg(&photo)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("upres bench runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(report["machine"]["build"].as_str().unwrap().contains("profile"), "{report:#}");
    // After 2026-01-01: the date BENCHMARKS.md prints comes from the report, not the file.
    assert!(report["unix_time"].as_u64().unwrap() > 1_767_225_600, "{report:#}");
    let runs = report["runs"].as_array().unwrap();
    // 2 sizes × 2 scales × (the network on the CPU, bicubic, Lanczos3).
    assert_eq!(runs.len(), 12, "{report:#}");
    for (size, scale) in [(32, 2), (32, 4), (48, 2), (48, 4)] {
        let input = format!("{size}x{size}");
        for method in [format!("upres-x{scale}"), "bicubic".into(), "lanczos3".into()] {
            let case = runs
                .iter()
                .find(|r| r["input"] == input.as_str() && r["scale"] == scale && r["method"] == method.as_str())
                .unwrap_or_else(|| panic!("no {method} {input} ×{scale} in {report:#}"));
            let warm = case["warm_median_ms"].as_f64().unwrap();
            assert!(warm > 0.0 && case["cold_ms"].as_f64().unwrap() > 0.0, "{case}");
            let megapixels = f64::from(size * size) * f64::from(scale * scale) / 1e6;
            let rate = case["output_mp_per_s"].as_f64().unwrap();
            assert!((rate - megapixels / (warm / 1000.0)).abs() <= 1e-6 * rate, "{case}");
            assert_eq!(case["warm_runs"], 3);
            if cfg!(target_os = "linux") {
                assert!(case["peak_rss_mib"].as_f64().unwrap() > 1.0, "{case}");
            }
        }
    }
    assert!(stdout.contains("| upres-x4 | cpu (upres engine, "), "{stdout}");

    let too_big = Command::new(env!("CARGO_BIN_EXE_upres"))
        .args(["bench", "--backend", "cpu", "--sizes", "512", "--image"])
        .arg(&photo)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&too_big.stderr);
    assert_eq!(too_big.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("80×60") && stderr.contains("512×512"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
