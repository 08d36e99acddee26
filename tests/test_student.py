"""What a student receives and sees: the released bundle, its zip, the self-check and the
messages of unfinished or wrong code."""

from __future__ import annotations

import ast
import importlib.util
import re
import resource
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import build

STUBS = {
    "source/cross_correlation.py": ["cross_corr_2d"],
    "source/batchnorm.py": ["batchnorm_forward", "batchnorm_backward",
                            "spatial_batchnorm_forward", "spatial_batchnorm_backward"],
}
#: The function each self-check calls first, in the order the checks run.
SELFCHECK_FUNCTIONS = ["cross_corr_2d"] * 4 + ["spatial_batchnorm_forward"] * 4 + [
    "batchnorm_forward", "spatial_batchnorm_forward"]
#: All visible checks: the code checks above, then question (e).
N_CHECKS = len(SELFCHECK_FUNCTIONS) + 1


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("bundle") / "hw1"
    build.release(dest)
    return dest


@pytest.fixture(scope="module")
def solution_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("solution") / "hw1"
    build.solution(dest)
    return dest


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def selfcheck(folder: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python selfcheck.py` of folder as a student would, with a clean import path."""
    return subprocess.run([sys.executable, str(folder / "selfcheck.py")], cwd=cwd or folder,
                          capture_output=True, text=True, timeout=120)


def status_lines(stdout: str) -> list[tuple[str, str]]:
    found = re.findall(r"^(PASS|FAIL|NOT IMPLEMENTED)\s+(.+)$", stdout, re.M)
    return [(status, title.strip()) for status, title in found]


# --- the bundle ---------------------------------------------------------------------------

def test_bundle_holds_exactly_what_a_student_needs(release_dir: Path) -> None:
    figures = {f"figures/{p.name}" for p in (build.MASTER / "figures").glob("*.png")}
    assert figures, "the master has no figures"
    expected = {"README.md", "requirements.txt", "selfcheck.py", "read_answer_e.py",
                "assignment.ipynb",
                "source/__init__.py", "source/cross_correlation.py", "source/batchnorm.py",
                "source/gradcheck.py"} | figures
    assert files_under(release_dir) == expected


def test_bundle_has_no_solution_hidden_test_or_answer_key(release_dir: Path) -> None:
    assert build.leaks(release_dir) == []
    names = {p.name for p in release_dir.rglob("*")}
    for secret in ("autograder", "written_answers.md", "h_networks.png", "README_student.md",
                   "grading", "hidden_tests.py"):
        assert secret not in names, f"{secret} is in the student bundle"
    for path in release_dir.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, path.name


def test_student_readme_covers_install_open_edit_check_submit(release_dir: Path) -> None:
    text = (release_dir / "README.md").read_text(encoding="utf-8")
    assert text == (build.MASTER / build.STUDENT_README).read_text(encoding="utf-8")
    for needle in ("python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
                   .split(" && "),
                   ["jupyter lab", "assignment.ipynb"],
                   ["source/cross_correlation.py", "source/batchnorm.py", "YOUR ANSWER HERE"],
                   ["selfcheck.py", "%run selfcheck.py", "NOT IMPLEMENTED"],
                   ["Submit", "source/", "zip"]):
        for part in needle:
            assert part in text, f"the student README does not mention {part!r}"


def test_student_requirements_pin_what_the_repository_pins(release_dir: Path) -> None:
    repo = dict(re.findall(r"^([\w.-]+)==(\S+)$",
                           (build.REPO / "requirements.txt").read_text(), re.M))
    student = dict(re.findall(r"^([\w.-]+)==(\S+)$",
                              (release_dir / "requirements.txt").read_text(), re.M))
    assert list(student) == ["torch", "numpy", "matplotlib", "jupyterlab", "ipykernel"]
    assert student["torch"] == "2.13.0"
    assert student == {name: repo[name] for name in student}


def test_zip_next_to_the_bundle_holds_the_same_files(release_dir: Path) -> None:
    archive = release_dir.parent / f"{release_dir.name}.zip"
    assert archive.is_file()
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
        assert names == {f"{release_dir.name}/{rel}" for rel in files_under(release_dir)}
        for name in names:
            rel = name.split("/", 1)[1]
            assert zf.read(name) == (release_dir / rel).read_bytes(), rel


def test_zip_is_identical_when_released_again(release_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / release_dir.name
    build.release(again)
    first = (release_dir.parent / f"{release_dir.name}.zip").read_bytes()
    assert (tmp_path / f"{release_dir.name}.zip").read_bytes() == first


def test_release_command_writes_folder_and_zip(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "autograder", "release", str(tmp_path / "out")],
                          cwd=build.REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "README.md").is_file()
    assert (tmp_path / "out.zip").is_file()


def test_solution_folder_works_like_a_students(solution_dir: Path) -> None:
    assert (solution_dir / "selfcheck.py").read_bytes() == build._selfcheck()
    assert {"assignment.ipynb", "selfcheck.py", "source/cross_correlation.py",
            "source/batchnorm.py"} <= files_under(solution_dir)


# --- the self-check -----------------------------------------------------------------------

def test_notebook_ends_with_an_ungraded_selfcheck_cell() -> None:
    for path in (build.MASTER / build.NOTEBOOK, build.REPO / build.NOTEBOOK):
        last = nbformat.read(path, as_version=4).cells[-1]
        assert last.cell_type == "code" and "%run selfcheck.py" in last.source, path
        assert not last.metadata.get("nbgrader", {}).get("grade"), path
        assert not last.metadata.get("nbgrader", {}).get("locked"), path
    assert (build.REPO / "selfcheck.py").read_bytes() == build._selfcheck()


def test_selfcheck_uses_no_grader_or_reference_code() -> None:
    tree = ast.parse((build.MASTER / "selfcheck.py").read_text(encoding="utf-8"))
    modules = {alias.name.split(".")[0] for node in ast.walk(tree)
               if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    allowed = {"__future__", "signal", "sys", "threading", "time", "traceback", "collections",
               "pathlib", "torch", "source", "IPython", "read_answer_e", "dataclasses"}
    assert modules <= allowed, f"unexpected imports: {sorted(modules - allowed)}"


def test_selfcheck_on_the_stubs_says_not_implemented(release_dir: Path) -> None:
    done = selfcheck(release_dir)
    assert done.returncode != 0
    lines = status_lines(done.stdout)
    # The code checks, then question (e), which the stub notebook does not answer yet.
    assert [status for status, _ in lines] == ["NOT IMPLEMENTED"] * (len(SELFCHECK_FUNCTIONS) + 1)
    assert lines[-1][1].startswith("warm-up (e)")
    assert "question (e) is not answered yet" in done.stdout
    for (_, title), name in zip(lines, SELFCHECK_FUNCTIONS):
        assert title.startswith(name.split("_forward")[0].split("_backward")[0]), title
    for name in set(SELFCHECK_FUNCTIONS):
        assert f"{name} is not implemented yet: write it in source/" in done.stdout
    assert f"0 of {N_CHECKS} visible checks passed" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_selfcheck_on_the_solution_passes_quickly(solution_dir: Path, tmp_path: Path) -> None:
    # "Quickly" is measured in CPU seconds of the self-check process (torch's import
    # included), not wall time: on a loaded 2-core machine the wall time of a process that
    # imports torch varies many-fold, its CPU time hardly.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = selfcheck(solution_dir, cwd=tmp_path)  # from another folder: imports still work
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [status for status, _ in status_lines(done.stdout)] == ["PASS"] * N_CHECKS
    assert f"{N_CHECKS} of {N_CHECKS} visible checks passed" in done.stdout
    assert cpu < 10, f"the self-check used {cpu:.1f} s of CPU"


def with_cross_correlation(solution_dir: Path, tmp_path: Path, body: str) -> Path:
    """A copy of the solution whose cross_corr_2d is replaced by body."""
    sub = tmp_path / "sub"
    shutil.copytree(solution_dir, sub)
    (sub / "source" / "cross_correlation.py").write_text(
        "import torch\n\n\ndef cross_corr_2d(X, K):\n" + body, encoding="utf-8")
    return sub


def test_selfcheck_wrong_shape_says_expected_and_got(solution_dir: Path, tmp_path: Path) -> None:
    # Height and width swapped in the output size: square inputs hide it, (4, 6) does not.
    sub = with_cross_correlation(solution_dir, tmp_path, (
        "    H, W = X.shape\n    kh, kw = K.shape\n"
        "    return torch.zeros(W - kw + 1, H - kh + 1, dtype=X.dtype)\n"))
    done = selfcheck(sub)
    assert done.returncode == 1
    statuses = dict((title, status) for status, title in status_lines(done.stdout))
    [non_square] = [t for t in statuses if t.startswith("cross_corr_2d: non-square input")]
    assert statuses[non_square] == "FAIL"
    assert "should have shape (3, 4)" in done.stdout and "got (4, 3)" in done.stdout
    # The four cross_corr_2d checks fail; batch norm and question (e) still pass.
    assert f"{N_CHECKS - 4} of {N_CHECKS} visible checks passed" in done.stdout


def test_selfcheck_recognizes_a_flipped_kernel(solution_dir: Path, tmp_path: Path) -> None:
    sub = with_cross_correlation(solution_dir, tmp_path, (
        "    K = K.flip(0).flip(1)\n    kh, kw = K.shape\n"
        "    H, W = X.shape\n    Y = torch.zeros(H - kh + 1, W - kw + 1, dtype=X.dtype)\n"
        "    for i in range(H - kh + 1):\n        for j in range(W - kw + 1):\n"
        "            Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()\n    return Y\n"))
    done = selfcheck(sub)
    assert done.returncode == 1
    assert "expected [[0.0, 18.0], [26.0, 7.0]]" in done.stdout
    assert "looks flipped" in done.stdout


def test_selfcheck_reports_a_crash_with_its_place(solution_dir: Path, tmp_path: Path) -> None:
    sub = with_cross_correlation(solution_dir, tmp_path, "    return X[K.shape[0] + 10]\n")
    done = selfcheck(sub)
    assert done.returncode == 1
    assert "raised IndexError" in done.stdout
    assert "(at source/cross_correlation.py:5)" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


# --- messages of the stubs ----------------------------------------------------------------

def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"stub_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("rel", sorted(STUBS))
def test_unwritten_functions_name_themselves_and_their_file(release_dir: Path, rel: str) -> None:
    module = load(release_dir / rel)
    for name in STUBS[rel]:
        function = getattr(module, name)
        arity = function.__code__.co_argcount
        with pytest.raises(NotImplementedError) as info:
            function(*([None] * arity))
        assert str(info.value) == f"{name} is not implemented yet: write it in {rel}"


# --- installing where students are --------------------------------------------------------

def python_floor() -> tuple[int, int]:
    """The oldest Python 3.x that every pinned student package accepts, from the metadata of
    the installed packages (their Requires-Python)."""
    from importlib.metadata import metadata

    from packaging.specifiers import SpecifierSet

    specs = {name: SpecifierSet(metadata(name).get("Requires-Python") or "")
             for name in build.STUDENT_PACKAGES}
    for minor in range(6, 30):
        if all(spec.contains(f"3.{minor}.0") for spec in specs.values()):
            return 3, minor
    raise AssertionError(f"no Python 3 satisfies {specs}")


def test_readme_states_the_python_floor_that_the_pins_need(release_dir: Path) -> None:
    major, minor = python_floor()
    assert (major, minor) >= (3, 11)  # numpy 2.4 and matplotlib 3.11 need it at least
    text = (release_dir / "README.md").read_text(encoding="utf-8")
    stated = re.findall(r"Python (\d+)\.(\d+) or newer", text)
    assert stated, "the student README states no Python version"
    assert {(int(a), int(b)) for a, b in stated} == {(major, minor)}, stated
    assert f"Python {major}.{minor} or newer" in (release_dir / "requirements.txt").read_text()


def test_readme_gives_the_cpu_torch_command(release_dir: Path) -> None:
    command = (".venv/bin/pip install -r requirements.txt --extra-index-url "
               "https://download.pytorch.org/whl/cpu")
    assert command in (release_dir / "README.md").read_text(encoding="utf-8")
    assert "https://download.pytorch.org/whl/cpu" in (release_dir / "requirements.txt").read_text()


# --- the docstrings say what the spec says ---------------------------------------------------

def docstring(rel: str, function: str) -> str:
    tree = ast.parse((build.REPO / rel).read_text(encoding="utf-8"))
    [node] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    return ast.get_docstring(node) or ""


@pytest.mark.parametrize("function", ["spatial_batchnorm_forward"])
def test_spatial_docstrings_give_running_statistics_shape_c(function: str) -> None:
    text = docstring("source/batchnorm.py", function)
    assert re.search(r"running_mean and running_var have shape \(C,\)", text), text
    assert "(D,)" not in text


def test_vanilla_docstring_gives_running_statistics_shape_d() -> None:
    text = docstring("source/batchnorm.py", "batchnorm_forward")
    assert re.search(r"running_mean and running_var have shape \(D,\)", text), text


def test_spatial_docstrings_never_say_d() -> None:
    for function in ("spatial_batchnorm_forward", "spatial_batchnorm_backward"):
        assert "(D,)" not in docstring("source/batchnorm.py", function)
        assert "(N, D)" not in docstring("source/batchnorm.py", function).split("Hint")[0]


# --- the gradient check tells the truth -----------------------------------------------------

def test_gradient_check_threshold_has_a_tenfold_margin(solution_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The self-check's gradient checks (the notebook's gradient cells run them), on the
    reference: the errors they print are what the text promises, and the threshold is at
    least ten times larger."""
    import inspect

    monkeypatch.syspath_prepend(str(solution_dir))
    for name in [m for m in sys.modules if m == "source" or m.startswith("source.")]:
        monkeypatch.delitem(sys.modules, name)
    import source.gradcheck as gradcheck

    assert inspect.signature(gradcheck.eval_numerical_gradient_array).parameters[
        "h"].default == 1e-5
    spec = importlib.util.spec_from_file_location("selfcheck_ref", solution_dir / "selfcheck.py")
    selfcheck_module = importlib.util.module_from_spec(spec)
    # A dataclass looks its module up in sys.modules while it is defined.
    monkeypatch.setitem(sys.modules, "selfcheck_ref", selfcheck_module)
    spec.loader.exec_module(selfcheck_module)
    threshold = selfcheck_module.GRADIENT_TOLERANCE
    # The notebook's gradient cells run these two checks by name (one list, selfcheck.py).
    nb = nbformat.read(solution_dir / build.NOTEBOOK, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for name in ("bn_vanilla_gradients", "bn_spatial_gradients"):
        assert f'run_checks("{name}")' in code, name
    [text] = [c.source for c in nb.cells if c.cell_type == "markdown"
              and "### Gradient check" in c.source]
    assert "h = 10^{-5}" in text and "about $10^{-8}$" in text
    assert f"10^{{{round(__import__('math').log10(threshold))}}}" in text

    real = gradcheck.rel_error
    for check in (selfcheck_module.check_bn_vanilla_gradients,
                  selfcheck_module.check_bn_spatial_gradients):
        seen: list[float] = []
        monkeypatch.setattr(gradcheck, "rel_error",
                            lambda a, b, seen=seen: seen.append(real(a, b)) or seen[-1])
        note = check()
        # dx, dgamma, dbeta in that order, each at least ten times under the threshold.
        assert len(seen) == 3 and max(seen) * 10 <= threshold, (check.__name__, seen)
        assert note.startswith("relative errors: dx "), note
    # The text's "about 1e-8 for dx" holds for the spatial check (the (N, D) one is smaller).
    assert 1e-9 < seen[0] < 1e-7, seen


# --- set-up on every system; the self-check as it is ------------------------------------------

def _os_table(text: str) -> dict[str, tuple[str, str]]:
    """step -> (Linux and macOS command, Windows command) of a README's install table."""
    rows = re.findall(r"^\s*\| ([^|`]+?) \| `([^`]+)` \| `([^`]+)` \|$", text, re.M)
    return {step: (unix, windows) for step, unix, windows in rows}


def _on_windows(unix: str) -> str:
    """A Linux/macOS command as Windows spells it: Scripts\\ for bin/, the py launcher."""
    return re.sub(r"^python3\b", "py", unix.replace(".venv/bin/", ".venv\\Scripts\\"))


def test_student_readme_gives_every_step_for_each_system(release_dir: Path) -> None:
    """Not only the pip line: making the environment, installing, opening the notebook and
    the self-check each have a Windows command, and it is the Linux one with Windows paths."""
    text = (release_dir / "README.md").read_text(encoding="utf-8")
    table = _os_table(text)
    commands = [unix for unix, _ in table.values()]
    for needed in ("python3 -m venv .venv", ".venv/bin/pip install -r requirements.txt",
                   ".venv/bin/jupyter lab", ".venv/bin/python selfcheck.py"):
        assert needed in commands, (needed, table)
    for step, (unix, windows) in table.items():
        assert windows == _on_windows(unix), (step, unix, windows)
    assert "source .venv/bin/activate" in text and ".venv\\Scripts\\activate" in text
    # Every later section that names a command names the Windows one too.
    for unix in (".venv/bin/jupyter lab", ".venv/bin/python selfcheck.py"):
        assert text.count(_on_windows(unix)) >= 2, unix
    # The bundle's requirements.txt says it for both as well.
    header = (release_dir / "requirements.txt").read_text(encoding="utf-8")
    assert ".venv\\Scripts\\pip install -r requirements.txt" in header
    assert "py -m venv .venv" in header


def test_instructor_readme_shows_the_students_commands() -> None:
    """README.md's student workflow gives the same commands as the student README."""
    student = _os_table((build.MASTER / build.STUDENT_README).read_text(encoding="utf-8"))
    top = _os_table((build.REPO / "README.md").read_text(encoding="utf-8"))
    assert top and set(top.values()) <= set(student.values()), (top, student)


def test_readmes_describe_the_self_check_it_is(release_dir: Path) -> None:
    """Both READMEs give the number of visible checks and the summary line selfcheck.py
    prints (tests/test_visible_checks.py pins both against its output)."""
    from tests.test_visible_checks import N_CHECKS

    for path in (release_dir / "README.md", build.REPO / "README.md"):
        text = re.sub(r"\s+", " ", path.read_text(encoding="utf-8"))
        assert f"N of {N_CHECKS} visible checks passed" in text, path
        assert f"{N_CHECKS} visible checks" in text.replace(f"N of {N_CHECKS}", ""), path
        assert not re.search(r"every check passes|when all pass\b", text), path
    notebook = nbformat.read(release_dir / build.NOTEBOOK, as_version=4)
    assert any(f"{N_CHECKS} of {N_CHECKS} visible checks passed" in c.source
               for c in notebook.cells if c.cell_type == "markdown")


def test_torch_wheel_statements_match_setup() -> None:
    """requirements.txt and README say what setup.sh does: the default index unless
    TORCH_INDEX=cpu, and the CPU index command is the one setup.sh would run."""
    requirements = (build.REPO / "requirements.txt").read_text(encoding="utf-8")
    assert "pinned to the CPU build" not in requirements
    readme = re.sub(r"\s+", " ", (build.REPO / "README.md").read_text(encoding="utf-8"))
    assert "installed from the default index, PyPI" in readme
    assert "TORCH_INDEX=cpu bash scripts/setup.sh" in readme
    run = subprocess.run(["bash", str(build.REPO / "scripts" / "setup.sh")],
                         capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "SETUP_PRINT_PIP": "1",
                              "TORCH_INDEX": "cpu"})
    index = re.search(r"--extra-index-url (\S+)", run.stdout).group(1)
    assert f"--extra-index-url {index}" in readme
