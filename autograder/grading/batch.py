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
from . import reports
from .grade import DEFAULT_SEED, assemble, grade_submission
from .results import GRADER_ERROR, TestResult
from .sandbox import Limits, Sandbox

JOURNAL_SUFFIX = ".journal.jsonl"


def fingerprint(path: Path, seed: int) -> str:
    """Hash of what grading reads: the notebook and source/, names and bytes (no links)."""
    digest = hashlib.sha256(f"seed={seed};points={sorted(points.TESTS.items())}".encode())
    candidates = [path / "assignment.ipynb"]
    if (path / "source").is_dir():
        candidates += sorted(p for p in (path / "source").rglob("*") if p.is_file())
    for file in candidates:
        if file.is_symlink() or not file.is_file():
            continue
        digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
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
        if path and path.exists() and os.geteuid() == 0 and path.lstat().st_uid != 0:
            # As root, sandboxed student code runs as other users: a journal that is not
            # root's own may have been planted. Grade everything again rather than trust it.
            print(f"warning: {path} is not owned by root; ignoring it", file=sys.stderr)
            path.unlink()
        if path and path.exists():
            text = path.read_text(encoding="utf-8", errors="replace")
            if text and not text.endswith("\n"):
                # A torn last line (the batch was killed while writing): end it, so that
                # the next entry starts on a line of its own instead of joining it.
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write("\n")
            for line in text.splitlines():
                try:
                    entry = json.loads(line)
                    self.done[(entry["path"], entry["fingerprint"])] = entry["result"]
                except (ValueError, KeyError, TypeError):
                    continue

    def get(self, path: Path, fp: str) -> dict | None:
        return self.done.get((str(path.resolve()), fp))

    def add(self, path: Path, fp: str, result: dict) -> None:
        if self.path is None:
            return
        line = json.dumps({"path": str(path.resolve()), "fingerprint": fp, "result": result})
        with self.lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _failed_result(path: Path, seed: int, error: str) -> dict:
    tests = [TestResult.of(n, 0.0, "not graded: the grader failed on this submission")
             for n in points.TESTS]
    return assemble(path.name, tests, [f"{GRADER_ERROR}: {error}"], 0.0, seed, 0.0)


def grade_many(paths: list[Path], jobs: int = 1, seed: int | None = None,
               timeout: float | None = None, journal: Journal | None = None,
               show_progress: bool | None = None, limits: Limits | None = None,
               require_sandbox: bool = False) -> list[dict]:
    """Grade every path; results come back in the order of paths."""
    seed = DEFAULT_SEED if seed is None else seed
    journal = journal or Journal(None)
    results: list[dict | None] = [None] * len(paths)
    todo: queue.Queue = queue.Queue()
    prints: list[tuple[int, str]] = []
    for index, path in enumerate(paths):
        fp = fingerprint(path, seed) if path.is_dir() else "missing"
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

    def work(slot: int) -> None:
        sandbox = Sandbox(slot=slot, limits=limits, require=require_sandbox)
        try:
            sandbox.start()
        except BaseException as exc:  # the grader itself cannot run
            fatal.append(exc)
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

    threads = [threading.Thread(target=work, args=(slot,), daemon=True)
               for slot in range(min(max(1, jobs), pending))]
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


def _unique_names(paths: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for path in paths:
        name = path.resolve().name or "submission"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return names


def run_grade_command(args) -> int:
    paths = [Path(p) for p in args.submissions]
    seed = DEFAULT_SEED if args.seed is None else args.seed
    journal = Journal(Path(args.json + JOURNAL_SUFFIX) if args.json else None)
    try:
        results = grade_many(paths, jobs=args.jobs, seed=seed, timeout=args.timeout,
                             journal=journal,
                             require_sandbox=getattr(args, "require_sandbox", False))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in reports.sandbox_notes(results):
        print(f"warning: sandbox degraded: {note}", file=sys.stderr)
    for result, name in zip(results, _unique_names(paths)):
        result["submission"] = name
    print(reports.format_table(results))
    if args.json:
        print(f"wrote {reports.write_json(results, args.json)}")
    if args.csv:
        print(f"wrote {reports.write_csv(results, args.csv)}")
    if args.json or args.csv:
        # Feedback and the instructor report go next to the first of the grade files.
        out = Path(args.json or args.csv)
        stem = out.stem
        reports.write_feedback(results, out.parent)
        reports.write_report(results, out.parent, stem)
        print(f"wrote per-student feedback and {stem}-report.md in {out.parent}")
    if args.gradescope:
        reports.write_gradescope(results, args.gradescope)
        print(f"wrote Gradescope results under {args.gradescope}")
    return 0
