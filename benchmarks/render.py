"""Rendering: ``BENCHMARKS.md`` from ``BENCHMARKS.json``, and nothing else.

No function here measures anything, and every number in the text is read from the JSON of
the run being rendered, so the prose can be edited and re-rendered without a new run
(``python -m benchmarks --render``). Each section's renderer takes the whole results and
the summary list, appends its rows to the summary and returns its lines.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THREADS_JSON = REPO / "benchmarks" / "threads.json"

# Targets, in one place.
TARGET_CLASS_SPEEDUP = 20.0
TARGET_SINGLE_S = 4.0
TARGET_MARGINAL_S = 0.2
TARGET_CC_RATIO = 1.0
TARGET_BN_RATIO = 1.5
TARGET_NOTEBOOK_S = 30.0
TARGET_HEADROOM = 10.0

Summary = list[tuple[str, str, str, str]]


def ok(flag: bool) -> str:
    return "met" if flag else "**missed**"


def f(value, digits=2, unit="") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def x(value, digits=1) -> str:
    """A ratio; n/a where it is missing or not positive (a fitted cost at or below zero)."""
    return "n/a" if value is None or value <= 0 else f"{value:.{digits}f}×"


def document(results: dict, command: str, sections: list[tuple[str, Callable]]) -> str:
    """The whole document; `sections` are (key, renderer) in the order they appear."""
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Speed of the kit, measured side by side in one run on one machine: every comparison "
        "is a ratio of two timings taken in the same run, so it carries over between machines "
        "far better than the absolute times. Every number below is read from "
        "`BENCHMARKS.json` of the same run (this file is rendered from it: "
        "`.venv/bin/python -m benchmarks --render`).",
        "",
        f"Reproduce (from the repository root): `{command}`",
        "",
        f"- date: {results['date']}; commit {results['git']}",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']}",
        f"- Python {m['python']}, torch {m['torch']} (CPU); micro-benchmarks pinned to "
        f"{results['threads']} torch thread(s) for both sides",
        f"- load average (1, 5, 15 min) at start {m['loadavg_start']}, at end "
        f"{m.get('loadavg_end')}: other work shared the machine, so absolute times are noisy",
        "",
    ]
    for part in results.get("partial_runs", []):
        lines[-1:-1] = [f"- re-measured later, alone: {', '.join(part['sections'])} on "
                        f"{part['date']} at commit {part['git']} (`{part['command']}`, load "
                        f"{part.get('loadavg')} at its end); every other section is from the "
                        "run above"]
    stale = stale_notice(str(results.get("git", "")))
    if stale:
        lines[1:1] = ["", stale]
    summary: Summary = []
    body: list[str] = []
    for key, renderer in sections:
        if results.get(key) is not None:
            body += renderer(results, summary)
    body += render_threads()
    head = ["## Summary", "", "| benchmark | result | target | |", "|---|---|---|---|"]
    head += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary]
    return "\n".join(lines + head + [""] + body).rstrip("\n") + "\n"


# ----------------------------------------------------------------- 1. class

def _tool_name(tool: str, c: dict) -> str:
    if tool.startswith("grade_jobs"):
        return f"`python -m autograder grade --jobs {tool[-1]}`"
    return c["tools"][tool].get("label", tool)


def _scores(entry: dict | None) -> str:
    if not entry:
        return "n/a"
    return " / ".join(f"{entry[k]:g}" for k in ("warmup", "cross_correlation",
                                                "spatial_batchnorm"))


def render_class(results: dict, summary: Summary) -> list[str]:
    c = results["class"]
    n1, n2 = c["sizes"]
    tools = c["tools"]
    out = ["## 1. Grading a class", "",
           f"The same synthetic class for every tool: the reference, the untouched stubs, then "
           f"buggy cross-correlations, buggy batch norms and correct variants of "
           f"`tests/variants` in turn; the class of {n1} is the first {n1} of the class of "
           f"{n2}. Each tool graded both, end to end (process start, sandbox or kernel start, "
           f"grade files). From the two wall times, a straight line gives each tool's fixed "
           f"cost and its cost per submission; no run is scaled. Our command: the fastest of "
           f"{c['grade_repeats']} runs per size; nbgrader: one run per size "
           "(`generate_assignment` not included, timed apart). Wall time is what an "
           "instructor waits; CPU time (user + system of the command and every process it "
           "waited for) is the work done, and varies far less when other work shares the "
           "machine.", "",
           f"| tool | wall, {n1} | wall, {n2} | fixed (wall) | per submission (wall) "
           f"| CPU, {n1} | CPU, {n2} | per submission (CPU) |",
           "|---|---|---|---|---|---|---|---|"]
    for tool, entry in tools.items():
        # A fit that linear_fit marked as an error (a cost at or under zero) is no number.
        fit = {} if (entry["fit"] or {}).get("error") else entry["fit"] or {}
        cpu = entry.get("cpu_s", {})
        fit_cpu = {} if (entry.get("fit_cpu") or {}).get("error") else entry.get("fit_cpu") or {}
        out.append(f"| {_tool_name(tool, c)} | {f(entry['seconds'][str(n1)], 1, ' s')} | "
                   f"{f(entry['seconds'][str(n2)], 1, ' s')} | {f(fit.get('fixed_s'), 1, ' s')} "
                   f"| {f(fit.get('per_submission_s'), 3, ' s')} "
                   f"| {f(cpu.get(str(n1)), 1, ' s')} | {f(cpu.get(str(n2)), 1, ' s')} "
                   f"| {f(fit_cpu.get('per_submission_s'), 3, ' s')} |")
    failed = [(tool, n, r["error"]) for tool, entry in tools.items()
              for n, rs in entry["runs"].items() for r in rs if r["error"]]
    for tool, n, error in failed:
        out.append(f"\nFailed run: {_tool_name(tool, c)}, class of {n}: {error[-300:]}")
    out += ["",
            "*Stock nbgrader* is the same assignment graded the way nbgrader users grade it: "
            "nbgrader's default `autograde` pipeline, whose `Execute` step runs each notebook in "
            "a Jupyter kernel, on a master notebook where each hidden test of "
            "`autograder/grading/hidden_tests.py` is a test cell of its own with its points "
            "(generated by `benchmarks/stock_nbgrader.py`; the cells run the same cases in the "
            "kernel, with the same partial credit). nbgrader grades one notebook at a time. "
            "*nbgrader with the kit's config* is the course root as shipped, where the "
            "isolated grader replaces `Execute`.", ""]
    ratios = c.get("ratios", {})
    if ratios:
        out += ["Stock nbgrader's cost divided by ours, each from the table above:", "",
                f"| stock nbgrader ÷ | wall, class of {n1} | wall, class of {n2} | fixed (wall) "
                "| per submission (wall) | per submission (CPU) |", "|---|---|---|---|---|---|"]
        for ours, r in ratios.items():
            jobs = ours[-1]
            out.append(f"| `grade --jobs {jobs}` | {x(r.get(f'wall_{n1}'))} | "
                       f"{x(r.get(f'wall_{n2}'))} | {x(r.get('fixed_s'))} | "
                       f"{x(r.get('per_submission_s'))} | {x(r.get('cpu_per_submission_s'))} |")
        out += ["", "n/a: a fitted cost at or below zero, where the difference between the "
                "two class sizes was smaller than the disturbance from other work on the "
                "machine; no ratio can be derived from it." if any(
                    r.get(k) is None or r.get(k) <= 0 for r in ratios.values()
                    for k in ("fixed_s", "per_submission_s")) else "", ""]
        one = ratios.get("stock_over_grade_jobs1", {})
        two = ratios.get("stock_over_grade_jobs2", {})
        per = one.get("per_submission_s")
        summary.append(("class: stock nbgrader ÷ `grade --jobs 1`, cost per submission",
                        x(per), f"≥ {TARGET_CLASS_SPEEDUP:g}×",
                        ok(per is not None and per >= TARGET_CLASS_SPEEDUP)))
        summary.append(("class: stock nbgrader ÷ `grade --jobs 1`, CPU per submission",
                        x(one.get("cpu_per_submission_s")), "(informative)", ""))
        summary.append((f"class of {n2}: stock nbgrader ÷ `grade --jobs 1`, wall time",
                        x(one.get(f"wall_{n2}")), "(informative)", ""))
        summary.append((f"class of {n2}: stock nbgrader ÷ `grade --jobs 2`, wall time",
                        x(two.get(f"wall_{n2}")), "(informative; 2 jobs against nbgrader's 1)",
                        ""))
    out += _render_sanity(c, summary)
    return out


def _render_sanity(c: dict, summary: Summary) -> list[str]:
    s = c.get("sanity")
    if not s or "nbgrader_stock" not in s:
        return []
    stock, ours = s["nbgrader_stock"], s["grade_jobs1"]
    total = s["auto_total"]
    sane = (bool(stock["stubs"]) and all(v == 0 for v in stock["stubs"])
            and bool(stock["reference"]) and all(v == total for v in stock["reference"]))
    summary.append(("stock baseline grades: stubs 0, reference full",
                    f"stubs {stock['stubs']}, reference {stock['reference']} of {total:g}",
                    f"0 and {total:g}", ok(sane)))
    out = ["### Does the baseline grade?", "",
           f"Autograded points (warm-up (e) / cross-correlation / batch norm, out of "
           f"{_scores(s['auto_max'])}) of every submission of the class of {c['sizes'][-1]}, "
           "read from nbgrader's gradebook and from `grade`'s JSON. The stubs score "
           f"{stock['stubs']} with stock nbgrader and {ours['stubs']} with ours; the reference "
           f"{stock['reference']} and {ours['reference']}. Stock nbgrader takes points from "
           f"{s['stock_bugs_losing_points']} of the {s['bugs']} buggy variants in the class.",
           "", "| submission | `grade` | stock nbgrader | nbgrader, kit config |",
           "|---|---|---|---|"]
    for row in s["rows"]:
        out.append(f"| {row['submission']} | {_scores(row['grade'])} | "
                   f"{_scores(row.get('nbgrader_stock'))} | {_scores(row.get('nbgrader_kit'))} |")
    dis = s.get("disagreements", [])
    out += ["", f"Sections where stock nbgrader and `grade` disagree: {len(dis)}."
            + ("" if not dis else " Stock nbgrader has no static or run-time check for "
               "forbidden library calls and no sandbox, so it cannot take points for a "
               "forbidden call, and its cases run in the kernel rather than in a child "
               "process: " + "; ".join(f"{d['submission']} {d['section']} "
                                       f"{d['grade']:g} vs {d['nbgrader_stock']:g}"
                                       for d in dis) + "."), ""]
    return out


# ----------------------------------------------------------------- 1a. one submission

def render_single(results: dict, summary: Summary) -> list[str]:
    r = results["single"]
    med = r["median_s"]
    stock = (results.get("class") or {}).get("tools", {}).get("nbgrader_stock", {})
    per_nb = (stock.get("fit") or {}).get("per_submission_s")
    summary.append(("one submission, `grade SUB --json OUT`, command start to results",
                    f"{f(med, 2, ' s')} (stock nbgrader: {f(per_nb, 2, ' s')} per notebook)",
                    f"≤ {TARGET_SINGLE_S:g} s", ok(med is not None and med <= TARGET_SINGLE_S)))
    return ["## 1a. One submission end to end", "",
            f"`python -m autograder grade SUB --json OUT` on the reference, timed from the "
            f"command's start to its exit (sandbox start, grading, grade files and reports): "
            f"median of {r['repeats']} runs **{f(med, 2, ' s')}** (runs: "
            + ", ".join(f"{t:.2f}" for t in r["times_s"]) + " s; CPU time of each: "
            + ", ".join(f"{t:.2f}" for t in r.get("cpu_s", [])) + " s). Beside it, "
            "stock nbgrader's "
            f"cost per notebook from section 1: {f(per_nb, 2, ' s')}.", ""] + (
                [f"Errors: {r['errors']}", ""] if r["errors"] else [])


# ----------------------------------------------------------------- 1b. marginal

def render_marginal(results: dict, summary: Summary) -> list[str]:
    r = results["marginal"]
    good = r["marginal_s"] <= TARGET_MARGINAL_S
    summary.append(("marginal cost per reference submission, sandbox on",
                    f"{r['marginal_s']:.3f} s", f"≤ {TARGET_MARGINAL_S:g} s", ok(good)))
    fac = r.get("sandbox_facilities") or {}
    facilities = "; ".join(f"{k}: {v}" for k, v in fac.items()) or "not reported"
    out = ["## 1b. Marginal cost per submission", "",
           f"{r['n']} reference submissions graded one after another with one warm `Sandbox` "
           f"(start {f(r['sandbox_start_s'], 1)} s, excluded): first {r['first_s']:.3f} s, "
           f"marginal (total − first)/(N − 1) = **{r['marginal_s']:.3f} s** "
           f"(scores {r['scores']}).", "",
           f"The sandbox was on: `Sandbox.facilities` reported {facilities}. Degraded: "
           + ("; ".join(r.get("sandbox_notes") or []) or "nothing") + ".", "",
           f"cProfile of the judge over {max(r['n'] - 1, 1)} more gradings "
           f"({r['profile_total_s_per_submission']:.3f} s per submission under the profiler; "
           "groups overlap where one calls another):", "",
           "| where | s per submission |", "|---|---|"]
    out += [f"| {g['what']} | {g['s_per_submission']:.4f} |" for g in r["profile"]]
    return out + [""]


# ----------------------------------------------------------------- 2. cross-correlation

def render_cc(results: dict, summary: Summary) -> list[str]:
    rows = results["cc"]
    worst = max(rows, key=lambda r: r["ratio"])
    missed = [r for r in rows if r["ratio"] > TARGET_CC_RATIO]
    summary.append(("`cross_corr_2d` vs `F.conv2d` (worst point)",
                    f"{worst['ratio']:.2f}× ({worst['dtype']}, {worst['size']}², k={worst['k']})",
                    f"≤ {TARGET_CC_RATIO:g}× everywhere",
                    ok(not missed) + (f" ({len(missed)}/{len(rows)} points over)"
                                      if missed else "")))
    out = ["## 2. Reference `cross_corr_2d` vs single-channel `F.conv2d`", "",
           "Square X of side H = W, square kernel of side k; `torch.utils.benchmark.Timer."
           "blocked_autorange`, median, best of two interleaved measurements per side, the same "
           "thread count for both. Ratio = ours / conv2d (below 1: ours is faster).", "",
           "| dtype | H = W | k | ours (µs) | conv2d (µs) | ratio | max abs diff |",
           "|---|---|---|---|---|---|---|"]
    out += [f"| {r['dtype']} | {r['size']} | {r['k']} | {r['ours_us']:.1f} | "
            f"{r['conv2d_us']:.1f} | {r['ratio']:.2f}{'' if r['ratio'] <= 1 else ' ✗'} | "
            f"{r['max_abs_err']:.1e} |" for r in rows]
    if missed:
        sizes = sorted({r["size"] for r in rows})
        by_size = {n: max(r["ratio"] for r in rows if r["size"] == n) for n in sizes}
        wins = [r for r in rows if r["ratio"] <= TARGET_CC_RATIO]
        out += ["", "Where the ratio is above 1, what bounds it. The reference makes one "
                "vectorized multiply-add per kernel tap (`Y.add_(rows[:, b:b+ow], "
                "alpha=w[a][b])`, the weights read once with `K.tolist()`), so it issues about "
                "k² torch operator calls and makes k² passes over the output, where `F.conv2d` "
                "is a single call: the fixed cost of each call, times k², weighs most on small "
                "images. In this run the worst ratio per image size was "
                + ", ".join(f"{by_size[n]:.2f}× at H = {n}" for n in sizes)
                + f"; {len(missed)} of {len(rows)} points are over 1"
                + ("" if not wins else ", and ours was faster at "
                   + ", ".join(f"{r['dtype']} {r['size']}² k={r['k']}" for r in wins))
                + ". Alternatives tried earlier (im2col with `F.unfold` and one matrix "
                "product, `unfold` views with `einsum` or `sum`, per-row and per-column "
                "`unfold`) were not faster than the slice accumulation on large images, and "
                "none was reliably below conv2d on small ones: every formulation in eager "
                "PyTorch costs a few operator calls plus a copy."]
    return out + [""]


# ----------------------------------------------------------------- 3. batch norm

def render_bn(results: dict, summary: Summary) -> list[str]:
    rows = results["bn"]
    worst = max(rows, key=lambda r: r["ratio"])
    summary.append(("spatial batch norm fwd+bwd vs torch native (worst shape)",
                    f"{worst['ratio']:.2f}×", f"≤ {TARGET_BN_RATIO:g}×",
                    ok(worst["ratio"] <= TARGET_BN_RATIO)))
    out = ["## 3. Reference spatial batch norm vs torch's native", "",
           "Forward (train mode, running statistics updated) and backward (dx, dgamma, dbeta). "
           "Native: `F.batch_norm(training=True)` plus autograd `backward`. Peak memory: rise "
           "of the RSS high-water mark (`VmHWM`, reset through `/proc/self/clear_refs`) over "
           "one forward+backward in a fresh process per measurement, inputs (x, dout) already "
           "allocated; the results (out, dx, ...) are part of the peak.", "",
           "| shape (float32) | ours (ms) | native (ms) | ratio | input (MB) | ours peak (MB) "
           "| native peak (MB) |", "|---|---|---|---|---|---|---|"]
    out += [f"| {tuple(r['shape'])} | {r['ours_ms']:.2f} | {r['native_ms']:.2f} | "
            f"{r['ratio']:.2f} | {r['input_mb']:.1f} | {f(r['ours_peak_mb'], 1)} | "
            f"{f(r['native_peak_mb'], 1)} |" for r in rows]
    big = max(rows, key=lambda r: r["input_mb"])
    extra = (None if big["ours_peak_mb"] is None or big["native_peak_mb"] is None
             else (big["ours_peak_mb"] - big["native_peak_mb"]) / big["input_mb"])
    out += ["", "How the fast reference (`autograder/reference_fast.py`, an instructor's "
            "yardstick; the readable reference that TAs read and `solution` writes, in "
            "`autograder/master/hw1/source/batchnorm.py`, permutes to (N·H·W, C) rows and "
            "calls the vanilla batch norm instead) gets there, and what it costs. The "
            "forward takes the "
            "per-channel mean, centres x once (`xc = x - mean`), gets the biased variance as a "
            "vector norm of `xc` and writes the output with one `addcmul`; the backward reuses "
            "`xc` from the cache for `sum(dout * xc)` and writes dx with two `addcmul`s. "
            "Keeping `xc` in the cache saves a pass in the backward but holds one more "
            "input-sized tensor until the backward runs, where native keeps x and recomputes: "
            f"at {tuple(big['shape'])} our peak is {f(extra, 1)} input sizes above native's "
            "in this run."]
    return out + [""]


# ----------------------------------------------------------------- 4. notebook

def render_notebook(results: dict, summary: Summary) -> list[str]:
    nbr = results["notebook"]
    good = nbr["error"] is None and nbr["seconds"] <= TARGET_NOTEBOOK_S
    summary.append(("student notebook, top to bottom", f"{nbr['seconds']:.1f} s",
                    f"≤ {TARGET_NOTEBOOK_S:g} s", ok(good)))
    out = ["## 4. The student notebook with the reference solution", "",
           f"nbclient, `python3` kernel, on `python -m autograder solution`'s notebook "
           f"({nbr['code_cells']} code cells): **{nbr['seconds']:.1f} s** end to end "
           f"(kernel start included); errors: {nbr['error'] or 'none'}.", ""]
    if nbr["slowest_cells"]:
        out += ["Slowest cells: " + "; ".join(
            f"`{c['cell']}` {c['s']:.1f} s" for c in nbr["slowest_cells"]), ""]
    return out


# ----------------------------------------------------------------- 5. slow variants

def render_slow(results: dict, summary: Summary) -> list[str]:
    rows = results["slow"]
    if not rows:
        return []
    worst = min(rows, key=lambda r: r["headroom"])
    summary.append(("slow correct variants: least headroom of any hidden test",
                    f"{worst['headroom']:.0f}× ({worst['variant']}, {worst['test']})",
                    f"≥ {TARGET_HEADROOM:g}×", ok(worst["headroom"] >= TARGET_HEADROOM)))
    out = ["## 5. Slow but correct solutions vs the per-test time limit", "",
           "Each hidden test of the variant's section, timed around `run_hidden_test` "
           "(the first test of a section includes importing the module in the child); "
           f"limit `grade.DEFAULT_TEST_TIMEOUT` = {rows[0]['limit_s']:g} s.", "",
           "| variant | test | status | time (s) | headroom (limit / time) |",
           "|---|---|---|---|---|"]
    out += [f"| {r['variant']} | {r['test']} | {r['status']} | {r['seconds']:.3f} | "
            f"{r['headroom']:.0f}× |" for r in rows]
    return out + [""]


# ----------------------------------------------------------------- staleness, thread ban

def grader_last_change() -> str | None:
    """The last commit that changed the grader (autograder/grading), or None outside git."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%H", "--", "autograder/grading"],
                             cwd=REPO, capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.strip() or None


def stale_notice(measured: str) -> str:
    """A warning for the top of the page when the numbers were measured at a commit older
    than the grader's last change (or at one git does not know); empty when they are not."""
    last = grader_last_change()
    commit = measured.split()[0].removesuffix("-dirty") if measured else ""
    if last is None or not commit:
        return ""
    known = subprocess.run(["git", "merge-base", "--is-ancestor", last, commit], cwd=REPO,
                           capture_output=True, timeout=30).returncode == 0
    if known:
        return ""
    return (f"> **Out of date:** measured at commit {commit}, before the grader's last change "
            f"({last[:7]}). The numbers below describe the older grader; rerun "
            "`.venv/bin/python -m benchmarks` on a quiet machine.")


def render_threads(path: Path = THREADS_JSON) -> list[str]:
    """The thread ban's cost on honest code (``python -m benchmarks.threads``), if measured."""
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    arms = data["arms"]
    on, off = arms["ban on"], arms["ban off"]
    out = ["## The one-thread, one-process ban and honest code", "",
           f"`{data.get('command', '.venv/bin/python -m benchmarks.threads')}` "
           f"(`benchmarks/threads.json`): honest reference code in the sandbox child with the "
           f"seccomp kill of clone/fork on and off, {data['repeats']} repeats of "
           f"{data['calls_per_repeat']} calls, interleaved, on {data['machine']['cpus']} cores "
           f"(Python {data['machine']['python']}, torch {data['machine']['torch']}). The child "
           "ran torch with one thread before the ban too (the zygote sets it), so the ban "
           "cannot slow honest code; the ratios below show it does not.", "",
           "| measure | ban on, median (min–max) | ban off, median (min–max) | on / off |",
           "|---|---|---|---|"]
    for name, a in on.items():
        b = off.get(name)
        if not b:
            continue
        out.append(f"| {name} | {a['median_s'] * 1e3:.2f} ms ({a['min_s'] * 1e3:.2f}–"
                   f"{a['max_s'] * 1e3:.2f}) | {b['median_s'] * 1e3:.2f} ms "
                   f"({b['min_s'] * 1e3:.2f}–{b['max_s'] * 1e3:.2f}) | "
                   f"{a['median_s'] / b['median_s']:.2f} |")
    return out + [""]
