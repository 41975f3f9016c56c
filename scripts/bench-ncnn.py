"""upres's CPU engine against ncnn (the engine Upscayl runs its models on) on the same network:
the shared teacher, Real-ESRGAN's compact model, as its ncnn files. Same photo crop, same
machine, one and two threads, upres's CLI and ncnn's Python build taking turns, so that the ratio
is of one run. Writes bench/results/teacher.json; scripts/benchmarks-md.mjs puts it in
BENCHMARKS.md. Run by `./build.sh bench-teacher`, which makes the Python environment.

Usage: bench-ncnn.py UPRES TEACHER_DIR PHOTO OUT.json [--sizes 256] [--runs 5]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time

import ncnn
import numpy as np
from PIL import Image


def centre_crop(photo, side):
    image = Image.open(photo).convert("RGB")
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def ncnn_times(teacher, crop, threads, runs):
    """Cold and warm median milliseconds of ncnn's fp32 CPU path on `crop`, as Upscayl runs it
    (one extractor per image), and the output for a check against upres's."""
    net = ncnn.Net()
    net.opt.num_threads = threads
    # fp32 storage and arithmetic: the same precision as upres's engine (ncnn's default on x86).
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    net.load_param(os.path.join(teacher, "model.param"))
    net.load_model(os.path.join(teacher, "model.bin"))
    planar = np.ascontiguousarray(np.asarray(crop, dtype=np.float32).transpose(2, 0, 1) / 255.0)

    def once():
        extractor = net.create_extractor()
        extractor.input("data", ncnn.Mat(planar))
        _, output = extractor.extract("output")
        return np.array(output)

    started = time.perf_counter()
    output = once()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(runs):
        started = time.perf_counter()
        once()
        warm.append(time.perf_counter() - started)
    return 1e3 * cold, 1e3 * statistics.median(warm), output


def upres_times(upres, teacher, photo, side, threads, runs):
    """upres's warm median and cold milliseconds for the same crop (`upres bench --model`)."""
    with tempfile.TemporaryDirectory() as folder:
        results = os.path.join(folder, "bench.json")
        command = [upres, "bench", "--image", photo, "--model", os.path.join(teacher, "model.param")]
        command += ["--backend", "cpu", "--sizes", str(side), "--scales", "4", "--runs", str(runs), "--json", results]
        subprocess.run(command, check=True, env={**os.environ, "RAYON_NUM_THREADS": str(threads)},
                       stdout=subprocess.DEVNULL)
        with open(results) as file:
            report = json.load(file)
    run = next(r for r in report["runs"] if r["backend"].startswith("cpu (upres engine"))
    return run["cold_ms"], run["warm_median_ms"], run["backend"], report["machine"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("upres")
    parser.add_argument("teacher")
    parser.add_argument("photo")
    parser.add_argument("out")
    parser.add_argument("--sizes", default="256")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    rows = []
    machine = None
    for side in map(int, args.sizes.split(",")):
        crop = centre_crop(args.photo, side)
        for threads in (1, 2):
            upres_cold, upres_warm, backend, machine = upres_times(
                args.upres, args.teacher, args.photo, side, threads, args.runs)
            ncnn_cold, ncnn_warm, output = ncnn_times(args.teacher, crop, threads, args.runs)
            assert output.shape == (3, 4 * side, 4 * side), f"ncnn's output is {output.shape}"
            row = {
                "input": f"{side}x{side}", "scale": 4, "threads": threads,
                "upres_backend": backend, "upres_cold_ms": upres_cold, "upres_warm_median_ms": upres_warm,
                "ncnn_cold_ms": ncnn_cold, "ncnn_warm_median_ms": ncnn_warm,
                "ratio": upres_warm / ncnn_warm, "warm_runs": args.runs,
            }
            print(json.dumps(row))
            rows.append(row)
    report = {
        "unix_time": int(time.time()),
        "machine": machine,
        "image": args.photo,
        "teacher": args.teacher,
        "ncnn": f"ncnn {ncnn.__version__} (PyPI, fp32, Python {platform.python_version()})",
        "runs": rows,
    }
    with open(args.out, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")


if __name__ == "__main__":
    main()
