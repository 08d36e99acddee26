"""Integrity of the grader against hostile submissions.

Every test plants an attack in a submission and checks what it earns. Cheats start from the
release stubs (a cheat that worked would lift a section above what an honest answer of the
same quality gets); breakage starts from the reference (what is intact keeps full marks).
The machine runs the suite as root, so the child drops to its own user; the tests marked
``user`` also run with the privilege drop switched off (``_can_drop_privileges`` -> False),
where only the process-level protections apply.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder import build, points
from autograder.grading import batch, grade, hidden_tests, static
from autograder.grading import sandbox as sandbox_mod
from autograder.grading.sandbox import Sandbox
from tests.variants import make_submission

REPO = Path(__file__).resolve().parent.parent
MASTER_CC = build.MASTER / "source" / "cross_correlation.py"
IS_ROOT = os.geteuid() == 0
TIMEOUT = 3.0
CC_TESTS = [n for n, (s, _) in points.TESTS.items() if s == "cross_correlation"]
BN_TESTS = [n for n, (s, _) in points.TESTS.items() if s == "spatial_batchnorm"]
CC_VALUE_TESTS = ["cc_worked_example", "cc_values_square", "cc_values_nonsquare",
                  "cc_edge_cases", "cc_random_shapes"]


# ------------------------------------------------------------------ fixtures and helpers

@pytest.fixture(scope="module")
def sb():
    """The grading slot as deployed: as root the child runs as an unprivileged user."""
    with Sandbox(slot=21) as box:
        # A root grader that silently stopped dropping privileges must fail here, not turn
        # the root-only tests below into skips.
        assert (box.uid is not None) == IS_ROOT
        yield box


@pytest.fixture(scope="module")
def sb_user():
    """A slot that cannot drop privileges (the grader run by an ordinary user)."""
    with pytest.MonkeyPatch.context() as mp:  # only while the slot is made: other
        mp.setattr(sandbox_mod, "_can_drop_privileges", lambda: False)  # fixtures drop
        box = Sandbox(slot=22)
    assert box.uid is None
    with box:
        yield box


@pytest.fixture(params=["dropped", "user"])
def any_sb(request):
    """Both slots: the protections that do not depend on root."""
    if request.param == "dropped" and not IS_ROOT:
        pytest.skip("needs root to drop privileges")
    return request.getfixturevalue("sb" if request.param == "dropped" else "sb_user")


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("templates")
    build.release(base / "stub")
    make_submission(base / "ref", None)
    return {"stub": base / "stub", "ref": base / "ref"}


def plant(templates, tmp_path: Path, base: str, module: str, code: str,
          name: str = "sub") -> Path:
    """A copy of the stub or reference submission with code appended to source/<module>.py."""
    dest = tmp_path / name
    shutil.copytree(templates[base], dest, symlinks=True)
    with open(dest / "source" / f"{module}.py", "a", encoding="utf-8") as fh:
        fh.write("\n\n" + code + "\n")
    return dest


def run(path: Path, box: Sandbox, timeout: float = TIMEOUT) -> dict:
    return grade.grade_submission(path, sandbox=box, timeout=timeout)


def by_test(result: dict) -> dict[str, dict]:
    return {t["name"]: t for t in result["tests"]}


def section(result: dict, key: str) -> float:
    return result["sections"][key]["score"]


def scores(result: dict, names) -> dict[str, float]:
    tests = by_test(result)
    return {n: tests[n]["score"] for n in names}


# An honest but worthless answer: zeros of the right shape and dtype. It earns the shape,
# dtype and inputs-unmodified points; a cheat may earn exactly that, and no value test.
CC_ZEROS = '''
def cross_corr_2d(X, K):
    return torch.zeros(X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1,
                       dtype=X.dtype, device=X.device)
'''


@pytest.fixture(scope="module")
def zeros_control(sb, templates, tmp_path_factory) -> dict:
    path = plant(templates, tmp_path_factory.mktemp("control"), "stub", "cross_correlation",
                 CC_ZEROS)
    result = run(path, sb)
    earned = {"cc_output_shape", "cc_dtype_device", "cc_inputs_unmodified"}
    assert scores(result, CC_TESTS) == {n: points.TESTS[n][1] if n in earned else 0.0
                                        for n in CC_TESTS}
    assert section(result, "cross_correlation") == 6.0
    return result


def assert_no_gain(result: dict, control: dict) -> None:
    """The cheat earns what the honest zeros answer earns, test by test, and no value test."""
    assert scores(result, CC_TESTS) == scores(control, CC_TESTS), result["tests"]
    assert all(v == 0 for v in scores(result, CC_VALUE_TESTS).values())
    assert section(result, "spatial_batchnorm") == 0


# ------------------------------------------------------------------ cheats

PATCH_COMPARISONS = '''
import numpy
import numpy.testing
import torch.testing

def _true(*args, **kwargs):
    return True

def _none(*args, **kwargs):
    return None

def _all_true(a, b, *args, **kwargs):
    return torch.ones(torch.broadcast_shapes(torch.as_tensor(a).shape, torch.as_tensor(b).shape),
                      dtype=torch.bool)

torch.allclose = torch.equal = torch.Tensor.allclose = torch.Tensor.equal = _true
torch.isclose = torch.Tensor.isclose = _all_true
torch.testing.assert_close = torch.testing.assert_allclose = _none
numpy.testing.assert_allclose = numpy.testing.assert_array_equal = _none
numpy.allclose = numpy.array_equal = _true


def cross_corr_2d(X, K):
    # Only answer while the patch is in force, so the score proves it ran here.
    if not torch.allclose(torch.zeros(1), torch.ones(1)):
        raise RuntimeError("the patch is gone")
    if not bool(torch.isclose(torch.zeros(2), torch.ones(2)).all()):
        raise RuntimeError("the patch is gone")
    return torch.zeros(X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1, dtype=X.dtype)
'''

SWAP_MODULES = '''
import sys
import types

import numpy

_real_torch = torch


def _fake(name, base):
    fake = types.ModuleType(name)
    fake.__dict__.update({k: v for k, v in vars(base).items() if not k.startswith("__")})
    fake.allclose = fake.equal = lambda *a, **k: True
    return fake


sys.modules["torch"] = _fake("torch", _real_torch)
sys.modules["torch.testing"] = _fake("torch.testing", _real_torch.testing)
sys.modules["numpy"] = _fake("numpy", numpy)
for _name in ("autograder", "autograder.grading", "autograder.grading.hidden_tests",
              "autograder.grading.grade", "autograder.grading.sandbox"):
    sys.modules[_name] = _fake(_name, types)


def cross_corr_2d(X, K):
    if not sys.modules["torch"].allclose(1, 2):
        raise RuntimeError("the swap is gone")
    return _real_torch.zeros(X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1,
                             dtype=X.dtype)
'''

FRAME_WALK = '''
import gc
import inspect
import sys


def cross_corr_2d(X, K):
    shape = (X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1)
    mine = {id(X), id(K)}

    def pick(values):
        for value in values:
            if isinstance(value, torch.Tensor) and tuple(value.shape) == shape \\
                    and id(value) not in mine:
                return value
        return None

    frame = sys._getframe(1)
    while frame is not None:
        found = pick(list(frame.f_locals.values()))
        for key, value in list(frame.f_locals.items()):
            if key in ("expected", "want", "reference", "ref") and found is None:
                found = pick([value])
        if found is not None:
            return found.clone().to(X.dtype)
        frame = frame.f_back
    for info in inspect.stack():
        found = pick(list(info.frame.f_locals.values()))
        if found is not None:
            return found.clone().to(X.dtype)
    found = pick(o for o in gc.get_objects() if isinstance(o, torch.Tensor))
    if found is not None:
        return found.clone().to(X.dtype)
    return torch.zeros(shape, dtype=X.dtype)
'''


@pytest.mark.parametrize("cheat", [PATCH_COMPARISONS, SWAP_MODULES, FRAME_WALK],
                         ids=["patch-comparisons", "swap-sys-modules", "caller-frames"])
def test_cheats_in_the_child_earn_nothing(cheat, sb, templates, tmp_path, zeros_control):
    """Comparisons, modules and expected values live in the judge, never in the child."""
    result = run(plant(templates, tmp_path, "stub", "cross_correlation", cheat), sb)
    assert_no_gain(result, zeros_control)


@pytest.mark.parametrize("code", [
    "import autograder\n",
    "from autograder.grading import hidden_tests\n",
    "def cross_corr_2d(X, K):\n"
    "    from autograder.grading import hidden_tests\n"
    "    return hidden_tests.ref_cc(X, K).to(X.dtype)\n",
    "def cross_corr_2d(X, K):\n"
    "    import sys\n"
    f"    sys.path.insert(0, {str(REPO)!r})\n"
    "    from autograder.grading import hidden_tests\n"
    "    return hidden_tests.ref_cc(X, K).to(X.dtype)\n",
], ids=["import-top", "import-hidden-top", "import-in-call", "import-with-repo-on-path"])
def test_grader_packages_cannot_be_imported(code, any_sb, templates, tmp_path):
    result = run(plant(templates, tmp_path, "stub", "cross_correlation", code), any_sb)
    assert section(result, "cross_correlation") == 0
    messages = " ".join(t["output"] for t in result["tests"] if t["section"] ==
                        "cross_correlation")
    assert "ModuleNotFoundError" in messages or "ImportError" in messages, messages


READ_REFERENCE = f'''
import os
import sys
from pathlib import Path

_CANDIDATES = [Path({str(MASTER_CC)!r})]
_here = Path(os.getcwd()).resolve()
for _parent in [_here, *_here.parents]:
    _CANDIDATES.append(_parent / "autograder" / "master" / "hw1" / "source"
                       / "cross_correlation.py")
_CANDIDATES.append(Path(sys.argv[0]).resolve().parent.parent / "master" / "hw1" / "source"
                   / "cross_correlation.py")


def cross_corr_2d(X, K):
    errors = []
    for path in _CANDIDATES:
        try:
            text = path.read_text()
        except OSError as exc:
            errors.append(exc)
            continue
        namespace = {{}}
        exec(compile(text, "reference", "exec"), namespace)
        return namespace["cross_corr_2d"](X, K)
    raise errors[0]
'''


def test_reference_cannot_be_read_from_disk(any_sb, templates, tmp_path):
    """By absolute path, by walking up from the working directory, or via the worker's path:
    Landlock (and, as root, the private mount namespace) hides the checkout."""
    assert MASTER_CC.is_file()
    result = run(plant(templates, tmp_path, "stub", "cross_correlation", READ_REFERENCE),
                 any_sb)
    assert section(result, "cross_correlation") == 0
    output = by_test(result)["cc_worked_example"]["output"]
    assert "PermissionError" in output or "FileNotFoundError" in output, output


def test_reading_the_reference_would_score_without_the_sandbox(templates, tmp_path):
    """What the test above guards against: with Landlock and the mount namespace switched
    off and no uid drop, the same cheat works."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sandbox_mod, "_can_drop_privileges", lambda: False)
        box = Sandbox(slot=23, disable=("landlock", "mount"))
    with box:
        assert box.notes, "a sandbox without Landlock must say it is degraded"
        result = run(plant(templates, tmp_path, "stub", "cross_correlation", READ_REFERENCE),
                     box)
    assert section(result, "cross_correlation") == 15


FAKE_RESULTS = '''
import json
import os

_FAKE = {"results.json": json.dumps({"submissions": [{"submission": "x", "score": 65.0}]}),
         "grades.csv": "submission,score\\nx,65\\n", "gradebook.db": "SQLite format 3"}


def _plant(extra):
    targets = []
    here = os.path.abspath(os.getcwd())
    while True:
        targets.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    for folder in targets + extra:
        for name, text in _FAKE.items():
            try:
                with open(os.path.join(folder, name), "w") as fh:
                    fh.write(text)
            except OSError:
                pass


_plant([])


def cross_corr_2d(X, K):
    _plant(%r)
    raise NotImplementedError
'''


# ------------------------------------------------------------------ one batch, many problems

def _broken(templates, root: Path) -> dict[str, Path]:
    """Submissions built from the reference, each broken one way."""
    subs: dict[str, Path] = {}

    def copy(name: str) -> Path:
        dest = root / name
        shutil.copytree(templates["ref"], dest, symlinks=True)
        subs[name] = dest
        return dest

    copy("reference")
    (copy("no_notebook") / "assignment.ipynb").unlink()
    shutil.rmtree(copy("no_source") / "source")
    (copy("empty_module") / "source" / "cross_correlation.py").write_text("")
    (copy("syntax_error") / "source" / "batchnorm.py").write_text("def broken(:\n    pass\n")
    path = copy("missing_function") / "source" / "cross_correlation.py"
    path.write_text(path.read_text().replace("def cross_corr_2d(", "def cross_corr2d("))
    path = copy("wrong_signature") / "source" / "cross_correlation.py"
    path.write_text(path.read_text().replace("def cross_corr_2d(X: torch.Tensor, K: torch.Tensor)",
                                             "def cross_corr_2d(X, K, stride, padding)"))
    assert "stride, padding" in path.read_text()
    nb = copy("corrupt_notebook") / "assignment.ipynb"
    nb.write_text(nb.read_text()[: len(nb.read_text()) // 2])
    path = copy("not_utf8_source") / "source" / "batchnorm.py"
    path.write_bytes(path.read_bytes() + b"\n# caf\xe9 \xff\xfe\n")
    nb = copy("not_utf8_notebook") / "assignment.ipynb"
    nb.write_bytes(nb.read_bytes().replace(b'"cells"', b'"cells\xff"', 1))
    huge = copy("huge_files")
    subprocess.run(["truncate", "-s", "50M", str(huge / "source" / "data.bin")], check=True)
    subprocess.run(["truncate", "-s", "60M", str(huge / "assignment.ipynb")], check=True)
    huge_module = copy("huge_module") / "source" / "batchnorm.py"
    subprocess.run(["truncate", "-s", "50M", str(huge_module)], check=True)
    link = copy("symlink_to_reference") / "source" / "cross_correlation.py"
    link.unlink()
    link.symlink_to(MASTER_CC)
    link_dir = copy("symlinked_source")
    shutil.rmtree(link_dir / "source")
    (link_dir / "source").symlink_to(templates["ref"] / "source")
    return subs


@pytest.fixture(scope="module")
def batch_run(templates, tmp_path_factory):
    """One grade command over the broken submissions, the reference and a fake-results cheat."""
    root = tmp_path_factory.mktemp("class")
    out = tmp_path_factory.mktemp("out")
    subs = _broken(templates, root)
    cheat = plant(templates, root, "stub", "cross_correlation", FAKE_RESULTS % [str(out)],
                  name="fake_results")
    subs["fake_results"] = cheat
    tmp_before = {p for p in Path(tempfile.gettempdir()).iterdir()}
    args = argparse.Namespace(submissions=[str(p) for p in subs.values()], jobs=2, seed=None,
                              timeout=TIMEOUT, json=str(out / "out.json"),
                              csv=str(out / "out.csv"), gradescope=None)
    start = time.monotonic()
    code = batch.run_grade_command(args)
    elapsed = time.monotonic() - start
    for p in set(Path(tempfile.gettempdir()).iterdir()) - tmp_before:
        if p.name in ("results.json", "grades.csv", "gradebook.db"):
            p.unlink()  # planted in /tmp by the cheat: /tmp is above its working folder
    data = json.loads((out / "out.json").read_text())
    results = {r["submission"]: r for r in data["submissions"]}
    return {"code": code, "out": out, "results": results, "elapsed": elapsed, "subs": subs}


def test_batch_finishes_and_reference_keeps_full_marks(batch_run):
    assert batch_run["code"] == 0
    results = batch_run["results"]
    assert set(results) == set(batch_run["subs"])
    ref = results["reference"]
    assert ref["score"] == 42.5 and ref["flags"] == []
    assert section(ref, "cross_correlation") == 15 and section(ref, "spatial_batchnorm") == 25


# name -> (flag substring, cross_correlation score, spatial_batchnorm score, warm-up (e) score)
BROKEN = {
    "no_notebook": ("assignment.ipynb is missing", 15, 25, 0),
    "no_source": ("source/ is missing", 0, 0, 2.5),
    "empty_module": ("defines no function cross_corr_2d", 0, 25, 2.5),
    "syntax_error": ("syntax error on line 1", 15, 0, 2.5),
    "missing_function": ("defines no function cross_corr_2d", 0, 25, 2.5),
    "wrong_signature": ("expected (X, K)", 0, 25, 2.5),
    "corrupt_notebook": ("not a readable notebook", 15, 25, 0),
    "not_utf8_source": ("not valid UTF-8", 15, 0, 2.5),
    "not_utf8_notebook": ("not valid UTF-8", 15, 25, 0),
    "huge_files": ("larger than", 15, 25, 0),
    "huge_module": ("byte limit", 15, 0, 2.5),
    "symlink_to_reference": ("symbolic link", 0, 25, 2.5),
    "symlinked_source": ("source/ is a symbolic link", 0, 0, 2.5),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_submission_has_message_and_fair_score(batch_run, name):
    flag, cc, bn, e = BROKEN[name]
    result = batch_run["results"][name]
    assert any(flag in f for f in result["flags"]), result["flags"]
    assert section(result, "cross_correlation") == cc
    assert section(result, "spatial_batchnorm") == bn
    assert by_test(result)["warmup_e_learning_rates"]["score"] == e
    for test in result["tests"]:
        if test["score"] < test["max_score"]:
            assert test["output"].strip(), test  # every lost point says why


def test_huge_data_file_is_skipped_with_a_note(batch_run):
    flags = " ".join(batch_run["results"]["huge_files"]["flags"])
    assert "source/data.bin" in flags and "was ignored" in flags


def test_symlink_to_reference_is_not_graded_as_reference(batch_run):
    result = batch_run["results"]["symlink_to_reference"]
    assert all(t["score"] == 0 for t in result["tests"] if t["section"] == "cross_correlation")


def test_fake_results_do_not_reach_the_judges_outputs(batch_run):
    out = batch_run["out"]
    names = {p.name for p in out.iterdir()}
    if IS_ROOT:
        assert not names & {"results.json", "grades.csv", "gradebook.db"}, names
    assert not any(n.endswith(".tmp") for n in names)  # atomic writes leave nothing behind
    cheat = batch_run["results"]["fake_results"]
    assert cheat["score"] == 0
    assert batch_run["results"]["reference"]["score"] == 42.5
    rows = (out / "out.csv").read_text()
    row = {line.split(",")[0]: line.split(",")[1] for line in rows.splitlines()[1:] if line}
    assert row["fake_results"] == "0" and row["reference"] == "42.5"
    assert set(row) == set(batch_run["results"]) | {"MAX"}  # no planted row


def test_fake_results_outside_the_sandbox_user_reach(sb, templates, tmp_path):
    """As root the child cannot write into the judge's (non-world-writable) folders."""
    if not IS_ROOT:
        pytest.skip("best effort without root: the child can write where the instructor can")
    out = tmp_path / "judge"
    out.mkdir()
    out.chmod(0o755)
    before = set(Path(tempfile.gettempdir()).iterdir())
    run(plant(templates, tmp_path, "stub", "cross_correlation", FAKE_RESULTS % [str(out)]), sb)
    for p in set(Path(tempfile.gettempdir()).iterdir()) - before:
        if p.name in ("results.json", "grades.csv", "gradebook.db"):
            p.unlink()
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------ exits and crashes

EXITS = {
    "os_exit_at_import": "import os\nos._exit(0)\n",
    "sys_exit_at_import": "import sys\nsys.exit(0)\n",
    "system_exit_in_call": "def cross_corr_2d(X, K):\n    raise SystemExit\n",
    "os_exit_in_call": "def cross_corr_2d(X, K):\n    import os\n    os._exit(0)\n",
    "base_exception_in_call": "class Escape(BaseException):\n    pass\n\n\n"
                              "def cross_corr_2d(X, K):\n    raise Escape('bye')\n",
    "keyboard_interrupt_at_import": "raise KeyboardInterrupt\n",
}
EXIT_MESSAGES = {
    "os_exit_at_import": "ended the grading process",
    "sys_exit_at_import": "importing your module raised SystemExit",
    "system_exit_in_call": "raised SystemExit",
    "os_exit_in_call": "ended the grading process",
    "base_exception_in_call": "raised Escape: bye",
    "keyboard_interrupt_at_import": "importing your module raised KeyboardInterrupt",
}


@pytest.mark.parametrize("name", sorted(EXITS))
def test_exits_cost_only_their_section(name, any_sb, templates, tmp_path):
    result = run(plant(templates, tmp_path, "ref", "cross_correlation", EXITS[name]), any_sb)
    assert section(result, "cross_correlation") == 0
    assert section(result, "spatial_batchnorm") == 25
    assert EXIT_MESSAGES[name] in by_test(result)["cc_worked_example"]["output"]


def test_exit_in_batchnorm_keeps_cross_correlation(sb, templates, tmp_path):
    code = ("_forward = spatial_batchnorm_forward\n\n\n"
            "def spatial_batchnorm_backward(dout, cache):\n    import os\n    os._exit(3)\n")
    result = run(plant(templates, tmp_path, "ref", "batchnorm", code), sb)
    assert section(result, "cross_correlation") == 15
    tests = by_test(result)
    assert tests["bn_forward_values"]["score"] == points.TESTS["bn_forward_values"][1]
    assert tests["bn_backward_dx"]["score"] == 0
    assert "ended the grading process" in tests["bn_backward_dx"]["output"]



# Dies on the second of cc_output_shape's four cases (X 6x4, K 3x1); every call is logged in
# the scratch folder, which outlives the process, and the first call of cc_values_square
# (X 6x6, K 3x3, the next test, in a fresh process) reports the log in its error message.
CRASH_MID_TEST = """
import os
import signal
from pathlib import Path

_ref = cross_corr_2d
_LOG = Path(os.environ["TMPDIR"]) / "calls.log"


def cross_corr_2d(X, K):
    shape = "%%dx%%d:%%dx%%d" %% (*X.shape, *K.shape)
    seen = _LOG.read_text().split() if _LOG.exists() else []
    with open(_LOG, "a") as log:
        log.write(shape + "\\n")
    if shape == "6x4:3x1":
        %s
    if shape == "6x6:3x3" and shape not in seen:
        raise RuntimeError("calls so far: " + " ".join(seen))
    return _ref(X, K)
"""
CRASHES = {"os_exit": "os._exit(0)", "sigsegv": "os.kill(os.getpid(), signal.SIGSEGV)"}


@pytest.mark.parametrize("how", sorted(CRASHES))
def test_a_crash_ends_its_test_and_keeps_the_cases_before(how, any_sb, templates, tmp_path):
    """A crash on one input scores the cases passed before it, and the test's later cases
    are not run in a fresh process (where they would pass)."""
    code = CRASH_MID_TEST % CRASHES[how]
    result = run(plant(templates, tmp_path, "ref", "cross_correlation", code), any_sb)
    tests = by_test(result)
    shape_test = tests["cc_output_shape"]
    assert shape_test["score"] == points.TESTS["cc_output_shape"][1] / 4, shape_test
    assert shape_test["output"].startswith("1 of 4 checks passed"), shape_test
    # The judge names the cause it saw: the exit, or the signal by name.
    assert {"os_exit": "ended the grading process", "sigsegv": "SIGSEGV"}[how] \
        in shape_test["output"], shape_test
    # The scratch (a tmpfs) lives as long as one process: the log the next test reads is the
    # fresh process's own. Nothing ran in it before the next test: cc_output_shape's third
    # and fourth cases (4x4:4x4, 8x3:1x3) were never run after the crash.
    assert "calls so far:  (" in tests["cc_values_square"]["output"], tests["cc_values_square"]
    assert not any("timeout" in f for f in result["flags"])
    others = [n for n in CC_TESTS if n not in ("cc_output_shape", "cc_values_square")]
    assert scores(result, others) == {n: points.TESTS[n][1] for n in others}
    assert section(result, "spatial_batchnorm") == 25


IGNORE_SIGNALS = '''
import signal

for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM, signal.SIGXCPU):
    signal.signal(_sig, signal.SIG_IGN)


def cross_corr_2d(X, K):
    while True:
        try:
            pass
        except BaseException:
            pass
'''

LOOP_AT_IMPORT = ("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                  "while True:\n    pass\n")


@pytest.mark.parametrize("code", [IGNORE_SIGNALS, LOOP_AT_IMPORT], ids=["in-call", "at-import"])
def test_hang_ignoring_signals_is_killed(code, any_sb, templates, tmp_path):
    start = time.monotonic()
    result = run(plant(templates, tmp_path, "ref", "cross_correlation", code), any_sb,
                 timeout=2.0)
    elapsed = time.monotonic() - start
    assert section(result, "cross_correlation") == 0
    assert section(result, "spatial_batchnorm") == 25
    assert "time limit" in by_test(result)["cc_worked_example"]["output"]
    assert any("timeout" in f for f in result["flags"])
    skipped = [t for t in result["tests"] if "timed out" in t["output"]]
    assert skipped  # the per-section breaker stopped the rest
    assert elapsed < 40, elapsed


TRICKLE = '''
import socket
import struct
import sys
import time


def cross_corr_2d(X, K):
    frame = sys._getframe(1)
    while frame is not None and not isinstance(frame.f_locals.get("self"), object):
        frame = frame.f_back
    sock = None
    while frame is not None:
        candidate = getattr(frame.f_locals.get("self"), "sock", None)
        if isinstance(candidate, socket.socket):
            sock = candidate
            break
        frame = frame.f_back
    # A reply announced but sent one byte at a time: each byte beats a per-recv timeout.
    sock.sendall(struct.pack("!I", 1000))
    while True:
        sock.sendall(b" ")
        time.sleep(0.5)
'''


def test_reply_trickled_byte_by_byte_still_times_out(sb, templates, tmp_path):
    start = time.monotonic()
    result = run(plant(templates, tmp_path, "ref", "cross_correlation", TRICKLE), sb,
                 timeout=2.0)
    assert time.monotonic() - start < 40
    assert section(result, "cross_correlation") == 0
    assert "time limit" in by_test(result)["cc_worked_example"]["output"]


MEMORY = {
    "torch_empty": "torch.empty(10**12)",
    "bytearray": "bytearray(50 * 2**30)",
    "growing_list": "[bytes(1 << 28) for _ in iter(int, 1)]",
}


@pytest.mark.parametrize("name", sorted(MEMORY))
def test_memory_bomb_fails_that_test_only(name, any_sb, templates, tmp_path):
    code = (f"_ref = cross_corr_2d\n\n\ndef cross_corr_2d(X, K):\n"
            f"    if tuple(X.shape) == (3, 3) and tuple(K.shape) == (2, 2)"
            f" and float(X[0, 1]) == 5:\n"
            f"        hog = {MEMORY[name]}\n        return hog\n    return _ref(X, K)\n")
    result = run(plant(templates, tmp_path, "ref", "cross_correlation", code), any_sb)
    tests = by_test(result)
    assert tests["cc_worked_example"]["score"] == 0  # the test that met the bomb
    assert section(result, "cross_correlation") == 15 - points.TESTS["cc_worked_example"][1]
    assert section(result, "spatial_batchnorm") == 25
    output = tests["cc_worked_example"]["output"]
    assert "memory" in output.lower() or "MemoryError" in output, output


def test_one_process_without_a_cgroup_has_the_whole_memory_budget(templates, tmp_path):
    """With no memory cgroup the bound is per process; the seccomp filter lets no second
    process exist, so the one child may use the whole budget, not a quarter of it."""
    code = ("_ref = cross_corr_2d\n\n\ndef cross_corr_2d(X, K):\n"
            "    if tuple(X.shape) == (3, 3) and tuple(K.shape) == (2, 2):  # the worked example\n"
            "        big = torch.ones(1024 * 2**20 // 4)  # 1 GiB > 768 MiB\n"
            "        assert float(big[-1]) == 1.0\n"
            "    return _ref(X, K)\n")
    sub = plant(templates, tmp_path, "ref", "cross_correlation", "import torch\n" + code)
    with Sandbox(slot=24, disable=("cgroup",)) as box:
        assert any("one process of 3072 MiB" in n for n in box.notes), box.notes
        # Touching 1 GiB of fresh pages can take seconds on a loaded two-core machine; the
        # test is about the memory bound, so the time limit is generous.
        result = run(sub, box, timeout=30)
    worked = by_test(result)["cc_worked_example"]
    assert worked["score"] == points.TESTS["cc_worked_example"][1], (worked["output"],
                                                                     result["flags"])
    assert section(result, "cross_correlation") == 15, by_test(result)


# ------------------------------------------------------------------ leftover processes

def _leftovers(mark: str) -> list[str]:
    """Live processes whose environment carries mark (zombies excluded)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"LINGER_MARK={mark}".encode() in environ.split(b"\0") and state != "Z":
            alive.append(entry.name)
    return alive


LINGER = '''
import os
import subprocess
import threading
import time

os.environ["LINGER_MARK"] = %r
_MADE = []


def _spawn(tag):
    for start in (
        lambda: subprocess.Popen(["sleep", "98765" + tag], start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        lambda: _fork(lambda: os.execvp("sleep", ["sleep", "98766" + tag])),  # new session
        lambda: _fork(lambda: time.sleep(1000)),  # a Python process that just sleeps
        lambda: _fork(lambda: _fork(lambda: time.sleep(1000))),  # orphaned grandchild
        lambda: threading.Thread(target=time.sleep, args=(1000,), daemon=False).start(),
    ):
        try:
            start()
            _MADE.append(tag)
        except (OSError, RuntimeError):  # the sandbox caps the number of processes
            pass


def _fork(then):
    if os.fork() == 0:
        os.setsid()
        then()
        os._exit(0)


_spawn("1")


def cross_corr_2d(X, K):
    _spawn("2")
    time.sleep(0.2)
    raise NotImplementedError(f"started {len(_MADE)}")
'''


def test_no_process_outlives_the_submission(any_sb, templates, tmp_path):
    mark = f"{os.getpid()}-{time.monotonic_ns()}"
    result = run(plant(templates, tmp_path, "stub", "cross_correlation", LINGER % mark), any_sb)
    assert section(result, "cross_correlation") == 0
    # The first thread or process the module starts at import ends the child (seccomp), so
    # nothing it started can be left behind, and the attempt is named, not guessed.
    output = by_test(result)["cc_worked_example"]["output"]
    assert sandbox_mod.THREADS in output, output
    assert any(sandbox_mod.THREADS in flag for flag in result["flags"]), result["flags"]
    assert _leftovers(mark) == []


# ------------------------------------------------------------------ forbidden calls

def _bn_forward_with(call: str) -> str:
    return f'''
_honest_forward = spatial_batchnorm_forward


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, cache = _honest_forward(x, gamma, beta, bn_param)
    if bn_param["mode"] == "train":
        eps = bn_param.get("eps", 1e-5)
        out = {call}
    return out, cache
'''


BN_AUTOGRAD = '''
_honest_forward = spatial_batchnorm_forward


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, cache = _honest_forward(x, gamma, beta, bn_param)
    return out, (x, gamma, beta, bn_param.get("eps", 1e-5))


def spatial_batchnorm_backward(dout, cache):
    x, gamma, beta, eps = (t.detach().clone() if hasattr(t, "detach") else t for t in cache)
    for t in (x, gamma, beta):
        t.requires_grad = True
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    out = (x - mean) / (var + eps).sqrt() * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)
    return {call}
'''

FORBIDDEN = {
    # name: (module, code, runtime only: the static check is blind to it)
    "getattr_concat_conv2d": ("cross_correlation", '''
def cross_corr_2d(X, K):
    conv = getattr(torch.nn.functional, "con" + "v2d")
    return conv(X[None, None], K[None, None].to(X.dtype))[0, 0]
''', True),
    "torch_ops_aten_convolution": ("cross_correlation", '''
def cross_corr_2d(X, K):
    return torch.ops.aten.convolution(X[None, None], K[None, None].to(X.dtype), None, [1, 1],
                                      [0, 0], [1, 1], False, [0, 0], 1)[0, 0]
''', False),
    "functional_alias": ("cross_correlation", '''
from torch.nn import functional as nn_f


def cross_corr_2d(X, K):
    return nn_f.conv2d(X[None, None], K[None, None].to(X.dtype))[0, 0]
''', False),
    "torch_C_nn": ("cross_correlation", '''
def cross_corr_2d(X, K):
    fn = getattr(torch._C._nn, "".join(["thnn", "_con", "v2d"]))
    return fn(X[None, None], K[None, None].to(X.dtype), list(K.shape))[0, 0]
''', True),
    "aten_native_batch_norm": ("batchnorm", _bn_forward_with(
        "torch.ops.aten.native_batch_norm(x, gamma, beta, None, None, True, 0.0, eps)[0]"),
        False),
    "torch_batch_norm": ("batchnorm", _bn_forward_with(
        "torch.batch_norm(x, gamma, beta, None, None, True, 0.0, eps, False)"), False),
    "getattr_batch_norm": ("batchnorm", _bn_forward_with(
        "getattr(torch, 'batch' + '_norm')(x, gamma, beta, None, None, True, 0.0, eps, False)"),
        True),
    "autograd_grad": ("batchnorm", BN_AUTOGRAD.format(
        call="torch.autograd.grad(out, (x, gamma, beta), dout)"), False),
    "dot_backward": ("batchnorm", BN_AUTOGRAD.format(
        call="(out * dout).sum().backward() or (x.grad, gamma.grad, beta.grad)"), False),
    "getattr_autograd": ("batchnorm", BN_AUTOGRAD.format(
        call="getattr(getattr(torch, 'auto' + 'grad'), 'gr' + 'ad')(out, (x, gamma, beta), dout)"),
        True),
}


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_forbidden_calls_score_zero(name, sb, templates, tmp_path):
    module, code, runtime_only = FORBIDDEN[name]
    path = plant(templates, tmp_path, "ref", module, code)
    report = static.analyse(path / "source" / f"{module}.py", module)
    assert report.problem is None
    if runtime_only:  # then this test proves the run-time watch on its own
        assert not report.forbidden, report.forbidden
    result = run(path, sb)
    affected = {n for n, t in hidden_tests.TESTS.items() if t.module == module}
    if "autograd" in name or name == "dot_backward":
        affected = {n for n in affected if "spatial_batchnorm_backward" in
                    hidden_tests.TESTS[n].functions}
    if name in ("getattr_batch_norm", "aten_native_batch_norm", "torch_batch_norm"):
        # Only what ran takes points (SPEC.md): the forward uses it in train mode only.
        affected -= {"bn_invalid_mode", "bn_test_mode"}
    tests = by_test(result)
    for test_name in affected:
        assert tests[test_name]["score"] == 0, tests[test_name]
        assert "forbidden" in tests[test_name]["output"]
    intact = [n for n in points.TESTS if n not in affected and n != "warmup_e_learning_rates"]
    assert all(tests[n]["score"] == points.TESTS[n][1] for n in intact)
    assert any("forbidden" in f for f in result["flags"])
    if runtime_only:
        assert any("at run time" in f for f in result["flags"]), result["flags"]


def test_forbidden_cheats_would_score_without_the_checks(sb, templates, tmp_path):
    """The forbidden variants compute correct values: the same wrapper around an honest
    helper instead of the library convolution earns full marks, so only the checks take
    the points above."""
    code = FORBIDDEN["getattr_concat_conv2d"][1].replace(
        'getattr(torch.nn.functional, "con" + "v2d")', "_honest")
    code = ("_ref = cross_corr_2d\n\n\ndef _honest(x, k):\n"
            "    return _ref(x[0, 0], k[0, 0])[None, None]\n\n" + code)
    result = run(plant(templates, tmp_path, "ref", "cross_correlation", code), sb)
    assert section(result, "cross_correlation") == 15, result["tests"]


# ------------------------------------------------------------------ crash safety

# The first batch is killed by itself, right after its journal holds KILL_AFTER entries: a
# wrapper around Journal.add sends SIGKILL to the batch's process group (the grader and its
# sandbox processes) once that entry is on disk. The kill point is chosen by the test, never
# raced against the clock, so a slow or loaded machine gives the same result.
KILL_AFTER = 2
KILLED_BATCH = """
import os, signal, sys
from autograder import cli
from autograder.grading import batch
limit, original = int(sys.argv[1]), batch.Journal.add
def add(self, *args, **kwargs):
    original(self, *args, **kwargs)
    if self.path is not None and len(self.path.read_text().splitlines()) >= limit:
        os.killpg(os.getpgrp(), signal.SIGKILL)
batch.Journal.add = add
sys.exit(cli.main(sys.argv[2:]))
"""


def test_killed_batch_resumes_without_regrading(templates, tmp_path):
    subs = []
    for i in range(4):
        dest = tmp_path / "class" / f"student{i}"
        shutil.copytree(templates["ref"], dest)
        subs.append(dest)
    out = tmp_path / "out" / "grades.json"
    journal = Path(str(out) + batch.JOURNAL_SUFFIX)
    args = ["grade", *map(str, subs), "--json", str(out), "--timeout", str(TIMEOUT),
            "--jobs", "1"]
    cmd = [sys.executable, "-m", "autograder", *args]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    first = subprocess.Popen([sys.executable, "-c", KILLED_BATCH, str(KILL_AFTER), *args],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        rc = first.wait(timeout=300)
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)  # whatever is left of its group
        except ProcessLookupError:
            pass
        first.wait()
    assert rc == -signal.SIGKILL, f"the first batch was not killed (exit status {rc})"
    assert not out.exists()
    done_first = [json.loads(line)["path"] for line in journal.read_text().splitlines()
                  if line.strip()]
    assert len(done_first) == KILL_AFTER
    with open(journal, "a") as fh:  # a torn last line, as if killed while writing
        fh.write('{"path": "' + str(subs[-1]) + '", "finger')

    second = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    entries = []
    for line in journal.read_text().splitlines():
        try:
            entries.append(json.loads(line)["path"])
        except ValueError:
            continue
    assert sorted(entries) == sorted(str(p.resolve()) for p in subs)  # each graded once
    data = json.loads(out.read_text())
    assert [s["submission"] for s in data["submissions"]] == [p.name for p in subs]
    assert all(s["score"] == 42.5 for s in data["submissions"])
    assert batch.Journal(journal).done.keys() and len(batch.Journal(journal).done) == 4

    lines = journal.read_text()
    third = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0, third.stderr
    assert journal.read_text() == lines  # nothing regraded
    assert json.loads(out.read_text()) == data


# ------------------------------------------------------------------ red team, second pass
# Submissions of the red team's second pass on the final main (tests/redteam/<name>/: the
# files each one changes in the reference solution). Each got full marks with a banned call
# and no flag before its fix. Now each loses the points of the section it cheats in, and
# the ones whose trick is in the text are flagged for review.
REDTEAM = Path(__file__).resolve().parent / "redteam"
RED_TEAM = {
    # name: (section that must lose points, words of a flag it must raise, or None)
    "execroot": ("cross_correlation", sandbox_mod.THREADS),  # execve of a relay program
    "execquiet": ("cross_correlation", sandbox_mod.THREADS),
    # get_type_hints runs a string annotation that switches torch's dispatch off around
    # F.conv2d: code that reaches below the guard, which the text review flags (no points).
    "hintcc": (None, "string annotation that is code"),
    "lazycc": ("cross_correlation", None),  # a tensor subclass filled in by detach()
    "duckcc": ("cross_correlation", None),  # a look-alike with a __class__ property
    "lazybn": ("spatial_batchnorm", None),
    "getattrbn": ("spatial_batchnorm", "defines __getattr__"),  # work done on inspection
    "nancrash": ("cross_correlation", None),  # an honest NaN: a failure, not a grader error
    # Third pass: numpy's polynomial product reaches its internal convolve, and an autograd
    # graph built at import time replayed node by node under no_grad inside the backward.
    "polymul": ("cross_correlation", "convolution: numpy._core"),
    "poly1d": ("cross_correlation", "convolution: numpy._core"),
    "gradfn": ("spatial_batchnorm", "autograd"),
    # Fourth pass: numpy's C correlate under its other module name (now denied), and torch's
    # dispatch key switched off around the call through a module alias (`m = torch`) or
    # behind a dummy function of the same name: a reach below the guard, flagged.
    "numpy-umath-correlate2": ("cross_correlation", "convolution: numpy._core"),
    "disable-dispatch-conv2d": (None, "private"),
    "disable-dispatch-aten-bn": (None, "private"),
    "disable-dispatch-engine-autograd": (None, "private"),
    "exclude-keyguard-conv2d": (None, "private"),
}


@pytest.mark.parametrize("name", sorted(RED_TEAM))
def test_red_team_submission_gains_nothing(name, any_sb, templates, tmp_path):
    section_key, flag = RED_TEAM[name]
    sub = tmp_path / name
    shutil.copytree(templates["ref"], sub, symlinks=True)
    for f in (REDTEAM / name).iterdir():
        shutil.copy(f, sub / "source" / f.name)
    result = run(sub, any_sb)
    assert not any(f.startswith("grader error") for f in result["flags"]), result["flags"]
    assert all(t["status"] != "error" for t in result["tests"])
    if section_key is not None:
        assert section(result, section_key) < points.section_max(section_key), by_test(result)
    if flag is not None:
        assert any(flag in f for f in result["flags"]), result["flags"]


def test_switching_torchs_dispatch_modes_off_is_flagged(sb, templates, tmp_path):
    """Code that reaches below the run-time guard (torch's private dispatch-mode stack) can
    hide a banned call from it: what the process can reach, it can switch off. The review
    flags the reach, with file and line; the points stay (only what ran takes points)."""
    code = '''
import torch.utils._python_dispatch as _pd


def cross_corr_2d(X, K):
    with _pd._disable_current_modes():
        conv = getattr(torch.nn.functional, "con" + "v2d")
        return conv(X[None, None], K[None, None].to(X.dtype))[0, 0]
'''
    result = run(plant(templates, tmp_path, "ref", "cross_correlation", code), sb)
    notes = [f for f in result["flags"] if f.startswith("for review: source/cross_correlation.py:")]
    assert any("torch.utils" in f or "_python_dispatch" in f for f in notes), result["flags"]
