"""The README's instructor commands, run as written on a small class.

Each command block of the README preceded by ``<!-- readme-test: NAME -->`` is extracted
and run with bash from the root of a fresh copy of the repository (its tracked files, a
git repository of their own, this environment as ``.venv``): release, grade, grade with
hand-graded points, nbgrader generate/autograde/generate_feedback/export, the formgrader
and the Gradescope bundle. The scores must agree everywhere, and nothing the term
produced may be left for git to commit or shipped in the Gradescope zip.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.test_side_effects import modes

REPO = Path(__file__).resolve().parents[1]
MARK = re.compile(r"<!-- readme-test: ([\w-]+) -->\n```bash\n(.*?)\n```", re.S)
EXPECTED = ("release", "grade", "grade-manual", "nbgrader", "formgrader",
            "nbgrader-feedback", "gradescope")
AUTOGRADED = 42.5
MANUAL_CSV = "submission,question,points\nalice,a,2.0\nalice,b,2.5\nalice,c,1.5\n"


def readme_blocks(text: str | None = None) -> dict[str, str]:
    text = (REPO / "README.md").read_text(encoding="utf-8") if text is None else text
    blocks: dict[str, str] = {}
    for name, body in MARK.findall(text):
        assert name not in blocks, f"two README blocks are marked {name}"
        blocks[name] = body
    return blocks


def test_every_instructor_block_is_marked():
    blocks = readme_blocks()
    assert tuple(blocks) == EXPECTED
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "nbgrader formgrader" not in text  # not a command in nbgrader 0.9
    assert "generate_feedback" in blocks["nbgrader-feedback"]
    assert "PYTHON=" in text  # scripts/setup.sh's variable is documented


def test_extraction_finds_a_marked_block():
    text = "x\n<!-- readme-test: a -->\n```bash\necho 1\necho 2\n```\n```bash\nno\n```\n"
    assert readme_blocks(text) == {"a": "echo 1\necho 2"}


def _copy_repo(dest: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / ".venv").symlink_to(Path(sys.executable).resolve().parents[1]
                                if not (REPO / ".venv").exists() else (REPO / ".venv").resolve())
    git = ["git", "-c", "user.name=ta", "-c", "user.email=ta@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "the course"], cwd=dest, check=True)
    return dest


def _env(repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HOME"] = str(repo.parent / "home")  # jupyter's runtime files stay in the test
    env["JUPYTER_RUNTIME_DIR"] = str(repo.parent / "home" / "runtime")
    return env


def run_block(repo: Path, name: str, timeout: float = 900) -> subprocess.CompletedProcess:
    script = "set -euo pipefail\n" + readme_blocks()[name]
    proc = subprocess.run(["bash", "-c", script], cwd=repo, env=_env(repo),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"README block {name}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _formgrader(repo: Path) -> dict:
    """Start the README's formgrader block (JupyterLab from the course root) and read the
    assignments the formgrader lists."""
    port, token = _free_port(), "readme-test"
    script = ("set -euo pipefail\n" + readme_blocks()["formgrader"]
              + f" --no-browser --port={port} --ServerApp.ip=127.0.0.1"
              f" --IdentityProvider.token={token}")  # the README's line must work as root
    proc = subprocess.Popen(["bash", "-c", script], cwd=repo, env=_env(repo),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/formgrader/api/assignments?token={token}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    return {"status": response.status, "body": json.loads(response.read())}
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.poll() is not None else ""
                    pytest.fail(f"the formgrader did not answer at {url}\n{out}")
                time.sleep(1)
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def _make_class(repo: Path) -> None:
    """Five students from the release and the model submission: three full solutions (one
    with answers left blank), one untouched release, one with a broken batch norm."""
    out = repo / "out"
    klass = out / "class"
    for name in ("alice", "bob", "carol"):
        shutil.copytree(out / "hw1-solution", klass / name)
    shutil.copytree(out / "hw1-release", klass / "dave")
    shutil.copytree(out / "hw1-solution", klass / "erin")
    (klass / "erin" / "source" / "batchnorm.py").write_text(
        (out / "hw1-release" / "source" / "batchnorm.py").read_text())
    # carol left every written answer as released: nothing of hers waits for a person
    nb_path = klass / "carol" / "assignment.ipynb"
    nb = json.loads(nb_path.read_text())
    released = json.loads((out / "hw1-release" / "assignment.ipynb").read_text())
    blank = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in released["cells"]
             if c["metadata"].get("nbgrader", {}).get("grade_id", "").startswith("warmup_")}
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in blank and len(grade_id) == len("warmup_a"):
            cell["source"] = blank[grade_id]
    nb_path.write_text(json.dumps(nb))
    (out / "manual.csv").write_text(MANUAL_CSV)


@pytest.fixture(scope="module")
def term(tmp_path_factory) -> Path:
    """A whole term from the README, in a fresh copy of the repository."""
    repo = _copy_repo(tmp_path_factory.mktemp("readme") / "course")
    (repo / "out").mkdir()
    (repo / "out" / "modes-before.json").write_text(json.dumps(modes(repo)))
    run_block(repo, "release")
    _make_class(repo)
    run_block(repo, "grade")
    (repo / "out" / "grades-unmerged.json").write_bytes((repo / "out" / "grades.json")
                                                        .read_bytes())
    run_block(repo, "grade-manual")
    nbgrader_log = run_block(repo, "nbgrader")
    (repo / "out" / "nbgrader.log").write_text(nbgrader_log.stdout + nbgrader_log.stderr)
    feedback_log = run_block(repo, "nbgrader-feedback")
    (repo / "out" / "feedback.log").write_text(feedback_log.stdout + feedback_log.stderr)
    run_block(repo, "gradescope")
    (repo / "out" / "modes-after.json").write_text(json.dumps(modes(repo)))
    return repo


def _scores(path: Path) -> dict[str, dict]:
    return {s["submission"]: s for s in json.loads(path.read_text())["submissions"]}


def test_release_and_solution(term):
    assert (term / "out" / "hw1-release" / "source" / "batchnorm.py").is_file()
    assert zipfile.is_zipfile(term / "out" / "hw1-release.zip")
    assert (term / "out" / "hw1-solution" / "assignment.ipynb").is_file()


def test_grade_scores_the_class(term):
    scores = _scores(term / "out" / "grades-unmerged.json")
    assert {n: s["score"] for n, s in scores.items()} == {
        "alice": AUTOGRADED, "bob": AUTOGRADED, "carol": AUTOGRADED, "dave": 0.0,
        "erin": AUTOGRADED - 25.0}
    assert scores["carol"]["sections"]["warmup"]["manual_pending"] == 0.0
    assert scores["alice"]["sections"]["warmup"]["manual_pending"] == 22.5
    assert (term / "out" / "gradescope" / "alice" / "results.json").is_file()
    assert (term / "out" / "grades-alice-feedback.md").is_file()


def test_grade_manual_merges_the_hand_graded_points(term):
    scores = _scores(term / "out" / "grades.json")
    assert scores["alice"]["score"] == AUTOGRADED + 6.0
    assert scores["alice"]["sections"]["warmup"]["manual_pending"] == 15.0
    assert scores["bob"]["score"] == AUTOGRADED
    rows = {r["submission"]: r for r in csv.DictReader((term / "out" / "grades.csv").open())}
    assert rows["alice"]["warmup_manual_pending"] == "15"
    assert rows["carol"]["warmup_manual_pending"] == "0"
    gradescope = json.loads((term / "out" / "gradescope" / "alice" / "results.json").read_text())
    assert gradescope["score"] == AUTOGRADED + 6.0


def test_nbgrader_agrees_with_grade_and_is_silent(term):
    course = term / "autograder"
    db = sqlite3.connect(course / "gradebook.db")
    try:
        rows = db.execute(
            "SELECT s.student_id, SUM(COALESCE(g.manual_score, g.auto_score, 0)) "
            "FROM grade g JOIN submitted_notebook n ON g.notebook_id = n.id "
            "JOIN submitted_assignment s ON n.assignment_id = s.id "
            "GROUP BY s.student_id").fetchall()
    finally:
        db.close()
    unmerged = _scores(term / "out" / "grades-unmerged.json")
    assert {student: score for student, score in rows} == {
        n: s["score"] for n, s in unmerged.items()}
    log = (term / "out" / "nbgrader.log").read_text()
    assert "Isolated grade of alice/hw1: 42.5/65" in log
    for noise in ("checksum", "not in session", "SAWarning", "WARNING"):
        assert noise not in log, f"{noise!r} in nbgrader's output:\n{log}"


def test_feedback_and_export(term):
    course = term / "autograder"
    for student in ("alice", "bob", "carol", "dave", "erin"):
        assert (course / "feedback" / student / "hw1" / "assignment.html").is_file()
    rows = {r["student_id"]: r for r in csv.DictReader((course / "grades.csv").open())}
    assert float(rows["alice"]["score"]) == AUTOGRADED
    assert float(rows["alice"]["manual_pending"]) == 22.5  # the formgrader has not run
    assert float(rows["carol"]["manual_pending"]) == 0.0
    assert float(rows["dave"]["score"]) == 0.0
    log = (term / "out" / "feedback.log").read_text()
    assert "WARNING" not in log and "Warning" not in log, log


def test_formgrader_runs_from_the_course_root(term):
    answer = _formgrader(term)
    assert answer["status"] == 200
    names = [a["name"] for a in answer["body"]]
    assert names == ["hw1"]


def test_gradescope_bundle_and_nothing_left_to_commit(term):
    zip_path = term / "out" / "hw1-gradescope.zip"
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
    assert "run_autograder" in names and "requirements-grader.txt" in names
    assert (term / "autograder" / "grades.csv").is_file()  # exported before the bundle
    assert not [n for n in names if n.endswith((".csv", ".db", ".html"))
                or n.split("/")[1:2] in (["submitted"], ["autograded"], ["feedback"],
                                         ["release"])]
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            cwd=term, check=True, capture_output=True, text=True).stdout
    assert status == "", f"the term left files for git to commit:\n{status}"


def test_the_term_changed_no_mode_of_the_checkout(term):
    before = json.loads((term / "out" / "modes-before.json").read_text())
    after = json.loads((term / "out" / "modes-after.json").read_text())
    assert before["autograder"] == after["autograder"]
    assert {k: v for k, v in after.items() if k in before} == before


def test_every_test_the_readme_points_at_exists():
    """The section "What you get that other graders do not" backs each claim with a test;
    a renamed or deleted test must not leave a claim pointing at nothing."""
    text = (REPO / "README.md").read_text()
    section = text.split("## What you get that other graders do not", 1)[1].split("\n## ", 1)[0]
    refs = re.findall(r"`(tests/[\w/]+\.py)::(\w+)", section)
    assert len(refs) >= 10, refs
    for path, name in refs:
        tree = ast.parse((REPO / path).read_text())
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in defined, f"README points at {path}::{name}, which does not exist"
