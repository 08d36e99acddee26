"""Every protection of the grader is proven by mutation: break it, and a test fails.

Each mutation is an exact piece of the grader's text and what replaces it. For each, a copy
of the repository gets that one change and runs the few tests that cover it; they must fail
(pytest exit status 1). The same tests must pass on the unchanged copy (the control), so a
failure means the mutation was seen, not that the copy is broken. A mutation whose text is
no longer in its file fails here loudly ("no longer applies"): rewrite it for the new code,
never delete it silently.

A broader, periodic run over the whole of ``autograder/grading/`` with a mutation-testing
tool is described in QUALITY.md; it is not part of CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 300  # seconds for one pytest run in a copy
IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "__pycache__", ".pytest_cache",
                                ".ruff_cache", "*.pyc", ".hypothesis")

G = "autograder/grading/"
FORBIDDEN = "tests/test_forbidden.py::test_bypass_fails_or_is_flagged"
INTEGRITY = "tests/test_integrity.py::"
PINNED = "tests/test_variants.py::test_grader_on_variant"
NEVER_RUN = "tests/test_grader.py::test_a_text_finding_is_a_flag_not_a_loss"
SANDBOX = "tests/test_sandbox.py::"
JUDGE_THREADS = ("tests/test_grader.py::"
                 "test_judge_threads_is_one_thread_while_grading_and_restores_the_callers_count")
SHARED_PROBLEM = ("tests/test_grader.py::"
                  "test_a_helper_python_reads_differently_stops_all_code_grading")
AUTOGRAD_ROUTES = "tests/test_forbidden.py::test_guard_sees_autograd_on_every_route"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # relative to the repository
    original: str  # exact text, present exactly once
    replacement: str
    tests: tuple[str, ...]  # pytest node ids that must fail once the mutation is applied


MUTATIONS = (
    # --- scoring rules
    Mutation("float32 tolerance 10x looser", G + "hidden_tests.py",
             "return (1e-4, 1e-5) if dtype in", "return (1e-3, 1e-4) if dtype in",
             ("tests/test_scoring.py",)),
    Mutation("float64 tolerance 10x looser", G + "hidden_tests.py",
             "else (1e-7, 1e-9)", "else (1e-6, 1e-8)",
             ("tests/test_scoring.py",)),
    Mutation("partial credit turned into all-or-nothing", G + "hidden_tests.py",
             "return passed / len(self.cases) if self.cases else 0.0",
             "return float(passed == len(self.cases)) if self.cases else 0.0",
             (f"{PINNED}[bugs/cc_flipped_kernel]",)),
    Mutation("inputs-unmodified check disabled", G + "hidden_tests.py",
             "    if after.shape != before.shape or not torch.equal(after.to(before.dtype), "
             "before):", "    if False:",
             (f"{PINNED}[bugs/bn_modifies_x_in_place]",)),
    Mutation("dbeta checked for its shape only", G + "hidden_tests.py",
             '    close(dbeta, want_b, f"dbeta for x of shape {_fmt(case)} (one value per '
             'channel)",\n          dtype=x.dtype)',
             '    as_tensor(dbeta, "dbeta", shape=tuple(want_b.shape))',
             (f"{PINNED}[bugs/bn_dbeta_mean_not_sum]",)),
    Mutation("test mode's running statistics no longer checked", G + "hidden_tests.py",
             '    for key, before in (("running_mean", rm), ("running_var", rv)):\n'
             '        if key in after:\n            unchanged(before, after[key], '
             'f"bn_param[\'{key}\'] in test mode")',
             '    for key, before in ():\n'
             '        if key in after:\n            unchanged(before, after[key], '
             'f"bn_param[\'{key}\'] in test mode")',
             (f"{PINNED}[bugs/bn_test_mode_updates_running]",)),
    Mutation("a batch of one image's gradients no longer compared", G + "hidden_tests.py",
             '        for name, got, want in zip(("dx", "dgamma", "dbeta"), grads,\n'
             '                                   ref_bn_grads(x, gamma, beta, dout, 1e-5)):',
             '        for name, got, want in ():',
             (f"{PINNED}[bugs/bn_backward_squeezes_dout]",)),
    Mutation("a crash or timeout no longer ends its test", G + "grade.py",
             "            failures.append(str(exc))\n            break\n",
             "            failures.append(str(exc))\n            continue\n",
             ("tests/test_scoring.py::test_a_crash_or_timeout_ends_its_test",
              f"{INTEGRITY}test_a_crash_ends_its_test_and_keeps_the_cases_before[user-os_exit]")),
    Mutation("a crash that is not a timeout no longer stops its test", G + "hidden_tests.py",
             "        if result.timed_out or result.crashed:", "        if result.timed_out:",
             ("tests/test_scoring.py::test_a_crash_or_timeout_ends_its_test[crashed]",)),
    Mutation("hidden-test inputs no longer depend on the seed", G + "hidden_tests.py",
             "manual_seed((seed ^ zlib.crc32(name.encode())) & 0xFFFFFFFF)",
             "manual_seed(zlib.crc32(name.encode()) & 0xFFFFFFFF)",
             ("tests/test_grader.py::test_seed_changes_inputs_but_not_the_verdict",)),
    Mutation("hidden-test inputs no longer depend on the code graded", G + "grade.py",
             "run_hidden_test(test, session, inputs_seed, timeout)",
             "run_hidden_test(test, session, seed, timeout)",
             ("tests/test_grader.py::test_seed_changes_inputs_but_not_the_verdict",)),
    Mutation("hand-graded points zipped against sorted names", G + "batch.py",
             "    for result, name in zip(results, names):",
             "    for result, name in zip(results, sorted(names)):",
             ("tests/test_manual.py::test_grade_command_merges_into_every_output",)),
    # --- question (e)
    Mutation("(e) key: another shuffle of the panels", "autograder/warmup.py",
             "PANEL_SEED = 5", "PANEL_SEED = 7",
             ("tests/test_warmup.py::test_model_answer_e_agrees_with_the_key",)),
    Mutation("(e) key: panels and labels misaligned", "autograder/warmup.py",
             "dict(zip(PANELS, random.Random(PANEL_SEED)",
             "dict(zip(PANELS[::-1], random.Random(PANEL_SEED)",
             ("tests/test_warmup.py::test_panel_labels_are_a_fixed_shuffle",)),
    Mutation("(e) score: all-or-nothing", "autograder/warmup.py",
             "fraction = right / len(PANELS)", "fraction = float(right == len(PANELS))",
             ("tests/test_warmup.py::test_partial_credit_names_wrong_panels_only",)),
    Mutation("(e) score: any label counts as right", "autograder/warmup.py",
             "right = sum(reading.labels[p] == PANEL_LABELS[p] for p in PANELS)",
             "right = sum(reading.labels[p] is not None for p in PANELS)",
             ("tests/test_warmup.py::test_all_wrong_scores_zero",)),
    Mutation("(e) reader: 'Panel A' keys no longer recognised",
             "autograder/master/hw1/read_answer_e.py",
             'if w != "panel"]', 'if w != "panels"]',
             ("tests/test_answer_e.py::test_check_cell_and_grader_agree['Panel A' keys]",)),
    # --- forbidden calls
    Mutation("static check disabled", G + "static.py",
             "            if uses:\n                report.forbidden.setdefault(",
             "            if False:\n                report.forbidden.setdefault(",
             ("tests/test_grader.py::test_static_check_finds_forbidden_convolutions",)),
    # Only what ran takes points (SPEC.md): a text finding is a flag, never a loss.
    Mutation("a text finding takes the test's points again", G + "grade.py",
             "            tests.append(_test_entry(name, outcome.fraction * points.TESTS[name][1],",
             "            tests.append(_test_entry(name, 0.0 if report.forbidden else "
             "outcome.fraction * points.TESTS[name][1],",
             (f"{NEVER_RUN}[cross_correlation.py]",)),
    Mutation("a forbidden call named in the text is no longer flagged", G + "grade.py",
             "        for fn, uses in report.forbidden.items():  # a flag only",
             "        for fn, uses in {}.items():  # a flag only",
             (f"{NEVER_RUN}[batchnorm.py]",)),
    Mutation("run-time forbidden operations no longer zero the test", G + "grade.py",
             "    if uses:\n        return Outcome(0.0,",
             "    if False:\n        return Outcome(0.0,",
             (f"{INTEGRITY}test_forbidden_calls_score_zero[getattr_concat_conv2d]",)),
    Mutation("guard: banned operators no longer denied", G + "child/guard.py",
             "                    if family in watch.rules:\n",
             "                    if False:\n",
             (f"{FORBIDDEN}[aten_convolution_backward]",)),
    Mutation("guard: Python entry points (numpy.correlate) no longer denied", G + "child/guard.py",
             "            if watch.active and family in watch.rules:\n",
             "            if False:\n",
             (f"{FORBIDDEN}[numpy_correlate_by_name]",)),
    Mutation("guard: autograd engine no longer watched", G + "child/guard.py",
             '                    if "autograd" in watch.rules:\n',
             "                    if False:\n",
             (f"{FORBIDDEN}[engine_by_computed_names]",)),
    Mutation("judge: a denial whose record was erased is no longer counted", G + "sandbox.py",
             '    if error.get("type") != "ForbiddenOperation":\n        return []',
             "    if True:\n        return []",
             (f"{FORBIDDEN}[record_erased]",)),
    # --- tampering with the guard
    Mutation("tamper check disabled", G + "child/guard.py",
             '            self.found.add("tampering: the guard was switched off during the call")',
             "            pass",
             (f"{FORBIDDEN}[guard_switched_off]",)),
    Mutation("guard probe answer not checked", G + "sandbox.py",
             '    if answer.get("ok") is not True:', "    if False:",
             (f"{FORBIDDEN}[dispatch_patched]",)),
    Mutation("a disabled guard no longer zeroes its section", G + "grade.py",
             'code ran ({why})") if t.section == key else t',
             'code ran ({why})") if False else t',
             (f"{FORBIDDEN}[guard_replaced]",)),
    # --- inputs and time
    Mutation("inputs no longer read back from shared memory", G + "sandbox.py",
             "                        result.args_after[i] = _read_memfd(",
             "                        _read_back_and_ignored = _read_memfd(",
             (f"{FORBIDDEN}[inputs_zeroed_and_restored]",)),
    Mutation("timeout kill disabled", G + "sandbox.py",
             "        except TimeoutError:\n            self.kill()",
             "        except TimeoutError:\n            pass",
             (f"{INTEGRITY}test_hang_ignoring_signals_is_killed[user-in-call]",)),
    # --- one thread, one process; why a child died; the scratch (issues 18.1, 19.3, 19.4, 22)
    Mutation("seccomp: clone, clone3, fork and vfork allowed (namespace flags included)",
             G + "child/confine.py",
             "            prog += [(jeq, 0, 1, nr), (ret, 0, 0, _RET_KILL)]",
             "            prog += [(jeq, 0, 1, nr), (ret, 0, 0, _RET_ALLOW)]",
             (f"{SANDBOX}test_a_killed_child_says_why[user-thread]",
              f"{SANDBOX}test_a_killed_child_says_why[user-clone_newuser]")),
    Mutation("seccomp: unshare allowed (a new user namespace)", G + "child/confine.py",
             "                 272, 308, 165, 166, 155, 161,  # unshare,",
             "                 308, 165, 166, 155, 161,  # unshare,",
             (f"{SANDBOX}test_unsharing_a_user_namespace_is_denied[user]",)),
    Mutation("judge: a child killed for starting a thread is not flagged", G + "sandbox.py",
             '            if death is not None and death.cause == "threads":',
             "            if False:",
             (f"{SANDBOX}test_a_killed_child_says_why[user-thread]",)),
    Mutation("zygote: the exit status is no longer reported", G + "child/server.py",
             '        report["exit_code"] = os.waitstatus_to_exitcode(status)',
             "        pass",
             (f"{SANDBOX}test_a_killed_child_says_why[user-exit_status]",)),
    Mutation("scratch: no tmpfs mounted", G + "child/server.py",
             '    if spec.get("scratch"):\n        # After the namespaces',
             "    if False:\n        # After the namespaces",
             (f"{SANDBOX}test_a_full_scratch_is_named[user]",)),
    Mutation("guard: other_namespaces ignored (non-aten convolutions)", G + "child/guard.py",
             "family = next((f for f, p in other.items()",
             "family = next((f for f, p in {}.items()",
             ("tests/test_forbidden.py::test_non_aten_operator_is_denied",)),
    # --- survivors of the cosmic-ray rerun, classified real gaps (issue 22, QUALITY.md)
    Mutation("judge threads: the first grader no longer sets one torch thread", G + "grade.py",
             "        if _threads_users == 0:\n            _threads_saved",
             "        if _threads_users != 0:\n            _threads_saved",
             (JUDGE_THREADS,)),
    Mutation("judge threads: the caller's thread count no longer restored", G + "grade.py",
             "            if _threads_users == 0:\n                torch.set_num_threads",
             "            if _threads_users != 0:\n                torch.set_num_threads",
             (JUDGE_THREADS,)),
    Mutation("a problem of a shared source/ file no longer stops the graded modules",
             G + "grade.py",
             "    for report in reports.values():\n        report.problem = report.problem or",
             "    for report in []:\n        report.problem = report.problem or",
             (SHARED_PROBLEM,)),
    Mutation("no child ran: the missing output file is a grader failure", G + "grade.py",
             'workdir.with_name(workdir.name + ".out").unlink(missing_ok=True)',
             'workdir.with_name(workdir.name + ".out").unlink(missing_ok=False)',
             (SHARED_PROBLEM,)),
    Mutation("code not graded: the tests after the first are left out", G + "grade.py",
             '"not graded: source/ is missing"))\n                continue',
             '"not graded: source/ is missing"))\n                break',
             ("tests/test_grader.py::test_a_submission_whose_source_is_a_link_lists_every_test",)),
    Mutation("guard: a graph recorded on a kept leaf no longer denied", G + "child/guard.py",
             "            for a in args:\n                if isinstance(a, (list, tuple)):",
             "            for a in ():\n                if isinstance(a, (list, tuple)):",
             (AUTOGRAD_ROUTES,)),
    Mutation("guard: a kept leaf inside a list argument no longer denied", G + "child/guard.py",
             "b.requires_grad for b in a):\n                        return True",
             "b.requires_grad for b in a):\n                        return False",
             (AUTOGRAD_ROUTES,)),
    Mutation("guard: autograd functions kept no longer named by their module",
             G + "child/guard.py",
             'module = getattr(obj, "__module__", "") or ""',
             'module = getattr(obj, "__module__", "") and ""',
             (AUTOGRAD_ROUTES,)),
    Mutation("guard: closures of kept functions no longer read", G + "child/guard.py",
             '(getattr(obj, "__closure__", None) or ())',
             '(getattr(obj, "__closure__", None) and ())',
             (AUTOGRAD_ROUTES,)),
    Mutation("guard: a kept partial's arguments no longer read", G + "child/guard.py",
             'list(getattr(obj, "args", ()) or ())',
             'list(getattr(obj, "args", ()) and ())',
             (AUTOGRAD_ROUTES,)),
    Mutation("guard: kept objects read one level less deep", G + "child/guard.py",
             "if depth > 6 or id(objects) in seen:", "if depth >= 6 or id(objects) in seen:",
             (AUTOGRAD_ROUTES,)),
    Mutation("guard: a popped operator watch no longer flagged", G + "child/guard.py",
             "        except Exception:  # the student may have popped the mode already",
             "        except ArithmeticError:  # the student may have popped the mode already",
             (f"{FORBIDDEN}[dispatch_mode_popped]",)),
    Mutation("confine: every folder on the way counted as blocked", G + "child/confine.py",
             "if os.path.isdir(folder) and not bits & 1:",
             "if os.path.isdir(folder) or not bits & 1:",
             (f"{SANDBOX}test_blocked_for_names_the_first_folder_a_user_cannot_traverse",)),
)


def _copy(dest: Path) -> Path:
    shutil.copytree(REPO, dest, ignore=IGNORE, symlinks=True)
    return dest


def _pytest(root: Path, tests: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "COV_", "PYTHONPATH"))}
    env.update(PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p",
           "no:xdist", "-W", "ignore::pytest.PytestUnraisableExceptionWarning", *tests]
    try:
        return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(cmd, -1, str(exc.stdout or ""), "timed out")


def _tail(proc: subprocess.CompletedProcess) -> str:
    return (proc.stdout + proc.stderr)[-3000:]


def apply(root: Path, mutation: Mutation) -> None:
    path = root / mutation.path
    text = path.read_text(encoding="utf-8")
    count = text.count(mutation.original)
    assert count == 1, (f"mutation no longer applies: {mutation.name!r} expects its text "
                        f"exactly once in {mutation.path}, found {count} times")
    path.write_text(text.replace(mutation.original, mutation.replacement), encoding="utf-8")


def test_mutations_are_well_formed() -> None:
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names))
    for mutation in MUTATIONS:
        text = (REPO / mutation.path).read_text(encoding="utf-8")
        assert text.count(mutation.original) == 1, (
            f"mutation no longer applies: {mutation.name!r} ({mutation.path})")
        assert mutation.original != mutation.replacement and mutation.tests


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy(tmp_path_factory.mktemp("pristine") / "repo")


def test_control_every_subset_passes_unmutated(pristine: Path) -> None:
    tests = list(dict.fromkeys(t for m in MUTATIONS for t in m.tests))
    proc = _pytest(pristine, tests)
    assert proc.returncode == 0, f"the tests fail without any mutation:\n{_tail(proc)}"
    assert "passed" in proc.stdout and "skipped" not in proc.stdout, _tail(proc)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_mutation_is_killed(mutation: Mutation, pristine: Path, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(pristine, root, symlinks=True)
    apply(root, mutation)
    proc = _pytest(root, list(mutation.tests))
    assert proc.returncode != 0, (
        f"mutation survived: {mutation.name} ({mutation.path}); {mutation.tests} still "
        f"pass:\n{_tail(proc)}")
    assert proc.returncode == 1, (
        f"{mutation.name}: pytest ended with status {proc.returncode}, not a test failure "
        f"(a broken copy, a collection error, a timeout?):\n{_tail(proc)}")
