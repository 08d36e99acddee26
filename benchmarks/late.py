"""One late submission (issue 23): ``grade SUB --json NEW`` beside stock nbgrader on the same
notebook, and the marginal cost per submission with ``--jobs 2``, fitted over class sizes.

Measuring and rendering for one section of ``BENCHMARKS.md`` (key ``late``), kept apart from
``measure.py``/``render.py``. Every run writes to a new folder (a journal or an earlier
``--json`` is never there to reuse), and ours and stock nbgrader's runs alternate, so that
a burst of load on a shared machine hits both. Wall and CPU time (user + system of the
whole process tree) are both recorded, with the load average before each run.
"""

from __future__ import annotations

import os
import shutil
import statistics
from pathlib import Path

from benchmarks import measure
from benchmarks import stock_nbgrader as nbg

TARGET_LATE_S = 2.5
TARGET_MARGINAL_JOBS2_S = 0.1


def _config(cfg: measure.Config) -> tuple[int, tuple[int, ...], int]:
    """(runs of each tool, class sizes for the fit, repeats per size)."""
    if "late" in cfg.extra:  # the tests' tiny sizes
        return cfg.extra["late"]
    if cfg == measure.QUICK:
        return 1, (2, 3, 4), 1
    return 5, (8, 16, 32), 2


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)} if values else {"median": None, "min": None, "max": None, "n": 0}


def _stock_template(work: Path) -> tuple[Path | None, str | None]:
    """A stock course root with the assignment generated (once: an instructor does that
    once per assignment); each timed run autogrades in a fresh copy of it."""
    root = nbg.course_root(work / "stock-template", nbg.STOCK)
    _, rc, tail, _ = nbg.generate(root)
    if rc != 0:
        return None, "generate_assignment failed: " + tail.strip()[-300:]
    return root, None


def _stock_once(template: Path, sub: Path, dest: Path) -> dict:
    root = dest / "autograder"
    shutil.copytree(template, root)
    nbg.submit(root, nbg.STOCK, sub)
    wall, rc, tail, cpu = nbg.autograde(root)
    done = (root / "autograded" / sub.name / nbg.ASSIGNMENT / nbg.NOTEBOOK).exists()
    scores = nbg.gradebook_scores(root, [sub.name]).get(sub.name, {})
    shutil.rmtree(dest, ignore_errors=True)
    return {"seconds": wall, "cpu_s": cpu, "rc": rc, "graded": int(done),
            "error": None if rc == 0 and done else tail[-300:],
            "scores": scores.get("sections")}


def bench_late(cfg: measure.Config, work: Path) -> dict:
    runs, sizes, repeats = _config(cfg)
    sub = work / "late" / "reference"
    if not sub.exists():
        measure.build.solution(sub)
    template, stock_error = (_stock_template(work / "late") if cfg.nbgrader
                             else (None, "nbgrader runs skipped"))
    ours, stock = [], []
    for i in range(runs):
        load = measure._loadavg()
        r = measure.grade_cli([sub], work / "late" / f"ours-{i}", jobs=1)
        ours.append({**r, "load": load})
        if template is not None:
            load = measure._loadavg()
            stock.append({**_stock_once(template, sub, work / "late" / f"stock-{i}"),
                          "load": load})
    good = [r for r in ours if r["rc"] == 0 and r["graded"] == 1]
    good_stock = [r for r in stock if r["rc"] == 0 and r["graded"] == 1]
    out = {
        "runs": runs, "git": measure._git_state(), "cores": os.cpu_count(),
        "ours": {"wall": _spread([r["seconds"] for r in good]),
                 "cpu": _spread([r["cpu_s"] for r in good]),
                 "times_s": [r["seconds"] for r in ours], "cpu_s": [r["cpu_s"] for r in ours],
                 "load": [r["load"] for r in ours],
                 "errors": [r["error"] for r in ours if r["error"]],
                 "scores": ours[0]["scores"] if ours else None,
                 "latency": _spread([s for r in good for s in r.get("latency_s", [])])},
        "stock": {"wall": _spread([r["seconds"] for r in good_stock]),
                  "cpu": _spread([r["cpu_s"] for r in good_stock]),
                  "times_s": [r["seconds"] for r in stock], "cpu_s": [r["cpu_s"] for r in stock],
                  "load": [r["load"] for r in stock],
                  "errors": ([stock_error] if stock_error else [])
                  + [r["error"] for r in stock if r["error"]],
                  "scores": stock[0]["scores"] if stock else None},
    }
    out["marginal"] = bench_marginal_jobs2(work / "late-class", sizes, repeats)
    return out


def bench_marginal_jobs2(work: Path, sizes: tuple[int, ...], repeats: int) -> dict:
    """``grade`` with ``--jobs 2`` on classes of copies of the reference (sizes × repeats,
    sizes interleaved), each into a new folder; seconds = fixed + per_submission × n by
    least squares over every run."""
    sub = work / "reference"
    if not sub.exists():
        measure.build.solution(sub)
    classes = {}
    for n in sizes:
        folder = work / f"class-{n}"
        classes[n] = []
        for i in range(n):
            shutil.copytree(sub, folder / f"student{i:03d}")
            classes[n].append(folder / f"student{i:03d}")
    points: list[tuple[int, float, float]] = []
    errors, latency = [], []
    for rep in range(repeats):
        for n in sizes:
            r = measure.grade_cli(classes[n], work / f"out-{n}-{rep}", jobs=2)
            if r["rc"] == 0 and r["graded"] == n:
                points.append((n, r["seconds"], r["cpu_s"]))
                latency += r.get("latency_s", [])
            else:
                errors.append(r["error"])
    fit = None
    if len({n for n, _, _ in points}) >= 2:
        xs = [float(n) for n, _, _ in points]
        wall = statistics.linear_regression(xs, [w for _, w, _ in points])
        cpu = statistics.linear_regression(xs, [c for _, _, c in points])
        fit = {"per_submission_s": wall.slope, "fixed_s": wall.intercept,
               "cpu_per_submission_s": cpu.slope, "cpu_fixed_s": cpu.intercept}
    return {"sizes": list(sizes), "repeats": repeats, "jobs": 2,
            "points": [{"n": n, "seconds": w, "cpu_s": c} for n, w, c in points],
            "fit": fit, "errors": errors, "latency": _spread(latency)}


# ----------------------------------------------------------------- rendering

def _fmt(s: dict, unit: str = " s") -> str:
    if s.get("median") is None:
        return "n/a"
    return f"{s['median']:.2f}{unit} (range {s['min']:.2f}–{s['max']:.2f}, {s['n']} runs)"


def render_late(results: dict, summary: list) -> list[str]:
    from benchmarks.render import ok

    r = results.get("late")
    if not r:
        return []
    ours, stock, m = r["ours"], r["stock"], r["marginal"]
    med = ours["wall"]["median"]
    summary.append(("one late submission, `grade SUB --json NEW` (fresh output each run)",
                    _fmt(ours["wall"]).split(" (")[0] + "; stock nbgrader "
                    + _fmt(stock["wall"]).split(" (")[0],
                    f"≤ {TARGET_LATE_S:g} s", ok(med is not None and med <= TARGET_LATE_S)))
    fit = m.get("fit") or {}
    per = fit.get("per_submission_s")
    summary.append(("marginal cost per submission, `--jobs 2`, sandbox on, fitted over "
                    f"class sizes {m['sizes']}", "n/a" if per is None else f"{per:.3f} s",
                    f"≤ {TARGET_MARGINAL_JOBS2_S:g} s",
                    ok(per is not None and per <= TARGET_MARGINAL_JOBS2_S)))
    loads = [entry[0] for entry in ours["load"] + stock["load"] if entry]
    lines = ["## One late submission", "",
             f"The commonest regrade: one student's folder, `python -m autograder grade SUB "
             f"--json NEW/g.json`, a new folder each run (no journal, no earlier results). "
             f"Beside it in the same run, alternating with it, stock nbgrader's `autograde` "
             f"of the same notebook, each in a fresh copy of a course root whose assignment "
             f"was generated once. Commit {r['git']}, {r['cores']} cores, 1-minute load "
             f"average before the runs {min(loads, default=0):.2f}–{max(loads, default=0):.2f}.",
             "", "| | wall, median (range) | CPU of the process tree, median (range) |",
             "|---|---|---|",
             f"| ours, `grade` | {_fmt(ours['wall'])} | {_fmt(ours['cpu'])} |",
             f"| stock nbgrader, `autograde` | {_fmt(stock['wall'])} | {_fmt(stock['cpu'])} |",
             ""]
    if ours["errors"] or stock["errors"]:
        lines += [f"Errors: ours {ours['errors']}; stock {stock['errors']}", ""]
    lines += [f"Marginal cost with `--jobs 2`: copies of the reference in classes of "
              f"{', '.join(map(str, m['sizes']))}, {m['repeats']} runs each, every run into a "
              "new folder; least squares over every run."]
    if fit:
        lines += ["", f"- wall: {fit['fixed_s']:.2f} s + **{fit['per_submission_s']:.3f} s** "
                  "per submission",
                  f"- CPU: {fit['cpu_fixed_s']:.2f} s + {fit['cpu_per_submission_s']:.3f} s "
                  "per submission", "",
                  "| class size | wall s | CPU s |", "|---|---|---|"]
        lines += [f"| {p['n']} | {p['seconds']:.2f} | {p['cpu_s']:.2f} |" for p in m["points"]]
    if m.get("errors"):
        lines += ["", f"Errors: {m['errors']}"]
    lines += ["", *_latency_lines(ours.get("latency"), m.get("latency"), per)]
    return lines + [""]


def _latency_lines(single: dict | None, batch: dict | None, per: float | None) -> list[str]:
    """What the latency feedback (issue 21) costs: the ``cost_s`` each graded submission
    reports, i.e. the wall time its timing added inside the slot, already part of every
    figure above (the timing is always on)."""
    if not single or single.get("median") is None:
        return ["Latency timing: no submission reported its cost (an older grader?)."]
    lines = ["Latency feedback is part of every run above. What it added to each submission "
             "(the `cost_s` of the result's `latency` entry, wall clock inside the slot):", "",
             f"- one late submission: {_fmt(single)}"]
    if batch and batch.get("median") is not None:
        share = ""
        if per:
            share = (f"; with two slots in parallel that is about "
                     f"{batch['median'] / 2:.2f} s of the fitted {per:.3f} s per submission")
        lines.append(f"- in the classes with `--jobs 2`: {_fmt(batch)} per submission{share}")
    return lines
