"""The homework kit: build of the student view, release and solution bundles, the notebook,
and the reference solutions checked against torch.

The reference code is imported from a solution build in a temporary folder, under a unique
module name, so that nothing called ``source`` enters ``sys.modules``.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from nbclient import NotebookClient

from autograder import build
from autograder.warmup import PANEL_LABELS

REPO = build.REPO
STUB_FUNCTIONS = {
    "cross_correlation.py": ["cross_corr_2d"],
    "batchnorm.py": ["batchnorm_forward", "batchnorm_backward", "spatial_batchnorm_forward",
                     "spatial_batchnorm_backward"],
}


def load_module(path: Path) -> ModuleType:
    """Import one file under a fresh, unique name."""
    name = f"_kit_{path.stem}_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def execute(notebook: Path, allow_errors: bool = False) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a fresh kernel, with its folder as working directory."""
    nb = nbformat.read(notebook, as_version=4)
    # Kernel specs that say "python" are started with this interpreter (the venv's).
    NotebookClient(nb, timeout=180, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()
    return nb


def errors(nb: nbformat.NotebookNode) -> list[tuple[nbformat.NotebookNode, dict]]:
    return [(cell, out) for cell in nb.cells if cell.cell_type == "code"
            for out in cell.outputs if out.output_type == "error"]


def cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    found = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(found) == 1, f"expected one cell with grade_id {grade_id}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def solution_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("solution")
    result = run_cli("solution", str(dest))
    assert result.returncode == 0, result.stderr
    return dest


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("release")
    result = run_cli("release", str(dest))
    assert result.returncode == 0, result.stderr
    return dest


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    """The reference modules, from a solution build (never from the stubs)."""
    dest = tmp_path_factory.mktemp("reference")
    build.solution(dest)
    return {"cc": load_module(dest / "source" / "cross_correlation.py"),
            "bn": load_module(dest / "source" / "batchnorm.py")}


# --- the student view and the build ------------------------------------------------------

def test_committed_student_view_matches_the_build() -> None:
    assert build.drift() == [], "run `python -m autograder build` and commit the result"


def test_student_notebook_has_stubs_and_no_hidden_text() -> None:
    nb = nbformat.read(REPO / "assignment.ipynb", as_version=4)
    for letter in "abcdfghij":
        assert cell(nb, f"warmup_{letter}").source.strip() == "YOUR ANSWER HERE"
    answer = cell(nb, "warmup_e_answer").source
    assert 'answer_e = {"A": "", "B": "", "C": "", "D": ""}' in answer
    assert "# YOUR CODE HERE" in answer
    text = nbformat.writes(nb)
    for needle in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert needle not in text, f"{needle!r} in the student notebook"
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"].get("points")
              for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    assert points["cross_correlation_tests"] == 15
    assert points["spatial_batchnorm_tests"] == 25
    assert sum(points.values()) == 65


def test_master_notebook_cell_metadata() -> None:
    nb = nbformat.read(build.MASTER / build.NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    setup = cell(nb, "setup")
    assert setup.metadata["nbgrader"]["locked"] and not setup.metadata["nbgrader"]["grade"]
    assert "import *" not in setup.source
    for grade_id in ("warmup_e_test", "cross_correlation_tests", "spatial_batchnorm_tests"):
        meta = cell(nb, grade_id).metadata["nbgrader"]
        assert meta["grade"] and meta["locked"] and not meta["solution"]
        assert meta["schema_version"] == 3
    headings = [c.source.splitlines()[0] for c in nb.cells
                if c.cell_type == "markdown" and c.source.startswith("## Part")]
    assert headings == ["## Part 1: Warm-up questions (25 points)",
                        "## Part 2: 2-D cross-correlation (15 points)",
                        "## Part 3: Spatial batch normalization (25 points)"]


@pytest.mark.parametrize("lines, message", [
    (["### END SOLUTION"], "without a matching"),
    (["### BEGIN SOLUTION", "x = 1"], "never closed"),
    (["### BEGIN SOLUTION", "### BEGIN SOLUTION", "### END SOLUTION", "### END SOLUTION"],
     "inside another"),
    (["## BEGIN SOLUTION", "### END SOLUTION"], "malformed"),
    (["### BEGIN SOLUTION extra", "### END SOLUTION"], "malformed"),
])
def test_regions_refuse_bad_markers(lines: list[str], message: str) -> None:
    with pytest.raises(build.MarkerError, match=message):
        build._regions(lines, "t.py")


def test_regions_pairs() -> None:
    lines = ["a", "  ### BEGIN SOLUTION", "b", "  ### END SOLUTION", "### BEGIN SOLUTION",
             "### END SOLUTION"]
    assert build._regions(lines, "t.py") == [(1, 3), (4, 5)]


def test_strip_python_refuses_stray_regions() -> None:
    outside = "x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\n"
    with pytest.raises(build.MarkerError, match="outside a function"):
        build.strip_python(outside, "m.py")
    past_end = ("def f():\n    ### BEGIN SOLUTION\n    return 1\n\n\nZ = 2\n"
                "### END SOLUTION\n")
    with pytest.raises(build.MarkerError, match="past the end of function f"):
        build.strip_python(past_end, "m.py")


def test_strip_python_stub_raises_naming_function_and_file() -> None:
    master = ("def outer(x):\n"
              "    def inner(y):\n"
              "        ### BEGIN SOLUTION\n"
              "        return y + 1\n"
              "        ### END SOLUTION\n"
              "    return inner(x)\n\n\n"
              "def g():\n"
              "    ### BEGIN SOLUTION\n"
              "    return 42\n"
              "    ### END SOLUTION\n")
    stub = build.strip_python(master, "source/m.py")
    assert "# YOUR CODE HERE: inner" in stub and "# YOUR CODE HERE: g" in stub
    assert "return 42" not in stub and "y + 1" not in stub
    namespace: dict = {}
    exec(compile(stub, "source/m.py", "exec"), namespace)
    for call, name in ((lambda: namespace["outer"](1), "inner"), (namespace["g"], "g")):
        with pytest.raises(NotImplementedError) as info:
            call()
        assert name in str(info.value) and "source/m.py" in str(info.value)
    solved: dict = {}
    exec(build.unmark_python(master, "m.py"), solved)
    assert solved["outer"](1) == 2 and solved["g"]() == 42


@pytest.mark.parametrize("filename, functions", STUB_FUNCTIONS.items())
def test_top_level_stubs_raise(filename: str, functions: list[str]) -> None:
    path = REPO / "source" / filename
    text = path.read_text()
    assert text.startswith("# Student copy generated from autograder/master")
    module = load_module(path)
    arity = {node.name: len(node.args.args) for node in ast.parse(text).body
             if isinstance(node, ast.FunctionDef)}
    for name in functions:
        assert f"# YOUR CODE HERE: {name}" in text
        with pytest.raises(NotImplementedError) as info:
            getattr(module, name)(*([None] * arity[name]))
        assert name in str(info.value) and f"source/{filename}" in str(info.value)


# --- release and solution bundles --------------------------------------------------------

def test_release_bundle_holds_no_solution_or_key(release_dir: Path) -> None:
    for rel in ("assignment.ipynb", "source/__init__.py", "source/cross_correlation.py",
                "source/batchnorm.py", "source/gradcheck.py",
                "figures/warmup_e_learning_rates.png", "figures/warmup_f_activation.png"):
        assert (release_dir / rel).is_file(), f"{rel} missing from the bundle"
    assert build.leaks(release_dir) == []
    names = {p.name for p in release_dir.rglob("*")}
    assert "written_answers.md" not in names and "warmup.py" not in names
    assert "h_networks.png" not in names
    key_texts = [f'"{panel}": "{label}"' for panel, label in PANEL_LABELS.items()]
    answers = build.model_answers()
    for path in release_dir.rglob("*"):
        if not path.is_file() or path.suffix == ".png":
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("BEGIN HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION"):
            assert needle not in text, f"{needle!r} in {path.name}"
        for needle in key_texts:
            assert needle not in text, f"answer key {needle} in {path.name}"
        for letter, answer in answers.items():
            assert answer.splitlines()[0] not in text, f"model answer ({letter}) in {path.name}"


def test_solution_notebook_is_filled_in(solution_dir: Path) -> None:
    nb = nbformat.read(solution_dir / "assignment.ipynb", as_version=4)
    answers = build.model_answers()
    assert sorted(answers) == list("abcdefghij")
    for letter in "abcdfghij":
        assert cell(nb, f"warmup_{letter}").source == answers[letter]
    namespace: dict = {}
    exec(cell(nb, "warmup_e_answer").source, namespace)
    assert namespace["answer_e"] == PANEL_LABELS
    text = nbformat.writes(nb)
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert not [c.id for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
                and "YOUR ANSWER HERE" in c.source]


def test_solution_notebook_runs_without_errors(solution_dir: Path) -> None:
    nb = execute(solution_dir / "assignment.ipynb")
    assert errors(nb) == []
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.outputs)
    assert "format OK: four panels, four different labels" in outputs
    # The check cells and the self-check at the end run the one list of visible checks:
    # every one passes on the reference, none fails or is reported unfinished.
    statuses = re.findall(r"^(PASS|FAIL|NOT IMPLEMENTED) +(.+)$", outputs, re.M)
    assert statuses and {status for status, _ in statuses} == {"PASS"}, statuses
    assert len({title for _, title in statuses}) == 11, statuses
    assert "11 of 11 visible checks passed" in outputs


def test_release_notebook_fails_only_on_unimplemented_functions(release_dir: Path) -> None:
    nb = execute(release_dir / "assignment.ipynb", allow_errors=True)
    stubs = [name for names in STUB_FUNCTIONS.values() for name in names]
    found = errors(nb)
    assert found, "the stub notebook should stop at the unimplemented functions"
    for code_cell, out in found:
        assert out["ename"] == "NotImplementedError", (code_cell.id, out["ename"], out["evalue"])
        assert any(name in code_cell.source for name in stubs), code_cell.id


# --- the reference against torch ---------------------------------------------------------

def conv_oracle(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    return F.conv2d(X[None, None], K[None, None])[0, 0]


def test_cross_correlation_worked_example(ref: dict) -> None:
    X = torch.tensor([[0.0, 5.0, 8.0], [2.0, -1.0, 4.0], [4.0, 3.0, 7.0]])
    K = torch.tensor([[5.0, -1.0], [3.0, 1.0]])
    assert torch.equal(ref["cc"].cross_corr_2d(X, K), torch.tensor([[0.0, 18.0], [26.0, 7.0]]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("x_shape, k_shape", [((7, 5), (3, 2)), ((4, 9), (2, 5)),
                                              ((6, 6), (1, 3)), ((3, 8), (3, 8)),
                                              ((5, 3), (4, 1))])
def test_cross_correlation_matches_conv2d(ref: dict, dtype: torch.dtype, x_shape: tuple,
                                          k_shape: tuple) -> None:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(x_shape, generator=gen, dtype=dtype)
    K = torch.randn(k_shape, generator=gen, dtype=dtype)
    X_before, K_before = X.clone(), K.clone()
    Y = ref["cc"].cross_corr_2d(X, K)
    assert Y.dtype == dtype and Y.shape == (x_shape[0] - k_shape[0] + 1,
                                            x_shape[1] - k_shape[1] + 1)
    torch.testing.assert_close(Y, conv_oracle(X, K), rtol=1e-4, atol=1e-5)
    assert torch.equal(X, X_before) and torch.equal(K, K_before)


@settings(deadline=None, max_examples=25)
@given(h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 9), kw=st.integers(1, 9),
       seed=st.integers(0, 2**16))
def test_cross_correlation_random_shapes(ref: dict, h: int, w: int, kh: int, kw: int,
                                         seed: int) -> None:
    kh, kw = min(kh, h), min(kw, w)
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(h, w, generator=gen, dtype=torch.float64)
    K = torch.randn(kh, kw, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(ref["cc"].cross_corr_2d(X, K), conv_oracle(X, K))


def random_bn_inputs(shape: tuple, dtype: torch.dtype = torch.float64, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    c = shape[1]
    x = 3 * torch.randn(shape, generator=gen, dtype=dtype) + 2
    gamma = torch.randn(c, generator=gen, dtype=dtype)
    beta = torch.randn(c, generator=gen, dtype=dtype)
    dout = torch.randn(shape, generator=gen, dtype=dtype)
    return x, gamma, beta, dout


BN_SHAPES = [(2, 3, 4, 5), (1, 4, 3, 2), (5, 2, 1, 3), (3, 6, 2, 2)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spatial_batchnorm_forward_matches_torch(ref: dict, shape: tuple,
                                                 dtype: torch.dtype) -> None:
    x, gamma, beta, _ = random_bn_inputs(shape, dtype)
    for eps in (1e-5, 0.5):
        out, _ = ref["bn"].spatial_batchnorm_forward(x, gamma, beta,
                                                     {"mode": "train", "eps": eps})
        expected = F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)
        assert out.dtype == dtype and out.shape == x.shape
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("mode", ["train", "test"])
def test_spatial_batchnorm_backward_matches_autograd(ref: dict, shape: tuple,
                                                     mode: str) -> None:
    x, gamma, beta, dout = random_bn_inputs(shape)
    c = shape[1]
    stats = {"running_mean": torch.linspace(-1, 1, c, dtype=torch.float64),
             "running_var": torch.linspace(0.5, 2, c, dtype=torch.float64)}
    originals = [t.clone() for t in (x, gamma, beta, dout)]
    bn = ref["bn"]
    _, cache = bn.spatial_batchnorm_forward(x, gamma, beta, {"mode": mode, **stats})
    dx, dgamma, dbeta = bn.spatial_batchnorm_backward(dout, cache)

    xg, gg, bg = (t.clone().requires_grad_() for t in (x, gamma, beta))
    out = F.batch_norm(xg, stats["running_mean"], stats["running_var"], gg, bg,
                       training=mode == "train", momentum=0.0, eps=1e-5)
    out.backward(dout)
    for name, ours, oracle in (("dx", dx, xg.grad), ("dgamma", dgamma, gg.grad),
                               ("dbeta", dbeta, bg.grad)):
        assert ours.shape == oracle.shape, name
        torch.testing.assert_close(ours, oracle, rtol=1e-7, atol=1e-9, msg=name)
    for before, after in zip(originals, (x, gamma, beta, dout)):
        assert torch.equal(before, after), "an input was modified"


def test_vanilla_batchnorm_matches_torch(ref: dict) -> None:
    x, gamma, beta, dout = random_bn_inputs((6, 4))
    out, cache = ref["bn"].batchnorm_forward(x, gamma, beta, {"mode": "train"})
    xg, gg, bg = (t.clone().requires_grad_() for t in (x, gamma, beta))
    expected = F.batch_norm(xg, None, None, gg, bg, training=True)
    torch.testing.assert_close(out, expected.detach())
    expected.backward(dout)
    grads = ref["bn"].batchnorm_backward(dout, cache)
    for ours, oracle in zip(grads, (xg.grad, gg.grad, bg.grad)):
        torch.testing.assert_close(ours, oracle)


def test_running_statistics_follow_the_spec_not_torch(ref: dict) -> None:
    bn = ref["bn"]
    x1, gamma, beta, _ = random_bn_inputs((2, 3, 4, 5), seed=1)
    x2 = random_bn_inputs((2, 3, 4, 5), seed=2)[0]
    param: dict = {"mode": "train"}
    bn.spatial_batchnorm_forward(x1, gamma, beta, param)
    dims = (0, 2, 3)
    mean1, var1 = x1.mean(dims), x1.var(dims, correction=0)
    # One step from zeros with the default momentum 0.9 (biased variance).
    torch.testing.assert_close(param["running_mean"], 0.1 * mean1)
    torch.testing.assert_close(param["running_var"], 0.1 * var1)
    bn.spatial_batchnorm_forward(x2, gamma, beta, param)
    torch.testing.assert_close(param["running_mean"], 0.9 * 0.1 * mean1 + 0.1 * x2.mean(dims))
    torch.testing.assert_close(param["running_var"],
                               0.9 * 0.1 * var1 + 0.1 * x2.var(dims, correction=0))

    # torch with the same momentum number weighs the *new* batch by it, and keeps the
    # unbiased variance: both differ from the convention of the homework.
    running_mean, running_var = torch.zeros(3, dtype=x1.dtype), torch.zeros(3, dtype=x1.dtype)
    F.batch_norm(x1, running_mean, running_var, training=True, momentum=0.9)
    torch.testing.assert_close(running_mean, 0.9 * mean1)
    torch.testing.assert_close(running_var, 0.9 * x1.var(dims, correction=1))
    assert not torch.allclose(running_mean, 0.1 * mean1)
    mine: dict = {"mode": "train", "momentum": 0.1}
    bn.spatial_batchnorm_forward(x1, gamma, beta, mine)
    torch.testing.assert_close(mine["running_mean"], running_mean)
    assert not torch.allclose(mine["running_var"], running_var)  # biased vs unbiased


def test_test_mode_uses_running_statistics(ref: dict) -> None:
    x, gamma, beta, _ = random_bn_inputs((4, 3, 2, 2))
    param = {"mode": "test", "running_mean": torch.tensor([1.0, -2.0, 0.5], dtype=x.dtype),
             "running_var": torch.tensor([4.0, 0.25, 1.0], dtype=x.dtype), "eps": 1e-3}
    before = {k: v.clone() for k, v in param.items() if k.startswith("running")}
    out, _ = ref["bn"].spatial_batchnorm_forward(x, gamma, beta, param)
    expected = F.batch_norm(x, param["running_mean"], param["running_var"], gamma, beta,
                            training=False, eps=1e-3)
    torch.testing.assert_close(out, expected)
    for k, v in before.items():
        assert torch.equal(param[k], v), f"test mode changed {k}"


@pytest.mark.parametrize("mode", ["training", "eval", "", None])
def test_unknown_mode_is_a_value_error(ref: dict, mode: object) -> None:
    x, gamma, beta, _ = random_bn_inputs((2, 3, 2, 2))
    with pytest.raises(ValueError):
        ref["bn"].spatial_batchnorm_forward(x, gamma, beta, {"mode": mode})
    with pytest.raises(ValueError):
        ref["bn"].spatial_batchnorm_forward(x, gamma, beta, {})


def test_reference_uses_no_forbidden_calls() -> None:
    for path in (build.MASTER / "source").glob("*.py"):
        code = "\n".join(build.solution_regions(path.read_text(), path.name))
        for forbidden in ("conv2d", "conv1d", "batch_norm", "BatchNorm", "autograd",
                          ".backward(", "correlate", "convolve"):
            assert forbidden not in code, f"{forbidden} in the reference {path.name}"


def test_setup_takes_the_cpu_torch_index_only_when_asked():
    """scripts/setup.sh uses PyPI's default torch wheel unless TORCH_INDEX=cpu names
    PyTorch's CPU index (never by default: a machine that cannot reach it would wait)."""

    script = str(REPO / "scripts" / "setup.sh")

    def pip_line(**env):
        run = subprocess.run(["bash", script], capture_output=True, text=True,
                             env={"PATH": os.environ["PATH"], "SETUP_PRINT_PIP": "1", **env})
        return run.returncode, run.stdout.strip(), run.stderr

    assert pip_line() == (0, "pip install -r requirements.txt", "")
    code, line, _ = pip_line(TORCH_INDEX="cpu")
    assert code == 0 and "--extra-index-url https://download.pytorch.org/whl/cpu" in line
    code, _, err = pip_line(TORCH_INDEX="cuda")
    assert code == 2 and "TORCH_INDEX" in err
