"""The views of latency feedback (``latency.py`` measures): the student's feedback, the
instructor report and its plot, Gradescope's leaderboard, ``grade --speed-points``.

Plain result dicts in, text and numbers out; no torch, so the reports import nothing slow.
"""

from __future__ import annotations

from .. import points

FRAME_BUDGET_MS = 1000.0 / 30
SLOW_HINT = ("What usually makes such code slow: a Python loop over pixels (one small tensor "
             "operation per output value), .item() or float() inside a loop, and copies "
             "(.clone(), torch.cat or torch.stack in a loop, .contiguous() of large views); a "
             "few whole-array operations, one per kernel tap or per reduction, are fast.")
#: ``grade --speed-points``: extra points per section within the frame budget (outside
#: SPEC's 65: added to the total score, never to a section).
SPEED_POINTS_PER_SECTION = 1.0
#: The sections timed, in report order, with what each is compared with.
SECTIONS = (("cross_correlation", "F.conv2d"), ("spatial_batchnorm", "F.batch_norm"))


def speed_points(result: dict) -> float:
    """``grade --speed-points``: SPEED_POINTS_PER_SECTION for each section whose function
    was timed within the frame budget."""
    sections = (result.get("latency") or {}).get("sections", {})
    return sum(SPEED_POINTS_PER_SECTION for e in sections.values()
               if e.get("status") == "timed" and e.get("over_budget") is False)


def apply_speed_points(result: dict, enabled: bool = True) -> None:
    """``grade --speed-points``: add the speed points to the total score, never to a section
    (outside SPEC's 65), and record them under ``latency.speed_points``. Without it, a
    result that carries speed points (an earlier run's) loses them again. Idempotent: the
    total is recomputed from the sections."""
    timing = result.get("latency")
    if not enabled and not (timing and "speed_points" in timing):
        return  # the score stays exactly what grading gave
    bonus = speed_points(result) if enabled else 0.0
    if timing is not None:
        if enabled:
            timing["speed_points"] = bonus
        else:
            timing.pop("speed_points", None)
    result["score"] = round(sum(float(s["score"]) for s in result["sections"].values())
                            + bonus, 4)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g} ms" if value < 100 else f"{value:.0f} ms"


def feedback_lines(result: dict) -> list[str]:
    """The feedback's "Latency" section (empty where nothing was measured)."""
    latency = result.get("latency")
    if not latency:
        return []
    titles = {s.key: s.title for s in points.SECTIONS}
    budget = latency.get("frame_budget_ms", FRAME_BUDGET_MS)
    lines = ["## Latency (feedback only" + (", speed points counted)" if "speed_points"
                                            in latency else ": no points)"), "",
             f"Each correct function ran on one embedded workload, on one CPU thread, best "
             f"of a few runs after a warm-up, against a 30 fps frame budget ({budget:.0f} ms "
             "per frame).", "",
             "| section | workload | yours | reference solution | torch built-in | "
             "within the frame budget |", "|---|---|---:|---:|---:|---|"]
    slow = False
    for key, e in latency.get("sections", {}).items():
        yours = _ms(e.get("student_ms")) if e.get("status") == "timed" else e.get("message", "")
        within = ("-" if "over_budget" not in e else "no, over budget" if e["over_budget"]
                  else "yes")
        slow = slow or bool(e.get("over_budget")) or (
            e.get("student_ms") is not None and e.get("reference_ms")
            and e["student_ms"] > 3 * e["reference_ms"])
        lines.append(f"| {titles.get(key, key)} | {e.get('workload', '')} | {yours} | "
                     f"{_ms(e.get('reference_ms'))} | {_ms(e.get('builtin_ms'))} "
                     f"({e.get('builtin', '')}) | {within} |")
    if slow:
        lines += ["", SLOW_HINT]
    if "speed_points" in latency:
        lines += ["", f"Speed points: {latency['speed_points']:g} (one per section within the "
                  "frame budget, on top of the 65 points)."]
    return lines + [""]


def report_lines(results: list[dict], image_name: str | None) -> list[str]:
    """The instructor report's "Latency" section."""
    timed = [r for r in results if r.get("latency")]
    if not timed:
        return []
    lines = ["## Latency", "", "Best time of each correct function on its workload (one "
             "thread, in the sandbox); the reference solution and torch's built-in measured "
             f"in a trusted child of the same grading slot. Frame budget {FRAME_BUDGET_MS:.0f} "
             "ms (30 fps). Never part of the score unless `--speed-points`.", "",
             "| section | timed | median | fastest | over budget or too slow | reference | "
             "built-in |", "|---|---:|---:|---:|---:|---:|---:|"]
    for section, builtin_name in SECTIONS:
        entries = [r["latency"]["sections"].get(section, {}) for r in timed]
        values = sorted(e["student_ms"] for e in entries if e.get("student_ms") is not None)
        over = sum(1 for e in entries if e.get("over_budget"))
        ref = next((e.get("reference_ms") for e in entries if e.get("reference_ms")), None)
        builtin = next((e.get("builtin_ms") for e in entries if e.get("builtin_ms")), None)
        median = values[len(values) // 2] if values else None
        lines.append(f"| {section} | {len(values)} | {_ms(median)} | "
                     f"{_ms(values[0] if values else None)} | {over} | {_ms(ref)} | "
                     f"{_ms(builtin)} ({builtin_name}) |")
    if image_name:
        lines += ["", f"![latency distribution]({image_name})"]
    return lines + [""]


def plot(results: list[dict]) -> bytes | None:
    """PNG of the class's latency per section (log scale, frame budget and reference
    marked); None when fewer than two functions were timed in every section."""
    import io

    import numpy
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = []
    for section, _ in SECTIONS:
        entries = [(r.get("latency") or {}).get("sections", {}).get(section, {})
                   for r in results]
        values = [e["student_ms"] for e in entries if e.get("student_ms")]
        ref = next((e.get("reference_ms") for e in entries if e.get("reference_ms")), None)
        panels.append((section, values, ref))
    if not any(len(v) >= 2 for _, v, _ in panels):
        return None
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, (section, values, ref) in zip(fig.subplots(1, len(panels)), panels, strict=True):
        if values:
            low, high = min(values + [ref or values[0]]), max(values + [FRAME_BUDGET_MS])
            bins = numpy.geomspace(low / 1.2, high * 1.2, 16)
            ax.hist(values, bins=bins, color="tab:blue", edgecolor="white")
            ax.set_xscale("log")
        ax.axvline(FRAME_BUDGET_MS, color="tab:red", linestyle="--", label="30 fps budget")
        if ref:
            ax.axvline(ref, color="tab:green", linestyle=":", label="reference")
        ax.set_title(f"{section} ({len(values)} timed)")
        ax.set_xlabel("best time (ms, log scale)")
        ax.set_ylabel("submissions")
        ax.legend(loc="upper right")
    fig.suptitle("Latency of correct functions")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def leaderboard(result: dict) -> list[dict]:
    """Gradescope's ``leaderboard`` entries: one time per section, lower is better
    (``"order": "asc"``, gradescope-autograders.readthedocs.io/en/latest/leaderboards/);
    a section not timed gets no number (a string the leaderboard shows as is)."""
    titles = {s.key: s.title for s in points.SECTIONS}
    board = []
    for key, e in ((result.get("latency") or {}).get("sections") or {}).items():
        value = e.get("student_ms")
        board.append({"name": f"{titles.get(key, key)} (ms)",
                      "value": round(float(value), 3) if value is not None else "-",
                      "order": "asc"})
    return board
