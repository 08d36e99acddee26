"""Grade one submission folder: static checks, the (e) answer, hidden tests in a sandbox.

Results are built as ``results.TestResult`` and ``results.SubmissionResult``; the dict that
``grade_submission`` returns is ``SubmissionResult.to_json()``, SPEC.md's ``--json`` entry
(plus ``seed`` and ``elapsed_s``). ``reports.py`` turns a list of them into tables and files.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import torch

from .. import parsing, points, warmup
from . import assignment, files, hidden_tests, latency, review, static
from . import reports as views
from .results import GRADER_ERROR, SubmissionResult, TestResult
from .sandbox import CallResult, Limits, Sandbox

DEFAULT_SEED = 20261128
DEFAULT_TEST_TIMEOUT = 10.0
MAX_NOTEBOOK_BYTES = 20 << 20
NOTEBOOK = "assignment.ipynb"
TEMPLATE_ANSWER = "YOUR ANSWER HERE"
SECTION_OF_MODULE = assignment.SECTION_OF_MODULE
# What SPEC.md forbids in each module: a convolution inside batchnorm.py is odd, not banned.
FORBIDDEN_FAMILIES = assignment.FORBIDDEN_FAMILIES
GUARD_DISABLED = "the grader's guard was disabled"
# After this many timeouts in one section, its remaining tests fail without running.
TIMEOUTS_PER_SECTION = 2


class Session:
    """The child process of one submission, restarted whenever it dies or hangs."""

    def __init__(self, sandbox: Sandbox, workdir: Path):
        self.sandbox, self.workdir = sandbox, workdir
        self.child = None
        self.broken: dict[str, CallResult] = {}  # module -> failed import
        self.loaded: set[str] = set()  # modules the current child imported successfully
        self.guard_disabled: dict[str, str] = {}  # module -> why its guard stopped answering

    def caller(self, module: str, budget: float):
        """A call function for one test: its calls share `budget` seconds of the student's
        time. Only the time spent waiting on the student's process counts, so a judge that
        is slow because the machine is busy never times out a correct submission."""
        left = [budget]

        def timed(exchange, *args, **kwargs) -> CallResult:
            start = time.monotonic()
            result = exchange(*args, timeout=left[0], **kwargs)
            left[0] -= time.monotonic() - start
            return result

        def call(fn: str, args: list, no_autograd: bool = False, keep=()) -> CallResult:
            if module in self.broken:
                return self.broken[module]
            if self.child is None or not self.child.alive:
                self.child = self.sandbox.spawn(self.workdir)
                self.loaded = set()
            if module not in self.loaded:
                # One import round trip per module and child; later calls skip it (the
                # child's call re-imports, which is a no-op once the module is loaded).
                loaded = timed(self.child.load, module)
                if not loaded.ok:
                    # An import that fails (or kills the process) fails every later call
                    # the same way.
                    self.broken[module] = loaded if loaded.stage == "import" else CallResult(
                        False, crashed=loaded.crashed, timed_out=loaded.timed_out,
                        output=loaded.output, stage="import")
                    return self.broken[module]
                self.loaded.add(module)
            result = timed(self.child.call, module, fn, args, keep=keep)
            if result.guard is not None and not result.timed_out and not result.crashed:
                self.guard_disabled.setdefault(module, result.guard)
                # A fresh process for the next call: the other module's tests do not run
                # under a guard that this module's code disabled.
                self.child.kill()
            return result
        return call

    def close(self) -> None:
        if self.child is not None:
            self.child.close()


_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 1


@contextmanager
def judge_threads():
    """One torch thread in the judge while any submission is being graded.

    The judge's own torch work (reference values, comparisons) is on tiny tensors, where
    a pool of intra-op threads only costs wake-ups, and with ``--jobs`` slots the pools of
    concurrent slots fight for the same cores. The setting is process-wide, so it is
    counted: the first grading thread sets it, the last one restores the caller's value.
    """
    global _threads_users, _threads_saved
    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)


def _test_entry(name: str, score: float, output: str, grader_error: str = "") -> TestResult:
    return TestResult.of(name, score, output, grader_error)


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str | None, bytes]:
    """(notebook, problem, its bytes), read once through one descriptor: a file swapped for
    a link after a check is never followed (the bytes are what every later step reads)."""
    data, problem = files.read_regular(path / NOTEBOOK, MAX_NOTEBOOK_BYTES)
    if problem:
        return None, f"{NOTEBOOK} {problem}", b""
    try:
        return nbformat.reads(data.decode("utf-8"), as_version=4), None, data
    except UnicodeDecodeError:
        return None, f"{NOTEBOOK} is not valid UTF-8", b""
    except Exception as exc:  # nbformat raises several kinds for broken JSON
        return None, f"{NOTEBOOK} is not a readable notebook ({type(exc).__name__}: {exc})", b""


def grade_answer_e(data: bytes) -> tuple[float, str]:
    """Question (e) from the notebook's bytes, through a private copy (never the
    student's file, which could change between two reads)."""
    with tempfile.TemporaryDirectory(prefix="autograder-nb-") as folder:
        copy = Path(folder) / NOTEBOOK
        copy.write_bytes(data)
        with parsing.PARSE_LOCK:  # the reader parses the answer cell (see parsing.py)
            return warmup.grade_answer_e(copy)


def pending_questions(nb: nbformat.NotebookNode | None) -> list[str]:
    """Letters of the hand-graded answers the student wrote (an untouched answer scores 0).

    "Untouched" means what nbgrader means by it, so that both agree: the cell's text is
    exactly the release text (nbgrader compares a checksum of the source, whitespace
    included; an emptied cell is a changed one). A grade id that occurs more than once
    counts once, by its last cell, like nbgrader's DeduplicateIds.
    """
    if nb is None:
        return []
    answers: dict[str, str] = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in points.MANUAL:
            answers[grade_id] = cell.get("source", "")
    return [g.removeprefix("warmup_") for g in points.MANUAL
            if g in answers and answers[g] != TEMPLATE_ANSWER]


def manual_pending(nb: nbformat.NotebookNode | None) -> float:
    """Points of the hand-graded answers the student wrote, still to be graded."""
    return sum((points.MANUAL[f"warmup_{q}"] for q in pending_questions(nb)), 0.0)


@dataclass
class Outcome:
    """What running one hidden test gave: the fraction of its points, the message, forbidden
    uses seen, whether the student's process timed out, and a grader error (held for
    review) if the judge could not read an answer back."""

    fraction: float
    message: str
    forbidden: list[str] = field(default_factory=list)
    timed_out: bool = False
    grader_error: str = ""

    def __iter__(self):  # (fraction, message, forbidden, timed_out), as before
        return iter((self.fraction, self.message, self.forbidden, self.timed_out))


def derive_seed(seed: int, workdir: Path) -> int:
    """The seed of this submission's hidden-test inputs: the batch's seed mixed with a hash
    of the code graded. The same code and seed give the same inputs (a regrade reproduces
    them), while any change to the code draws new ones, so inputs that one submission
    printed (in an error message, say) are useless to the next."""
    digest = hashlib.sha256(f"{seed}:".encode())
    for rel, _ in files.walk(workdir / "source", "source").files:
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        digest.update((workdir / "source" / rel).read_bytes())
    return int.from_bytes(digest.digest()[:4], "big")


def run_hidden_test(test: hidden_tests.HiddenTest, session: Session, seed: int,
                    timeout: float) -> Outcome:
    """Run one hidden test; unpacks as (fraction, message, forbidden uses, timed out).

    Only what ran takes points (SPEC.md): a banned operator the guard denied, a guard that
    stopped answering, a wrong value. What the review of the text found is a flag on the
    submission, never a loss here."""
    ctx = hidden_tests.Context(session.caller(test.module, timeout), seed, test.name)
    passed, failures, timed_out, grader_error = 0, [], False, ""
    for case in test.cases:
        try:
            test.run(ctx, case)
            passed += 1
        except hidden_tests.Fail as exc:
            failures.append(str(exc))
        except hidden_tests.Stop as exc:
            timed_out = exc.timed_out
            failures.append(str(exc))
            break
        except hidden_tests.GraderError as exc:
            grader_error = str(exc)
            break
    uses = sorted({u for u in ctx.forbidden
                   if u.split(":")[0] in FORBIDDEN_FAMILIES[test.module]})
    if uses:
        return Outcome(0.0, f"scored 0: a forbidden operation ran during this test "
                       f"({'; '.join(uses)}). Write the computation yourself.", uses, timed_out)
    if grader_error:
        return Outcome(0.0, "not scored yet: your function answered, but the grader could not "
                       "read the answer back. This is the grader's fault, not yours; an "
                       "instructor will review this test.", [], timed_out, grader_error)
    fraction = test.fraction(passed)
    if not failures:
        n = len(test.cases)
        return Outcome(fraction, "passed" + (f" ({n} of {n} checks)" if n > 1 else ""),
                       [], timed_out)
    unique = list(dict.fromkeys(failures))
    message = f"{passed} of {len(test.cases)} checks passed. " + " | ".join(unique[:3])
    return Outcome(fraction, message[:1500], [], timed_out)


#: Key of a result dict (never in SPEC's JSON) holding the traceback of a judge-side fault.
GRADER_FAILURE = "grader_failure"


def grade_submission(path: Path, seed: int | None = None, sandbox: Sandbox | None = None,
                     timeout: float | None = None) -> dict:
    """Grade the submission folder `path`; never raises for a broken submission.

    A fault of the judge itself (a bug of ours, an interpreter error) is not the student's:
    every test comes back as SPEC's ``"error"`` (points pending, never a loss, never kept
    as final) and the traceback under ``GRADER_FAILURE`` for the instructor's screen."""
    seed = DEFAULT_SEED if seed is None else seed
    try:
        with judge_threads():
            return _grade_submission(path, seed, sandbox, timeout)
    except Exception as exc:
        import traceback

        result = grader_failed_result(Path(path), seed, f"{type(exc).__name__}: {exc}")
        result[GRADER_FAILURE] = traceback.format_exc()
        return result


def grader_failed_result(path: Path, seed: int, error: str) -> dict:
    """The result of a submission the grader failed on: every test ``"error"``."""
    why = f"the grader failed on this submission ({error})"
    tests = [TestResult.of(n, 0.0, "not scored yet: the grader failed on your submission. "
                           "This is the grader's fault, not yours; your instructor has been "
                           "told and it will be graded again.", why)
             for n in points.TESTS]
    return assemble(path.name, tests, [f"{GRADER_ERROR}: {why}"], 0.0, seed, 0.0)


def _grade_submission(path: Path, seed: int | None, sandbox: Sandbox | None,
                      timeout: float | None) -> dict:
    start = time.monotonic()
    path = Path(path)
    seed = DEFAULT_SEED if seed is None else seed
    timeout = timeout or DEFAULT_TEST_TIMEOUT
    flags: list[str] = []
    tests: list[TestResult] = []

    if not path.is_dir():
        flags.append(f"{path} is not a folder")
    nb, nb_problem, nb_bytes = read_notebook(path) if path.is_dir() else (None, None, b"")
    if nb_problem:
        flags.append(nb_problem)

    # Warm-up (e): read statically from the notebook, never executed.
    if nb is None:
        tests.append(_test_entry("warmup_e_learning_rates", 0.0,
                                 nb_problem or "no notebook to read the (e) answer from"))
    else:
        fraction, message = grade_answer_e(nb_bytes)
        tests.append(_test_entry("warmup_e_learning_rates",
                                 fraction * points.TESTS["warmup_e_learning_rates"][1], message))

    reports = {m: static.analyse(path / "source" / f"{m}.py", m) for m in SECTION_OF_MODULE}
    # Every file under source/: a file Python would read differently from the checks stops
    # all grading of code (any module may import it); the rest are notes for a person.
    # (A graded module's own problem costs its section only: static.analyse reports it.)
    reviewed = review.review(path / "source")
    shared = [p for p in reviewed.problems
              if not any(p.startswith(f"source/{m}.py ") for m in reports)]
    for report in reports.values():
        report.problem = report.problem or next(iter(shared), None)
    flags += reviewed.notes
    for report in reports.values():
        flags += report.notes
        if report.problem:
            flags.append(report.problem)
        for fn, uses in report.forbidden.items():  # a flag only: the guard takes the points
            flags.append(f"for review: forbidden call named in {fn}: "
                         f"{'; '.join(sorted(set(uses)))}")

    own_sandbox = sandbox is None
    if own_sandbox:
        sandbox = Sandbox(limits=Limits())
        sandbox.start()
    flags += [views.SANDBOX_NOTE + note for note in sandbox.notes]
    session = None
    workdir = None
    try:
        if (path / "source").is_dir() and not (path / "source").is_symlink():
            workdir, notes = sandbox.prepare(path)
            flags += notes
        elif path.is_dir():
            link = (path / "source").is_symlink()
            flags.append("source/ is a symbolic link; submit the folder itself" if link
                         else "source/ is missing from the submission")
        session = Session(sandbox, workdir) if workdir else None
        inputs_seed = derive_seed(seed, workdir) if workdir else seed
        timeouts: dict[str, int] = {}
        runtime_forbidden: set[str] = set()
        for name, test in hidden_tests.TESTS.items():
            section = points.TESTS[name][0]
            report = reports[test.module]
            if report.problem:
                tests.append(_test_entry(name, 0.0, f"not graded: {report.problem}"))
                continue
            if session is None:
                tests.append(_test_entry(name, 0.0, "not graded: source/ is missing"))
                continue
            if timeouts.get(section, 0) >= TIMEOUTS_PER_SECTION:
                tests.append(_test_entry(name, 0.0, "not run: earlier tests of this section "
                                         "timed out, so the rest were skipped"))
                continue
            outcome = run_hidden_test(test, session, inputs_seed, timeout)
            runtime_forbidden.update(outcome.forbidden)
            if outcome.timed_out:
                timeouts[section] = timeouts.get(section, 0) + 1
                flags.append(f"timeout in {name} (limit {timeout:g} s)")
            tests.append(_test_entry(name, outcome.fraction * points.TESTS[name][1],
                                     outcome.message, outcome.grader_error))
        for module, why in session.guard_disabled.items() if session else ():
            key = SECTION_OF_MODULE[module]
            flags.append(f"{GUARD_DISABLED} in source/{module}.py ({why}): the "
                         f"{key} tests score 0")
            tests = [_test_entry(t.name, 0.0, f"scored 0: {GUARD_DISABLED} while your "
                                 f"code ran ({why})") if t.section == key else t
                     for t in tests]
        if runtime_forbidden:
            flags.append("forbidden operation at run time: " + "; ".join(sorted(runtime_forbidden)))
        timing = _latency(sandbox, session, tests, inputs_seed, flags)
    finally:
        if session is not None:
            session.close()
        if own_sandbox:
            sandbox.close()
        else:
            sandbox.cleanup()
            if workdir is not None:
                # Nothing of this student's is left for the next submission's process.
                files.remove_tree(workdir)
                workdir.with_name(workdir.name + ".out").unlink(missing_ok=True)

    return assemble(path.name, tests, flags, manual_pending(nb), seed,
                    time.monotonic() - start, pending_questions(nb), timing)


def _latency(sandbox: Sandbox, session: Session | None, tests: list[TestResult], seed: int,
             flags: list[str]) -> dict | None:
    """Latency feedback (latency.py) for the sections that passed every hidden test; a
    failure of the timing is noted and never costs the grading."""
    if session is None:
        return None
    from ..build import MASTER

    try:
        eligible = latency.eligible_sections(tests, session.guard_disabled)
        timing, more = latency.measure(sandbox, session, eligible, seed, MASTER)
    except Exception as exc:  # noqa: BLE001 - feedback only: the grades stand without it
        flags.append(f"latency not measured (a grader problem): {type(exc).__name__}: {exc}")
        return None
    flags += more
    return timing


def assemble(name: str, tests: list[TestResult], flags: list[str], pending: float, seed: int,
             elapsed: float, questions: list[str] | None = None,
             timing: dict | None = None) -> dict:
    return SubmissionResult(name, tests, flags, pending, seed, elapsed,
                            questions, timing).to_json()
