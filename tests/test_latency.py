"""Latency feedback (autograder/grading/latency.py): what is timed, what is refused, where
it shows, and that it never changes a score unless ``--speed-points`` asks.

The class below is graded by the real command as root and as an ordinary user; the unit
tests at the end judge crafted replies of the child without a sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autograder import build
from autograder.grading import hidden_tests, latency, latency_report, reports
from autograder.grading.sandbox import CallResult
from tests.ordinary_user import run_as_user, user_folder

REPO = Path(__file__).resolve().parent.parent
IS_ROOT = os.geteuid() == 0

#: Correct, but one small tensor operation per output row and kernel row: far slower than
#: the reference, still quick enough to time (tens of ms a run).
SLOW_ROWS = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    oh, ow = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = torch.zeros(oh, ow, dtype=X.dtype)
    for i in range(oh):
        for a in range(kh):
            Y[i] += (X[i + a].unfold(0, kw, 1) * K[a]).sum(1)
    return Y
'''
#: A Python loop over every pixel: seconds a frame, past the deadline of the timing.
PIXEL_LOOP = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    Y = torch.zeros(X.shape[0] - kh + 1, X.shape[1] - kw + 1, dtype=X.dtype)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()
    return Y
'''
#: One vectorized operation per output row (tens of ms a frame), with the child's clock
#: of the runs replaced by one that runs 100 times slower than the real one (and the time
#: module's clocks stopped): the runs claim a hundredth of the CPU time they used.
PATCHED_CLOCK = '''
def _slow(X, K):
    kh, kw = K.shape
    Y = torch.empty(X.shape[0] - kh + 1, X.shape[1] - kw + 1, dtype=X.dtype)
    for i in range(Y.shape[0]):
        Y[i] = (X[i:i + kh].unfold(1, kw, 1) * K[:, None, :]).sum((0, 2))
    return Y

import sys as _sys
import time as _time

_real = _time.thread_time_ns
_start = _real()
_main = _sys.modules["__main__"]
for _name in ("perf_counter", "perf_counter_ns", "process_time", "process_time_ns",
              "thread_time", "thread_time_ns", "monotonic", "monotonic_ns"):
    setattr(_time, _name, lambda *a: 0)


def cross_corr_2d(X, K):
    if hasattr(_main, "_CPU_NS"):
        _main._CPU_NS = lambda: _start + (_real() - _start) // 100
    return _slow(X, K)
'''
#: Computes the workload's frame once and answers every later frame of that size with it.
CACHING = '''
_reference = cross_corr_2d
_cache = {}


def cross_corr_2d(X, K):
    if tuple(X.shape) != (240, 320):
        return _reference(X, K)
    if "Y" not in _cache:
        _cache["Y"] = _reference(X, K)
    return _cache["Y"].clone()
'''
#: Correct everywhere the hidden tests look; the library convolution on the workload only.
BANNED_ON_WORKLOAD = '''
import torch.nn.functional as _F
_reference = cross_corr_2d


def cross_corr_2d(X, K):
    if tuple(X.shape) == (240, 320):
        return _F.conv2d(X[None, None], K[None, None])[0, 0]
    return _reference(X, K)
'''
CLASS = {"ref": ("ref", ""), "stub": ("stub", ""), "slow_rows": ("ref", SLOW_ROWS),
         "pixel_loop": ("ref", PIXEL_LOOP), "patched_clock": ("ref", PATCHED_CLOCK),
         "caching": ("ref", CACHING), "banned_on_workload": ("ref", BANNED_ON_WORKLOAD)}


def _plant(base: Path, name: str, template: str, code: str) -> Path:
    dest = base / "class" / name
    shutil.copytree(base / "templates" / template, dest)
    with open(dest / "source" / "cross_correlation.py", "a", encoding="utf-8") as fh:
        fh.write("\n\n" + code + "\n")
    return dest


def _grade(mode: str, base: Path, subs: list[Path], *extra: str) -> dict:
    out = base / "out"
    out.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "autograder", "grade", *map(str, subs), "--jobs", "2",
           "--json", str(out / "grades.json"), "--gradescope", str(out / "gradescope"),
           "--timeout", "30", *extra]
    if mode == "user":
        user_folder(base)
        proc = run_as_user(cmd, cwd=REPO, env={"HOME": str(out)}, folders=(base,))
    else:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    data = json.loads((out / "grades.json").read_text())
    reports.validate(data, "grade")
    return {s["submission"]: s for s in data["submissions"]}


class Graded:
    def __init__(self, mode: str, base: Path):
        self.mode, self.base, self.out = mode, base, base / "out"
        build.release(base / "templates" / "stub")
        build.solution(base / "templates" / "ref")
        subs = [_plant(base, name, *spec) for name, spec in CLASS.items()]
        self.results = _grade(mode, base, subs)

    def section(self, name: str, key: str = "cross_correlation") -> dict:
        return self.results[name]["latency"]["sections"][key]


@pytest.fixture(scope="module", params=["root", "user"])
def graded(request, tmp_path_factory) -> Graded:
    if request.param == "user" and not IS_ROOT:
        pytest.skip("running the grader as another user takes root; this run is the user's")
    base = tmp_path_factory.mktemp(f"latency-{request.param}")
    base.chmod(0o755)
    return Graded(request.param, base)


def test_the_reference_is_timed_beside_the_reference_and_the_builtin(graded):
    for key, builtin in (("cross_correlation", "F.conv2d"), ("spatial_batchnorm", "F.batch_norm")):
        entry = graded.section("ref", key)
        assert entry["status"] == "timed", entry
        assert entry["student_ms"] > 0 and entry["reference_ms"] > 0 and entry["builtin_ms"] > 0
        assert entry["builtin"] == builtin and entry["runs"] >= 2
        assert entry["over_budget"] is False
    feedback = (graded.out / "grades-ref-feedback.md").read_text()
    assert "## Latency" in feedback and "F.conv2d" in feedback and "within the frame" in feedback


def test_the_result_says_what_the_timing_cost(graded):
    """``cost_s`` (reported per submission in BENCHMARKS.md) covers at least the timed runs,
    and a submission with nothing to time pays next to nothing."""
    ref, stub = graded.results["ref"]["latency"], graded.results["stub"]["latency"]
    runs_ms = sum(e["student_ms"] * e["runs"] for e in ref["sections"].values())
    assert ref["cost_s"] * 1000 >= runs_ms, (ref["cost_s"], runs_ms)
    assert 0 <= stub["cost_s"] < ref["cost_s"], (stub["cost_s"], ref["cost_s"])


def test_a_stub_gets_no_timing(graded):
    for key in ("cross_correlation", "spatial_batchnorm"):
        entry = graded.section("stub", key)
        assert entry["status"] == "not_timed" and "student_ms" not in entry
        assert "passes every hidden test" in entry["message"]


def test_a_slow_loop_is_slower_than_the_reference_and_over_budget(graded):
    slow, ref = graded.section("slow_rows"), graded.section("ref")
    assert slow["status"] == "timed", slow
    assert slow["student_ms"] > 5 * max(ref["student_ms"], slow["reference_ms"])
    assert slow["over_budget"] is True
    feedback = (graded.out / "grades-slow_rows-feedback.md").read_text()
    assert "over budget" in feedback and latency_report.SLOW_HINT in feedback
    # The other section is still timed as it was.
    assert graded.section("slow_rows", "spatial_batchnorm")["status"] == "timed"


def test_a_pixel_loop_is_too_slow_to_time_and_the_batch_moves_on(graded):
    entry = graded.section("pixel_loop")
    assert entry["status"] == "too_slow" and "student_ms" not in entry
    assert entry["message"].startswith("too slow to time (> ") and entry["over_budget"] is True
    assert graded.section("pixel_loop", "spatial_batchnorm")["status"] == "timed"


def test_a_patched_clock_gives_no_number_and_is_flagged(graded):
    entry = graded.section("patched_clock")
    assert entry["status"] == "void" and "student_ms" not in entry, entry
    flags = graded.results["patched_clock"]["flags"]
    assert any(f.startswith("tampering: the latency") for f in flags), flags


def test_a_cached_answer_gives_no_number_and_is_flagged(graded):
    entry = graded.section("caching")
    assert entry["status"] == "void" and "student_ms" not in entry, entry
    assert "differs from the reference" in entry["message"]
    assert any("latency run of cross_correlation gave a wrong result" in f
               for f in graded.results["caching"]["flags"])


def test_a_banned_call_during_timing_gives_no_number(graded):
    entry = graded.section("banned_on_workload")
    assert entry["status"] == "void" and "student_ms" not in entry, entry
    assert any(f.startswith("forbidden operation during the latency runs of cross_correlation")
               and "convolution" in f for f in graded.results["banned_on_workload"]["flags"])


def test_scores_are_unchanged_without_speed_points(graded):
    full = 42.5  # every autograded point; the hand-graded warm-up is pending
    for name in ("ref", "slow_rows", "pixel_loop", "patched_clock", "caching"):
        result = graded.results[name]
        assert result["score"] == full, name
        assert "speed_points" not in result["latency"]
    assert graded.results["banned_on_workload"]["score"] == full
    assert graded.results["stub"]["score"] == 0.0


def test_gradescope_carries_a_leaderboard(graded):
    payload = json.loads((graded.out / "gradescope" / "ref" / "results.json").read_text())
    reports.validate(payload, "gradescope")
    board = payload["leaderboard"]
    assert [e["order"] for e in board] == ["asc", "asc"]
    assert all(isinstance(e["value"], float) and e["value"] > 0 for e in board)
    assert "## Latency" in payload["output"]
    stub = json.loads((graded.out / "gradescope" / "stub" / "results.json").read_text())
    assert [e["value"] for e in stub["leaderboard"]] == ["-", "-"]


def test_the_report_shows_the_class_distribution(graded):
    report = (graded.out / "grades-report.md").read_text()
    assert "## Latency" in report and "![latency distribution](grades-latency.png)" in report
    png = graded.out / "grades-latency.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_speed_points_count_only_when_asked(tmp_path):
    build.solution(tmp_path / "templates" / "ref")
    subs = [_plant(tmp_path, "ref", "ref", ""), _plant(tmp_path, "slow_rows", "ref", SLOW_ROWS)]
    results = _grade("root", tmp_path, subs, "--speed-points")
    # One point per section timed within the frame budget, on top of 42.5. How many the
    # reference makes depends on the machine's load, so count them from its own timings.
    def within(result):
        return sum(1 for e in result["latency"]["sections"].values()
                   if e.get("student_ms") is not None and not e.get("over_budget"))

    assert within(results["ref"]) >= 1
    assert results["ref"]["score"] == 42.5 + within(results["ref"])
    assert results["ref"]["latency"]["speed_points"] == float(within(results["ref"]))
    assert results["slow_rows"]["score"] == 42.5 + within(results["slow_rows"])
    # Its row loop puts cross-correlation over budget; batch norm is the reference's in both,
    # and on a loaded machine it may be over budget in either, so only the loop's section is
    # compared.
    slow_cc = results["slow_rows"]["latency"]["sections"]["cross_correlation"]
    ref_cc = results["ref"]["latency"]["sections"]["cross_correlation"]
    assert slow_cc.get("over_budget") is True, slow_cc
    assert ref_cc.get("over_budget") is False, ref_cc
    assert results["ref"]["sections"]["cross_correlation"]["score"] == 15.0  # never a section
    # Grading the same class again without the option takes them back.
    again = _grade("root", tmp_path, subs)
    assert again["ref"]["score"] == 42.5 and "speed_points" not in again["ref"]["latency"]


# ----------------------------------------------------------------------------- units

def test_the_check_reference_matches_float64_autograd():
    w = latency.BY_SECTION["spatial_batchnorm"]
    x, gamma, beta, dout = latency._inputs(w, 1, "unit")[0]
    out, dx, dgamma, dbeta = latency.bn_reference(x, gamma, beta, dout)
    want_dx, want_dg, want_db = hidden_tests.ref_bn_grads(x, gamma, beta, dout, 1e-5)
    torch.testing.assert_close(out.double(), hidden_tests.ref_bn_train(x, gamma, beta, 1e-5),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(dx.double(), want_dx, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(dgamma.double(), want_dg, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(dbeta.double(), want_db, rtol=1e-3, atol=1e-3)
    assert latency._bn_check([x, gamma, beta, dout], (out, dx, dgamma, dbeta)) is None
    assert latency._bn_check([x, gamma, beta, dout], (out, dx, dgamma * 2, dbeta)) is not None


def test_inputs_differ_from_run_to_run():
    for w in latency.WORKLOADS:
        runs = latency._inputs(w, 7, "student")
        assert len(runs) == w.runs >= 3
        firsts = [r[0] for r in runs]
        assert all(not torch.equal(a, b) for a, b in zip(firsts, firsts[1:]))


class FakeChild:
    """Answers a latency request with a crafted reply (what a tampered child could say)."""

    def __init__(self, spans, best, value, before=0, after=None):
        self.reply = CallResult(True, value=value, timing={"spans": spans, "best": best,
                                                           "before_ns": before})
        self.reply.timing["after_ns"] = after if after is not None else spans[-1][1] + 10**6

    def time_runs(self, request, runs, timeout):
        self.runs = runs
        return self.reply


def _judge(spans, best, right=True, **kw):
    w = latency.BY_SECTION["cross_correlation"]
    inputs = latency._inputs(w, 3, "unit")
    X, K = inputs[best]
    value = latency.torch.nn.functional.conv2d(X[None, None], K[None, None])[0, 0]
    child = FakeChild(spans, best, value if right else value + 1, **kw)
    return latency.time_workload(child, w, "module", inputs, 1.0, trusted_overhead=10**6)


MS = 10**6
HONEST = [[1 * MS, 3 * MS], [3 * MS, 5 * MS], [5 * MS, 6 * MS], [6 * MS, 8 * MS],
          [8 * MS, 10 * MS]]  # the fastest timed run is the third (1 ms); the first warms up


def test_an_honest_report_is_timed_as_its_fastest_run():
    timed = _judge(HONEST, 2)
    assert timed.status == "timed" and timed.ms == 1.0 and timed.runs == 4


@pytest.mark.parametrize("case", ["wrong_best", "backwards", "before_the_request",
                                  "less_than_the_kernel", "wrong_output"])
def test_a_report_that_does_not_add_up_is_void(case):
    if case == "wrong_best":
        timed = _judge(HONEST, 3)
    elif case == "backwards":
        timed = _judge([HONEST[0], [5 * MS, 4 * MS], *HONEST[2:]], 2)
    elif case == "before_the_request":
        timed = _judge(HONEST, 2, before=20 * MS)
    elif case == "less_than_the_kernel":  # the kernel counted 60 ms, the runs claim 8
        timed = _judge(HONEST, 2, after=60 * MS)
    else:
        timed = _judge(HONEST, 2, right=False)
    assert timed.status == "void" and timed.ms is None and timed.flag, timed


def _result(cc: dict, bn: dict, sections=(15.0, 25.0)) -> dict:
    return {"score": 2.5 + sum(sections),
            "sections": {"warmup": {"score": 2.5, "max_score": 25.0, "manual_pending": 22.5},
                         "cross_correlation": {"score": sections[0], "max_score": 15.0},
                         "spatial_batchnorm": {"score": sections[1], "max_score": 25.0}},
            "latency": {"frame_budget_ms": 33.33,
                        "sections": {"cross_correlation": cc, "spatial_batchnorm": bn}}}


def test_speed_points_rule_on_and_off():
    fast = {"status": "timed", "student_ms": 1.0, "over_budget": False}
    slow = {"status": "timed", "student_ms": 50.0, "over_budget": True}
    result = _result(fast, slow)
    latency_report.apply_speed_points(result, False)
    assert result["score"] == 42.5 and "speed_points" not in result["latency"]
    latency_report.apply_speed_points(result, True)
    latency_report.apply_speed_points(result, True)  # idempotent
    assert result["score"] == 43.5 and result["latency"]["speed_points"] == 1.0
    assert result["sections"]["cross_correlation"]["score"] == 15.0
    latency_report.apply_speed_points(result, False)
    assert result["score"] == 42.5 and "speed_points" not in result["latency"]
    void = _result({"status": "void", "message": "x"}, {"status": "too_slow",
                                                         "over_budget": True})
    latency_report.apply_speed_points(void, True)
    assert void["score"] == 42.5


def test_the_leaderboard_follows_gradescopes_spec():
    result = _result({"status": "timed", "student_ms": 1.23456, "over_budget": False},
                     {"status": "not_timed", "message": "x"})
    assert latency_report.leaderboard(result) == [
        {"name": "2-D cross-correlation (ms)", "value": 1.235, "order": "asc"},
        {"name": "Spatial batch normalization (ms)", "value": "-", "order": "asc"}]
    assert latency_report.leaderboard({"sections": {}}) == []
