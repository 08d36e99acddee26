"""nbgrader course roots for the class benchmark: stock nbgrader, and the kit's config.

*Stock nbgrader* is the same assignment graded the way nbgrader users grade it: the
course root ``autograder/`` copied to a temporary folder, with nbgrader's default
``autograde`` pipeline (its ``Execute`` step runs each notebook in a Jupyter kernel) and
a master notebook whose three grade cells are replaced by one test cell per hidden test
of ``autograder/grading/hidden_tests.py``, with that test's points from
``autograder/points.py``. The cells are generated here, never written by hand: each
holds a hidden-tests region that calls ``benchmarks.in_kernel.hidden_test``, so the
same cases run in the kernel against the student's ``source/``.

A student of that assignment hands in nbgrader's release notebook with their answers:
``submit`` builds it from a kit submission by copying the answer cells (solution cells,
by grade id) into the release notebook, next to the submission's other files.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from autograder import points

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ASSIGNMENT = points.ASSIGNMENT_ID
NOTEBOOK = "assignment.ipynb"

STOCK = "stock"
KIT = "kit"
LABELS = {STOCK: "stock nbgrader (Execute, one assert cell per hidden test)",
          KIT: "nbgrader with the kit's config (isolated grader instead of Execute)"}


def stock_autograde_preprocessors() -> list[str]:
    """nbgrader's own default autograde preprocessors, Execute included, as dotted names."""
    from nbgrader.converters.autograde import Autograde

    return [f"{cls.__module__}.{cls.__name__}"
            for cls in Autograde().autograde_preprocessors]


def test_cell(name: str) -> nbformat.NotebookNode:
    """The stock test cell of hidden test `name`: its points, a hidden-tests region."""
    section, score = points.TESTS[name]
    source = "\n".join([
        f"# Autograded: {score:g} points ({section}), test `{name}`.",
        "### BEGIN HIDDEN TESTS",
        "import sys",
        f"if {str(REPO)!r} not in sys.path:",
        f"    sys.path.append({str(REPO)!r})  # after the submission's own folder",
        "from benchmarks.in_kernel import hidden_test",
        f"hidden_test({name!r}, globals())",
        "### END HIDDEN TESTS",
    ])
    return nbformat.v4.new_code_cell(source=source, metadata={"nbgrader": {
        "grade": True, "grade_id": name, "locked": True, "points": score,
        "schema_version": 3, "solution": False, "task": False}})


def stock_notebook(master: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The master notebook with each grade cell of a section replaced by that section's
    hidden tests, one cell each."""
    nb = nbformat.from_dict(master)
    cells = []
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in points.GRADE_CELLS:
            section = points.GRADE_CELLS[grade_id]
            cells += [test_cell(n) for n, (s, _) in points.TESTS.items() if s == section]
        else:
            cells.append(cell)
    nb.cells = cells
    return nb


def course_root(dest: Path, kind: str) -> Path:
    """A temporary copy of the nbgrader course root ``autograder/``; `kind` STOCK or KIT."""
    root = dest / "autograder"
    shutil.copytree(REPO / "autograder", root, ignore=shutil.ignore_patterns(
        "submitted", "autograded", "feedback", "release", "gradebook.db", ".nbgrader.log",
        "__pycache__"))
    if kind == STOCK:
        config = root / "nbgrader_config.py"
        config.write_text(config.read_text(encoding="utf-8") + (
            "\n\n# Benchmark baseline: stock nbgrader, which executes the notebook.\n"
            "c.GenerateAssignment.post_convert_hook = None\n"
            f"c.Autograde.autograde_preprocessors = {stock_autograde_preprocessors()!r}\n"),
            encoding="utf-8")
        path = root / "master" / ASSIGNMENT / NOTEBOOK
        nbformat.write(stock_notebook(nbformat.read(path, as_version=4)), path)
    return root


def env() -> dict:
    out = dict(os.environ)
    out["PATH"] = f"{VENV_BIN}{os.pathsep}{out.get('PATH', '')}"
    out.pop("PYTHONPATH", None)
    return out


def run(cmd: list[str], cwd: Path, timeout: float = 3600) -> tuple[float, int, str, float]:
    """(wall seconds, exit status, output tail, CPU seconds). The CPU time is user + system
    of the command and every process it waited for (kernels, sandbox processes): it varies
    far less than the wall time when other work shares the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, proc.returncode, (proc.stdout + proc.stderr)[-3000:], cpu


def generate(root: Path) -> tuple[float, int, str, float]:
    return run([str(VENV_BIN / "nbgrader"), "generate_assignment", ASSIGNMENT, "--force"],
               root)


def submit(root: Path, kind: str, sub: Path) -> Path:
    """Place submission folder `sub` in the course root as nbgrader's submitted/<name>/."""
    target = root / "submitted" / sub.name / ASSIGNMENT
    shutil.copytree(sub, target)
    if kind == STOCK:
        release = nbformat.read(root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
        theirs = nbformat.read(sub / NOTEBOOK, as_version=4)
        answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in theirs.cells
                   if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
        for cell in release.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("solution") and meta.get("grade_id") in answers:
                cell.source = answers[meta["grade_id"]]
        nbformat.write(release, target / NOTEBOOK)
    return target


def autograde(root: Path) -> tuple[float, int, str, float]:
    return run([str(VENV_BIN / "nbgrader"), "autograde", ASSIGNMENT, "--create"], root)


def section_of(grade_id: str) -> str | None:
    """The section whose autograded points a grade cell carries (None: graded by hand)."""
    if grade_id in points.GRADE_CELLS:
        return points.GRADE_CELLS[grade_id]
    if grade_id in points.TESTS:
        return points.TESTS[grade_id][0]
    return None


def gradebook_scores(root: Path, students: list[str]) -> dict[str, dict]:
    """Autograded points per section of each student, read from nbgrader's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    out: dict[str, dict] = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in students:
            try:
                submission = gb.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                out[student] = {"missing": True}
                continue
            sections = {s.key: 0.0 for s in points.SECTIONS}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    section = section_of(grade.name)
                    if section is not None:
                        sections[section] += float(grade.auto_score or 0.0)
            out[student] = {"sections": {k: round(v, 4) for k, v in sections.items()},
                            "auto_score": round(sum(sections.values()), 4)}
    return out
