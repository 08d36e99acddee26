"""Make the student view and the solution from the instructor's master copy.

``autograder/master/hw1/`` is the only hand-written copy of the notebook and of
``source/*.py``. Solution code sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
(nbgrader's markers). From it:

- ``build()`` writes the student view at the top of the repository (``assignment.ipynb``,
  ``source/``, ``figures/``), each file stamped as generated;
- ``release(dir)`` writes the bundle handed to students: the student view plus a README,
  a ``requirements.txt`` and ``dir.zip`` next to it, ready for the course page;
- ``solution(dir)`` writes a complete, correct submission.

The notebook goes through nbgrader's own preprocessors, configured by the course's
``nbgrader_config.py``, so that the student notebook is what ``nbgrader generate_assignment``
would release.
"""

from __future__ import annotations

import ast
import re
import shutil
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from .points import ASSIGNMENT_ID

if TYPE_CHECKING:  # nbformat and traitlets are imported where used: the similarity report
    import nbformat  # reads this module's paths and stubs and should not pay for them (1 s)
    from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "autograder"
MASTER = COURSE / "master" / ASSIGNMENT_ID
NOTEBOOK = "assignment.ipynb"
WRITTEN_ANSWERS = REPO / "written_answers.md"
SELFCHECK = "selfcheck.py"
#: Reads the (e) answer from the saved notebook; the grader runs the master copy of it.
ANSWER_READER = "read_answer_e.py"
#: Hand-written helpers of the master that go to students unchanged, stamped as generated.
HELPERS = (SELFCHECK, ANSWER_READER)
STUDENT_README = "README_student.md"
#: The packages a student installs; their pins come from the repository's requirements.txt.
STUDENT_PACKAGES = ("torch", "numpy", "matplotlib", "jupyterlab", "ipykernel")

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB_MARKER = "YOUR CODE HERE"
PY_STAMP = ("# Student copy generated from autograder/master/{assignment}/{path} by "
            "`python -m autograder build`.\n"
            "# Students: write your code in this file. Instructors: edit the master copy.\n")
SELFCHECK_STAMP = ("# Generated from autograder/master/{assignment}/{path}\n"
                   "# by `python -m autograder build`; do not edit.\n")
NB_STAMP_KEY = "autograder"


class MarkerError(ValueError):
    """Solution markers are unpaired, nested or outside a function."""


def _regions(lines: list[str], name: str) -> list[tuple[int, int]]:
    """(begin, end) line indices of each solution region; refuses bad nesting."""
    regions, begin = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if text == BEGIN:
            if begin is not None:
                raise MarkerError(f"{name}:{i + 1}: {BEGIN} inside another solution region "
                                  f"(opened at line {begin + 1})")
            begin = i
        elif text == END:
            if begin is None:
                raise MarkerError(f"{name}:{i + 1}: {END} without a matching {BEGIN}")
            regions.append((begin, i))
            begin = None
        elif "BEGIN SOLUTION" in text or "END SOLUTION" in text:
            raise MarkerError(f"{name}:{i + 1}: malformed solution marker {text!r}; "
                              f"write exactly {BEGIN!r} or {END!r} on a line of its own")
    if begin is not None:
        raise MarkerError(f"{name}:{begin + 1}: {BEGIN} is never closed")
    return regions


def _enclosing_functions(source: str) -> list[tuple[int, int, str]]:
    """(first line, last line, name) of every function, 0-based line numbers."""
    tree = ast.parse(source)
    return [(node.lineno - 1, node.end_lineno - 1, node.name) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def solution_regions(source: str, name: str) -> list[str]:
    """The text of each solution region, markers excluded (used by the leak check)."""
    lines = source.splitlines(keepends=True)
    return ["".join(lines[b + 1:e]) for b, e in _regions(lines, name)]


def strip_python(source: str, relpath: str) -> str:
    """Replace each solution region of a module by a stub that raises.

    The stub names the function and the file, so a student who runs unfinished code is
    told exactly where to write it.
    """
    lines = source.splitlines(keepends=True)
    regions = _regions(lines, relpath)
    functions = _enclosing_functions(source)
    statements = [node.lineno - 1 for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.stmt)]
    out, last = [], 0
    for begin, end in regions:
        # The END marker comes after the function's last statement, so the region belongs
        # to the function whose statements it starts among...
        owners = [f for f in functions if f[0] < begin <= f[1]]
        if not owners:
            raise MarkerError(f"{relpath}:{begin + 1}: solution region outside a function")
        first, final, func = max(owners, key=lambda f: f[0])  # innermost
        # ...and must not swallow any statement after that function ends.
        if any(final < line < end for line in statements):
            raise MarkerError(f"{relpath}:{end + 1}: solution region runs past the end of "
                              f"function {func}")
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        out += lines[last:begin]
        out.append(f"{indent}# {STUB_MARKER}: {func}\n")
        out.append(f'{indent}raise NotImplementedError("{func} is not implemented yet: '
                   f'write it in {relpath}")\n')
        last = end + 1
    out += lines[last:]
    return "".join(out)


def unmark_python(source: str, relpath: str) -> str:
    """The solution: the master with its marker lines removed."""
    lines = source.splitlines(keepends=True)
    drop = {i for region in _regions(lines, relpath) for i in region}
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def nbgrader_config() -> Config:
    """The course's nbgrader configuration, as nbgrader itself would load it."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(COURSE)).load_config()


def _master_notebook() -> nbformat.NotebookNode:
    import nbformat

    return nbformat.read(MASTER / NOTEBOOK, as_version=4)


def _check_notebook_markers(nb: nbformat.NotebookNode) -> None:
    for index, cell in enumerate(nb.cells):
        _regions(cell.source.splitlines(), f"{NOTEBOOK} cell {index}")


def student_notebook() -> nbformat.NotebookNode:
    """The release version of the notebook, made by nbgrader's preprocessors."""
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    nb = _master_notebook()
    _check_notebook_markers(nb)
    config = nbgrader_config()
    resources: dict = {}
    # The order of nbgrader's GenerateAssignment, without the gradebook steps.
    for step in (LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums,
                 ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata):
        nb, resources = step(config=config).preprocess(nb, resources)
    nb.metadata[NB_STAMP_KEY] = {
        "generated_from": f"autograder/master/{ASSIGNMENT_ID}/{NOTEBOOK}",
        "command": "python -m autograder build",
    }
    return nb


ANSWER_FIGURES = COURSE / "answer_figures"


def model_answers() -> dict[str, str]:
    """Warm-up model answers from written_answers.md, keyed by letter, as they appear in a
    solution notebook: figure links point into the submission folder, where ``solution``
    copies ``autograder/answer_figures/``."""
    text = WRITTEN_ANSWERS.read_text(encoding="utf-8")
    found = dict(re.findall(r"<!-- answer:([a-j]) -->\n(.*?)\n<!-- /answer:\1 -->", text, re.S))
    return {k: v.strip().replace("](autograder/answer_figures/", "](answer_figures/")
            for k, v in found.items()}


def solution_notebook() -> nbformat.NotebookNode:
    """The master notebook with markers removed and model answers filled in."""
    nb = _master_notebook()
    _check_notebook_markers(nb)
    answers = model_answers()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id", "")
        lines = cell.source.splitlines()
        keep = [line for line in lines if line.strip() not in (
            BEGIN, END, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")]
        cell.source = "\n".join(keep)
        if cell.cell_type == "markdown" and meta.get("solution") and grade_id.startswith("warmup_"):
            letter = grade_id.split("_")[1]
            if letter in answers:
                cell.source = answers[letter]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _python_files() -> list[Path]:
    return sorted((MASTER / "source").glob("*.py"))


def _student_files() -> dict[str, bytes]:
    """Relative path -> content of every file of the student view."""
    files: dict[str, bytes] = {}
    for path in _python_files():
        rel = f"source/{path.name}"
        stub = strip_python(path.read_text(encoding="utf-8"), rel)
        stamp = PY_STAMP.format(assignment=ASSIGNMENT_ID, path=rel)
        files[rel] = (stamp + stub).encode()
    import nbformat

    files[NOTEBOOK] = nbformat.writes(student_notebook()).encode() + b"\n"
    for path in sorted((MASTER / "figures").glob("*.png")):
        files[f"figures/{path.name}"] = path.read_bytes()
    for helper in HELPERS:
        files[helper] = _helper(helper)
    return files


def _selfcheck() -> bytes:
    """The students' self-check: the master's visible checks, stamped as generated."""
    return _helper(SELFCHECK)


def _helper(name: str) -> bytes:
    """A helper of the master (the self-check, the (e) reader), stamped as generated."""
    stamp = SELFCHECK_STAMP.format(assignment=ASSIGNMENT_ID, path=name)
    return stamp.encode() + (MASTER / name).read_bytes()


def student_requirements() -> str:
    """requirements.txt of the bundle: the student packages, pinned as the repository pins them."""
    pins = {}
    for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)\s*==\s*(\S+)", line)
        if match:
            pins[match.group(1).lower()] = f"{match.group(1)}=={match.group(2)}"
    missing = [name for name in STUDENT_PACKAGES if name not in pins]
    if missing:
        raise ValueError(f"requirements.txt pins none of {missing}")
    return ("# Needs Python 3.11 or newer. Install with (README.md has every step):\n"
            "#   Linux, macOS: python3 -m venv .venv\n"
            "#                 .venv/bin/pip install -r requirements.txt\n"
            "#   Windows:      py -m venv .venv\n"
            "#                 .venv\\Scripts\\pip install -r requirements.txt\n"
            "# Linux without an NVIDIA GPU: add --extra-index-url "
            "https://download.pytorch.org/whl/cpu\n"
            "# to the pip command, for the CPU build of torch instead of the CUDA one.\n"
            + "".join(f"{pins[name]}\n" for name in STUDENT_PACKAGES))


def _bundle_extras() -> dict[str, bytes]:
    """Files that only the released bundle holds (the repository has its own README and
    requirements.txt at the top)."""
    return {"README.md": (MASTER / STUDENT_README).read_bytes(),
            "requirements.txt": student_requirements().encode()}


def bundle_support_files() -> dict[str, bytes]:
    """The bundle's files besides the notebook, ``source/`` and ``figures/``: the stamped
    helpers, the student README (as ``README.md``) and ``requirements.txt``. nbgrader's
    release hook writes the same ones, so both releases hold the same files."""
    return {**{helper: _helper(helper) for helper in HELPERS}, **_bundle_extras()}


def _zip_folder(folder: Path, rels: list[str]) -> Path:
    """folder.zip next to folder, its files under one top folder; byte-identical on rebuild."""
    folder = folder.resolve()
    archive = folder.parent / f"{folder.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(rels):
            info = zipfile.ZipInfo(f"{folder.name}/{rel}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, (folder / rel).read_bytes())
    return archive


def build(dest: Path = REPO) -> list[str]:
    """Write the student view under dest; returns the relative paths written."""
    files = _student_files()
    for rel, data in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return sorted(files)


def drift(dest: Path = REPO) -> list[str]:
    """Files of the committed student view that differ from what build() makes."""
    files = _student_files()
    stale = [rel for rel, data in files.items()
             if not (dest / rel).is_file() or (dest / rel).read_bytes() != data]
    extra = [f"source/{p.name}" for p in (dest / "source").glob("*.py")
             if f"source/{p.name}" not in files]
    return sorted(stale + extra)


#: The instructors' fast reference: not in master/, so never copied, but checked for anyway.
FAST_REFERENCE = COURSE / "reference_fast.py"


def _function_bodies(source: str) -> list[str]:
    """The code of each function body, docstrings left out (they hold no solution)."""
    lines = source.splitlines(keepends=True)
    bodies = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            if body:
                bodies.append("".join(lines[body[0].lineno - 1:node.end_lineno]))
    return bodies


def leaks(bundle: Path) -> list[str]:
    """Solution text found in any file under bundle, as 'file: first line of the region'."""
    regions: list[str] = _function_bodies(FAST_REFERENCE.read_text(encoding="utf-8"))
    for path in _python_files():
        regions += solution_regions(path.read_text(encoding="utf-8"), path.name)
    for cell in _master_notebook().cells:
        if cell.cell_type == "code":
            regions += solution_regions(cell.source, NOTEBOOK)
    needles = {line.strip() for region in regions for line in region.splitlines()
               if len(line.strip()) > 12 and not line.strip().startswith("#")}
    found = []
    for path in sorted(bundle.rglob("*")):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            found += [f"{path.relative_to(bundle)}: {n}" for n in sorted(needles) if n in text]
    return found


def release(dest: Path) -> list[str]:
    """Write the student bundle to dest, prove that it holds no solution text, and zip it
    to dest.zip beside dest (for the course page). Returns the files of the bundle."""
    dest.mkdir(parents=True, exist_ok=True)
    written = build(dest)
    for rel, data in _bundle_extras().items():
        (dest / rel).write_bytes(data)
        written.append(rel)
    leaked = leaks(dest)
    if leaked:
        shutil.rmtree(dest)
        raise RuntimeError("solution text in the student bundle:\n" + "\n".join(leaked))
    _zip_folder(dest, written)
    return sorted(written)


def solution(dest: Path) -> list[str]:
    """Write a complete, correct submission to dest."""
    written = []
    for path in _python_files():
        rel = f"source/{path.name}"
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(unmark_python(path.read_text(encoding="utf-8"), rel), encoding="utf-8")
        written.append(rel)
    import nbformat

    nbformat.write(solution_notebook(), dest / NOTEBOOK)
    written.append(NOTEBOOK)
    for path in sorted((MASTER / "figures").glob("*.png")):
        (dest / "figures").mkdir(exist_ok=True)
        shutil.copyfile(path, dest / "figures" / path.name)
        written.append(f"figures/{path.name}")
    for path in sorted(ANSWER_FIGURES.glob("*.png")):  # pictures of the model answers
        (dest / "answer_figures").mkdir(exist_ok=True)
        shutil.copyfile(path, dest / "answer_figures" / path.name)
        written.append(f"answer_figures/{path.name}")
    # The self-check and the (e) reader too, so that a solution folder works like a student's.
    for helper in HELPERS:
        (dest / helper).write_bytes(_helper(helper))
        written.append(helper)
    return sorted(written)
