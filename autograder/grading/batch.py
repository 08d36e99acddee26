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
import tempfile
import threading
import traceback
from pathlib import Path

from .. import points
from . import files, reports, zips
from .results import has_error
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
        self.reused = 0  # results taken from the journal by this run
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
                    if not has_error(entry["result"]):  # written by an older grader
                        self.done[(entry["path"], entry["fingerprint"])] = entry["result"]
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue

    def _append(self, text: str) -> None:
        fd = files.open_private_append(self.path)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def get(self, path: Path, fp: str) -> dict | None:
        found = self.done.get((str(path.resolve()), fp))
        if found is not None:
            self.reused += 1
        return found

    def add(self, path: Path, fp: str, result: dict) -> None:
        """Record a finished result; one the grader failed on is never kept (SPEC: its
        tests are "error", never final), so the next run grades it again."""
        if self.path is None or has_error(result):
            return
        line = json.dumps({"path": str(path.resolve()), "fingerprint": fp, "result": result})
        with self.lock:
            self._append(line + "\n")


class Interrupted(Exception):
    """Ctrl-C during a batch: what was finished is in the journal."""

    def __init__(self, done: int, total: int):
        super().__init__(f"{done} of {total} graded")
        self.done, self.total = done, total


def _zip_fingerprint(path: Path, seed: int, grader: str) -> str:
    digest = hashlib.sha256(f"zip;seed={seed};grader={grader};"
                            f"points={sorted(points.TESTS.items())}".encode())
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _grade_path(path: Path, seed: int, sandbox: Sandbox, timeout: float | None) -> dict:
    """grade_submission on a folder, or on a zip unpacked into a private folder."""
    from .grade import grade_submission

    if not zips.is_zip(path):
        return grade_submission(path, seed=seed, sandbox=sandbox, timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="autograder-zip-") as tmp:
        notes: list[str] = []
        zips.unzip(path, Path(tmp), path.name, notes)
        result = grade_submission(zips.submission_root(Path(tmp)), seed=seed,
                                  sandbox=sandbox, timeout=timeout)
    result["submission"] = path.name
    result["flags"] = list(dict.fromkeys(notes + result["flags"]))
    return result


def grade_many(paths: list[Path], jobs: int = 1, seed: int | None = None,
               timeout: float | None = None, journal: Journal | None = None,
               show_progress: bool | None = None, limits: Limits | None = None,
               require_sandbox: bool = False, meanwhile=None) -> list[dict]:
    """Grade every path (a folder or a zip); results come back in the order of paths.

    A fault of the grader on one submission costs that submission only: its tests are
    "error" (never journaled) and the others are graded. Ctrl-C raises ``Interrupted``
    after stopping the sandboxes; nothing graded after that moment is recorded."""
    seed = DEFAULT_SEED if seed is None else seed
    journal = journal or Journal(None)
    results: list[dict | None] = [None] * len(paths)
    todo: queue.Queue = queue.Queue()
    prints: list[tuple[int, str]] = []
    grader = grader_fingerprint()
    for index, path in enumerate(paths):
        if zips.is_zip(path):
            fp = _zip_fingerprint(path, seed, grader)
        else:
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
    stop = threading.Event()
    fatal: list[BaseException] = []
    # The zygotes import torch while this process does the same: start them first.
    sandboxes = [Sandbox(slot=slot, limits=limits, require=require_sandbox)
                 for slot in range(min(max(1, jobs), pending))]
    for sandbox in sandboxes:
        sandbox.launch()
    from .grade import GRADER_FAILURE, grader_failed_result

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
            while not stop.is_set():
                try:
                    index, path, fp = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    result = _grade_path(path, seed, sandbox, timeout)
                except Exception as exc:  # a grader bug costs one submission, not the batch
                    result = grader_failed_result(path, seed, f"{type(exc).__name__}: {exc}")
                    result[GRADER_FAILURE] = traceback.format_exc()
                if stop.is_set():
                    # Interrupted: the sandbox may have been stopped under this
                    # submission, so what came back is not a verdict. Not recorded.
                    return
                failure = result.pop(GRADER_FAILURE, None)
                if failure:
                    prints.append((index, f"grader error on {path}:\n{failure}"))
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
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        stop.set()  # before the sandboxes go: no result of a stopped sandbox is recorded
        for sandbox in sandboxes:
            sandbox.close()
        if hasattr(bar, "close"):
            bar.close()
        raise Interrupted(sum(r is not None for r in results), len(paths)) from None
    if hasattr(bar, "close"):
        bar.close()
    for _, text in sorted(prints):
        print(text, file=sys.stderr)
    if fatal and any(r is None for r in results):
        raise RuntimeError(f"the grader could not start: {fatal[0]}")
    return [r if r is not None else grader_failed_result(p, seed, "no result was recorded")
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


def _looks_like_submission(path: Path) -> bool:
    if zips.is_zip(path):
        return True
    return path.is_dir() and ((path / "assignment.ipynb").exists()
                              or (path / "source").is_dir())


def check_paths(paths: list[Path]) -> list[str]:
    """Why each SUB that is not a submission is not one, with a hint; [] when all are.
    A typo or a forgotten ``/*`` would otherwise be graded as a 0/65 ghost."""
    import difflib

    problems = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            parent = path.parent if path.parent.is_dir() else None
            near = difflib.get_close_matches(
                path.name, sorted(p.name for p in parent.iterdir()) if parent else [], n=1)
            hint = f"; did you mean {path.parent / near[0]}?" if near else ""
            problems.append(f"{path} does not exist{hint}")
        elif not path.is_dir() and not zips.is_zip(path):
            problems.append(f"{path} is not a submission: neither a folder nor a zip file")
        elif path.is_dir() and not _looks_like_submission(path):
            inside = sorted(p for p in path.iterdir() if _looks_like_submission(p))
            if inside:
                problems.append(f"{path} holds {len(inside)} submission"
                                f"{'s' if len(inside) > 1 else ''} instead of being one "
                                f"(no assignment.ipynb or source/ in it); did you mean "
                                f"{path.as_posix().rstrip('/')}/*?")
    return problems


def _earlier_results(path: str, names: list[str]) -> list[dict]:
    """The results of an existing ``--json`` file for submissions not graded now (a
    subset graded into a class's file updates those students and keeps the rest)."""
    target = Path(path)
    if not target.is_file():
        return []
    text = files.read_private(target)
    try:
        payload = json.loads(text) if text is not None else None
        reports.validate(payload, "grade")
    except Exception as exc:  # noqa: BLE001 - any damage: keep nothing, say so
        print(f"warning: {path} could not be read back ({type(exc).__name__}); it is "
              "replaced by this run's results only", file=sys.stderr)
        return []
    now = set(names)
    return [r for r in payload["submissions"] if r["submission"] not in now]


def run_grade_command(args) -> int:
    paths = [Path(p) for p in args.submissions]
    problems = check_paths(paths)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print("nothing was graded", file=sys.stderr)
        return 2
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
    roster = _read_roster(args)  # so does a bad roster
    if roster is None:
        return 2
    journal = Journal(Path(args.json + JOURNAL_SUFFIX) if args.json else None)
    try:
        results = grade_many(paths, jobs=args.jobs, seed=seed, timeout=args.timeout,
                             journal=journal,
                             require_sandbox=getattr(args, "require_sandbox", False),
                             meanwhile=(lambda: reports.preload(
                                 len(paths) >= reports.MIN_HISTOGRAM_CLASS))
                             if args.json or args.csv else None)
    except Interrupted as stopped:
        print(f"interrupted: {stopped.done} of {stopped.total} graded; run the same "
              "command to resume", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if journal.reused:
        print(f"reused {journal.reused} of {len(paths)} results from {journal.path} "
              "(files and grader unchanged since they were graded)")
    for note in reports.sandbox_notes(results):
        print(f"warning: sandbox degraded: {note}", file=sys.stderr)
    from .manual import merge

    for result, name in zip(results, names):
        result["submission"] = name
        merge(result, hand_graded.get(name, {}))
    from .latency_report import apply_speed_points

    speed = bool(getattr(args, "speed_points", False))
    for result in results:
        apply_speed_points(result, speed)
    print(reports.format_table(results))
    similar = _similarity_section(args, paths, names, results)
    everyone = list(results)
    if args.json:
        kept = _earlier_results(args.json, names)
        for result in kept:  # this run's rule for everyone in the file
            apply_speed_points(result, speed)
        if kept:
            everyone += kept
            print(f"kept the results of {len(kept)} other submission"
                  f"{'s' if len(kept) > 1 else ''} already in {args.json} (not graded in "
                  "this run); the CSV and the report cover all of them")
        print(f"wrote {reports.write_json(everyone, args.json)}")
    if args.csv:
        print(f"wrote {reports.write_csv(everyone, args.csv)}")
    on_roster = _lms_outputs(args, roster, everyone)
    if args.json or args.csv:
        # Feedback and the instructor report go next to the first of the grade files;
        # their names follow its stem, so another run beside it overwrites nothing.
        out = Path(args.json or args.csv)
        stem = out.stem
        reports.write_feedback(results, out.parent, stem)
        reports.write_report(everyone, out.parent, stem, similarity=similar,
                             roster=on_roster)
        print(f"wrote per-student feedback ({reports.feedback_name('NAME', stem)}) and "
              f"{stem}-report.md in {out.parent}")
    if args.gradescope:
        reports.write_gradescope(results, args.gradescope)
        print(f"wrote Gradescope results under {args.gradescope}")
    failed = [r["submission"] for r in results if has_error(r)]
    if failed:
        print(f"error: the grader failed on {len(failed)} submission"
              f"{'s' if len(failed) > 1 else ''} ({', '.join(failed)}): their tests are "
              "\"error\", points pending, not the students' loss; run the same command "
              "again to grade them (they were not kept as final)", file=sys.stderr)
        return 1
    return 0


def _read_roster(args) -> list | None:
    """``--roster FILE``'s students ([] without the option); None where the roster or the
    options are bad (said why)."""
    from . import lms

    path, fmt = getattr(args, "roster", None), getattr(args, "lms", None)
    if fmt and not path:
        print(f"error: --lms {fmt} needs --roster FILE.csv (header "
              f"{','.join(lms.REQUIRED)}): the LMS matches students by their ids",
              file=sys.stderr)
        return None
    if not path:
        return []
    try:
        return lms.read_roster(path)
    except lms.RosterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _lms_outputs(args, roster: list, results: list[dict]) -> list[str] | None:
    """Match the results to the roster, say what the instructor must know, write the
    ``--lms`` file; returns the instructor report's roster section (None without one)."""
    if not roster:
        return None
    from . import lms

    rows, unmatched = lms.match(results, roster)
    for line in lms.summary(rows, unmatched):
        print(f"roster: {line}", file=sys.stderr)
    fmt = getattr(args, "lms", None)
    if fmt:
        grades = args.json or args.csv
        out = Path(grades) if grades else Path("grades")
        target = out.parent / lms.file_name(out.stem, fmt)
        title = getattr(args, "lms_assignment", None) or points.ASSIGNMENT_ID
        print(f"wrote {lms.write(rows, target, fmt, title)} ({fmt}, {len(rows)} roster rows)")
    return lms.report_section(rows, unmatched)


def _similarity_section(args, paths: list[Path], names: list[str],
                        results: list[dict]) -> list[str] | None:
    """``grade --similarity``: compare the class (read as text, never run) and return the
    instructor report's section; its JSON and HTML go next to the grade files."""
    if not getattr(args, "similarity", False):
        return None
    from .. import similarity

    grades = args.json or args.csv
    report = similarity.for_grade(args, paths, names, Path(grades) if grades else None,
                                  scores={r["submission"]: float(r["score"]) for r in results})
    return similarity.report_section(report)
