#!/usr/bin/env bash
# upres build entry point.
#   ./build.sh          build the web app into www/ (serve that folder as it is, at any path)
#   ./build.sh serve    build, then serve www/ on 127.0.0.1:${PORT:-8080}
#   ./build.sh test     the JavaScript's lint and format check, rustfmt, the native tests (cargo test
#                       --all-targets, compiled with clippy's lints), the JavaScript's type check,
#                       then the web app's browser tests
#   ./build.sh lint-js  the JavaScript's lint, format and type checks alone (the type check needs
#                       the web build: run ./build.sh first)
#   ./build.sh cli      build the native command line (target/release/upres)
#   ./build.sh sizes    print the web app's file sizes (raw and gzip) as a Markdown table
#   ./build.sh models-readme   regenerate models/README.md from the cards and a fresh `upres eval`
#   ./build.sh fuzz [TARGET]   fuzz the pipeline, or TARGET (also $FUZZ_TARGET): exif, container or
#                              dqt, for ${FUZZ_MINUTES:-10} minutes (cargo-fuzz; see fuzz/README.md)
#   ./build.sh bench-browser   time the built www/ against UpscalerJS in headless Chromium, score the
#                              peers with `upres eval --outputs`, regenerate BENCHMARKS.md (extra
#                              arguments go to scripts/bench-browser.mjs)
#   ./build.sh bench-workers   the browser's CPU path with 1…cores tile workers, and where one
#                              worker's time goes beside the CLI's; regenerate BENCHMARKS.md
#   ./build.sh bench           time the native CLI (`upres bench`: CPU, and wgpu when an adapter
#                              starts) on crops of ${BENCH_PHOTO:-path.jpg}, regenerate BENCHMARKS.md
#   ./build.sh bench-batch     catalog throughput: 200 photos of 500–800 px to 2000 px, one process
#                              and --jobs 2, images per minute; regenerate BENCHMARKS.md
#   ./build.sh bench-encoders  each output format's bytes, encode time and PSNR on a 2000×2000
#                              upscale; regenerate the README's format table and BENCHMARKS.md
#   ./build.sh bench-teacher   upres's CPU engine against ncnn (PyPI's build, in its own Python
#                              environment) on the shared teacher; regenerate BENCHMARKS.md
#   ./build.sh benchmarks      regenerate BENCHMARKS.md and bench/chart.svg from bench/results/*.json
#
# The web build installs what it needs when it is missing: the wasm32 target, wasm-bindgen-cli
# of exactly the version in Cargo.lock, and the npm dev dependencies (fflate for "download all",
# binaryen's wasm-opt, playwright-core for the tests, Biome and TypeScript for the checks). System packages (chromium) are .ci/run's job.
# Models come from models/ (override with UPRES_MODELS=DIR).
set -euo pipefail
cd "$(dirname "$0")"

cmd=${1:-web}
target_dir=${CARGO_TARGET_DIR:-target}
models_dir=${UPRES_MODELS:-models}

native_tests() {
    # Clippy lints this crate while the test build compiles it: clippy-driver is rustc with the
    # lints added, run as cargo clippy runs it (the wrapper of this workspace's crates; its
    # arguments in CLIPPY_ARGS), so warnings fail the build. A separate `cargo clippy` would check
    # every dependency once more: 9 min 41 s of a cold run on this 2-core machine. The ci profile
    # (Cargo.toml) builds the dependencies for tests, not for training. Exported: the browser
    # tests' cargo (tests/e2e/hostile.test.mjs) takes the same profile and wrapper, rebuilding nothing.
    export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
    RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver)"
    CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
    cargo test --profile ci --all-targets 2>&1
}

# Biome lints and checks the formatting of www/, scripts/, tests/ and bench/ (biome.jsonc); fix
# what it finds with `node_modules/.bin/biome check --write`. Seconds: CI runs it first.
lint_js() {
    install_npm
    node_modules/.bin/biome ci --error-on-warnings
}

# TypeScript's checker over the JSDoc of www/ (the page and the workers: two sets of globals) and
# scripts/. It reads the declarations that the web build writes beside the wasm module and
# fflate, so it runs after that build.
check_js_types() {
    install_npm
    if [ ! -f www/pkg/upres.d.ts ] || [ ! -f www/vendor/fflate.d.ts ]; then
        echo "the type check reads www/pkg/upres.d.ts and www/vendor/fflate.d.ts: run ./build.sh first" >&2
        exit 2
    fi
    local project
    for project in tsconfig.json tsconfig.worker.json tsconfig.node.json; do
        node_modules/.bin/tsc -p "$project"
    done
}

install_web_tools() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        rustup target add wasm32-unknown-unknown
    fi
    # The CLI must match the wasm-bindgen crate exactly, or the generated glue is refused.
    local version
    version=$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p;}' Cargo.lock)
    if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $version" ]; then
        cargo install wasm-bindgen-cli --version "=$version"
    fi
    install_npm
}

install_npm() {
    # Playwright drives the system chromium; it must never fetch a browser of its own.
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
    fi
}

build_web() {
    install_web_tools
    # Two modules: every visitor loads the CPU one (burn's CPU backend only: a third of the size),
    # the tile workers run it, and the page fetches the WebGPU one (both backends) only when a
    # hardware adapter exists and WebGPU is chosen. The WebGPU module comes first: its wasm-opt
    # (one core, five minutes) runs while cargo compiles the CPU one, which shares most of its
    # dependencies and so takes less.
    compile_module webgpu web,cpu,wgpu
    finish_module webgpu www/pkg/webgpu -Oz &
    local webgpu_module=$!
    compile_module cpu web,cpu
    finish_module cpu www/pkg -O3
    wait "$webgpu_module"
    node scripts/web-assets.mjs assets "$models_dir"
    node scripts/web-assets.mjs sizes
}

# compile_module NAME FEATURES, with the `wasm` profile (Cargo.toml). Both modules share the
# target folder (cargo keeps each feature set's artifacts apart); each one's output is copied
# aside, keeping its time, since the next build overwrites upres.wasm. SIMD for the CPU backend's
# matrix kernels (every current browser has it) is set in .cargo/config.toml.
compile_module() {
    local name=$1 features=$2
    local built="$target_dir/wasm32-unknown-unknown/wasm"
    cargo build --lib --profile wasm --target wasm32-unknown-unknown --no-default-features --features "$features"
    cp -p "$built/upres.wasm" "$built/upres-$name.wasm"
}

# finish_module NAME OUT_DIR WASM_OPT_LEVEL: wasm-bindgen's glue and wasm-opt, only when cargo
# produced a new module (binaryen's JavaScript build takes minutes). The CPU module is optimised
# for speed: wasm-opt -O3 runs its network 24 % faster than -Oz (256² ×4 in Chromium: 430 against
# 565 ms) for 1.5 KiB more gzip; the WebGPU one, mostly CubeCL's kernel generator, for size. The
# TypeScript declarations are for the type check of www/ (the page never loads them;
# web-assets.mjs leaves them out of the sizes).
finish_module() {
    local name=$1 out=$2 level=$3
    local wasm="$target_dir/wasm32-unknown-unknown/wasm/upres-$name.wasm"
    if [ ! "$out/upres_bg.wasm" -nt "$wasm" ] || [ ! -f "$out/upres.d.ts" ]; then
        rm -f "$out"/upres.js "$out"/upres*.d.ts "$out/upres_bg.wasm"
        wasm-bindgen --target web --out-dir "$out" --out-name upres "$wasm"
        # binaryen from npm (pinned in package-lock.json): distributions' older wasm-opt breaks
        # wasm-bindgen's externref table.
        node_modules/.bin/wasm-opt "$level" --strip-debug --strip-producers \
            --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
            --enable-reference-types --enable-multivalue --enable-mutable-globals \
            "$out/upres_bg.wasm" -o "$out/upres_bg.wasm"
    fi
}

# The photo the benchmarks crop, or (for the command named in $1) why there is none.
bench_photo() {
    local photo="${UPRES_DATA:-../shared/data}/train/photos/${BENCH_PHOTO:-path.jpg}"
    [ -f "$photo" ] || { echo "$1: no photo at $photo (set UPRES_DATA or BENCH_PHOTO)" >&2; exit 2; }
    echo "$photo"
}

# Stops a running `upres train` (BENCH_PAUSE, a pgrep -f pattern; empty stops nothing) until this
# script ends, however it ends, so that no timing shares the CPU with it; $1: more to do on exit.
pause_training() {
    pause_pattern=${BENCH_PAUSE-upres[-a-z]* train}
    trap "${1:+$1; }[ -z \"\$pause_pattern\" ] || pkill -CONT -f \"\$pause_pattern\" || true" EXIT
    [ -z "$pause_pattern" ] || pkill -STOP -f "$pause_pattern" || true
}

run_fuzzer() {
    local target=$1 seeds corpus=fuzz/corpus/$1
    case "$target" in
        pipeline | exif | container | dqt) ;;
        *)
            echo "fuzz: no target '$target'; there are pipeline (the default), exif, container and dqt" >&2
            exit 2
            ;;
    esac
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
    seeds=$(mktemp -d)
    mkdir -p "$corpus"
    if [ "$target" = pipeline ]; then
        # Seeds: the hostile corpus, written by the test that checks it, each file behind the three
        # bytes that choose the job (0x60: 2×, PNG, tiles sized by the memory budget).
        UPRES_CORPUS_DIR="$seeds" cargo test --test hostile -- --exact every_hostile_file_gives_an_image_or_a_specific_error
        for file in "$seeds"/*; do
            [ "$(basename "$file")" = manifest.json ] && continue
            { printf '\140\000\000'; cat "$file"; } > "$corpus/seed-$(basename "$file")"
        done
    else
        # Seeds: files of every kind the parser reads, written by the test that checks them.
        UPRES_FUZZ_SEEDS="$seeds" cargo test --test suite -- --exact regression::the_parser_targets_seeds_pass_their_checks
        cp "$seeds/$target"/* "$corpus/"
    fi
    rm -rf "$seeds"
    # cargo-fuzz passes nightly-only flags (sanitizer, coverage instrumentation); RUSTC_BOOTSTRAP
    # lets the stable toolchain take them. Its own target folder: every crate is instrumented.
    # A single allocation over 256 MiB is a bug at the fuzzer's small limits, as is a run over 30 s.
    RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --target-dir "$target_dir/fuzz" "$target" "$corpus" -- \
        -max_total_time=$((${FUZZ_MINUTES:-10} * 60)) -max_len=65536 -malloc_limit_mb=256 -rss_limit_mb=2048 \
        -timeout=30 -print_final_stats=1
}

case "$cmd" in
    web)
        build_web
        ;;
    serve)
        build_web
        exec node scripts/serve.mjs www "${PORT:-8080}"
        ;;
    cli)
        cargo build --release --bin upres
        echo "built $target_dir/release/upres"
        ;;
    sizes)
        node scripts/web-assets.mjs sizes
        ;;
    models-readme)
        cargo build --bin upres
        node scripts/models-readme.mjs "$target_dir/debug/upres" "${UPRES_DATA:-../shared/data}"
        ;;
    bench-browser|bench-workers)
        # Times www/ as it is built (run ./build.sh first), so a benchmark never rebuilds the
        # module it measures. A running `upres train` is paused while timing (BENCH_PAUSE, a
        # pgrep -f pattern; empty pauses nothing); the trap continues it however this ends.
        # bench-workers: the CPU path at 256² and 512² ×4 with one tile worker per core and fewer,
        # and one worker's profile beside the CLI's on one thread (see scripts/bench-browser.mjs).
        if [ ! -f www/pkg/upres_bg.wasm ] || [ ! -f www/models/index.json ]; then
            echo "$cmd: www/ has no built app; run ./build.sh first" >&2
            exit 2
        fi
        mode=()
        [ "$cmd" = bench-workers ] && mode=(--only workers --sizes 256,512 --scales 4)
        install_npm
        export BENCH_PAUSE=${BENCH_PAUSE-upres[-a-z]* train}
        trap '[ -z "$BENCH_PAUSE" ] || pkill -CONT -f "$BENCH_PAUSE" || true' EXIT
        # The peers' outputs are scored by the same metric code as ours: `upres eval --outputs`.
        cargo build --bin upres
        node scripts/bench-browser.mjs --upres "$target_dir/debug/upres" "${mode[@]}" "${@:2}"
        node scripts/benchmarks-md.mjs
        ;;
    bench)
        # Same photo as the browser benchmark, so the two tables compare like with like. A
        # running `upres train` is stopped for the whole run and continued however this ends.
        photo=$(bench_photo bench)
        cargo build --bin upres
        pause_training
        "$target_dir/debug/upres" bench --image "$photo" --json bench/results/native.json "${@:2}"
        node scripts/benchmarks-md.mjs
        ;;
    bench-teacher)
        # upres's CPU engine against ncnn (the engine Upscayl uses, from PyPI, in a virtual
        # environment of its own) on the shared teacher, taking turns, one and two threads; to
        # bench/results/teacher.json and BENCHMARKS.md. A running `upres train` is stopped meanwhile.
        photo=$(bench_photo bench-teacher)
        teacher=${UPRES_TEACHER:-../shared/teachers/realesr-general-x4v3}
        [ -f "$teacher/model.param" ] || { echo "bench-teacher: no ncnn model in $teacher (set UPRES_TEACHER)" >&2; exit 2; }
        cargo build --bin upres
        venv="${XDG_CACHE_HOME:-$HOME/.cache}/upres-bench-ncnn"
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet ncnn==1.0.20261020 numpy==2.4.6 pillow==13.0.0
        pause_training
        "$venv/bin/python" scripts/bench-ncnn.py "$target_dir/debug/upres" "$teacher" "$photo" bench/results/teacher.json "${@:2}"
        node scripts/benchmarks-md.mjs
        ;;
    bench-encoders)
        # Each output format on a 2000×2000 upscale of the bench photo's centre: bytes, encode
        # time (the CLI's encoders, and Chromium's WebP encoder that the web app uses), PSNR-Y
        # against the lossless file as Chromium decodes it, and what each encoder adds to a cold
        # build; to bench/results/encoders.json and encoder-build.json, the README's format table
        # and BENCHMARKS.md. A running `upres train` is stopped while the encoders are timed.
        photo=$(bench_photo bench-encoders)
        cargo build --bin upres
        install_npm
        # What the encoders add to a cold build (a throwaway crate, built on one core).
        node scripts/encoder-build-cost.mjs > bench/results/encoder-build.json
        pause_training
        work=$(mktemp -d)
        "$target_dir/debug/upres" bench-encoders --image "$photo" --out "$work" --backend cpu
        node scripts/bench-encoders.mjs "$work" > bench/results/encoders.json
        rm -rf "$work"
        node scripts/benchmarks-md.mjs
        ;;
    bench-batch)
        # Catalog throughput: ${BATCH_SIZES} × the shared photos (200 JPEGs of 500–800 px, made
        # by upres itself: Lanczos3 down, centre crop), each to a long edge of 2000 px, as one
        # process and with --jobs 2; images per minute to bench/results/batch.json. A running
        # `upres train` is stopped meanwhile.
        photos="${UPRES_DATA:-../shared/data}/train/photos"
        cargo build --bin upres
        upres="$target_dir/debug/upres"
        work=$(mktemp -d)
        pause_training 'rm -rf "$work"'
        for size in ${BATCH_SIZES:-800x600 600x800 720x540 500x500 640x480 800x450 560x700 760x570}; do
            "$upres" upscale "$photos" -o "$work/catalog/$size" --target "$size" --fit cover \
                --format jpeg --quality 85 --backend cpu 2>/dev/null
        done
        runs=()
        for jobs in 1 2; do
            start=$(date +%s%N)
            "$upres" upscale "$work/catalog" -o "$work/out-$jobs" --long-edge 2000 --jobs "$jobs" \
                --backend cpu --report "$work/report-$jobs.jsonl" 2>/dev/null
            runs+=("$jobs:$(( ($(date +%s%N) - start) / 1000000 ))")
        done
        node scripts/bench-batch.mjs "$work" "${runs[@]}" > bench/results/batch.json
        node scripts/benchmarks-md.mjs
        ;;
    benchmarks)
        node scripts/benchmarks-md.mjs
        ;;
    fuzz)
        run_fuzzer "${2:-${FUZZ_TARGET:-pipeline}}"
        ;;
    lint-js)
        lint_js
        check_js_types
        ;;
    test)
        # Formatting first: it fails in seconds, the tests in minutes.
        lint_js
        cargo fmt --check
        # The web build runs beside the native tests: both have long stretches on one core (burn's
        # dispatch crate, each module's link-time optimisation, wasm-opt), which the other fills.
        # Its output waits in a file and follows the tests', so each reads in one piece.
        web_log=$(mktemp)
        build_web > "$web_log" 2>&1 &
        web=$!
        native=0
        native_tests || native=$?
        built=0
        wait "$web" || built=$?
        cat "$web_log"
        rm -f "$web_log"
        if [ "$native" != 0 ] || [ "$built" != 0 ]; then
            echo "the native tests ended with status $native, the web build with $built" >&2
            exit 1
        fi
        check_js_types
        # The browser-vs-native comparison runs the CLI built by the native tests (cargo test
        # builds $target_dir/ci/upres for tests/suite; `cargo build` would compile it again).
        node --test --test-concurrency=1 tests/e2e/ tests/benchmarks-md.test.mjs
        ;;
    *)
        echo "usage: $0 [web|serve|test|lint-js|cli|sizes|models-readme|bench|bench-browser|bench-workers|bench-batch|bench-encoders|bench-teacher|benchmarks|fuzz]" >&2
        exit 2
        ;;
esac
