"""The benchmark code runs and returns well-formed results (on tiny sizes).

No timing is asserted here: speed targets live in BENCHMARKS.md, not in unit tests.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import nbformat
import pytest
import torch

from autograder import points
from autograder.grading.sandbox import Limits, Sandbox
from benchmarks import measure as run
from benchmarks import render, sections, stock_nbgrader

REPO = Path(__file__).resolve().parent.parent

TINY = dataclasses.replace(run.QUICK, class_sizes=(1, 2), grade_repeats=1, single_repeats=1,
                           marginal_n=2, cc_sizes=(8,), cc_kernels=(1, 3),
                           dtypes=(torch.float64,), bn_shapes=((2, 3, 2, 2),),
                           min_run_time=0.001)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and value >= 0


def test_cc_rows() -> None:
    rows = run.bench_cc(TINY)
    assert [(r["size"], r["k"]) for r in rows] == [(8, 1), (8, 3)]
    for row in rows:
        assert row["dtype"] == "float64"
        assert all(_number(row[k]) for k in ("ours_us", "conv2d_us", "ratio"))
        assert row["max_abs_err"] < 1e-9  # the reference agrees with conv2d


def test_bn_rows() -> None:
    (row,) = run.bench_bn(TINY)
    assert row["shape"] == [2, 3, 2, 2]
    assert all(_number(row[k]) for k in ("ours_ms", "native_ms", "ratio", "input_mb"))
    # The probe ran in its own process and reported a number for each side.
    assert _number(row["ours_peak_mb"]) and _number(row["native_peak_mb"])


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(limits=Limits())
    box.start()
    yield box
    box.close()


def test_marginal_and_profile(sandbox: Sandbox, tmp_path: Path) -> None:
    result = run.bench_marginal(TINY, tmp_path, sandbox=sandbox)
    assert len(result["times_s"]) == 2 and _number(result["marginal_s"])
    assert result["scores"] == [42.5]  # the reference: everything but the hand-graded 22.5
    assert {g["what"] for g in result["profile"]} == {g[0] for g in run.PROFILE_GROUPS}
    # What confinement was in force is part of the record.
    assert result["sandbox_facilities"] == sandbox.facilities
    assert result["sandbox_notes"] == sandbox.notes


def test_slow_variants_per_test(sandbox: Sandbox, tmp_path: Path) -> None:
    rows = run.bench_slow(TINY, tmp_path, sandbox=sandbox, variants=("cc_double_loop",))
    names = [r["test"] for r in rows]
    assert names and all(n.startswith("cc_") for n in names)
    assert all(r["status"] == "passed" and r["limit_s"] > 0 and _number(r["headroom"])
               for r in rows)
    # The timing wrapper is removed afterwards.
    from autograder.grading import grade
    assert grade.run_hidden_test.__name__ == "run_hidden_test"


def test_make_class_mixes_kinds(tmp_path: Path) -> None:
    paths = run.make_class(tmp_path, 4)
    assert [p.name.split("-", 1)[1] for p in paths[:2]] == ["reference", "stubs"]
    assert all((p / "assignment.ipynb").is_file() and (p / "source").is_dir() for p in paths)


def test_class_grade_cli(tmp_path: Path) -> None:
    paths = run.make_class(tmp_path / "class", 2)
    result = run.grade_cli(paths, tmp_path / "out", jobs=1)
    assert result["rc"] == 0 and result["graded"] == 2 and _number(result["seconds"])
    assert result["scores"][paths[0].name]["spatial_batchnorm"] == 25  # the reference
    assert sum(result["scores"][paths[1].name].values()) == 0  # the stubs


def test_stock_notebook_has_one_cell_per_hidden_test(tmp_path: Path) -> None:
    root = stock_nbgrader.course_root(tmp_path, stock_nbgrader.STOCK)
    text = (root / "nbgrader_config.py").read_text()
    assert "execute.Execute" in text and "ClearMetadataPreprocessor" in text
    assert not (root / "submitted").exists()
    nb = nbformat.read(root / "master" / "hw1" / "assignment.ipynb", as_version=4)
    graded = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")
              and c.cell_type == "code"}
    assert {g: c.metadata["nbgrader"]["points"] for g, c in graded.items()} == {
        n: p for n, (_, p) in points.TESTS.items()}
    assert all("### BEGIN HIDDEN TESTS" in c.source for c in graded.values())


def test_in_kernel_hidden_tests_score_like_the_grader(tmp_path: Path, monkeypatch) -> None:
    """The baseline's cells, run here as a kernel would: the reference full, stubs none."""
    import importlib
    import sys

    from autograder import build
    from benchmarks import in_kernel

    for kind, make in (("reference", build.solution), ("stubs", build.release)):
        sub = tmp_path / kind
        make(sub)
        monkeypatch.syspath_prepend(str(sub))
        for name in [m for m in sys.modules if m == "source" or m.startswith("source.")]:
            monkeypatch.delitem(sys.modules, name)
        importlib.invalidate_caches()
        for name, (section, score) in points.TESTS.items():
            if section == "warmup":
                continue
            if kind == "reference":
                assert in_kernel.hidden_test(name, {}) == score, name
            else:
                with pytest.raises(AssertionError):
                    in_kernel.hidden_test(name, {})
        monkeypatch.undo()
    answer = {"A": "", "B": "", "C": "", "D": ""}
    with pytest.raises(AssertionError):
        in_kernel.hidden_test("warmup_e_learning_rates", {"answer_e": answer})
    from autograder import warmup
    assert in_kernel.hidden_test("warmup_e_learning_rates",
                                 {"answer_e": dict(warmup.PANEL_LABELS)}) == 2.5


def test_linear_fit() -> None:
    fit = run.linear_fit({4: 10.0, 20: 26.0})
    assert (fit["fixed_s"], fit["per_submission_s"]) == (6.0, 1.0) and "error" not in fit
    assert run.linear_fit({4: None, 20: 3.0}) is None


def test_render_has_every_section() -> None:
    grade = {"seconds": {"1": 3.0, "2": 3.5}, "runs": {"1": [], "2": []}, "complete": True,
             "fit": {"fixed_s": 2.5, "per_submission_s": 0.5},
             "scores": {"student000-reference": {"warmup": 2.5, "cross_correlation": 15.0,
                                                 "spatial_batchnorm": 25.0},
                        "student001-stubs": {"warmup": 0.0, "cross_correlation": 0.0,
                                             "spatial_batchnorm": 0.0}}}
    stock = dict(grade, seconds={"1": 10.0, "2": 14.0},
                 fit={"fixed_s": 6.0, "per_submission_s": 4.0}, label="stock")
    c = {"sizes": [1, 2], "members": ["student000-reference", "student001-stubs"],
         "grade_repeats": 1, "tools": {"grade_jobs1": grade, "nbgrader_stock": stock}}
    c["ratios"] = run.class_ratios(c)
    c["sanity"] = run.sanity(c)
    assert c["ratios"]["stock_over_grade_jobs1"]["per_submission_s"] == 8.0
    assert c["sanity"]["nbgrader_stock"] == {"stubs": [0.0], "reference": [42.5]}
    results = {
        "machine": {**run.machine(), "loadavg_end": None}, "git": "abc", "date": "now",
        "threads": 1, "class": c,
        "single": {"repeats": 1, "times_s": [3.0], "median_s": 3.0, "errors": [],
                   "scores": []},
        "notebook": {"seconds": 12.0, "error": None, "code_cells": 5, "slowest_cells": []},
        "cc": [{"dtype": "float32", "size": 8, "k": 3, "ours_us": 2.0, "conv2d_us": 1.0,
                "ratio": 2.0, "max_abs_err": 0.0}],
        "bn": [{"shape": [2, 3, 2, 2], "dtype": "float32", "ours_ms": 1.0, "native_ms": 1.0,
                "ratio": 1.0, "input_mb": 0.1, "ours_peak_mb": None, "native_peak_mb": 0.2}],
    }
    text = sections.document(results, "cmd")
    for heading in ("## Summary", "## 1. Grading a class", "## 1a.", "## 2.", "## 3.",
                    "## 4.", "### Does the baseline grade?"):
        assert heading in text
    assert "`cmd`" in text and "**missed**" in text and "8.0×" in text
    assert render.TARGET_SINGLE_S == 4.0


def test_every_section_is_registered_once() -> None:
    keys = [s.key for s in sections.SECTIONS]
    assert len(keys) == len(set(keys))
    assert all(callable(s.measure) and callable(s.render) for s in sections.SECTIONS)


def test_a_fast_single_run_grades_every_hidden_test_afresh(tmp_path, monkeypatch) -> None:
    """The one-submission speed-up (no histogram, lighter sandbox start) is not bought by
    skipping tests or reusing results: every hidden test runs in this very command, and no
    journal entry existed to reuse."""
    import argparse
    import json

    from autograder import build
    from autograder.grading import batch, grade, hidden_tests

    sub = tmp_path / "reference"
    build.solution(sub)
    out = tmp_path / "out" / "g.json"
    journal = Path(str(out) + batch.JOURNAL_SUFFIX)
    assert not journal.exists()
    ran: list[str] = []
    real = grade.run_hidden_test

    def counted(test, *args, **kwargs):
        ran.append(test.name)
        return real(test, *args, **kwargs)

    monkeypatch.setattr(grade, "run_hidden_test", counted)
    args = argparse.Namespace(submissions=[str(sub)], jobs=1, seed=None, timeout=None,
                              json=str(out), csv=None, gradescope=None)
    assert batch.run_grade_command(args) == 0
    assert sorted(ran) == sorted(hidden_tests.TESTS)  # each once, none skipped
    result = json.loads(out.read_text())["submissions"][0]
    statuses = {t["name"]: t["status"] for t in result["tests"]}
    assert set(hidden_tests.TESTS) <= set(statuses)
    assert all(statuses[n] == "passed" for n in hidden_tests.TESTS)
    assert result["score"] == points.total_max() - sum(points.MANUAL.values())
    assert len(journal.read_text().splitlines()) == 1  # written by this run, not read


def test_stock_baseline_draws_the_inputs_grade_draws(tmp_path) -> None:
    """benchmarks/in_kernel.py (stock nbgrader's cells) seeds each submission's inputs like
    ``grade``: derive_seed over the sandbox's copy of source/, whatever the kernel's own
    __pycache__ adds to the folder."""
    from autograder import build
    from autograder.grading import grade
    from benchmarks import in_kernel

    sub = tmp_path / "reference"
    build.solution(sub)
    (sub / "source" / "__pycache__").mkdir(exist_ok=True)
    (sub / "source" / "__pycache__" / "batchnorm.cpython-311.pyc").write_bytes(b"\0" * 16)
    sandbox = Sandbox(limits=Limits())
    try:
        workdir, _ = sandbox.prepare(sub)
        expected = grade.derive_seed(grade.DEFAULT_SEED, workdir)
    finally:
        sandbox.close()
    assert in_kernel.submission_seed(sub) == expected
    assert expected != grade.DEFAULT_SEED
    # Other code, other inputs (the seed follows the code, as in grade).
    (sub / "source" / "batchnorm.py").write_text("# changed\n", encoding="utf-8")
    in_kernel._SEEDS.clear()
    assert in_kernel.submission_seed(sub) != expected


def test_linear_fit_over_three_sizes_with_repeats() -> None:
    times = {n: [2.0 + 0.08 * n, 2.0 + 0.12 * n] for n in (10, 20, 40)}  # 0.1 s on average
    fit = run.linear_fit(times)
    assert fit["sizes"] == [10, 20, 40] and "error" not in fit
    assert abs(fit["per_submission_s"] - 0.1) < 0.01 and abs(fit["fixed_s"] - 2.0) < 0.2
    low, high = fit["per_submission_s_range"]
    assert abs(low - 0.08) < 1e-9 and abs(high - 0.12) < 1e-9  # the repeats' spread shows


def test_a_negative_fitted_cost_is_an_error_not_a_number() -> None:
    fit = run.linear_fit({10: 1.0, 20: 1.9, 40: 4.1})  # extrapolates below zero at n = 0
    assert fit["fixed_s"] < 0 and "fixed_s" in fit["error"]
    assert run.linear_fit({10: 1.0}) is None  # one size fits nothing


# Runs in a fresh interpreter: each submission's source/ is imported there, the way the
# stock cells import it in the kernel, never into the test process itself.
_STOCK_VERDICTS = """
import json, os, sys
from autograder import points
from benchmarks import in_kernel
out = {}
for folder in sys.argv[1:]:
    os.chdir(folder)
    sys.path.insert(0, folder)
    for mod in [m for m in sys.modules if m == "source" or m.startswith("source.")]:
        del sys.modules[mod]
    scores = {}
    for name in points.TESTS:
        if name == "warmup_e_learning_rates":
            continue  # read from the kernel's answer_e, which this run has no kernel for
        try:
            scores[name] = in_kernel.hidden_test(name, {})
        except AssertionError:
            scores[name] = 0.0
    sys.path.remove(folder)
    out[folder] = scores
print(json.dumps(out))
"""


def test_stock_baseline_agrees_with_the_grader_on_the_variant_library(tmp_path) -> None:
    """Issue 22: the baseline draws the grader's inputs (its seed mixed with the code), so
    on every variant it can judge it gives every test the pinned score of
    tests/variants/expected.json. Left out, on principle: variants with a forbidden call or
    any other flag in their pinned verdict (stock nbgrader has no forbidden-call check, no
    time limit, no guard), and the release stubs. The cells' code runs here without
    nbgrader's kernel (``in_kernel.hidden_test``, the function each stock cell calls), which
    keeps this test to one interpreter instead of one kernel per variant."""
    import json
    import subprocess
    import sys

    from tests.variants import expect

    pinned = expect.load()
    assert expect.seed() == stock_nbgrader_seed()
    chosen = {}
    for variant in expect.submissions():
        name = expect.key(variant)
        if variant == "stubs" or pinned[name]["flags"]:
            continue
        if variant is not None and variant.forbidden_tests:
            continue
        chosen[str(expect.make(tmp_path / name.replace("/", "_"), variant))] = name
    assert len(chosen) >= 40  # the subset is most of the library, not a token few
    proc = subprocess.run([sys.executable, "-c", _STOCK_VERDICTS, *chosen],
                          capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stock = json.loads(proc.stdout.strip().splitlines()[-1])
    disagree = [(chosen[f], t, s, pinned[chosen[f]]["tests"][t])
                for f, scores in stock.items() for t, s in scores.items()
                if abs(s - pinned[chosen[f]]["tests"][t]) > 1e-3]
    assert disagree == []


def stock_nbgrader_seed() -> int:
    from autograder.grading import grade

    return grade.DEFAULT_SEED


def test_a_benchmark_older_than_the_grader_says_so_on_top() -> None:
    """Issue 22: the page names the commit it was measured at, and warns when the grader
    changed since; measured at the grader's last change (or later), no warning."""
    last = render.grader_last_change()
    assert last is not None
    first = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=REPO,
                           capture_output=True, text=True).stdout.split()[0]
    old = render.stale_notice(first[:7])
    assert old.startswith("> **Out of date:**") and first[:7] in old and last[:7] in old
    assert render.stale_notice(last[:7]) == ""
    assert render.stale_notice(f"{last[:7]}-dirty") == ""


def test_the_thread_ban_section_shows_both_arms(tmp_path: Path) -> None:
    arm = {"median_s": 0.002, "min_s": 0.001, "max_s": 0.004}
    data = {"repeats": 3, "calls_per_repeat": 2, "machine": {"cpus": 2, "python": "3.11",
                                                            "torch": "2.13.0"},
            "arms": {"ban on": {"call": arm}, "ban off": {"call": dict(arm, median_s=0.004)}}}
    path = tmp_path / "threads.json"
    path.write_text(json.dumps(data))
    text = "\n".join(render.render_threads(path))
    assert "| call | 2.00 ms (1.00–4.00) | 4.00 ms (1.00–4.00) | 0.50 |" in text
    assert render.render_threads(tmp_path / "absent.json") == []


def test_late_submission_section_measures_ours_fresh_and_fits(tmp_path: Path) -> None:
    """The late-submission benchmark grades into new folders each run (scores of the
    reference every time) and fits the --jobs 2 class runs; stock runs are optional."""
    from benchmarks import late

    cfg = dataclasses.replace(TINY, nbgrader=False, extra={"late": (2, (1, 2), 1)})
    r = late.bench_late(cfg, tmp_path)
    assert len(r["ours"]["times_s"]) == 2 and not r["ours"]["errors"]
    assert r["ours"]["wall"]["n"] == 2 and _number(r["ours"]["wall"]["median"])
    assert r["ours"]["scores"]["reference"]["spatial_batchnorm"] == 25.0
    assert r["stock"]["times_s"] == [] and r["stock"]["errors"] == ["nbgrader runs skipped"]
    m = r["marginal"]
    assert [p["n"] for p in m["points"]] == [1, 2] and m["jobs"] == 2 and not m["errors"]
    assert set(m["fit"]) == {"per_submission_s", "fixed_s", "cpu_per_submission_s",
                             "cpu_fixed_s"}
    # The latency timing's cost is read from every graded result: 2 late runs, 1 + 2 in classes.
    assert r["ours"]["latency"]["n"] == 2 and r["ours"]["latency"]["median"] > 0
    assert m["latency"]["n"] == 3 and m["latency"]["min"] > 0
    # Each run had a folder of its own: two runs of ours, two class runs.
    assert sorted(p.name for p in (tmp_path / "late").iterdir() if p.name.startswith("ours"))\
        == ["ours-0", "ours-1"]


def test_late_submission_section_renders_targets() -> None:
    from benchmarks import late

    spread = {"median": 2.0, "min": 1.8, "max": 2.4, "n": 5}
    slow = {"median": 6.0, "min": 5.5, "max": 7.0, "n": 5}
    side = {"times_s": [2.0] * 5, "cpu_s": [3.0] * 5, "load": [[0.5, 0.4, 0.3]] * 5,
            "errors": [], "scores": None}
    r = {"runs": 5, "git": "abc123", "cores": 2,
         "ours": {**side, "wall": spread, "cpu": spread},
         "stock": {**side, "wall": slow, "cpu": slow},
         "marginal": {"sizes": [8, 16, 32], "repeats": 2, "jobs": 2, "errors": [],
                      "points": [{"n": 8, "seconds": 3.0, "cpu_s": 4.0}],
                      "fit": {"per_submission_s": 0.15, "fixed_s": 2.0,
                              "cpu_per_submission_s": 0.2, "cpu_fixed_s": 3.0}}}
    summary: list = []
    text = "\n".join(late.render_late({"late": r}, summary))
    assert "## One late submission" in text and "abc123" in text
    assert "2.00 s (range 1.80–2.40, 5 runs)" in text and "6.00 s" in text
    assert [row[3] for row in summary] == ["met", "**missed**"]  # 2.0 ≤ 2.5; 0.15 > 0.1
    assert "no submission reported its cost" in text  # this record has no latency figures
    r["ours"]["latency"] = {"median": 0.3, "min": 0.25, "max": 0.4, "n": 5}
    r["marginal"]["latency"] = {"median": 0.2, "min": 0.1, "max": 0.5, "n": 112}
    text = "\n".join(late.render_late({"late": r}, []))
    assert "one late submission: 0.30 s (range 0.25–0.40, 5 runs)" in text
    assert "0.20 s (range 0.10–0.50, 112 runs) per submission" in text
    assert "about 0.10 s of the fitted 0.150 s per submission" in text
    assert late.render_late({}, []) == []


def test_only_replaces_its_sections_and_keeps_the_rest(tmp_path: Path, monkeypatch) -> None:
    """``--only notebook`` re-measures one section: the other sections of the earlier record
    stay as they were, and the page names the partial run with its own commit."""
    from benchmarks import run as cli
    from benchmarks import sections as registry

    cc = [{"dtype": "float32", "size": 8, "k": 3, "ours_us": 2.0, "conv2d_us": 1.0,
           "ratio": 2.0, "max_abs_err": 0.0}]
    earlier = {"machine": {**run.machine(), "loadavg_end": None}, "git": "old1234",
               "date": "then", "threads": 1, "command": "full run", "cc": cc,
               "notebook": {"seconds": 12.0, "error": None, "code_cells": 5,
                            "slowest_cells": []}}
    out = tmp_path / "B.md"
    out.with_suffix(".json").write_text(json.dumps(earlier), encoding="utf-8")
    fresh = {"seconds": 7.0, "error": None, "code_cells": 5, "slowest_cells": []}
    old = registry.BY_KEY["notebook"]
    monkeypatch.setitem(registry.BY_KEY, "notebook",
                        registry.Section("notebook", lambda cfg, work: fresh, old.render))
    assert cli.main(["--quick", "--only", "notebook", "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["notebook"] == fresh and data["cc"] == cc
    assert data["git"] == "old1234" and data["command"] == "full run"
    [part] = data["partial_runs"]
    assert part["sections"] == ["notebook"] and part["git"] != "old1234"
    text = out.read_text(encoding="utf-8")
    assert "re-measured later, alone: notebook" in text and "## 2." in text
    assert "7.0" in text and "12.0" not in text
    # Re-measuring the same section again leaves one partial entry for it, the newest.
    assert cli.main(["--quick", "--only", "notebook", "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert [p["sections"] for p in data["partial_runs"]] == [["notebook"]]
