"""Measuring: every benchmark of the kit, written as plain data (``BENCHMARKS.json``).

Nothing here writes prose; ``benchmarks/render.py`` turns the JSON into ``BENCHMARKS.md``.
Every comparison is a pair of timings taken side by side in one run on one machine, and
every ratio that the document shows is computed here and stored in the JSON.
"""

from __future__ import annotations

import cProfile
import datetime
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from itertools import chain, zip_longest
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils import benchmark as tbench  # noqa: E402

from autograder import build, points, reference_fast  # noqa: E402
from autograder.grading import grade  # noqa: E402
from autograder.grading.sandbox import Limits, Sandbox  # noqa: E402
from benchmarks import stock_nbgrader as nbg  # noqa: E402

SLOW_VARIANTS = ("cc_double_loop", "bn_channel_loop")


@dataclass
class Config:
    class_sizes: tuple[int, int] = (4, 12)
    grade_repeats: int = 3
    single_repeats: int = 3
    marginal_n: int = 12
    cc_sizes: tuple[int, ...] = (64, 256, 1024)
    cc_kernels: tuple[int, ...] = (1, 3, 7)
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64)
    bn_shapes: tuple[tuple[int, int, int, int], ...] = ((8, 16, 32, 32), (32, 64, 56, 56))
    threads: int = 1
    min_run_time: float = 0.3
    nbgrader: bool = True
    extra: dict = field(default_factory=dict)


FULL = Config()
QUICK = Config(class_sizes=(2, 3), grade_repeats=1, single_repeats=1, marginal_n=3,
               cc_sizes=(16, 48), cc_kernels=(1, 3), bn_shapes=((2, 3, 4, 4),),
               min_run_time=0.02)


def reference_module(name: str) -> dict:
    """The master reference ``source/<name>.py`` (solution regions kept), as a namespace."""
    path = build.MASTER / "source" / f"{name}.py"
    code = build.unmark_python(path.read_text(encoding="utf-8"), f"source/{name}.py")
    namespace: dict = {"__name__": f"benchmark_reference_{name}"}
    exec(compile(code, str(path), "exec"), namespace)  # our own reference, not student code
    return namespace


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / (1 << 20), 1)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem,
            "os": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads_default": torch.get_num_threads(),
            "loadavg_start": _loadavg()}


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
        # The record itself (BENCHMARKS.md and .json) does not make the measured code dirty.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":!BENCHMARKS.md", ":!BENCHMARKS.json"],
                               cwd=REPO, capture_output=True, text=True).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _variants():
    from tests.variants import all_variants, make_submission
    return all_variants, make_submission


def make_class(dest: Path, size: int) -> list[Path]:
    """A synthetic class: the reference, the stubs, then the buggy cross-correlations, the
    buggy batch norms and the correct variants taken in turn, cycled. Its first n
    submissions are the class of size n, so a smaller class is part of a larger one."""
    all_variants, make_submission = _variants()
    bugs = all_variants("bugs")
    rotation = zip_longest([v for v in bugs if v.section == "cross_correlation"],
                           [v for v in bugs if v.section != "cross_correlation"],
                           all_variants("correct"))
    kinds: list[tuple[str, object]] = [("reference", None), ("stubs", "stubs")]
    kinds += [(v.name, v) for v in chain.from_iterable(rotation) if v is not None]
    templates = dest / "_templates"
    paths = []
    for i in range(size):
        name, variant = kinds[i % len(kinds)]
        template = templates / name
        if not template.exists():
            if variant == "stubs":
                build.release(template)
            elif variant is None:
                build.solution(template)
            else:
                make_submission(template, variant)
        target = dest / f"student{i:03d}-{name}"
        shutil.copytree(template, target)
        paths.append(target)
    return paths


# ----------------------------------------------------------------- 1. class-scale grading

def grade_cli(paths: list[Path], out: Path, jobs: int) -> dict:
    """``python -m autograder grade SUB... --jobs N --json OUT`` end to end, as an instructor
    runs it. `out` must be a new folder: a journal left there would skip the grading."""
    out.mkdir(parents=True, exist_ok=False)
    grades = out / "grades.json"
    cmd = [sys.executable, "-m", "autograder", "grade", *map(str, paths), "--jobs", str(jobs),
           "--json", str(grades)]
    elapsed, rc, tail, cpu = nbg.run(cmd, REPO)
    results = json.loads(grades.read_text())["submissions"] if grades.exists() else []
    return {"seconds": elapsed, "cpu_s": cpu, "rc": rc, "graded": len(results),
            "n": len(paths),
            "error": None if rc == 0 else tail,
            "scores": {r["submission"]: {k: v["score"] for k, v in r["sections"].items()}
                       for r in results},
            # what the latency timing added to each submission (grading/latency.py)
            "latency_s": [r["latency"]["cost_s"] for r in results
                          if "cost_s" in (r.get("latency") or {})]}


def nbgrader_autograde(paths: list[Path], dest: Path, kind: str) -> dict:
    """``nbgrader autograde hw1`` on the class, in a fresh temporary course root.

    ``generate_assignment`` runs first and is timed on its own: an instructor runs it once
    per assignment, not once per grading."""
    root = nbg.course_root(dest, kind)
    gen_s, rc, tail, _ = nbg.generate(root)
    result = {"label": nbg.LABELS[kind], "n": len(paths), "generate_s": gen_s,
              "seconds": None, "rc": rc, "graded": 0, "error": None, "scores": {}}
    if rc != 0:
        result["error"] = "generate_assignment failed: " + tail.strip().splitlines()[-1][:300]
        return result
    for path in paths:
        nbg.submit(root, kind, path)
    elapsed, rc, tail, cpu = nbg.autograde(root)
    graded = sum(1 for p in paths
                 if (root / "autograded" / p.name / nbg.ASSIGNMENT / nbg.NOTEBOOK).exists())
    result.update(seconds=elapsed, cpu_s=cpu, rc=rc, graded=graded)
    if rc != 0 or graded != len(paths):
        lines = [ln for ln in tail.strip().splitlines() if ln.strip()]
        result["error"] = (f"rc {rc}, {graded} of {len(paths)} autograded: "
                           + (lines[-1][:300] if lines else ""))
    book = nbg.gradebook_scores(root, [p.name for p in paths])
    result["scores"] = {name: entry.get("sections") for name, entry in book.items()}
    shutil.rmtree(root, ignore_errors=True)
    return result


# A fitted cost below this is not a measurement: the spread of the runs swallowed it.
MIN_FITTED_S = 0.005


def _fit(points_: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares (fixed, per submission) through (class size, seconds) points."""
    xs, ys = [float(n) for n, _ in points_], [t for _, t in points_]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    per = (sum((x - mx) * (y - my) for x, y in zip(xs, ys))
           / sum((x - mx) ** 2 for x in xs))
    return my - per * mx, per


def linear_fit(times: dict[int, float | list[float]]) -> dict | None:
    """Fixed cost and cost per submission, least squares over every class size given.

    A size may hold one time or the times of its repeats. With repeats, the fit over all
    runs is the figure, and ``*_range`` the least and greatest fits over the repeats taken
    one index at a time (run i of every size), so the spread of the runs shows. A fitted
    cost at or under ``MIN_FITTED_S`` (a negative fixed cost, say) is an ``error``, never
    a number."""
    runs = {n: (t if isinstance(t, list) else [t]) for n, t in times.items()}
    if len(runs) < 2 or any(t is None for ts in runs.values() for t in ts):
        return None
    fixed, per = _fit([(n, t) for n, ts in runs.items() for t in ts])
    out: dict = {"fixed_s": fixed, "per_submission_s": per, "sizes": sorted(runs)}
    repeats = min(len(ts) for ts in runs.values())
    if repeats > 1:
        fits = [_fit([(n, ts[i]) for n, ts in runs.items()]) for i in range(repeats)]
        out["fixed_s_range"] = [min(f for f, _ in fits), max(f for f, _ in fits)]
        out["per_submission_s_range"] = [min(p for _, p in fits), max(p for _, p in fits)]
    bad = [k for k in ("fixed_s", "per_submission_s") if out[k] <= MIN_FITTED_S]
    if bad:
        out["error"] = (f"fitted {' and '.join(bad)} at or under {MIN_FITTED_S} s: the "
                        "spread of the runs is larger than the cost; not a measurement")
    return out


RUN_KEYS = ("seconds", "cpu_s", "rc", "graded", "error", "generate_s")
TOOLS = ("grade_jobs1", "grade_jobs2", "nbgrader_stock", "nbgrader_kit")


def bench_class(cfg: Config, work: Path) -> dict:
    """Each tool on the same class at two sizes; sizes and tools interleaved.

    Our command is run `grade_repeats` times per size and its fastest run kept (the
    least disturbed by other work on the machine); each nbgrader run takes minutes, so
    it runs once per size."""
    sizes = tuple(sorted(cfg.class_sizes))
    paths = make_class(work / "class", sizes[-1])
    tools = TOOLS if cfg.nbgrader else TOOLS[:2]
    runs: dict[str, dict[int, list[dict]]] = {t: {n: [] for n in sizes} for t in tools}
    count = 0
    for n in sizes:
        members = paths[:n]
        for _ in range(cfg.grade_repeats):
            for jobs in (1, 2):
                count += 1
                runs[f"grade_jobs{jobs}"][n].append(
                    grade_cli(members, work / f"grade-{count}", jobs))
        if cfg.nbgrader:
            for kind in (nbg.STOCK, nbg.KIT):
                count += 1
                runs[f"nbgrader_{kind}"][n].append(
                    nbgrader_autograde(members, work / f"nbgrader-{count}", kind))
    out: dict = {"sizes": list(sizes), "members": [p.name for p in paths],
                 "grade_repeats": cfg.grade_repeats, "tools": {}}
    for tool in tools:
        entry: dict = {"runs": {}, "seconds": {}, "cpu_s": {}, "complete": True}
        for n in sizes:
            ok = [r for r in runs[tool][n] if r["rc"] == 0 and r["graded"] == n]
            entry["runs"][str(n)] = [{k: r[k] for k in RUN_KEYS if k in r}
                                     for r in runs[tool][n]]
            entry["seconds"][str(n)] = min(r["seconds"] for r in ok) if ok else None
            entry["cpu_s"][str(n)] = min(r["cpu_s"] for r in ok) if ok else None
            entry["complete"] &= bool(ok)
        if tool.startswith("nbgrader"):
            entry["label"] = runs[tool][sizes[0]][0]["label"]
        fit = linear_fit({n: entry["seconds"][str(n)] for n in sizes})
        entry["fit"] = fit
        entry["fit_cpu"] = linear_fit({n: entry["cpu_s"][str(n)] for n in sizes})
        # Section scores of the largest class, for the sanity check.
        entry["scores"] = runs[tool][sizes[-1]][-1]["scores"]
        out["tools"][tool] = entry
    out["ratios"] = class_ratios(out)
    out["sanity"] = sanity(out)
    return out


def class_ratios(c: dict) -> dict:
    """Stock nbgrader's cost over ours, each from the same run's numbers."""
    tools = c["tools"]
    stock = tools.get("nbgrader_stock")
    ratios: dict = {}
    if not stock or not stock["complete"]:
        return ratios
    for ours in ("grade_jobs1", "grade_jobs2"):
        mine = tools.get(ours)
        if not mine or not mine["complete"]:
            continue
        r = {f"wall_{n}": stock["seconds"][str(n)] / mine["seconds"][str(n)]
             for n in c["sizes"]}
        for fit, prefix in (("fit", ""), ("fit_cpu", "cpu_")):
            if stock.get(fit) and mine.get(fit):
                for part in ("fixed_s", "per_submission_s"):
                    # A fitted cost at or below zero is noise, and so is its ratio.
                    r[prefix + part] = (stock[fit][part] / mine[fit][part]
                                        if min(mine[fit][part], stock[fit][part]) > 0
                                        else None)
        ratios[f"stock_over_{ours}"] = r
    return ratios


def sanity(c: dict) -> dict:
    """Are the baseline's scores sane? Section scores of stock nbgrader and of ours side by
    side, for every member of the largest class."""
    tools = c["tools"]
    ours = tools["grade_jobs1"]["scores"]
    rows = []
    for name in c["members"]:
        row = {"submission": name, "grade": ours.get(name)}
        for tool in ("nbgrader_stock", "nbgrader_kit"):
            if tool in tools:
                row[tool] = tools[tool]["scores"].get(name)
        rows.append(row)
    auto_max = {s: points.section_auto_max(s) for s in ("warmup", "cross_correlation",
                                                               "spatial_batchnorm")}

    def total(scores):
        return None if not scores else round(sum(scores.values()), 4)

    def kind(name):
        return name.split("-", 1)[1]

    out: dict = {"rows": rows, "auto_max": auto_max, "auto_total": sum(auto_max.values())}
    for tool in ("grade_jobs1", "nbgrader_stock", "nbgrader_kit"):
        if tool not in tools:
            continue
        scores = tools[tool]["scores"]
        out[tool] = {
            "stubs": [total(v) for k, v in scores.items() if kind(k) == "stubs"],
            "reference": [total(v) for k, v in scores.items() if kind(k) == "reference"],
        }
    if "nbgrader_stock" in tools:
        stock = tools["nbgrader_stock"]["scores"]
        out["disagreements"] = [
            {"submission": n, "section": s, "grade": ours[n][s], "nbgrader_stock": stock[n][s]}
            for n in c["members"] if ours.get(n) and stock.get(n)
            for s in auto_max if abs(ours[n][s] - stock[n][s]) > 1e-3]
        bugs = [n for n in c["members"] if kind(n) not in ("reference", "stubs")
                and kind(n) in _bug_names()]
        out["stock_bugs_losing_points"] = sum(
            1 for n in bugs if stock.get(n) and total(stock[n]) < out["auto_total"] - 1e-6)
        out["bugs"] = len(bugs)
    return out


def _bug_names() -> set[str]:
    all_variants, _ = _variants()
    return {v.name for v in all_variants("bugs")}


# ----------------------------------------------------------------- 1a. one submission

def bench_single(cfg: Config, work: Path) -> dict:
    """``python -m autograder grade SUB --json OUT`` on the reference, from the command's
    start to its results; the median of `single_repeats` runs."""
    sub = work / "single" / "reference"
    if not sub.exists():
        build.solution(sub)
    runs = [grade_cli([sub], work / "single" / f"out-{i}", jobs=1)
            for i in range(cfg.single_repeats)]
    ok = [r["seconds"] for r in runs if r["rc"] == 0 and r["graded"] == 1]
    return {"repeats": cfg.single_repeats, "times_s": [r["seconds"] for r in runs],
            "median_s": statistics.median(ok) if ok else None,
            "cpu_s": [r["cpu_s"] for r in runs],
            "errors": [r["error"] for r in runs if r["error"]],
            "scores": [r["scores"] for r in runs][:1]}


PROFILE_GROUPS = (
    ("round trips to the student's process (wait incl. its compute)", "sandbox.py",
     "_exchange"),
    ("reference values: ref_cc (F.conv2d, float64)", "hidden_tests.py", "ref_cc"),
    ("reference values: batch-norm autograd grads", "hidden_tests.py", "ref_bn_grads"),
    ("comparisons (close)", "hidden_tests.py", "close"),
    ("static checks of the source", "static.py", "analyse"),
    ("copy source/ into the sandbox", "sandbox.py", "prepare"),
    ("fork the child", "sandbox.py", "spawn"),
    ("clean up after the submission", "sandbox.py", "cleanup"),
    ("warm-up (e) answer from the notebook", "warmup.py", "grade_answer_e"),
    ("encode arguments (judge side)", "wire.py", "encode"),
    ("decode results (judge side)", "wire.py", "decode"),
)


def bench_marginal(cfg: Config, work: Path, sandbox: Sandbox | None = None) -> dict:
    """Grade N reference submissions with one warm sandbox: (total - first) / (N - 1)."""
    sub = work / "reference"
    if not sub.exists():
        build.solution(sub)
    own = sandbox is None
    start = time.perf_counter()
    if own:
        sandbox = Sandbox(limits=Limits())
        sandbox.start()
    start_s = time.perf_counter() - start
    # What confinement was in force while these were graded (it is always on).
    facilities, notes = dict(sandbox.facilities), list(sandbox.notes)
    try:
        times, scores = [], set()
        for _ in range(cfg.marginal_n):
            t0 = time.perf_counter()
            scores.add(grade.grade_submission(sub, sandbox=sandbox)["score"])
            times.append(time.perf_counter() - t0)
        profiler = cProfile.Profile()
        runs = max(cfg.marginal_n - 1, 1)
        profiler.enable()
        for _ in range(runs):
            grade.grade_submission(sub, sandbox=sandbox)
        profiler.disable()
    finally:
        if own:
            sandbox.close()
    marginal = (sum(times) - times[0]) / max(len(times) - 1, 1)
    stats = pstats.Stats(profiler).stats
    total = sum(v[2] for v in stats.values())  # tottime of everything = profiled wall
    groups = []
    for label, file, func in PROFILE_GROUPS:
        cum = sum(v[3] for (f, _, fn), v in stats.items() if f.endswith(file) and fn == func)
        groups.append({"what": label, "s_per_submission": cum / runs})
    return {"n": cfg.marginal_n, "sandbox_start_s": start_s if own else None,
            "sandbox_facilities": facilities, "sandbox_notes": notes,
            "first_s": times[0], "times_s": times, "marginal_s": marginal,
            "scores": sorted(scores), "profile_total_s_per_submission": total / runs,
            "profile": groups}


# ----------------------------------------------------------------- 2. cross-correlation

def _timer(stmt: str, env: dict, threads: int, min_run_time: float) -> float:
    timer = tbench.Timer(stmt=stmt, globals=env, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median


def bench_cc(cfg: Config) -> list[dict]:
    cc = reference_module("cross_correlation")["cross_corr_2d"]
    rows = []
    gen = torch.Generator().manual_seed(0)
    for dtype in cfg.dtypes:
        for size in cfg.cc_sizes:
            for k in cfg.cc_kernels:
                X = torch.randn(size, size, generator=gen, dtype=torch.float64).to(dtype)
                K = torch.randn(k, k, generator=gen, dtype=torch.float64).to(dtype)
                X4, K4 = X[None, None], K[None, None]
                err = (cc(X, K).double() - F.conv2d(X4, K4)[0, 0].double()).abs().max().item()
                env = {"cc": cc, "F": F, "X": X, "K": K, "X4": X4, "K4": K4}
                # Interleaved: ours, theirs, ours, theirs; the best of each pair of runs.
                ours = theirs = float("inf")
                for _ in range(2):
                    ours = min(ours, _timer("cc(X, K)", env, cfg.threads, cfg.min_run_time))
                    theirs = min(theirs, _timer("F.conv2d(X4, K4)", env, cfg.threads,
                                                cfg.min_run_time))
                rows.append({"dtype": str(dtype).replace("torch.", ""), "size": size, "k": k,
                             "ours_us": ours * 1e6, "conv2d_us": theirs * 1e6,
                             "ratio": ours / theirs, "max_abs_err": err})
    return rows


# ----------------------------------------------------------------- 3. batch norm

MEMORY_PROBE = r"""
import json, resource, sys
import torch, torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
from autograder.reference_fast import (spatial_batchnorm_backward_fast as bwd,
                                      spatial_batchnorm_forward_fast as fwd)
which, shape = sys.argv[2], tuple(int(s) for s in sys.argv[3].split(","))
torch.set_num_threads(int(sys.argv[4]))
def run(x, gamma, beta, dout):
    if which == "ours":
        out, cache = fwd(x, gamma, beta, {"mode": "train"})
        return bwd(dout, cache)
    x, gamma, beta = (t.requires_grad_() for t in (x, gamma, beta))
    rm, rv = torch.zeros(x.shape[1]), torch.ones(x.shape[1])
    F.batch_norm(x, rm, rv, gamma, beta, training=True, eps=1e-5).backward(dout)
    return x.grad, gamma.grad, beta.grad
def inputs(shape):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(*shape, generator=g), torch.rand(shape[1], generator=g) + 0.5,
            torch.randn(shape[1], generator=g), torch.randn(*shape, generator=g))
run(*inputs((2, shape[1], 3, 3)))  # lazy set-up of both paths, on a tiny batch
args = inputs(shape)
def status(key):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith(key + ":"))
try:  # reset the high-water mark (VmHWM) to the current RSS: torch's import peaks higher
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = status("VmRSS")
    result = run(*args)
    after = status("VmHWM")
except OSError:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = run(*args)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"peak_extra_bytes": after - before}))
"""


def bn_peak_memory(which: str, shape: tuple, threads: int) -> int | None:
    """Rise of the RSS high-water mark over one forward+backward, in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(REPO), which,
                           ",".join(map(str, shape)), str(threads)],
                          capture_output=True, text=True, env=nbg.env(), timeout=600)
    try:
        return int(json.loads(proc.stdout.strip().splitlines()[-1])["peak_extra_bytes"])
    except (ValueError, IndexError, KeyError):
        return None


def bench_bn(cfg: Config) -> list[dict]:
    # The fast reference: the readable one in master/ trades speed for a plain layout change.
    rows = []
    for shape in cfg.bn_shapes:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(*shape, generator=gen)
        gamma = torch.rand(shape[1], generator=gen) + 0.5
        beta = torch.randn(shape[1], generator=gen)
        dout = torch.randn(*shape, generator=gen)
        xg, gg, bg = (t.clone().requires_grad_() for t in (x, gamma, beta))
        rm, rv = torch.zeros(shape[1]), torch.ones(shape[1])
        env = {"fwd": reference_fast.spatial_batchnorm_forward_fast,
               "bwd": reference_fast.spatial_batchnorm_backward_fast,
               "F": F, "x": x, "gamma": gamma, "beta": beta, "dout": dout,
               "xg": xg, "gg": gg, "bg": bg, "rm": rm, "rv": rv}
        ours_stmt = "out, cache = fwd(x, gamma, beta, {'mode': 'train'}); bwd(dout, cache)"
        native_stmt = ("xg.grad = gg.grad = bg.grad = None; "
                       "F.batch_norm(xg, rm, rv, gg, bg, training=True, eps=1e-5)"
                       ".backward(dout)")
        ours = native = float("inf")
        for _ in range(2):
            ours = min(ours, _timer(ours_stmt, env, cfg.threads, cfg.min_run_time))
            native = min(native, _timer(native_stmt, env, cfg.threads, cfg.min_run_time))
        rows.append({"shape": list(shape), "dtype": "float32",
                     "ours_ms": ours * 1e3, "native_ms": native * 1e3, "ratio": ours / native,
                     "input_mb": x.numel() * 4 / 2**20,
                     "ours_peak_mb": _mb(bn_peak_memory("ours", shape, cfg.threads)),
                     "native_peak_mb": _mb(bn_peak_memory("native", shape, cfg.threads))})
    return rows


def _mb(n: int | None) -> float | None:
    return None if n is None else n / 2**20


# ----------------------------------------------------------------- 4. the notebook

def bench_notebook(work: Path) -> dict:
    import nbformat
    from nbclient import NotebookClient

    sub = work / "notebook"
    if sub.exists():
        shutil.rmtree(sub)
    build.solution(sub)
    nb = nbformat.read(sub / "assignment.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(sub)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except Exception as exc:  # report, do not crash the benchmark
        error = f"{type(exc).__name__}: {str(exc)[-300:]}"
    elapsed = time.perf_counter() - start
    slowest = []
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            t0 = datetime.datetime.fromisoformat(timing["iopub.execute_input"].rstrip("Z"))
            t1 = datetime.datetime.fromisoformat(timing["shell.execute_reply"].rstrip("Z"))
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            slowest.append({"cell": first, "s": (t1 - t0).total_seconds()})
    slowest.sort(key=lambda c: -c["s"])
    return {"seconds": elapsed, "error": error, "code_cells":
            sum(1 for c in nb.cells if c.cell_type == "code"), "slowest_cells": slowest[:3]}



# ----------------------------------------------------------------- 5. slow, correct solutions

def bench_slow(cfg: Config, work: Path, sandbox: Sandbox | None = None,
               variants: tuple[str, ...] = SLOW_VARIANTS) -> list[dict]:
    """Grade the slow-but-correct variants, timing each hidden test against its limit."""
    all_variants, make_submission = _variants()
    by_name = {v.name: v for v in all_variants("correct")}
    timings: dict[str, float] = {}
    original = grade.run_hidden_test

    def timed(test, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(test, *args, **kwargs)
        finally:
            timings[test.name] = time.perf_counter() - t0

    own = sandbox is None
    if own:
        sandbox = Sandbox(limits=Limits())
        sandbox.start()
    rows = []
    grade.run_hidden_test = timed
    try:
        for name in variants:
            sub = work / "slow" / name
            if not sub.exists():
                make_submission(sub, by_name[name])
            timings.clear()
            result = grade.grade_submission(sub, sandbox=sandbox)
            section = by_name[name].section
            for test in result["tests"]:
                if test["section"] != section or test["name"] not in timings:
                    continue
                seconds = timings[test["name"]]
                rows.append({"variant": name, "test": test["name"], "status": test["status"],
                             "seconds": seconds, "limit_s": grade.DEFAULT_TEST_TIMEOUT,
                             "headroom": grade.DEFAULT_TEST_TIMEOUT / max(seconds, 1e-9)})
    finally:
        grade.run_hidden_test = original
        if own:
            sandbox.close()
    return rows


# ----------------------------------------------------------------- running

def run_info(cfg: Config) -> dict:
    """The run's context: machine, commit, date (each section's data goes beside it)."""
    return {"machine": machine(), "git": _git_state(),
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "threads": cfg.threads}


def finish_info(results: dict) -> None:
    results["machine"]["loadavg_end"] = _loadavg()
