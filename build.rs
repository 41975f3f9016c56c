//! Embeds the shipped models (`models/*.json` cards and their `*.bpk` weights) into the native
//! CLI, so the binary works wherever it is copied. The web app fetches models instead.
//!
//! Also sets `burn_kernels` where burn runs the network: natively (the reference, training, the
//! GPU) and in the browser's WebGPU module, not in its CPU module, which runs the engine only and
//! so leaves burn's CPU kernels out of the page's first download.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(burn_kernels)");
    let wasm = std::env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|family| family.split(',').any(|f| f == "wasm"));
    if !wasm || std::env::var_os("CARGO_FEATURE_WGPU").is_some() {
        println!("cargo::rustc-cfg=burn_kernels");
    }
    // The folder (for models added or removed) and each embedded file; training state lives
    // elsewhere (training/), so a checkpoint never reruns this.
    println!("cargo:rerun-if-changed=models");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = Vec::new();
    if std::env::var_os("CARGO_FEATURE_CLI").is_some()
        && let Ok(entries) = std::fs::read_dir(manifest.join("models"))
    {
        files = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json" || e == "bpk"))
            .collect();
    }
    files.sort();
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let mut code = String::from(
        "/// (file name, contents) of every model file in `models/`.\npub static EMBEDDED_MODEL_FILES: &[(&str, &[u8])] = &[\n",
    );
    for path in &files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        writeln!(code, "    ({name:?}, include_bytes!({:?})),", path.display().to_string()).ok();
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_models.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
