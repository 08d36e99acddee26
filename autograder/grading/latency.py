"""Latency feedback: how fast a correct graded function runs on one embedded workload.

For each section whose hidden tests all passed, the student's function runs on one
realistic workload (a 3x3 kernel over a 240x320 frame; batch norm forward and backward on an
(8, 16, 60, 80) activation) inside the sandboxed child, single-threaded, under the guard with
the module's bans, a warm-up run and then the best of a few runs. The report puts it beside
the reference solution and torch's built-in (``F.conv2d``, ``F.batch_norm``), measured once
per grading slot in a trusted child of the same zygote that never runs student code (the
reference is solution text: it never enters a process that runs student code), and against
a 30 fps frame budget. It never changes a score unless ``grade --speed-points`` asks.

What a student could try, and why it fails:

- patch the clock (``time.perf_counter = ...``): the child reads a reference to the CPU
  clock bound before any student code exists, and the judge reads the same kernel clock
  of the child from outside (``sandbox.cpu_ns``) around the request: runs that claim less
  than the kernel counted (beyond the overhead a trusted request of the same size needs)
  void the timing and are flagged;
- cache the answer: every run has its own random inputs, and the fastest run's result (the
  one whose time is reported) is checked against a reference computed here;
- answer the workload's shape with something cheap and wrong, or with a banned call: the
  same check, and the guard with the module's rules, void the timing (flagged);
- a lazy or look-alike result: results become plain data inside the timed run;
- hang or crawl: a per-workload deadline kills the child ("too slow to time"), and the whole
  submission's timing has a budget of ``TOTAL_BUDGET_S``.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy
import torch

from . import assignment, files
from .latency_report import FRAME_BUDGET_MS
from .sandbox import CallResult, Sandbox

TOTAL_BUDGET_S = 2.0  # every workload of one submission, its deadlines included
WORKLOAD_CAP_S = 1.0  # one workload's request (warm-up and runs), wall clock, then killed
#: The overhead a trusted request of the same size needed, times this, plus the slack
#: below, is what a request may use beyond its runs before the runs' clock is disbelieved.
OVERHEAD_FACTOR, OVERHEAD_SLACK_NS = 2.0, 3_000_000
CLOCK_SLACK_NS = 5_000_000
FALLBACK_OVERHEAD_NS = 50_000_000  # where the trusted child gave no figure
TAMPERING = "tampering: "


@dataclass(frozen=True)
class Workload:
    section: str
    module: str
    kind: str  # what child/server.py composes: "cc" or "bn"
    fns: tuple[str, ...]
    builtin: str
    description: str
    runs: int  # the warm-up included
    make: Callable[[numpy.random.Generator], list]
    check: Callable[[list, object], str | None]  # None when the result is right


def _cc_inputs(rng: numpy.random.Generator) -> list:
    X = torch.from_numpy(rng.random((240, 320), dtype=numpy.float32) * 2 - 1)
    K = torch.from_numpy(rng.random((3, 3), dtype=numpy.float32) * 2 - 1)
    return [X, K]


def _close(got, want: torch.Tensor, what: str) -> str | None:
    """Loose float32 tolerances: the function already passed the hidden tests; this only
    tells a real answer from a cached, cheap or garbage one."""
    if type(got) is not torch.Tensor or tuple(got.shape) != tuple(want.shape):
        return f"{what} is not a tensor of shape {tuple(want.shape)}"
    if not torch.allclose(got.to(torch.float32), want, rtol=1e-3, atol=1e-3):
        return f"{what} differs from the reference"
    return None


def _cc_check(inputs: list, value) -> str | None:
    X, K = inputs
    want = torch.nn.functional.conv2d(X[None, None], K[None, None])[0, 0]
    return _close(value, want, "the output")


def _bn_inputs(rng: numpy.random.Generator) -> list:
    shape = (8, 16, 60, 80)
    scale = rng.random((1, 16, 1, 1), dtype=numpy.float32) * 3 + 0.5
    shift = rng.random((1, 16, 1, 1), dtype=numpy.float32) * 4 - 2
    x = torch.from_numpy(rng.random(shape, dtype=numpy.float32) * scale + shift)
    gamma = torch.from_numpy(rng.random(16, dtype=numpy.float32) + 0.5)
    beta = torch.from_numpy(rng.random(16, dtype=numpy.float32) - 0.5)
    dout = torch.from_numpy(rng.random(shape, dtype=numpy.float32) * 2 - 1)
    return [x, gamma, beta, dout]


def bn_reference(x, gamma, beta, dout, eps: float = 1e-5) -> tuple[torch.Tensor, ...]:
    """Train-mode batch norm forward and backward in closed form (float32: a check of the
    timed result, not a grade); ``tests/test_latency.py`` holds it to float64 autograd."""
    dims, view = (0, 2, 3), (1, -1, 1, 1)
    m = x.numel() // x.shape[1]
    mean = x.mean(dims, keepdim=True)
    inv = (x.var(dims, correction=0, keepdim=True) + eps).rsqrt()
    xhat = (x - mean) * inv
    out = xhat * gamma.view(view) + beta.view(view)
    dbeta = dout.sum(dims)
    dgamma = (dout * xhat).sum(dims)
    dx = (gamma.view(view) * inv / m) * (m * dout - dbeta.view(view) - xhat * dgamma.view(view))
    return out, dx, dgamma, dbeta


def _bn_check(inputs: list, value) -> str | None:
    if type(value) is not tuple or len(value) != 4:
        return "the forward and backward did not give (out, dx, dgamma, dbeta)"
    for name, got, want in zip(("out", "dx", "dgamma", "dbeta"), value, bn_reference(*inputs)):
        problem = _close(got, want, name)
        if problem:
            return problem
    return None


WORKLOADS = (
    Workload("cross_correlation", "cross_correlation", "cc", ("cross_corr_2d",), "F.conv2d",
             "a 3x3 kernel over a 240x320 float32 frame", 5, _cc_inputs, _cc_check),
    Workload("spatial_batchnorm", "batchnorm", "bn",
             ("spatial_batchnorm_forward", "spatial_batchnorm_backward"), "F.batch_norm",
             "forward and backward (train mode) on an (8, 16, 60, 80) float32 activation",
             3, _bn_inputs, _bn_check),
)
BY_SECTION = {w.section: w for w in WORKLOADS}


@dataclass
class Timed:
    """One request's verdict: a time (ms), or why there is none."""

    ms: float | None = None
    runs: int = 0
    overhead_ns: int | None = None  # kernel CPU time of the request beyond its runs
    status: str = "timed"  # timed, too_slow, void, error
    message: str = ""
    flag: str = ""


def _inputs(w: Workload, seed: int, salt: str) -> list[list]:
    rng = numpy.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(f"{w.section}:{salt}".encode())])
    return [w.make(rng) for _ in range(w.runs)]


def _request(w: Workload, impl: str) -> dict:
    label = f"{w.fns[0]} (latency workload)"
    return {"workload": w.kind, "impl": impl, "module": w.module, "fns": list(w.fns),
            "rules": [] if impl == "builtin" else assignment.rules_for(w.module),
            "label": label}


def _spans(result: CallResult, n: int) -> list[tuple[int, int]] | None:
    """The runs' (start, end) on the child's CPU clock, if they are well formed."""
    spans = result.timing.get("spans")
    if not isinstance(spans, list) or not 1 <= len(spans) <= n:
        return None
    out = []
    for span in spans:
        if not (isinstance(span, list) and len(span) == 2
                and all(type(v) is int for v in span)):
            return None
        out.append((span[0], span[1]))
    flat = [v for span in out for v in span]
    if any(b < a for a, b in zip(flat, flat[1:])):
        return None
    return out


def time_workload(child, w: Workload, impl: str, inputs: list[list], timeout: float,
                  trusted_overhead: int | None = None, trusted: bool = False) -> Timed:
    """Run one workload request and judge what came back. A ``trusted`` request (the
    reference child's) is not held to an overhead; any other may use beyond its runs what
    the trusted request of the same workload needed (``trusted_overhead``), with a margin."""
    budget = max(timeout * 0.25, 0.01)  # CPU seconds of runs: wall time may be more
    result = child.time_runs(dict(_request(w, impl), budget_s=budget), inputs, timeout)
    if result.timed_out:
        return Timed(status="too_slow", message=f"too slow to time (> {timeout * 1000:.0f} ms "
                     "for the warm-up and the runs)")
    if result.forbidden or result.guard:
        what = "; ".join(result.forbidden) or f"the guard did not answer ({result.guard})"
        return Timed(status="void", message=f"not timed: {what} during the timed runs",
                     flag=f"forbidden operation during the latency runs of {w.section}: {what}")
    if result.grader_error:
        return Timed(status="error", message=f"not timed: {result.grader_error}")
    if not result.ok:
        return Timed(status="void", message=f"not timed: the timed run {result.describe()}")
    spans = _spans(result, len(inputs))
    best = result.timing.get("best")
    if spans is None or type(best) is not int or not 0 <= best < len(spans):
        return Timed(status="void", message="not timed: the timed runs' report was damaged",
                     flag=f"{TAMPERING}the latency report of {w.section} was damaged")
    timed = spans[1:] or spans
    durations = [e - s for s, e in timed]
    if best != spans.index(timed[durations.index(min(durations))]):
        return Timed(status="void", message="not timed: the timed runs' report was damaged",
                     flag=f"{TAMPERING}the latency report of {w.section} named the wrong run")
    total = sum(e - s for s, e in spans)
    before, after = result.timing.get("before_ns"), result.timing.get("after_ns")
    overhead = None
    if before is not None and after is not None:
        # The runs' thread clock and the kernel's process clock count the same thread;
        # a scheduler tick of slack for how each is sampled.
        if spans[0][0] < before - CLOCK_SLACK_NS or spans[-1][1] > after + CLOCK_SLACK_NS:
            return Timed(status="void", message="not timed: the clock inside the process "
                         "disagreed with the kernel's", flag=f"{TAMPERING}the latency clock of "
                         f"{w.section} disagreed with the kernel's")
        overhead = (after - before) - total
        allowed = OVERHEAD_FACTOR * (trusted_overhead or FALLBACK_OVERHEAD_NS) \
            + OVERHEAD_SLACK_NS
        if not trusted and overhead > allowed:
            return Timed(status="void", message="not timed: the runs reported less CPU time "
                         "than the kernel counted", flag=f"{TAMPERING}the latency runs of "
                         f"{w.section} reported {total / 1e6:.1f} ms of CPU time, the kernel "
                         f"counted {(after - before) / 1e6:.1f} ms")
    problem = w.check(inputs[best], result.value)
    if problem:
        return Timed(status="void", message=f"not timed: on the latency workload {problem} "
                     "(the hidden tests passed: is the code special-cased or caching?)",
                     flag=f"for review: the latency run of {w.section} gave a wrong result "
                     f"({problem})")
    return Timed(ms=min(durations) / 1e6, runs=len(timed), overhead_ns=overhead)


_reference_lock = threading.Lock()


def reference_times(sandbox: Sandbox, master: Path, seed: int) -> dict[str, dict]:
    """section -> {"reference_ms", "builtin_ms"}: measured once per grading slot (kept on
    the sandbox) in a trusted child of the reference solution, which never runs student
    code, and removed right after."""
    cached = getattr(sandbox, "latency_reference", None)
    if cached is not None:
        return cached
    times: dict[str, dict] = {}
    workdir, _ = sandbox.prepare(master)
    child = sandbox.spawn(workdir)
    try:
        for w in WORKLOADS:
            builtin = time_workload(child, w, "builtin", _inputs(w, seed, "builtin"),
                                    WORKLOAD_CAP_S, trusted=True)
            loaded = child.load(w.module, WORKLOAD_CAP_S)
            ref = time_workload(child, w, "module", _inputs(w, seed, "reference"),
                                WORKLOAD_CAP_S, trusted=True) if loaded.ok \
                else Timed(status="error")
            times[w.section] = {"reference_ms": ref.ms, "builtin_ms": builtin.ms,
                                "overhead_ns": builtin.overhead_ns}
    finally:
        child.close()
        files.remove_tree(workdir)
        workdir.with_name(workdir.name + ".out").unlink(missing_ok=True)
    with _reference_lock:
        sandbox.latency_reference = times
    return times


def eligible_sections(tests: list, guard_disabled: dict[str, str]) -> dict[str, str | None]:
    """section -> None where its function is timed, else why not (for the student)."""
    why: dict[str, str | None] = {}
    for w in WORKLOADS:
        mine = [t for t in tests if t.section == w.section]
        if w.module in guard_disabled:
            why[w.section] = "not timed: the grader's guard was disabled"
        elif not mine or any(t.status != "passed" for t in mine):
            why[w.section] = "not timed: only a function that passes every hidden test is timed"
        else:
            why[w.section] = None
    return why


def measure(sandbox: Sandbox, session, eligible: dict[str, str | None], seed: int,
            master: Path) -> tuple[dict, list[str]]:
    """The ``latency`` entry of a result and the flags it raises. ``session`` is the
    submission's grade.Session: its child has the graded modules loaded and warm."""
    started = time.perf_counter()
    sections: dict[str, dict] = {}
    flags: list[str] = []
    todo = [w for w in WORKLOADS if eligible.get(w.section) is None]
    reference = reference_times(sandbox, master, seed) if todo else {}
    deadline = time.monotonic() + TOTAL_BUDGET_S
    for w in WORKLOADS:
        entry = {"workload": w.description, "builtin": w.builtin}
        if w not in todo:
            sections[w.section] = dict(entry, status="not_timed", message=eligible[w.section])
            continue
        entry.update({k: v for k, v in reference.get(w.section, {}).items()
                      if k != "overhead_ns"})
        left = deadline - time.monotonic()
        if left < 0.05:
            sections[w.section] = dict(entry, status="too_slow", message="not timed: the "
                                       f"timing budget of a submission ({TOTAL_BUDGET_S:g} s) "
                                       "was used up by the other section")
            continue
        timed = _time_student(sandbox, session, w, seed, min(WORKLOAD_CAP_S, left),
                              reference.get(w.section, {}).get("overhead_ns"))
        entry.update(status=timed.status, message=timed.message)
        if timed.ms is not None:
            entry.update(student_ms=round(timed.ms, 4), runs=timed.runs,
                         over_budget=timed.ms > FRAME_BUDGET_MS)
        elif timed.status == "too_slow":
            entry["over_budget"] = True
        if timed.flag:
            flags.append(timed.flag)
        sections[w.section] = entry
    for entry in sections.values():
        for key in ("reference_ms", "builtin_ms"):
            if entry.get(key) is not None:
                entry[key] = round(entry[key], 4)
    # What the timing added to this submission's grading, wall clock (benchmarks/late.py
    # reports it per submission in BENCHMARKS.md).
    cost = round(time.perf_counter() - started, 4)
    return {"frame_budget_ms": round(FRAME_BUDGET_MS, 2), "cost_s": cost,
            "sections": sections}, flags


def _time_student(sandbox: Sandbox, session, w: Workload, seed: int, timeout: float,
                  trusted_overhead: int | None) -> Timed:
    child = session.child
    if child is None or not child.alive:
        session.child = child = sandbox.spawn(session.workdir)
        session.loaded = set()
    loaded = child.load(w.module, timeout)
    if not loaded.ok:
        return Timed(status="void", message=f"not timed: importing the module {loaded.describe()}")
    # The overhead allowed beyond the runs is the trusted child's (the built-in's request on
    # inputs of the same sizes): nothing in this process, where student code has run,
    # can widen it.
    timed = time_workload(child, w, "module", _inputs(w, seed, "student"), timeout,
                          trusted_overhead=trusted_overhead)
    if timed.status == "too_slow":
        session.child = None
    return timed
