"""Gradescope as students really upload, in a local copy of Gradescope's folder layout.

``ROOT/source`` is the unpacked autograder zip, ``ROOT/submission`` the upload,
``ROOT/results/results.json`` what Gradescope reads; ``$AUTOGRADER_ROOT`` points the
scripts at ROOT (``/autograder`` on Gradescope) and ``$AUTOGRADER_PYTHON`` at this
environment's Python (on Gradescope, ``setup.sh`` makes ``ROOT/venv``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import build, points
from autograder.grading import gradescope_bundle, gradescope_run

REPO = Path(__file__).resolve().parents[1]
AUTOGRADED = points.total_max() - sum(points.MANUAL.values())  # 42.5
GRADED = ("assignment.ipynb", "source/cross_correlation.py", "source/batchnorm.py")

#: Every file that nbgrader and our own commands write into the course root, and the
#: exports an instructor makes there: student data, never shipped, never committed.
NBGRADER_WORKING = (
    "release/hw1/assignment.ipynb", "release/hw1/source/batchnorm.py",
    "submitted/alice/hw1/assignment.ipynb", "submitted/alice/hw1/source/batchnorm.py",
    "submitted/alice/hw1/timestamp.txt",
    "autograded/alice/hw1/assignment.ipynb", "autograded/alice/hw1/source/batchnorm.py",
    "feedback/alice/hw1/assignment.html", "gradebook.db", "gradebook.db-journal",
    ".nbgrader.log", "grades.csv", "hw1-grades.csv", ".ipynb_checkpoints/x.ipynb",
    "__pycache__/points.cpython-311.pyc", "grading/__pycache__/reports.cpython-311.pyc",
    "master/hw1/.ipynb_checkpoints/assignment-checkpoint.ipynb",
    "exchange/deep-learning-embedded/inbound/alice+hw1+x/assignment.ipynb",
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return gradescope_bundle.write_bundle(tmp_path_factory.mktemp("zip") / "hw1.zip")


@pytest.fixture(scope="module")
def solution(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("sol") / "hw1"
    build.solution(dest)
    return dest


def gradescope_root(tmp_path: Path, bundle: Path) -> Path:
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        (root / "source" / name).chmod(0o755)
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path) -> dict:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)  # the grader comes from ROOT/source, not this checkout
    proc = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


def _zip(path: Path, members: dict[str, Path]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, src in members.items():
            zf.write(src, name)
    return path


# ------------------------------------------------------------------ real runs

def test_loose_files_score_every_autograded_point(tmp_path, bundle, solution):
    root = gradescope_root(tmp_path, bundle)
    for rel in GRADED:  # dragged in one by one: no source/ folder
        shutil.copy(solution / rel, root / "submission")
    doc = run_autograder(root)
    assert doc["score"] == AUTOGRADED
    assert doc["extra_data"]["sections"]["warmup"]["manual_pending"] == 22.5


def test_a_zip_of_a_nested_folder_scores_every_autograded_point(tmp_path, bundle, solution):
    root = gradescope_root(tmp_path, bundle)
    members = {f"Downloads/hw1/{rel}": solution / rel for rel in GRADED}
    members["Downloads/hw1/source/__init__.py"] = solution / "source" / "__init__.py"
    members["__MACOSX/Downloads/hw1/source/._batchnorm.py"] = solution / "source/batchnorm.py"
    _zip(root / "submission" / "hw1.zip", members)
    doc = run_autograder(root)
    assert doc["score"] == AUTOGRADED


def test_ambiguity_is_refused_with_a_message(tmp_path, bundle, solution):
    root = gradescope_root(tmp_path, bundle)
    for rel in GRADED:
        shutil.copy(solution / rel, root / "submission")
    (root / "submission" / "old").mkdir()
    (root / "submission" / "old" / "batchnorm.py").write_text("# an older attempt\n")
    doc = run_autograder(root)
    assert doc["score"] == 0
    assert "2 different files named batchnorm.py" in doc["output"]
    assert "old/batchnorm.py" in doc["output"] and "  - batchnorm.py" in doc["output"]
    assert doc["tests"][0]["visibility"] == "visible"


# ------------------------------------------------------------------ the finder alone

def _collect(tmp_path: Path, upload: Path) -> tuple[Path, list[str]]:
    dest, scratch = tmp_path / "dest", tmp_path / "scratch"
    scratch.mkdir()
    found = gradescope_run.collect(upload, dest, scratch)
    return dest, found.notes


def _same(dest: Path, solution: Path) -> bool:
    return all((dest / rel).read_bytes() == (solution / rel).read_bytes() for rel in GRADED)


@pytest.mark.parametrize("layout", ["loose", "folder", "deep", "zip_of_files",
                                    "zip_of_folder", "zip_in_zip", "loose_and_zip"])
def test_each_graded_file_is_found_wherever_the_upload_put_it(tmp_path, solution, layout):
    up = tmp_path / "upload"
    up.mkdir()
    if layout in ("loose", "loose_and_zip"):
        for rel in GRADED:
            shutil.copy(solution / rel, up)
    if layout == "folder":
        shutil.copytree(solution, up / "hw1")
    if layout == "deep":
        shutil.copytree(solution, up / "a" / "b" / "hw1")
    if layout in ("zip_of_files", "loose_and_zip"):  # the same bytes twice count once
        _zip(up / "files.zip", {Path(rel).name: solution / rel for rel in GRADED})
    if layout == "zip_of_folder":
        _zip(up / "hw1.zip", {f"hw1/{rel}": solution / rel for rel in GRADED})
    if layout == "zip_in_zip":
        inner = _zip(tmp_path / "inner.zip", {f"hw1/{rel}": solution / rel for rel in GRADED})
        _zip(up / "outer.zip", {"inner.zip": inner})
    dest, notes = _collect(tmp_path, up)
    assert _same(dest, solution), notes
    assert not [n for n in notes if n.startswith("no ")]


def test_helpers_of_the_source_folder_come_along(tmp_path, solution):
    up = tmp_path / "upload"
    shutil.copytree(solution, up / "hw1")
    (up / "hw1" / "source" / "helpers.py").write_text("def f():\n    return 1\n")
    (up / "hw1" / "notes.py").write_text("# not part of the package\n")
    dest, _ = _collect(tmp_path, up)
    assert (dest / "source" / "helpers.py").is_file()
    assert (dest / "source" / "__init__.py").is_file()
    assert not (dest / "source" / "notes.py").exists()


def test_a_renamed_notebook_is_graded_when_it_is_the_only_one(tmp_path, solution):
    up = tmp_path / "upload"
    up.mkdir()
    shutil.copy(solution / "assignment.ipynb", up / "assignment (1).ipynb")
    dest, notes = _collect(tmp_path, up)
    assert (dest / "assignment.ipynb").read_bytes() == (solution / "assignment.ipynb").read_bytes()
    assert any("assignment (1).ipynb" in n for n in notes)
    assert "no source/cross_correlation.py" not in notes
    assert "no cross_correlation.py in the upload" in notes


def test_two_different_notebooks_are_refused(tmp_path, solution):
    up = tmp_path / "upload"
    (up / "v1").mkdir(parents=True)
    shutil.copy(solution / "assignment.ipynb", up / "v1")
    (up / "assignment.ipynb").write_text("{}")
    with pytest.raises(gradescope_run.AmbiguousUpload, match="assignment.ipynb"):
        _collect(tmp_path, up)


def test_a_zip_cannot_write_outside_its_folder(tmp_path, solution):
    up = tmp_path / "upload"
    up.mkdir()
    with zipfile.ZipFile(up / "evil.zip", "w") as zf:
        zf.writestr("../../escaped.py", "x = 1\n")
        zf.writestr("/abs.py", "x = 1\n")
        zf.write(solution / "source" / "batchnorm.py", "batchnorm.py")
    dest, _ = _collect(tmp_path, up)
    assert not (tmp_path / "escaped.py").exists() and not Path("/abs.py").exists()
    assert (dest / "source" / "batchnorm.py").is_file()


# ------------------------------------------------------------------ the bundle

def test_nothing_of_nbgrader_or_the_grades_is_shipped_or_left_unignored(tmp_path):
    """Every nbgrader working file and export in a copy of the repository: none is in the
    zip, and git ignores every one of them."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "autograder", repo / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "release",
                                                  "submitted", "autograded", "feedback"))
    shutil.copy(REPO / "requirements.txt", repo)
    shutil.copy(REPO / ".gitignore", repo)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "course"], check=True)
    for rel in NBGRADER_WORKING:
        path = repo / "autograder" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("student,grade\nalice,42.5\n")
    status = subprocess.run([*git, "status", "--porcelain", "--untracked-files=all"],
                            check=True, capture_output=True, text=True).stdout
    assert status == "", f"not ignored by git:\n{status}"
    with zipfile.ZipFile(gradescope_bundle.write_bundle(tmp_path / "hw1.zip", repo)) as zf:
        names = set(zf.namelist())
    leaked = sorted(f"autograder/{rel}" for rel in NBGRADER_WORKING)
    assert not names & set(leaked)
    assert not [n for n in names if n.endswith((".csv", ".db", ".log", ".html"))]


def test_only_the_runtime_requirements_are_installed(bundle):
    with zipfile.ZipFile(bundle) as zf:
        runtime = zf.read("requirements-grader.txt").decode()
        setup = zf.read("setup.sh").decode()
    pins = [line for line in runtime.splitlines() if line and not line.startswith("#")]
    assert [p.split("==")[0] for p in pins] == list(gradescope_bundle.RUNTIME_PACKAGES)
    kit = (REPO / "requirements.txt").read_text().splitlines()
    assert all(p in kit for p in pins)  # the same pins as the kit
    for tool in ("jupyterlab", "pytest", "playwright", "ruff", "nbgrader", "matplotlib"):
        assert tool not in runtime
    assert "requirements.txt" not in setup.replace("requirements-grader.txt", "")


FAKE_PYTHON = "#!/bin/sh\n# answers setup.sh's version check as Python {v} would\nexit {rc}\n"


@pytest.mark.parametrize("available, picked", [
    ({"python3": (3, 10)}, None),                              # Ubuntu 22.04: deadsnakes
    ({"python3": (3, 10), "python3.11": (3, 11)}, "python3.11"),  # after deadsnakes
    ({"python3": (3, 12)}, "python3"),                         # Ubuntu 24.04
])
def test_setup_picks_a_python_recent_enough(tmp_path, bundle, available, picked):
    with zipfile.ZipFile(bundle) as zf:
        setup = zf.read("setup.sh").decode()
    function = setup[setup.index("recent_python() {"):setup.index("\n}\n") + 3]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, version in available.items():
        fake = bindir / name
        fake.write_text(FAKE_PYTHON.format(v=version, rc=int(version < (3, 11))))
        fake.chmod(0o755)
    script = function + "recent_python\n"
    proc = subprocess.run([shutil.which("bash"), "-c", script], capture_output=True, text=True,
                          env={"PATH": str(bindir)})  # only the fakes
    if picked is None:
        assert proc.returncode != 0
        assert "ppa:deadsnakes/ppa" in setup and "python3.11-venv" in setup
    else:
        assert proc.returncode == 0 and proc.stdout.strip() == str(bindir / picked)
    assert gradescope_bundle.MIN_PYTHON == (3, 11) and "(3, 11)" in function


FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
case "$(basename "$0") $*" in
    "apt-get install"*python3.11-venv*) touch "{state}/deadsnakes-installed" ;;
esac
exit 0
"""

# A Python of the image: the version check passes only for a recent one; `-m venv DIR`
# makes DIR/bin/python, which records the pip installs it is asked for.
FAKE_IMAGE_PYTHON = """#!/bin/sh
recent={recent}
[ "$(basename "$0")" = python3.11 ] && [ -e "{state}/deadsnakes-installed" ] && recent=1
case "$1" in
    -c) [ "$recent" = 1 ] && exit 0 || exit 1 ;;
    --version) echo "Python of $(basename "$0")" ;;
    -m) mkdir -p "$3/bin"
        printf '#!/bin/sh\\necho "venv-python $*" >> "{log}"\\n' > "$3/bin/python"
        chmod +x "$3/bin/python" ;;
esac
"""


@pytest.mark.parametrize("image", ["ubuntu-22.04", "ubuntu-24.04"])
def test_setup_installs_a_recent_python_and_only_the_runtime_packages(tmp_path, bundle,
                                                                        image):
    """setup.sh run through, with apt-get, add-apt-repository and the image's Pythons
    replaced by stand-ins that record what they are asked."""
    root = gradescope_root(tmp_path, bundle)
    bindir, state, log = tmp_path / "bin", tmp_path / "state", tmp_path / "calls.log"
    bindir.mkdir()
    state.mkdir()
    for tool in ("apt-get", "add-apt-repository"):
        (bindir / tool).write_text(FAKE_TOOL.format(log=log, state=state))
    system_recent = int(image == "ubuntu-24.04")  # 24.04: 3.12; 22.04: 3.10
    for py in ("python3", "python3.11", "python3.12", "python3.13"):
        recent = system_recent if py == "python3" else 0
        (bindir / py).write_text(FAKE_IMAGE_PYTHON.format(recent=recent, state=state, log=log))
    for path in bindir.iterdir():
        path.chmod(0o755)
    tools = tmp_path / "tools"  # the few real commands the script needs, and nothing else
    tools.mkdir()
    for real in ("grep", "mkdir", "chmod", "basename", "touch", "printf"):
        (tools / real).symlink_to(shutil.which(real))
    env = {"PATH": f"{bindir}:{tools}", "AUTOGRADER_ROOT": str(root)}
    proc = subprocess.run([shutil.which("bash"), str(root / "source" / "setup.sh")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = log.read_text().splitlines()
    deadsnakes = "add-apt-repository -y ppa:deadsnakes/ppa" in calls
    assert deadsnakes == (image == "ubuntu-22.04")
    expected_python = "python3.11" if image == "ubuntu-22.04" else "python3"
    assert f"grader Python: {bindir / expected_python}" in proc.stdout
    installs = [c for c in calls if c.startswith("venv-python -m pip install")]
    req = root / "source" / "requirements-grader.txt"
    assert installs[-1].endswith(f"-r {req}")
    assert any("--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in c
               for c in installs)
    assert not [c for c in installs if "requirements.txt" in c.replace("grader.txt", "")]
    assert (root / "venv" / "bin" / "python").is_file()
