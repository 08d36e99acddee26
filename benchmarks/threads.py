"""Honest code under the thread ban: the same reference code timed in the sandbox child
with the ban on (as deployed) and off, side by side in one run.

The child was single-threaded before the ban (the zygote runs torch, OpenMP, MKL and
OpenBLAS with one thread each), so the ban should cost nothing; this measures it. Two grading
slots are started, one with the seccomp kill of clone/clone3/fork/vfork and one without
(``Sandbox(disable=("threads",))``); each repeat spawns a fresh child in each slot, in
alternating order, and times what honest grading does there: the child's start
(confinement, scratch tmpfs, imports) and calls of the reference functions on inputs of the
hidden tests' sizes and a larger one. Call times are the child's own (``elapsed``, measured
around the student's function), start times are the judge's wall clock.

    .venv/bin/python -m benchmarks.threads [--repeats N] [--calls N] [--out FILE]

writes ``benchmarks/threads.json``: per arm and measure, the median, the spread (min, max,
interquartile range) and every sample; the lead's BENCHMARKS.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from autograder import build
from autograder.grading.sandbox import Sandbox

OUT = Path(__file__).with_name("threads.json")
ARMS = {"ban on": (), "ban off": ("threads",)}


def _inputs() -> dict[str, tuple[str, str, list]]:
    gen = torch.Generator().manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float32)

    return {
        "cross_corr_2d 12x10 * 3x2": ("cross_correlation", "cross_corr_2d",
                                      [randn(12, 10), randn(3, 2)]),
        "cross_corr_2d 128x128 * 5x5": ("cross_correlation", "cross_corr_2d",
                                        [randn(128, 128), randn(5, 5)]),
        "spatial_batchnorm_forward 4x3x5x6": (
            "batchnorm", "spatial_batchnorm_forward",
            [randn(4, 3, 5, 6), randn(3), randn(3), {"mode": "train"}]),
        "spatial_batchnorm_forward 32x16x32x32": (
            "batchnorm", "spatial_batchnorm_forward",
            [randn(32, 16, 32, 32), randn(16), randn(16), {"mode": "train"}]),
    }


def summary(samples: list[float]) -> dict:
    q = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return {"median_s": statistics.median(samples), "min_s": min(samples),
            "max_s": max(samples), "iqr_s": q[2] - q[0], "n": len(samples),
            "samples_s": samples}


def measure(repeats: int, calls: int) -> dict:
    inputs = _inputs()
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as folder:
        submission = Path(folder) / "ref"
        build.solution(submission)
        boxes = {arm: Sandbox(slot=50 + i, disable=off) for i, (arm, off) in
                 enumerate(ARMS.items())}
        samples: dict[str, dict[str, list[float]]] = {
            arm: {"child start": [], **{name: [] for name in inputs}} for arm in ARMS}
        try:
            for box in boxes.values():
                box.start()
            facts = {arm: {k: box.facilities.get(k) for k in ("seccomp", "threads", "scratch")}
                     for arm, box in boxes.items()}
            workdirs = {arm: box.prepare(submission)[0] for arm, box in boxes.items()}
            for r in range(repeats):
                order = list(ARMS) if r % 2 == 0 else list(ARMS)[::-1]
                for arm in order:
                    box = boxes[arm]
                    start = time.perf_counter()
                    child = box.spawn(workdirs[arm])
                    for module in ("cross_correlation", "batchnorm"):
                        loaded = child.load(module, timeout=60)
                        assert loaded.ok, loaded.describe()
                    samples[arm]["child start"].append(time.perf_counter() - start)
                    for name, (module, fn, args) in inputs.items():
                        for _ in range(calls):
                            result = child.call(module, fn, args, timeout=60)
                            assert result.ok, f"{arm}: {name} {result.describe()}"
                            samples[arm][name].append(result.elapsed)
                    child.close()
                    box.cleanup()
        finally:
            for box in boxes.values():
                box.close()
    arms = {arm: {name: summary(s) for name, s in by.items()} for arm, by in samples.items()}
    ratios = {name: arms["ban on"][name]["median_s"] / arms["ban off"][name]["median_s"]
              for name in arms["ban on"]}
    return {"what": "honest reference code in the sandbox child, thread ban on vs off",
            "repeats": repeats, "calls_per_repeat": calls, "facilities": facts,
            "machine": {"cpus": torch.get_num_threads(), "python": platform.python_version(),
                        "torch": torch.__version__, "platform": platform.platform()},
            "arms": arms, "ratio_on_over_off": ratios}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    data = measure(args.repeats, args.calls)
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    for name, ratio in data["ratio_on_over_off"].items():
        on, off = data["arms"]["ban on"][name], data["arms"]["ban off"][name]
        print(f"{name:40s} on {on['median_s'] * 1e3:8.3f} ms  off {off['median_s'] * 1e3:8.3f}"
              f" ms  on/off {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
