"""The grader end to end on the reference and the stubs, plus its building blocks."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder import build, points
from autograder.grading import assignment, batch, grade, hidden_tests, reports, review, static
from autograder.grading.child import wire as worker
from autograder.grading.sandbox import Sandbox
from tests.test_reports import make_result
from tests.variants import expect

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(slot=7) as sb:
        yield sb


@pytest.fixture(scope="module")
def solution_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("class") / "reference"
    build.solution(path)
    return path


@pytest.fixture(scope="module")
def stub_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("class") / "stubs"
    build.release(path)
    return path


# ------------------------------------------------------------------ points table

def test_points_table_matches_spec():
    assert points.total_max() == 65.0
    assert {s.key: points.section_max(s.key) for s in points.SECTIONS} == {
        "warmup": 25.0, "cross_correlation": 15.0, "spatial_batchnorm": 25.0}
    assert points.section_auto_max("warmup") == 2.5
    assert sum(points.MANUAL.values()) == 22.5 and len(points.MANUAL) == 9
    assert "warmup_e" not in points.MANUAL
    assert set(points.GRADE_CELLS.values()) == {s.key for s in points.SECTIONS}


def test_every_hidden_test_has_points_and_the_other_way_round():
    autograded = [n for n in points.TESTS if n != "warmup_e_learning_rates"]
    assert list(hidden_tests.TESTS) == autograded
    for name, test in hidden_tests.TESTS.items():
        module_section = {"cross_correlation": "cross_correlation",
                          "batchnorm": "spatial_batchnorm"}[test.module]
        assert points.TESTS[name][0] == module_section
        assert test.cases, name


# ------------------------------------------------------------------ whole submissions

def test_reference_scores_every_autograded_point(solution_dir, sandbox):
    result = grade.grade_submission(solution_dir, sandbox=sandbox)
    assert result["score"] == 42.5
    assert result["sections"]["cross_correlation"]["score"] == 15.0
    assert result["sections"]["spatial_batchnorm"]["score"] == 25.0
    assert result["sections"]["warmup"] == {"score": 2.5, "max_score": 25.0,
                                            "manual_pending": 22.5}
    assert all(t["status"] == "passed" for t in result["tests"]), result["tests"]
    assert result["flags"] == []
    assert result["seed"] == grade.DEFAULT_SEED


def test_stubs_score_zero_and_say_where_to_work(stub_dir, sandbox):
    result = grade.grade_submission(stub_dir, sandbox=sandbox)
    assert result["score"] == 0.0
    assert result["sections"]["warmup"]["manual_pending"] == 0.0
    messages = {t["name"]: t["output"] for t in result["tests"]}
    assert "NotImplementedError" in messages["cc_worked_example"]
    assert "source/cross_correlation.py" in messages["cc_worked_example"]
    assert "spatial_batchnorm_forward" in messages["bn_forward_values"]


# Every function raises with a digest of its tensor arguments, so each test's feedback
# shows which inputs its first cases drew ("raised RuntimeError: inputs 3f2a...").
INPUT_DIGESTS = {
    "cross_correlation.py": """
import hashlib


def cross_corr_2d(X, K):
    digest = hashlib.sha256(X.numpy().tobytes() + K.numpy().tobytes()).hexdigest()[:16]
    raise RuntimeError("inputs " + digest)
""",
    "batchnorm.py": """
import hashlib


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    data = b"".join(t.numpy().tobytes() for t in (x, gamma, beta))
    raise RuntimeError("inputs " + hashlib.sha256(data).hexdigest()[:16])
""",
}
FIXED_INPUTS = {"cc_worked_example"}  # the notebook's worked example: the same every time


def _input_digests(result: dict) -> dict[str, list[str]]:
    """test -> the digests of the inputs its failed cases reported, in order."""
    digests = {t["name"]: re.findall(r"inputs ([0-9a-f]{16})", t["output"])
               for t in result["tests"] if t["name"] in hidden_tests.TESTS}
    assert all(digests.values()), digests  # every hidden test reported its inputs
    return digests


def test_seed_changes_inputs_but_not_the_verdict(solution_dir, sandbox, tmp_path):
    result = grade.grade_submission(solution_dir, seed=7, sandbox=sandbox)
    assert result["seed"] == 7 and result["score"] == 42.5

    def observer(name: str, extra: str = "") -> Path:
        build.release(tmp_path / name)
        for target, code in INPUT_DIGESTS.items():
            with open(tmp_path / name / "source" / target, "a") as fh:
                fh.write("\n\n" + code + extra)
        return tmp_path / name

    seeds = (grade.DEFAULT_SEED, 7)
    first, other_seed = (_input_digests(grade.grade_submission(observer(f"s{s}"), seed=s,
                                                               sandbox=sandbox))
                         for s in seeds)
    # The same observer with one comment more: other code, other inputs (see derive_seed).
    other_code = _input_digests(grade.grade_submission(
        observer("edited", "# one more line\n"), seed=seeds[0], sandbox=sandbox))
    for name, digests in first.items():
        if name in FIXED_INPUTS:
            assert digests == other_seed[name] == other_code[name], name
        else:
            assert not set(digests) & set(other_seed[name]), (name, digests, other_seed[name])
            assert not set(digests) & set(other_code[name]), (name, digests, other_code[name])


def _solution_with(dest: Path, target: str, code: str) -> Path:
    """The reference submission at dest, with code appended to source/<target>."""
    build.solution(dest)
    with open(dest / "source" / target, "a") as fh:
        fh.write("\n\n" + code)
    return dest


def test_a_bug_costs_points_only_in_its_section(solution_dir, sandbox, tmp_path):
    sub = _solution_with(tmp_path / "flipped", "cross_correlation.py",
                         "def cross_corr_2d(X, K):\n"
                         "    K = K.flip(0, 1)\n"
                         "    kh, kw = K.shape\n"
                         "    H, W = X.shape[0] - kh + 1, X.shape[1] - kw + 1\n"
                         "    return sum(X[a:a + H, b:b + W] * K[a, b]\n"
                         "               for a in range(kh) for b in range(kw))\n")
    result = grade.grade_submission(sub, sandbox=sandbox)
    # The same mistake as the library's cc_flipped_kernel, written differently: the same
    # verdict, test by test, as pinned in tests/variants/expected.json. Random shapes are
    # drawn from a seed mixed with the code graded, so there only the fraction may differ.
    pinned = expect.load()["bugs/cc_flipped_kernel"]["tests"]
    got = {t["name"]: t["score"] for t in result["tests"]}
    random_shapes = got.pop("cc_random_shapes"), pinned.pop("cc_random_shapes")
    assert got == pinned
    assert all(score < points.TESTS["cc_random_shapes"][1] for score in random_shapes)
    assert result["sections"]["cross_correlation"]["score"] == round(
        sum(v for t, v in got.items() if points.TESTS[t][0] == "cross_correlation")
        + random_shapes[0], 4)
    assert result["sections"]["spatial_batchnorm"]["score"] == 25.0
    values = next(t for t in result["tests"] if t["name"] == "cc_values_nonsquare")
    assert "convolution" in values["output"]  # the hint names the likely mistake


# ------------------------------------------------------------------ the command line

def _grade_args(subs: list[Path], out: Path) -> argparse.Namespace:
    return argparse.Namespace(submissions=[str(s) for s in subs], jobs=2, seed=None,
                              timeout=None, json=str(out / "g.json"), csv=str(out / "g.csv"),
                              gradescope=str(out / "gs"))


def test_grade_command_outputs_validate(solution_dir, stub_dir, tmp_path, capsys):
    assert batch.run_grade_command(_grade_args([solution_dir, stub_dir], tmp_path)) == 0
    table = capsys.readouterr().out
    assert "reference" in table and "stubs" in table
    data = json.loads((tmp_path / "g.json").read_text())
    reports.validate(data, "grade")
    assert [s["submission"] for s in data["submissions"]] == ["reference", "stubs"]
    assert [s["score"] for s in data["submissions"]] == [42.5, 0.0]
    rows = list(csv.reader(io.StringIO((tmp_path / "g.csv").read_text())))
    assert all(name in rows[0] for name in points.TESTS)
    assert rows[1][0] == "MAX"
    for name in ("reference", "stubs"):
        gs = json.loads((tmp_path / "gs" / name / "results.json").read_text())
        reports.validate(gs, "gradescope")
    assert (tmp_path / "g-reference-feedback.md").is_file()
    assert (tmp_path / "g-report.md").is_file()


def test_grade_command_fails_only_when_the_grader_cannot_run(stub_dir, tmp_path, monkeypatch):
    def broken_start(self):
        raise RuntimeError("worker cannot start")

    monkeypatch.setattr(Sandbox, "wait_ready", broken_start)
    assert batch.run_grade_command(_grade_args([stub_dir], tmp_path)) == 2


def test_cli_grade_exit_status_is_zero_for_a_bad_submission(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(empty),
                           "--json", str(tmp_path / "out.json")], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    entry = data["submissions"][0]
    assert entry["score"] == 0.0
    assert any("missing" in f for f in entry["flags"])


# ------------------------------------------------------------------ static checks

def _analyse(tmp_path: Path, module: str, code: str) -> static.ModuleReport:
    path = tmp_path / f"{module}.py"
    path.write_text(code)
    return static.analyse(path, module)


@pytest.mark.parametrize("code", [
    "import torch.nn.functional as F\ndef cross_corr_2d(X, K):\n    return F.conv2d(X, K)\n",
    "from torch.nn.functional import conv2d as helper\n"
    "def cross_corr_2d(X, K):\n    return helper(X, K)\n",
    "import torch\ndef cross_corr_2d(X, K):\n    return getattr(torch, 'conv2d')(X, K)\n",
    "import torch\ndef _go(X, K):\n    return torch.nn.functional.conv2d(X, K)\n"
    "def cross_corr_2d(X, K):\n    return _go(X, K)\n",
    "import numpy as np\ndef cross_corr_2d(X, K):\n    return np.correlate(X, K)\n",
    "from scipy import signal\ndef cross_corr_2d(X, K):\n    return signal.correlate2d(X, K)\n",
])
def test_static_check_finds_forbidden_convolutions(tmp_path, code):
    report = _analyse(tmp_path, "cross_correlation", code)
    assert "cross_corr_2d" in report.forbidden, report


def test_static_check_ignores_words_in_docstrings_and_own_names(tmp_path):
    code = ('def cross_corr_2d(X, K):\n'
            '    """No conv2d here, unlike a convolution library."""\n'
            '    my_conv = X\n    return my_conv\n')
    assert _analyse(tmp_path, "cross_correlation", code).forbidden == {}
    code = ('def spatial_batchnorm_forward(x, gamma, beta, bn_param):\n'
            '    """Like torch.batch_norm, but by hand; the backward needs no autograd."""\n'
            '    return x, None\n'
            'def spatial_batchnorm_backward(dout, cache):\n'
            '    """Backward pass, no autograd."""\n    return dout, None, None\n')
    assert _analyse(tmp_path, "batchnorm", code).forbidden == {}


def test_static_check_autograd_forbidden_in_forward_and_backward(tmp_path):
    """SPEC.md: autograd in the forward or the backward (a forward that keeps a graph or a
    pullback in its cache moves autograd out of the backward)."""
    code = ("import torch\n"
            "def spatial_batchnorm_forward(x, gamma, beta, bn_param):\n"
            "    return x, x.requires_grad_()\n"
            "def spatial_batchnorm_backward(dout, cache):\n"
            "    cache.backward(dout)\n    return cache.grad, None, None\n")
    report = _analyse(tmp_path, "batchnorm", code)
    assert sorted(report.forbidden) == ["spatial_batchnorm_backward",
                                        "spatial_batchnorm_forward"]


def test_static_check_reports_unreadable_modules(tmp_path):
    assert "syntax error on line 2" in _analyse(tmp_path, "batchnorm", "x = 1\ndef (:\n").problem
    (tmp_path / "cross_correlation.py").write_bytes(b"x = '\xff'\n")
    report = static.analyse(tmp_path / "cross_correlation.py", "cross_correlation")
    assert "UTF-8" in report.problem
    assert "missing" in static.analyse(tmp_path / "nope.py", "batchnorm").problem
    report = _analyse(tmp_path, "cross_correlation", "def cross_corr_2d(X):\n    return X\n")
    assert any("expected (X, K)" in n for n in report.notes)


# Issue 18.2: honest idioms that a blocklist misread get no flag at all, in the text review
# (every file under source/) nor in the static check of the graded modules.
INNOCENT = {
    "requires_grad=False": ("batchnorm", "import torch\n"
                            "def spatial_batchnorm_forward(x, gamma, beta, bn_param):\n"
                            "    z = torch.zeros(x.shape[1], requires_grad=False)\n"
                            "    return x + z.view(1, -1, 1, 1), None\n"),
    "no_grad and detach": ("batchnorm", "import torch\n"
                           "def spatial_batchnorm_backward(dout, cache):\n"
                           "    with torch.no_grad():\n"
                           "        backward = dout.detach()\n"
                           "        grad = backward * 2\n"
                           "    return grad, grad.sum((0, 2, 3)), grad.sum((0, 2, 3))\n"),
    "docstring naming the banned calls": (
        "batchnorm", "def spatial_batchnorm_forward(x, gamma, beta, bn_param):\n"
        "    \"\"\"Unlike F.batch_norm or torch.autograd.grad, by hand.\"\"\"\n"
        "    raise ValueError('F.batch_norm is not allowed')\n"),
    "F for pad and unfold": ("cross_correlation", "import torch.nn.functional as F\n"
                             "def correlate_rows(X, K):\n"
                             "    conv_out = F.pad(X, (0, 0))\n"
                             "    return F.unfold(conv_out[None, None], K.shape)\n"
                             "def cross_corr_2d(X, K):\n"
                             "    \"\"\"No F.conv2d here.\"\"\"\n"
                             "    return correlate_rows(X, K)\n"),
    "classes and the allowed modules": (
        "cross_correlation", "from __future__ import annotations\n"
        "import functools, itertools, math\nfrom typing import Any\n"
        "from dataclasses import dataclass, field\nfrom collections import namedtuple\n"
        "from collections.abc import Callable\nimport numpy as np\n"
        "from numpy.lib.stride_tricks import sliding_window_view\nimport torch\n"
        "from torch import nn\nfrom . import gradcheck\nimport source.gradcheck\n"
        "@dataclass\nclass C:\n    a: Any = field(default=None)\n"
        "    def __post_init__(self):\n        self.b = type(self).__name__\n"
        "class D(C):\n    def __init__(self):\n        super().__init__()\n"
        "    def __len__(self):\n        return 1\n"
        "def cross_corr_2d(X, K):\n    w = getattr(X, 'shape')\n"
        "    return hasattr(X, 'T') and w\n"
        "if __name__ == '__main__':\n    print(math.pi)\n"),
}


@pytest.mark.parametrize("name", sorted(INNOCENT))
def test_innocent_idioms_get_no_flag(name, tmp_path):
    module, code = INNOCENT[name]
    (tmp_path / f"{module}.py").write_text(code, encoding="utf-8")
    assert review.review(tmp_path) == review.Review(), name
    report = static.analyse(tmp_path / f"{module}.py", module)
    assert report.forbidden == {} and report.problem is None, report


# Issue 18.3: a forbidden call that is written but never runs is flagged, and costs nothing.
NEVER_RUN = {
    "cross_correlation.py": "_library = cross_corr_2d\n\n\ndef cross_corr_2d(X, K):\n"
                            "    if X.dim() == 7:  # never: X is 2-D\n"
                            "        return torch.nn.functional.conv2d(X, K)\n"
                            "    return _library(X, K)\n",
    "batchnorm.py": "_library = spatial_batchnorm_backward\n\n\n"
                    "def spatial_batchnorm_backward(dout, cache):\n"
                    "    if dout.dim() == 7:  # never: dout is 4-D\n"
                    "        dout.requires_grad_()\n"
                    "    return _library(dout, cache)\n",
}


@pytest.mark.parametrize("target", sorted(NEVER_RUN))
def test_a_text_finding_is_a_flag_not_a_loss(target, sandbox, tmp_path):
    sub = _solution_with(tmp_path / "sub", target, NEVER_RUN[target])
    function = "cross_corr_2d" if target == "cross_correlation.py" else \
        "spatial_batchnorm_backward"
    report = static.analyse(sub / "source" / target, target[:-3])
    assert function in report.forbidden, report  # the text names it ...
    result = grade.grade_submission(sub, sandbox=sandbox)
    section = "cross_correlation" if target == "cross_correlation.py" else "spatial_batchnorm"
    # ... but it never ran: every point stays, and a person is told where to look.
    assert result["sections"][section]["score"] == points.section_max(section), result["tests"]
    assert any(f.startswith("for review: forbidden call named in " + function)
               for f in result["flags"]), result["flags"]


# Issue 19.1: CPython 3.11's parser shares a recursion counter between threads; a
# collection that runs a __del__ which lets another thread in mid-parse makes one of the two
# parses fail. Without parsing.PARSE_LOCK this fails on 3.11 (checked by replacing the lock
# with contextlib.nullcontext(): SystemError "AST constructor recursion depth mismatch").
DEEP_SOURCE = ("import torch\n\n\ndef cross_corr_2d(X, K):\n"
               + "".join(f"    y{i} = ((X + {i}) * (K - {i})) / (1 + X ** 2)\n"
                         for i in range(30))
               + "    return " + "(" * 60 + "X" + ")" * 60 + "\n")


class _Yields:
    """Garbage whose finalizer hands the interpreter to another thread (as a closing
    socket or file does in the judge), in a cycle so that it dies in a collection."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0.0002)


def test_static_checks_are_safe_in_many_threads(tmp_path):
    (tmp_path / "cross_correlation.py").write_text(DEEP_SOURCE, encoding="utf-8")
    errors: list[str] = []
    want = static.analyse(tmp_path / "cross_correlation.py", "cross_correlation")

    def work() -> None:
        for _ in range(50):
            for _ in range(10):
                _Yields()
            try:
                got = static.analyse(tmp_path / "cross_correlation.py", "cross_correlation")
                review.review(tmp_path)
                if got != want:
                    errors.append(f"different report: {got}")
            except Exception as exc:  # noqa: BLE001 -- any error is the failure sought
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert want.problem is None and errors == [], errors[:3]


def test_student_text_lists_exactly_the_allowed_imports():
    """Issue 18: the notebook's rules and README_student.md state assignment.py's list."""
    listed = ", ".join(f"`{m}`" for m in assignment.ALLOWED_IMPORTS)
    master = REPO / "autograder" / "master" / "hw1"
    notebook = json.loads((master / "assignment.ipynb").read_text(encoding="utf-8"))
    texts = {"assignment.ipynb": "".join("".join(c["source"]) for c in notebook["cells"]
                                         if c["cell_type"] == "markdown"),
             "README_student.md": (master / "README_student.md").read_text(encoding="utf-8")}
    for name, text in texts.items():
        found = re.findall(r"Allowed imports: (.*)", text)
        assert found == [listed + "."] or found == [listed], (name, found, listed)
        for idiom in ("requires_grad=False", "torch.no_grad()", ".detach()"):
            assert idiom in text, (name, idiom)


# ------------------------------------------------------------------ wire format

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.bool,
                                   torch.float16, torch.bfloat16])
def test_wire_format_round_trips_tensors_without_pickle(dtype):
    codec = worker.Codec(torch, np)
    value = {"t": (torch.arange(6).reshape(2, 3).to(dtype),), "n": None, "s": "x", "f": 1.5,
             "a": np.arange(4.0)}
    a, b = socket.socketpair()
    with a, b:
        blobs: list[bytes] = []
        worker.send_msg(a, {"value": codec.encode(value, blobs)}, blobs)
        header, got_blobs = worker.recv_msg(b)
    back = codec.decode(header["value"], got_blobs)
    assert back["t"][0].dtype == dtype and torch.equal(back["t"][0], value["t"][0])
    assert back["n"] is None and back["s"] == "x" and back["f"] == 1.5
    assert isinstance(back["a"], np.ndarray) and back["a"].tolist() == [0, 1, 2, 3]


def test_wire_format_refuses_malformed_data():
    codec = worker.Codec(torch, np)
    with pytest.raises(worker.ProtocolError):
        codec.decode({"t": "tensor", "dtype": "float32", "shape": [5], "i": 0}, [b"\0" * 4])
    with pytest.raises(worker.ProtocolError):
        codec.decode({"t": "tensor", "dtype": "object", "shape": [1], "i": 0}, [b"\0" * 8])
    with pytest.raises(worker.ProtocolError):
        codec.decode({"t": "pickle", "v": "..."}, [])
    a, b = socket.socketpair()
    with a, b:
        a.sendall(len(b"not json").to_bytes(4, "big") + b"not json")
        with pytest.raises(worker.ProtocolError):
            worker.recv_msg(b)


def test_journal_of_another_user_is_not_trusted(tmp_path, solution_dir):
    if batch.os.geteuid() != 0:
        pytest.skip("making a file of another user needs root")
    journal_path = tmp_path / "g.json.journal.jsonl"
    fp = batch.fingerprint(solution_dir, grade.DEFAULT_SEED, batch.grader_fingerprint())
    fake = {"submission": "reference", "score": 65.0}
    journal_path.write_text(json.dumps({"path": str(solution_dir.resolve()),
                                        "fingerprint": fp, "result": fake}) + "\n")
    batch.os.chown(journal_path, 61999, 61999)
    journal = batch.Journal(journal_path)
    assert journal.get(solution_dir, fp) is None and journal.path is None
    journal_path.unlink()
    journal_path.write_text(json.dumps({"path": str(solution_dir.resolve()),
                                        "fingerprint": fp, "result": fake}) + "\n")
    assert batch.Journal(journal_path).get(solution_dir, fp) == fake  # our own: trusted


def test_journal_symlink_is_never_followed(tmp_path, solution_dir):
    """A link planted at the journal's name cannot make the judge append to another file."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    journal_path = tmp_path / "g.json.journal.jsonl"
    journal_path.symlink_to(victim)
    journal = batch.Journal(journal_path)
    journal.add(solution_dir, "fp", {"submission": "x"})
    assert victim.read_text() == "precious\n"
    assert journal.path is None


def test_journal_is_not_reused_by_another_grader(tmp_path, solution_dir, monkeypatch):
    """A fix to the answer key, the hidden tests or the reference changes the grader's
    fingerprint, so a resumed batch grades again instead of keeping old scores."""
    before = batch.grader_fingerprint()
    key = Path(batch.__file__).resolve().parents[1] / "warmup.py"  # the (e) answer key
    read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: read(self) + (b"#edited" if self == key else b""))
    assert batch.grader_fingerprint() != before
    assert batch.fingerprint(solution_dir, 1, before) != batch.fingerprint(
        solution_dir, 1, batch.grader_fingerprint())


def test_same_folder_names_get_distinct_results(tmp_path):
    paths = [tmp_path / "sec1" / "alice", tmp_path / "sec2" / "alice", tmp_path / "bob"]
    names = batch.unique_names(paths)
    assert names == ["sec1/alice", "sec2/alice", "bob"]
    results = [{"submission": n} for n in names]
    files = reports._file_names(results)
    assert len(set(files)) == 3 and all("/" not in f for f in files)


def test_private_copy_is_removed_after_grading(solution_dir, sandbox):
    before = set(sandbox.tmp.iterdir())
    grade.grade_submission(solution_dir, sandbox=sandbox)
    assert set(sandbox.tmp.iterdir()) == before


def test_seed_is_recorded_in_feedback_report_and_gradescope(solution_dir, sandbox):
    result = grade.grade_submission(solution_dir, seed=4242, sandbox=sandbox)
    assert "seed 4242" in reports.feedback_markdown(result)
    assert "4242" in reports.report_markdown([result])
    assert reports.gradescope_results(result)["extra_data"]["seed"] == 4242


def test_csv_alone_also_gets_feedback_and_report(stub_dir, tmp_path):
    args = argparse.Namespace(submissions=[str(stub_dir)], jobs=1, seed=None, timeout=None,
                              json=None, csv=str(tmp_path / "class.csv"), gradescope=None)
    assert batch.run_grade_command(args) == 0
    assert (tmp_path / "class.csv").is_file()
    assert (tmp_path / "class-stubs-feedback.md").is_file()
    assert (tmp_path / "class-report.md").is_file()
    # One submission: the report says why it has no histograms (tests/test_reports.py).
    assert "No score histograms" in (tmp_path / "class-report.md").read_text()


@pytest.mark.parametrize("code, forbidden", [
    ("import torch\ndef _apply(func, t):\n    return func(t)\n"
     "def spatial_batchnorm_backward(dout, cache):\n"
     "    return _apply(lambda t: t, dout), None, None\n", False),
    ("import torch\ndef spatial_batchnorm_backward(dout, cache):\n"
     "    return torch.func.grad(lambda t: t.sum())(dout), None, None\n", True),
    ("from torch.func import grad\ndef spatial_batchnorm_backward(dout, cache):\n"
     "    return grad(lambda t: t.sum())(dout), None, None\n", True),
    ("import torch.func as tf\ndef spatial_batchnorm_backward(dout, cache):\n"
     "    return tf.grad(lambda t: t.sum())(dout), None, None\n", True),
])
def test_static_check_torch_func_but_not_a_variable_named_func(tmp_path, code, forbidden):
    report = _analyse(tmp_path, "batchnorm", code)
    assert ("spatial_batchnorm_backward" in report.forbidden) is forbidden, report.forbidden


@pytest.mark.parametrize("module, code", [
    ("cross_correlation", "def _correlate_rows(X, K):\n    return X\n"
                          "def cross_corr_2d(X, K):\n    return _correlate_rows(X, K)\n"),
    ("cross_correlation", "def cross_corr_2d(X, K):\n    convolve = None\n    return X\n"),
    ("cross_correlation", "def conv2d(X, K):\n    return X\n"
                          "def cross_corr_2d(X, K):\n    return conv2d(X, K)\n"),
    ("batchnorm", "class MyBatchNorm:\n    pass\n"
                  "def _batch_norm_stats(x):\n    return x.mean()\n"
                  "def spatial_batchnorm_forward(x, gamma, beta, bn_param):\n"
                  "    return _batch_norm_stats(x), MyBatchNorm()\n"),
    ("batchnorm", "class _Layer:\n    def backward(self, dout):\n        return dout\n"
                  "def spatial_batchnorm_backward(dout, cache):\n"
                  "    return cache.backward(dout), None, None\n"),
])
def test_static_check_does_not_flag_the_students_own_names(tmp_path, module, code):
    assert _analyse(tmp_path, module, code).forbidden == {}


def test_static_check_still_flags_an_alias_that_shadows_a_library_name(tmp_path):
    code = ("import torch.nn.functional as F\nconv2d = F.conv2d\n"
            "def cross_corr_2d(X, K):\n    return conv2d(X[None, None], K[None, None])\n")
    assert "cross_corr_2d" in _analyse(tmp_path, "cross_correlation", code).forbidden


def test_a_convolution_inside_batchnorm_is_not_banned(sandbox, tmp_path):
    """SPEC.md bans convolutions in cross_corr_2d and batch norm in batchnorm.py, nothing
    more: an odd but legal conv2d in the batch-norm file costs nothing."""
    sub = _solution_with(tmp_path / "odd", "batchnorm.py",
                         "_plain_forward = spatial_batchnorm_forward\n\n\n"
                         "def spatial_batchnorm_forward(x, gamma, beta, bn_param):\n"
                         "    torch.nn.functional.conv2d(x, torch.zeros(1, x.shape[1], 1, 1,\n"
                         "                                              dtype=x.dtype))\n"
                         "    return _plain_forward(x, gamma, beta, bn_param)\n")
    result = grade.grade_submission(sub, sandbox=sandbox)
    assert result["sections"]["spatial_batchnorm"]["score"] == 25.0, result["tests"]
    assert not any("forbidden" in f for f in result["flags"])


def test_dangling_journal_link_is_never_followed(tmp_path, solution_dir):
    """A link to a file that does not exist yet: following it would create that file."""
    target = tmp_path / "not-yet"
    journal_path = tmp_path / "g.json.journal.jsonl"
    journal_path.symlink_to(target)
    journal = batch.Journal(journal_path)
    journal.add(solution_dir, "fp", {"submission": "x"})
    assert not target.exists() and journal.path is None


@pytest.mark.parametrize("mode", [0o777, 0o770])
def test_output_folder_that_others_can_write_is_refused(stub_dir, tmp_path, mode):
    out = tmp_path / "shared"
    out.mkdir()
    out.chmod(mode)
    args = _grade_args([stub_dir], tmp_path)
    args.json = str(out / "g.json")
    assert batch.run_grade_command(args) == 2
    assert list(out.iterdir()) == []


def test_planted_gradescope_folder_link_is_not_written_through(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "gs").mkdir()
    (tmp_path / "gs" / "alice").symlink_to(elsewhere)
    with pytest.raises(OSError):
        reports.write_gradescope([make_result("alice", "zero")], tmp_path / "gs")
    assert list(elsewhere.iterdir()) == []


def test_inputs_depend_on_the_code_graded(tmp_path):
    """The same code and seed draw the same hidden-test inputs; any change draws others,
    so inputs a submission leaked (printed in an error) cannot be looked up by the next."""
    def copy(text: str) -> Path:
        folder = tmp_path / f"c{len(list(tmp_path.iterdir()))}"
        (folder / "source").mkdir(parents=True)
        (folder / "source" / "cross_correlation.py").write_text(text)
        return folder

    first, same, other = copy("a = 1\n"), copy("a = 1\n"), copy("a = 2\n")
    assert grade.derive_seed(7, first) == grade.derive_seed(7, same)
    assert grade.derive_seed(7, first) != grade.derive_seed(7, other)
    assert grade.derive_seed(7, first) != grade.derive_seed(8, first)


@pytest.mark.parametrize("enc", [
    {"t": "tensor", "dtype": "__class__", "wire": "float64", "shape": [1], "i": 0},
    {"t": "tensor", "dtype": "float64", "shape": [1], "i": 0, "device": "meta:$(id)"},
], ids=["dtype", "device"])
def test_a_forged_reply_is_a_protocol_error(enc):
    """Untrusted bytes name their dtype and device: only real ones are accepted."""
    codec = worker.Codec(torch, np)
    with pytest.raises(worker.ProtocolError):
        codec.decode(enc, [np.zeros(1).tobytes()])


def test_only_known_ban_labels_reach_the_flags():
    from autograder.grading.sandbox import _str_list

    planted = ["convolution: aten::convolution", "x" * 5000, "tampering: \x1b[2J",
               "nonsense: 1 2 3", 42] + ["convolution: " + "A" * 1000] * 50
    labels = _str_list(planted)
    assert labels[0] == "convolution: aten::convolution"
    assert all(label.split(":")[0] in {"convolution", "tampering"} for label in labels)
    assert len(labels) <= 20 and all(len(label) <= 160 for label in labels)
    assert not any("\x1b" in label for label in labels)


# ------------------------------------------------------------------ issue 22: survivors of grade.py

def test_judge_threads_is_one_thread_while_grading_and_restores_the_callers_count():
    """judge_threads (counted, process-wide): one torch thread while any submission is being
    graded, the caller's count back once the last one ends, with two graders overlapping."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with grade.judge_threads():
            assert torch.get_num_threads() == 1
            with grade.judge_threads():  # a second grading slot starts and ends first
                assert torch.get_num_threads() == 1
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_helper_python_reads_differently_stops_all_code_grading(solution_dir, sandbox,
                                                                    tmp_path):
    """A problem of a file that any module may import (a helper whose encoding cookie makes
    Python read it otherwise than the checks) stops the grading of both modules, with the
    reason on every code test; nothing ran, and nothing is a grader failure (SPEC: only
    what ran takes points, a problem of the submission is the student's)."""
    sub = tmp_path / "helper_utf7"
    shutil.copytree(solution_dir, sub)
    (sub / "source" / "helper.py").write_bytes(b"# -*- coding: utf-7 -*-\nx = 1\n")
    result = grade.grade_submission(sub, sandbox=sandbox)
    code_tests = [t for t in result["tests"] if t["section"] != "warmup"]
    assert code_tests and all(t["status"] != "error" for t in result["tests"]), result["tests"]
    for test in code_tests:
        assert test["score"] == 0.0, test
        assert test["output"].startswith("not graded: ") and "utf-7" in test["output"], test
    assert any("utf-7" in f for f in result["flags"]), result["flags"]
    assert result["sections"]["warmup"]["score"] == 2.5  # the notebook's (e) is still read


def test_a_submission_whose_source_is_a_link_lists_every_test(solution_dir, sandbox,
                                                               tmp_path):
    """Every test of points.TESTS is in the result, each at 0 with the reason, when the
    code is not graded (source/ a link to the reference: readable, never run); the
    breakdown adds up to the full 65 points."""
    sub = tmp_path / "linked"
    shutil.copytree(solution_dir, sub, ignore=shutil.ignore_patterns("source"))
    (sub / "source").symlink_to(solution_dir / "source", target_is_directory=True)
    result = grade.grade_submission(sub, sandbox=sandbox)
    tests = {t["name"]: t for t in result["tests"]}
    assert list(tests) == list(points.TESTS)
    for test in tests.values():
        if test["section"] != "warmup":
            assert test["score"] == 0.0 and test["output"].startswith("not graded: "), test
    assert sum(t["max_score"] for t in tests.values()) + sum(points.MANUAL.values()) == 65
    assert any("symbolic link" in f for f in result["flags"]), result["flags"]
