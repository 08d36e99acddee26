"""``python -m autograder grade``: a class of submissions, in parallel, resumable.

Each of ``--jobs`` threads owns a sandbox (one worker process with torch loaded) and
grades one submission at a time. Finished results are appended to a journal next to the
``--json`` file as soon as they exist, so a batch killed halfway resumes where it
stopped: a submission whose files and seed are unchanged is not graded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import sys
import threading
import traceback
from pathlib import Path

from .. import points
from . import files, reports
from .results import GRADER_ERROR, TestResult
from .sandbox import MAX_FILE_BYTES, Limits, Sandbox

DEFAULT_SEED = 20261128  # grade.py's; kept here so that the batch can start before torch
MAX_HASHED_NOTEBOOK = 64 << 20

JOURNAL_SUFFIX = ".journal.jsonl"


def grader_fingerprint() -> str:
    """Hash of everything that decides a verdict: the grader's code (hidden tests, points
    table, answer key, the child's side) and the reference solution. A journal entry made
    by another grader is not reused."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    sources = sorted(root.rglob("*.py")) + sorted((root / "master").rglob("*.py"))
    for path in dict.fromkeys(sources):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fingerprint(path: Path, seed: int, grader: str = "") -> str:
    """Hash of what grading reads: the notebook and source/, names and bytes (no links),
    and of the grader itself."""
    digest = hashlib.sha256(f"seed={seed};grader={grader};"
                            f"points={sorted(points.TESTS.items())}".encode())
    candidates: list[tuple[str, Path]] = [("assignment.ipynb", path / "assignment.ipynb")]
    if (path / "source").is_dir() and not (path / "source").is_symlink():
        listing = files.walk(path / "source", "source")
        candidates += [(f"source/{rel}", path / "source" / rel) for rel, _ in listing.files]
        digest.update("\n".join(listing.notes).encode())
    for rel, file in candidates:
        try:
            fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        with open(fd, "rb") as fh:
            digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
            size = os.fstat(fh.fileno()).st_size
            limit = MAX_HASHED_NOTEBOOK if rel == "assignment.ipynb" else MAX_FILE_BYTES
            if size > limit:  # too large to grade anyway (a sparse file of terabytes): size
                digest.update(f"size={size}".encode())
                continue
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


class Journal:
    """Append-only record of finished submissions; a torn last line is ignored."""

    def __init__(self, path: Path | None):
        self.path = path
        self.done: dict[tuple[str, str], dict] = {}
        self.lock = threading.Lock()
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
        if path and (path.exists() or path.is_symlink()):
            text = files.read_private(path)
            if text is None:
                # A link, or a file another user planted: never read it, never write
                # through it. Grade everything again and keep no journal this time.
                print(f"warning: {path} is not a regular file of this user; it is ignored "
                      "and no journal is kept", file=sys.stderr)
                self.path = None
                return
            if text and not text.endswith("\n"):
                # A torn last line (the batch was killed while writing): end it, so that
                # the next entry starts on a line of its own instead of joining it.
                self._append("\n")
            for line in text.splitlines():
                try:
                    entry = json.loads(line)
                    self.done[(entry["path"], entry["fingerprint"])] = entry["result"]
                except (ValueError, KeyError, TypeError):
                    continue

    def _append(self, text: str) -> None:
        fd = files.open_private_append(self.path)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def get(self, path: Path, fp: str) -> dict | None:
        return self.done.get((str(path.resolve()), fp))

    def add(self, path: Path, fp: str, result: dict) -> None:
        if self.path is None:
            return
        line = json.dumps({"path": str(path.resolve()), "fingerprint": fp, "result": result})
        with self.lock:
            self._append(line + "\n")


def _failed_result(path: Path, seed: int, error: str) -> dict:
    from .grade import assemble

    tests = [TestResult.of(n, 0.0, "not graded: the grader failed on this submission")
             for n in points.TESTS]
    return assemble(path.name, tests, [f"{GRADER_ERROR}: {error}"], 0.0, seed, 0.0)


def grade_many(paths: list[Path], jobs: int = 1, seed: int | None = None,
               timeout: float | None = None, journal: Journal | None = None,
               show_progress: bool | None = None, limits: Limits | None = None,
               require_sandbox: bool = False, meanwhile=None) -> list[dict]:
    """Grade every path; results come back in the order of paths."""
    seed = DEFAULT_SEED if seed is None else seed
    journal = journal or Journal(None)
    results: list[dict | None] = [None] * len(paths)
    todo: queue.Queue = queue.Queue()
    prints: list[tuple[int, str]] = []
    grader = grader_fingerprint()
    for index, path in enumerate(paths):
        fp = fingerprint(path, seed, grader) if path.is_dir() else "missing"
        cached = journal.get(path, fp)
        if cached is not None:
            results[index] = cached
        else:
            todo.put((index, path, fp))
    pending = todo.qsize()
    bar = reports.progress(range(pending), total=pending, enabled=show_progress)
    bar_iter = iter(bar)
    lock = threading.Lock()
    fatal: list[BaseException] = []
    # The zygotes import torch while this process does the same: start them first.
    sandboxes = [Sandbox(slot=slot, limits=limits, require=require_sandbox)
                 for slot in range(min(max(1, jobs), pending))]
    for sandbox in sandboxes:
        sandbox.launch()
    from .grade import grade_submission

    if meanwhile is not None:  # while the zygotes finish starting
        threading.Thread(target=meanwhile, daemon=True).start()

    def work(sandbox: Sandbox) -> None:
        try:
            sandbox.wait_ready()
        except BaseException as exc:  # the grader itself cannot run
            fatal.append(exc)
            sandbox.close()
            return
        try:
            while True:
                try:
                    index, path, fp = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    result = grade_submission(path, seed=seed, sandbox=sandbox, timeout=timeout)
                except Exception as exc:  # a grader bug costs one submission, not the batch
                    prints.append((index, traceback.format_exc()))
                    result = _failed_result(path, seed, f"{type(exc).__name__}: {exc}")
                    sandbox.restart()
                results[index] = result
                try:
                    journal.add(path, fp, result)
                except OSError as exc:
                    prints.append((index, f"could not write the journal: {exc}"))
                with lock:
                    next(bar_iter, None)
        finally:
            sandbox.close()

    threads = [threading.Thread(target=work, args=(sandbox,), daemon=True)
               for sandbox in sandboxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if hasattr(bar, "close"):
        bar.close()
    for _, text in sorted(prints):
        print(text, file=sys.stderr)
    if fatal and any(r is None for r in results):
        raise RuntimeError(f"the grader could not start: {fatal[0]}")
    return [r if r is not None else _failed_result(p, seed, "no result was recorded")
            for r, p in zip(results, paths)]


def unique_names(paths: list[Path]) -> list[str]:
    """Each submission's folder name; where two share it, as many trailing parts of their
    paths as it takes to tell them apart (SPEC.md)."""
    parts = [Path(os.path.abspath(p)).parts[1:] or ("submission",) for p in paths]
    depth = [1] * len(paths)
    while True:
        names = ["/".join(p[-d:]) for p, d in zip(parts, depth)]
        clashes = {n for n in names if names.count(n) > 1}
        grow = [i for i, n in enumerate(names) if n in clashes and depth[i] < len(parts[i])]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    seen: dict[str, int] = {}
    unique = []
    for name in names:  # the same folder given twice
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def _read_manual(args, names: list[str]) -> dict[str, dict[str, float]] | None:
    """``--manual FILE``'s hand-graded points; None where the file is bad (said why).
    Without the option, or where the file does not exist, nothing is merged."""
    from . import manual

    path = getattr(args, "manual", None)
    if not path:
        return {}
    if not Path(path).exists():
        print(f"warning: {path} does not exist: no hand-graded points merged",
              file=sys.stderr)
        return {}
    try:
        return manual.read(path, names)
    except manual.ManualError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def run_grade_command(args) -> int:
    paths = [Path(p) for p in args.submissions]
    seed = DEFAULT_SEED if args.seed is None else args.seed
    folders = [Path(t).resolve().parent for t in (args.json, args.csv) if t]
    folders += [Path(args.gradescope).resolve()] if args.gradescope else []
    for problem in filter(None, map(files.check_output_folder, folders)):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    names = unique_names(paths)
    hand_graded = _read_manual(args, names)  # a bad file stops before anything is graded
    if hand_graded is None:
        return 2
    journal = Journal(Path(args.json + JOURNAL_SUFFIX) if args.json else None)
    try:
        results = grade_many(paths, jobs=args.jobs, seed=seed, timeout=args.timeout,
                             journal=journal,
                             require_sandbox=getattr(args, "require_sandbox", False),
                             meanwhile=(lambda: reports.preload(
                                 len(paths) >= reports.MIN_HISTOGRAM_CLASS))
                             if args.json or args.csv else None)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in reports.sandbox_notes(results):
        print(f"warning: sandbox degraded: {note}", file=sys.stderr)
    from .manual import merge

    for result, name in zip(results, names):
        result["submission"] = name
        merge(result, hand_graded.get(name, {}))
    print(reports.format_table(results))
    similar = _similarity_section(args, paths, names)
    if args.json:
        print(f"wrote {reports.write_json(results, args.json)}")
    if args.csv:
        print(f"wrote {reports.write_csv(results, args.csv)}")
    if args.json or args.csv:
        # Feedback and the instructor report go next to the first of the grade files.
        out = Path(args.json or args.csv)
        stem = out.stem
        reports.write_feedback(results, out.parent)
        reports.write_report(results, out.parent, stem, similarity=similar)
        print(f"wrote per-student feedback and {stem}-report.md in {out.parent}")
    if args.gradescope:
        reports.write_gradescope(results, args.gradescope)
        print(f"wrote Gradescope results under {args.gradescope}")
    return 0


def _similarity_section(args, paths: list[Path], names: list[str]) -> list[str] | None:
    """``grade --similarity``: compare the class (read as text, never run) and return the
    instructor report's section; its JSON and HTML go next to the grade files."""
    if not getattr(args, "similarity", False):
        return None
    from .. import similarity

    grades = args.json or args.csv
    report = similarity.for_grade(args, paths, names,
                                  Path(grades) if grades else None)
    return similarity.report_section(report)
