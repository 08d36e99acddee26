"""Every view of the grader's results: terminal table, JSON, CSV, Gradescope, feedback, report.

All of them read the same plain result dicts (one per submission, the shape of an entry of
SPEC.md's ``--json`` output, possibly with extra keys such as ``seed`` and ``elapsed_s``) and
nothing else: no view ever opens a hidden test or the student's code, so nothing here can leak
either.  Columns and test order come from :mod:`autograder.points`.

Files are written atomically: a half-written grade sheet must never replace a good one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import statistics
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import IO, Any, TypeVar

from .. import points
from . import latency_report as latency
from .results import GRADER_ERROR, error_tests, has_error

SCHEMAS = Path(__file__).resolve().parent / "schemas"

#: Keys of one SPEC.md submission entry, in SPEC's order; anything else stays internal.
SPEC_KEYS = ("submission", "score", "max_score", "sections", "tests", "flags")
SPEC_TEST_KEYS = ("name", "section", "score", "max_score", "status", "output")
#: Additions to SPEC's entry, written after its keys where a result has them (the schema
#: describes each): latency feedback (latency.py).
EXTRA_KEYS = ("latency",)

#: What a student sees on Gradescope where the grader failed (SPEC: never a score).
GRADING_ERROR_TEXT = "Grading error, your instructor has been told."

#: Tests whose inputs the students already have (the notebook shows the worked example), so
#: Gradescope may show them right away; every other test waits until grades are published.
VISIBLE_TESTS = frozenset({"cc_worked_example"})
HIDDEN_VISIBILITY = "after_published"

NAME_WIDTH = 24
T = TypeVar("T")


# ----------------------------------------------------------------------------- helpers

def _num(x: float) -> str:
    """Points as people write them: 15, 2.5, 6.67 (never 15.000000000000002 or 6.6666)."""
    return format(round(float(x), 2), "g")


def _exact(x: float) -> str:
    """Points for files that feed other programs (CSV): four decimals, no float noise."""
    return format(round(float(x), 4), "g")


_MD_SPECIAL = frozenset("\\`*_[]|~#")


def md(text: object) -> str:
    """Student-controlled text (a file name, a flag, a folder name) as literal markdown
    inline text: HTML is escaped as entities and markdown's emphasis, code, link, table
    and heading characters are backslash-escaped, so ``<img onerror=...>`` or
    ``**full marks**`` shows as typed and never renders. Line breaks become spaces, and a
    leading ``-``/``+``/``=`` is escaped: a name cannot start a heading or a list."""
    out = []
    line = " ".join(str(text).splitlines())
    for i, ch in enumerate(line):
        if ch == "_" and 0 < i < len(line) - 1 and line[i - 1].isalnum() \
                and line[i + 1].isalnum():
            out.append(ch)  # cross_corr_2d: never emphasis inside a word (CommonMark)
        elif ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch in _MD_SPECIAL or (not out and ch in "-+="):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _sections() -> list[str]:
    return [s.key for s in points.SECTIONS]


def _manual_total() -> float:
    return float(sum(points.MANUAL.values()))


def _tests_by_name(result: dict) -> dict[str, dict]:
    return {t["name"]: t for t in result.get("tests", [])}


def _shorten(name: str, width: int = NAME_WIDTH) -> str:
    """Cut a long name in the middle, so that both the start and the distinctive end
    (``..._v2``, ``..._late``) stay readable."""
    if len(name) <= width:
        return name
    keep = width - 3
    head = (keep + 1) // 2
    return name[:head] + "..." + name[len(name) - (keep - head):]


def _safe_name(name: str) -> str:
    """A submission name usable as one path component: a name that carries part of its
    path (two folders of the same name) keeps it, with "__" for each "/"; characters
    that are awkward in file names become "_"."""
    text = str(name).replace("/", "__")
    text = "".join(c if c.isascii() and (c.isalnum() or c in "._-+@ ") else "_" for c in text)
    if text.strip(". ") == "":
        raise ValueError(f"submission name {name!r} cannot be used as a file name")
    return text


def _file_names(results: Sequence[dict]) -> list[str]:
    """One distinct file name per result (sanitising may make two names equal)."""
    used: set[str] = set()
    names = []
    for r in results:
        base = name = _safe_name(r["submission"])
        n = 1
        while name in used:  # checked against every name, so "x-2" never collides
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        names.append(name)
    return names


def spec_entry(result: dict) -> dict:
    """The part of a result that SPEC.md's JSON carries, keys in SPEC's order."""
    # Missing keys are left missing: the schema check then names them.
    entry = {k: result[k] for k in SPEC_KEYS + EXTRA_KEYS if k in result}
    if isinstance(entry.get("sections"), dict):
        entry["sections"] = {k: dict(v) if isinstance(v, dict) else v
                             for k, v in entry["sections"].items()}
    if isinstance(entry.get("tests"), list):
        entry["tests"] = [{k: t[k] for k in SPEC_TEST_KEYS if k in t} if isinstance(t, dict)
                          else t for t in entry["tests"]]
    if isinstance(entry.get("flags"), list):
        entry["flags"] = list(entry["flags"])
    return entry


# ----------------------------------------------------------------------------- schemas

@cache
def _schema(name: str) -> dict:
    stem = name.removesuffix(".json").removesuffix(".schema")
    path = SCHEMAS / f"{stem}.schema.json"
    if not path.is_file():
        known = sorted(p.name.split(".")[0] for p in SCHEMAS.glob("*.schema.json"))
        raise ValueError(f"no schema {name!r}; known: {', '.join(known)}")
    schema = json.loads(path.read_text(encoding="utf-8"))
    import jsonschema  # slow to import (about a second): only when a file is written

    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def validate(obj: Any, schema_name: str) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``obj`` follows the named schema
    (``"grade"`` for SPEC's ``--json`` output, ``"gradescope"`` for a results.json)."""
    import jsonschema

    jsonschema.validate(obj, _schema(schema_name), cls=jsonschema.Draft202012Validator)


# ----------------------------------------------------------------------------- atomic files

def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], None],
                 newline: str | None = None, binary: bool = False) -> Path:
    """Call ``write(f)`` on a temporary file next to ``path``, flush it to disk, then
    rename it over ``path``.  If ``write`` raises, the old file is left as it was and the
    temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # os.open applies the umask, so the new file gets ordinary permissions (not mkstemp's 0600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        f: IO[Any]
        with (open(fd, "wb") if binary else
              open(fd, "w", encoding="utf-8", newline=newline)) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _dump_json(obj: Any) -> Callable[[IO[str]], None]:
    def write(f: IO[str]) -> None:
        json.dump(obj, f, indent=2, allow_nan=False)
        f.write("\n")
    return write


# ----------------------------------------------------------------------------- table

def format_table(results: Sequence[dict]) -> str:
    """A fixed-width table for the terminal: a row per submission, a footer with the
    class mean and median."""
    keys = _sections()
    header = ["submission", "total", *keys, "flags"]
    if not results:
        return "no submissions graded"

    rows = []
    pending = False
    for r in results:
        cells = [_shorten(str(r["submission"])),
                 f"{_num(r['score'])}/{_num(r['max_score'])}{'!' if has_error(r) else ''}"]
        for k in keys:
            sec = r["sections"][k]
            mark = ""
            if sec.get("manual_pending", 0):
                mark, pending = "*", True
            cells.append(f"{_num(sec['score'])}/{_num(sec['max_score'])}{mark}")
        cells.append(str(len(r["flags"])))
        rows.append(cells)

    def column(values: list[float]) -> tuple[str, str]:
        return _num(statistics.mean(values)), _num(statistics.median(values))

    stats = [column([float(r["score"]) for r in results])]
    stats += [column([float(r["sections"][k]["score"]) for r in results]) for k in keys]
    stats.append(column([float(len(r["flags"])) for r in results]))
    mean_row = [f"mean (n={len(results)})", *(m for m, _ in stats)]
    median_row = ["median", *(m for _, m in stats)]

    table = [header, *rows, mean_row, median_row]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line(header), rule, *(line(r) for r in rows), rule, line(mean_row),
           line(median_row)]
    if pending:
        out.append(pending_footnote(results))
    if any(has_error(r) for r in results):
        out.append(error_footnote(results))
    return "\n".join(out)


def error_footnote(results: Sequence[dict]) -> str:
    """The table's footnote for the submissions the grader failed on."""
    parts = [f"{_shorten(str(r['submission']))} ({len(error_tests(r))} tests)"
             for r in results if has_error(r)]
    return ("! grader error, not scored yet (points pending, not the student's loss; "
            "run again to grade): " + ", ".join(parts))


def pending_footnote(results: Sequence[dict], names_shown: int = 5) -> str:
    """The table's footnote: each submission's own hand-graded points still to come,
    grouped by amount (names where a group is small, a count where it is large)."""
    groups: dict[float, list[str]] = {}
    for r in results:
        pending = float(r["sections"]["warmup"].get("manual_pending", 0.0))
        if pending:
            groups.setdefault(pending, []).append(_shorten(str(r["submission"])))
    parts = []
    for pending, names in sorted(groups.items(), reverse=True):
        who = (", ".join(names) if len(names) <= names_shown
               else f"{len(names)} submissions")
        parts.append(f"{_num(pending)} for {who}")
    return ("* hand-graded warm-up points not given yet, not in the score: "
            + "; ".join(parts))


# ----------------------------------------------------------------------------- JSON / CSV

def write_json(results: Sequence[dict], path: str | os.PathLike) -> Path:
    """``{"submissions": [...]}`` exactly as SPEC.md, checked against its schema."""
    payload = {"submissions": [spec_entry(r) for r in results]}
    validate(payload, "grade")
    return atomic_write(path, _dump_json(payload))


def csv_header() -> list[str]:
    cols = ["submission", "score"]
    for k in _sections():
        cols.append(k)
        if k == "warmup":
            cols.append("warmup_manual_pending")
    return [*cols, *points.TESTS, "flags"]


def _csv_text(value: str) -> str:
    """Keep a spreadsheet from running a name or message as a formula (OWASP's rule:
    a cell starting with = + - @, a tab or a carriage return, also after spaces, gets a
    leading quote)."""
    stripped = value.lstrip(" ")
    return "'" + value if stripped[:1] in ("=", "+", "-", "@", "\t", "\r", "\n") else value


def _csv_rows(results: Sequence[dict]) -> Iterator[list[str]]:
    keys = _sections()
    max_row = ["MAX", _exact(points.total_max())]
    for k in keys:
        max_row.append(_exact(points.section_max(k)))
        if k == "warmup":
            max_row.append(_exact(_manual_total()))
    yield [*max_row, *(_exact(p) for _, p in points.TESTS.values()), ""]

    for r in results:
        row = [_csv_text(str(r["submission"])), _exact(r["score"])]
        for k in keys:
            sec = r["sections"][k]
            row.append(_exact(sec["score"]))
            if k == "warmup":
                row.append(_exact(sec.get("manual_pending", 0.0)))
        tests = _tests_by_name(r)
        # A test the grader failed on has no score yet: "error", never a 0.
        row += ["" if n not in tests else "error" if tests[n]["status"] == "error"
                else _exact(tests[n]["score"]) for n in points.TESTS]
        row.append(_csv_text("; ".join(r["flags"])))
        yield row


def write_csv(results: Sequence[dict], path: str | os.PathLike) -> Path:
    """A row per submission after a ``MAX`` row; a column per section and per test."""
    def write(f: IO[str]) -> None:
        w = csv.writer(f)
        w.writerow(csv_header())
        w.writerows(_csv_rows(results))
    return atomic_write(path, write, newline="")


# ----------------------------------------------------------------------------- Gradescope

def _pending_note(result: dict) -> str:
    pending = float(result["sections"].get("warmup", {}).get("manual_pending", 0.0))
    if not pending:
        return ""
    return (f"The {_num(pending)} points of the hand-graded warm-up answers are not "
            "included yet; they are added after grading by hand.")


def gradescope_results(result: dict) -> dict:
    """One submission in Gradescope's results.json format.

    Per-test results (except tests on inputs the students already have) show only after
    the grades are published; a visible summary tells the student the submission was
    graded and lists what looked wrong (flags) so that it can be fixed and resubmitted.
    """
    tests = []
    errors = error_tests(result)
    for i, t in enumerate(result["tests"], start=1):
        entry = {
            "name": t["name"],
            "number": str(i),
            "score": float(t["score"]),
            "max_score": float(t["max_score"]),
            "status": "passed" if t["status"] == "passed" else "failed",
            "output": t["output"],
            "tags": [t["section"]],
            "visibility": "visible" if t["name"] in VISIBLE_TESTS else HIDDEN_VISIBILITY,
        }
        if t["status"] == "error":
            # Not a 0 of the student's: no score at all, shown now, saying what happened.
            del entry["score"], entry["max_score"]
            entry["output"] = GRADING_ERROR_TEXT + " " + t["output"]
            entry["visibility"] = "visible"
        tests.append(entry)

    hidden = sum(1 for t in tests if t["visibility"] != "visible")
    if errors:
        pending_points = sum(float(t["max_score"]) for t in errors)
        summary = [f"{GRADING_ERROR_TEXT} {len(errors)} of {len(tests)} autograded tests "
                   f"({_num(pending_points)} points) could not be scored; they are pending, "
                   "not lost, and this score is not your grade yet."]
    else:
        summary = [f"Your submission was graded: {len(tests)} autograded tests ran."]
    if hidden:
        summary.append(f"The results of {hidden} hidden tests are shown when the grades "
                       "are published.")
    if result["flags"]:
        summary.append("The grader noticed problems that may cost points:")
        summary += [f"- {flag}" for flag in result["flags"]]
    else:
        summary.append("The grader noticed no problems (no forbidden calls, no timeouts).")
    note = _pending_note(result)
    if note:
        summary.append(note)
    tests.insert(0, {"name": "Summary", "status": "passed" if not result["flags"] else "failed",
                     "output": "\n".join(summary), "visibility": "visible"})

    output = ("Flags:\n" + "\n".join(f"- {f}" for f in result["flags"])
              if result["flags"] else "No flags.")
    if errors:
        output = summary[0] + "\n" + output
    if note:
        output += "\n" + note
    out: dict[str, Any] = {
        "score": float(result["score"]),
        "output": output,
        "output_format": "text",
        "test_output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"max_score": float(result["max_score"]),
                       "sections": result["sections"]},
    }
    if result.get("elapsed_s") is not None:
        out["execution_time"] = round(float(result["elapsed_s"]), 3)
    board = latency.leaderboard(result)
    if board:
        out["leaderboard"] = board
        out["output"] += "\n\n" + "\n".join(latency.feedback_lines(result)).rstrip()
    if result.get("seed") is not None:
        out["extra_data"]["seed"] = result["seed"]
    if errors:
        out["extra_data"]["grading_error"] = [t["name"] for t in errors]
    return out


def write_gradescope(results: Sequence[dict], folder: str | os.PathLike) -> list[Path]:
    """``folder/<submission>/results.json`` for each submission."""
    written = []
    for r, name in zip(results, _file_names(results)):
        payload = gradescope_results(r)
        validate(payload, "gradescope")
        target = Path(folder) / name / "results.json"
        if target.parent.is_symlink():  # planted: never write through it
            raise OSError(f"{target.parent} is a symbolic link; not writing through it")
        written.append(atomic_write(target, _dump_json(payload)))
    return written


# ----------------------------------------------------------------------------- feedback

def _fenced(text: str) -> str:
    """``text`` verbatim in a code fence longer than any backtick run inside it."""
    run = longest = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def feedback_markdown(result: dict) -> str:
    """A student's feedback, made from the result dict alone."""
    titles = {s.key: s.title for s in points.SECTIONS}
    lines = [f"# Feedback for {md(result['submission'])}", ""]
    lines.append(f"**Score so far: {_num(result['score'])} / {_num(result['max_score'])}** "
                 + ("(autograded and hand-graded points)" if result.get("manual")
                    else "(autograded points)"))
    note = _pending_note(result)
    if note:
        lines += ["", note]
    if has_error(result):
        lines += ["", f"**{GRADING_ERROR_TEXT}** {len(error_tests(result))} tests could not "
                  "be scored by the grader; their points are pending, not lost, and the score "
                  "above is not final."]
    lines += ["", "## Sections", "", "| section | score | max | hand-graded, pending |",
              "|---|---:|---:|---:|"]
    for k in _sections():
        sec = result["sections"][k]
        lines.append(f"| {titles[k]} | {_num(sec['score'])} | {_num(sec['max_score'])} | "
                     f"{_num(sec.get('manual_pending', 0.0))} |")

    lines += ["", "## Tests"]
    for k in _sections():
        tests = [t for t in result["tests"] if t["section"] == k]
        if not tests:
            continue
        lines += ["", f"### {titles[k]}"]
        for t in tests:
            mark = {"passed": "passed", "error": "NOT SCORED YET, grader error"}.get(
                t["status"], "FAILED")
            lines += ["", (f"- `{t['name']}` ({mark}): {_num(t['score'])} / "
                      f"{_num(t['max_score'])} points"), ""]
            message = t["output"].strip() or "(no message)"
            lines += ["  " + ln if ln else "" for ln in _fenced(message).splitlines()]

    lines += ["", *latency.feedback_lines(result)]
    lines += ["## Flags", ""]
    if result["flags"]:
        lines += [f"- {md(f)}" for f in result["flags"]]
    else:
        lines.append("None: no forbidden calls, timeouts or tampering were found.")
    lines += ["", "## Hand-graded questions", ""]
    merged = result.get("manual") or {}
    if merged:
        lines += ["| question | points |", "|---|---:|"]
        lines += [f"| ({q}) | {_num(p)} / {_num(points.MANUAL[f'warmup_{q}'])} |"
                  for q, p in merged.items()]
        lines += ["", "These points are included in the score above."]
    pending = float(result["sections"]["warmup"].get("manual_pending", 0.0))
    if pending or not merged:
        lines.append("The warm-up questions other than (e) are graded by hand; "
                     f"{_num(pending)} of those points come later and are not part of the "
                     "score above.")
    lines.append("")
    if result.get("seed") is not None:
        lines += [f"Hidden-test inputs were drawn with seed {result['seed']}; grading again "
                  "with the same seed reproduces them.", ""]
    return "\n".join(lines)


def feedback_name(name: str, stem: str) -> str:
    """A student's feedback file next to ``<stem>.json``: named after both, so that
    another run beside it (another ``--json``) never overwrites it."""
    return f"{stem}-{name}-feedback.md"


def write_feedback(results: Sequence[dict], folder: str | os.PathLike,
                   stem: str = "grades") -> list[Path]:
    """``folder/<stem>-<submission>-feedback.md`` for each submission."""
    written = []
    for r, name in zip(results, _file_names(results)):
        text = feedback_markdown(r)
        target = Path(folder) / feedback_name(name, stem)
        written.append(atomic_write(target, lambda f, text=text: f.write(text)))
    return written


# ----------------------------------------------------------------------------- instructor report

def failed_counts(results: Sequence[dict]) -> list[tuple[str, int]]:
    """(test, submissions that failed it), most failed first; ties in the points table's
    order; tests nobody failed are left out."""
    order = {name: i for i, name in enumerate(points.TESTS)}
    counts: dict[str, int] = {}
    for r in results:
        for t in r["tests"]:
            if t["status"] == "failed":
                counts[t["name"]] = counts.get(t["name"], 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order)), kv[0]))


def _stats_row(label: str, values: list[float], top: float) -> str:
    if not values:
        return f"| {label} | {_num(top)} | - | - | - | - | - |"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return (f"| {label} | {_num(top)} | {_num(statistics.mean(values))} | "
            f"{_num(statistics.median(values))} | {_num(sd)} | {_num(min(values))} | "
            f"{_num(max(values))} |")


#: Batch-level flag carried by every submission graded in a degraded sandbox.
SANDBOX_NOTE = "sandbox degraded: "


def sandbox_notes(results: Sequence[dict]) -> list[str]:
    """The degraded-sandbox notes of a batch, once each."""
    return list(dict.fromkeys(f[len(SANDBOX_NOTE):] for r in results for f in r["flags"]
                              if f.startswith(SANDBOX_NOTE)))


def own_flags(result: dict) -> list[str]:
    """A submission's flags without the batch-level sandbox notes."""
    return [f for f in result["flags"] if not f.startswith(SANDBOX_NOTE)]


def report_markdown(results: Sequence[dict], image_name: str | None = None,
                    similarity: Sequence[str] | None = None,
                    roster: Sequence[str] | None = None,
                    latency_image: str | None = None) -> str:
    n = len(results)
    seeds = sorted({r["seed"] for r in results if r.get("seed") is not None})
    seed_note = f" Seed of the hidden-test inputs: {', '.join(map(str, seeds))}." if seeds else ""
    lines = ["# Grading report", "", f"{n} submissions graded.{seed_note}", "", "## Scores", "",
             "| | max | mean | median | std | min | max seen |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    merged = any(r.get("manual") for r in results)
    manual_max = _manual_total() if merged else 0.0
    lines.append(_stats_row("total" if merged else "total (autograded)",
                            [float(r["score"]) for r in results],
                            points.total_max() - _manual_total() + manual_max))
    for k in _sections():
        lines.append(_stats_row(k, [float(r["sections"][k]["score"]) for r in results],
                                points.section_auto_max(k) + (manual_max if k == "warmup"
                                                              else 0.0)))
    pending = sum(float(r["sections"]["warmup"].get("manual_pending", 0.0)) for r in results)
    if merged:
        lines += ["", (f"Scores include the hand-graded warm-up points merged with "
                  f"`--manual`; {_num(pending)} hand-graded points of the class are still "
                  "pending.")]
    elif _manual_total():
        lines += ["", (f"Maxima are autograded points; {_num(_manual_total())} warm-up points "
                  "are graded by hand and are not included.")]
    if image_name:
        lines += ["", f"![score histograms]({image_name})"]
    elif n < MIN_HISTOGRAM_CLASS:
        lines += ["", f"No score histograms: a class of {n} shows no distribution "
                  f"(they are drawn from {MIN_HISTOGRAM_CLASS} submissions on)."]

    lines += ["", "## Most-failed tests", ""]
    failed = failed_counts(results)
    if failed:
        lines += ["| test | section | points | failed by | share |", "|---|---|---:|---:|---:|"]
        for name, count in failed:
            section, pts = points.TESTS.get(name, ("?", 0.0))
            lines.append(f"| `{name}` | {section} | {_num(pts)} | {count} | "
                         f"{100 * count / n:.0f}% |")
    else:
        lines.append("No test failed." if n else "Nothing was graded.")

    degraded = sandbox_notes(results)
    lines += ["", "## Sandbox", ""]
    lines += ([f"- **Degraded:** {note}" for note in degraded] if degraded else
              ["Complete: every protection of the README's threat model was in force."])

    held = [(r, f) for r in results for f in r["flags"] if f.startswith(GRADER_ERROR + ":")]
    held += [(r, f"{GRADER_ERROR}: {len(error_tests(r))} tests not scored")
             for r in results if has_error(r) and not any(x is r for x, _ in held)]
    lines += ["", "## Held for review (grader errors)", ""]
    if held:
        lines += ["Tests with status `error`: points pending, not the student's loss, not kept "
                  "as final; grade these submissions again.", ""]
    lines += ([f"- **{md(r['submission'])}**: {md(f[len(GRADER_ERROR) + 2:])}" for r, f in held]
              if held else ["None: the grader read back every answer."])

    lines += ["", "## Flagged submissions", ""]
    flagged = [(r, own_flags(r)) for r in results if own_flags(r)]
    if flagged:
        for r, flags in flagged:
            lines.append(f"- **{md(r['submission'])}** ({_num(r['score'])} points)")
            lines += [f"  - {md(f)}" for f in flags]
    else:
        lines.append("None.")
    lines += ["", *latency.report_lines(list(results), latency_image)]
    if roster:  # grade --roster: who is missing, who is not on it
        lines += ["", *roster]
    if similarity:  # grade --similarity: pairs of submissions that look copied
        lines += ["", *similarity]
    lines.append("")
    return "\n".join(lines)


def histogram_panels(results: Sequence[dict]) -> list[tuple[str, list[float], float]]:
    """(label, scores, axis maximum) per histogram. Scores count autograded points only,
    so each axis ends at the autograded maximum (hand-graded warm-up points are not in any
    score yet). Where ``grade --manual`` merged hand-graded points, the axes include them."""
    manual_max = _manual_total() if any(r.get("manual") for r in results) else 0.0
    panels = [(k, [float(r["sections"][k]["score"]) for r in results],
               points.section_auto_max(k) + (manual_max if k == "warmup" else 0.0))
              for k in _sections()]
    panels.append(("total", [float(r["score"]) for r in results],
                   points.total_max() - _manual_total() + manual_max))
    return panels


# A histogram of fewer submissions shows no distribution: the report says so instead of
# making the instructor wait for a figure (drawing it costs more than grading one).
MIN_HISTOGRAM_CLASS = 2


def preload(figures: bool = True) -> None:
    """Import what writing the reports needs (matplotlib's Agg canvas, jsonschema), so that
    a caller can do it while it waits for something else."""
    if figures:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401

    _schema("grade")


def _histograms(results: Sequence[dict]) -> bytes:
    # The Agg canvas directly, not pyplot: no global backend switch, no display needed.
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    panels = histogram_panels(results)

    cols = 2
    rows = (len(panels) + cols - 1) // cols
    fig = Figure(figsize=(5 * cols, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (label, values, top) in zip(axes, panels, strict=False):
        top = top or 1.0
        ax.hist(values, bins=np.linspace(0.0, top, 11), color="tab:blue", edgecolor="white")
        mean = statistics.mean(values) if values else 0.0
        ax.axvline(mean, color="tab:red", linestyle="--", label=f"mean {_num(mean)}")
        ax.set_title(f"{label} (autograded, out of {_num(top)})")
        ax.set_xlabel("points")
        ax.set_ylabel("submissions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.0, top)
        ax.legend(loc="upper left")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"Score distribution, {len(results)} submissions")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def write_report(results: Sequence[dict], folder: str | os.PathLike,
                 stem: str, similarity: Sequence[str] | None = None,
                 roster: Sequence[str] | None = None) -> tuple[Path, Path | None]:
    """``<stem>-report.md`` and, for a class of ``MIN_HISTOGRAM_CLASS`` or more,
    ``<stem>-histograms.png`` in ``folder`` (None in its place otherwise)."""
    folder = Path(folder)
    png_name = f"{stem}-histograms.png"
    latency_name = f"{stem}-latency.png"
    if len(results) < MIN_HISTOGRAM_CLASS:
        # An earlier class's figure under this name would be read as this one's.
        (folder / png_name).unlink(missing_ok=True)
        (folder / latency_name).unlink(missing_ok=True)
        text = report_markdown(results, similarity=similarity, roster=roster)
        report = atomic_write(folder / f"{stem}-report.md", lambda f: f.write(text))
        return report, None
    png = _histograms(results)
    speeds = latency.plot(list(results))
    if speeds is None:
        (folder / latency_name).unlink(missing_ok=True)
    else:
        atomic_write(folder / latency_name, lambda f: f.write(speeds), binary=True)
    text = report_markdown(results, image_name=png_name, similarity=similarity,
                           roster=roster, latency_image=latency_name if speeds else None)
    image = atomic_write(folder / png_name, lambda f: f.write(png), binary=True)
    report = atomic_write(folder / f"{stem}-report.md", lambda f: f.write(text))
    return report, image


# ----------------------------------------------------------------------------- progress

def progress(iterable: Iterable[T], total: int | None = None, enabled: bool | None = None,
             desc: str = "grading") -> Iterable[T]:
    """A tqdm bar on stderr.  ``enabled=None`` shows it only when stderr is a terminal;
    ``True`` forces it, ``False`` turns it off."""
    from tqdm import tqdm

    if enabled is None:
        isatty = getattr(sys.stderr, "isatty", None)
        enabled = bool(isatty and isatty())
    return tqdm(iterable, total=total, file=sys.stderr, disable=not enabled, desc=desc,
                unit="sub", dynamic_ncols=True)
