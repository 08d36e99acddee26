"""nbgrader hooks of the course: a release without solution text, grades from the isolated grader.

``nbgrader_config.py`` wires both in:

- ``strip_release`` runs after ``nbgrader generate_assignment``. nbgrader copies every
  non-notebook file of ``master/<assignment>/`` verbatim into ``release/<assignment>/``, so
  the ``source/*.py`` there would still hold the solution regions; the hook replaces each
  with the student copy that ``python -m autograder build`` makes, and gives the folder the
  other files of ``python -m autograder release`` (``README.md``, ``requirements.txt``, the
  stamped helpers) in place of ``README_student.md``. If anything goes wrong
  the release folder is deleted: nbgrader only logs a failing hook, so failing closed is
  the only way not to hand out solutions.
- ``IsolatedGrade`` replaces nbgrader's Execute step during ``nbgrader autograde``. Nothing
  of the student's runs in nbgrader's process or kernel: the submitted folder is graded by
  ``grading.grade.grade_submission`` (student code in a sandboxed child), and each grade
  cell of ``points.GRADE_CELLS`` gets the score of its section as nbgrader's partial
  credit, i.e. an ``execute_result`` whose ``text/plain`` is the score
  (``nbgrader.utils.determine_grade``), with the per-test messages as a ``stdout`` stream.
"""

from __future__ import annotations

import atexit
import csv
import glob
import json
import os
import shutil
import threading
from pathlib import Path

import nbformat
from nbgrader.plugins import CsvExportPlugin
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

from . import points
from .grading.results import has_error

NOTEBOOK_ID = "assignment"  # grade_submission reads <submission>/assignment.ipynb
RESOURCE_KEY = "isolated_grade"


# ----------------------------------------------------------------- course directory

def _coursedir(obj=None):
    """nbgrader's CourseDirectory of the running command.

    The converter that runs our hook or preprocessor holds it (``.coursedir``); walk the
    parents, then the running application, and as a last resort build one from the
    configuration (nbgrader runs hooks and preprocessors with cwd = the course root).
    """
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Application

    node = obj
    while node is not None:
        coursedir = getattr(node, "coursedir", None)
        if coursedir is not None:
            return coursedir
        node = getattr(node, "parent", None)
    app = Application.instance() if Application.initialized() else None
    coursedir = getattr(app, "coursedir", None)
    if coursedir is not None:
        return coursedir
    config = getattr(obj, "config", None) or getattr(app, "config", None)
    return CourseDirectory(config=config) if config is not None else CourseDirectory()


# ----------------------------------------------------------------- release hook

def _strip_folder(folder: Path) -> list[str]:
    """Replace every source/**.py under folder by its student copy; returns what changed."""
    from . import build

    changed = []
    for path in sorted((folder / "source").rglob("*.py")):
        rel = path.relative_to(folder).as_posix()
        text = path.read_text(encoding="utf-8")
        stub = build.PY_STAMP.format(assignment=folder.name, path=rel) + \
            build.strip_python(text, rel)
        _rewrite(path, stub.encode("utf-8"), path.stat().st_mode & 0o7777)
        changed.append(rel)
    _match_bundle(folder)
    leaked = build.leaks(folder)
    if leaked:
        raise RuntimeError("solution text left in the release folder:\n" + "\n".join(leaked))
    return changed


def _rewrite(path: Path, data: bytes, mode: int) -> None:
    """Write data to a file of the release folder and give it mode (nbgrader has already
    set the release permissions, which may leave the file read-only)."""
    if path.exists():
        path.chmod(path.stat().st_mode | 0o200)
    path.write_bytes(data)
    path.chmod(mode)


def _match_bundle(folder: Path) -> None:
    """Give nbgrader's release folder the files of ``python -m autograder release``.

    nbgrader copies ``master/<assignment>/`` as it is: the student README under its master
    name (``README_student.md``), the helpers without their "generated" stamp, and no
    ``requirements.txt``. Students fetching from nbgrader get what the course page's bundle
    holds instead (tests/test_nbgrader.py compares the two).
    """
    from . import build

    mode = (folder / build.NOTEBOOK).stat().st_mode & 0o7777  # nbgrader's file permissions
    for rel, data in build.bundle_support_files().items():
        _rewrite(folder / rel, data, mode)
    (folder / build.STUDENT_README).unlink(missing_ok=True)  # shipped as README.md


def strip_release(assignment=None, student=None, notebooks=None, **_) -> None:
    """post_convert_hook of GenerateAssignment: strip solutions from release/<assignment>/."""
    import logging

    log = logging.getLogger("autograder.nbgrader_plugin")
    coursedir = _coursedir()
    assignment = assignment or coursedir.assignment_id
    pattern = coursedir.format_path(coursedir.release_directory, ".", assignment)
    folders = [Path(p) for p in sorted(glob.glob(pattern)) if os.path.isdir(p)]
    if not folders:
        # Where nbgrader's defaults put it, relative to the course root (the cwd).
        folders = [Path(p) for p in sorted(glob.glob(os.path.join(
            coursedir.root, "release", assignment))) if os.path.isdir(p)]
    for folder in folders:
        try:
            changed = _strip_folder(folder)
        except BaseException:
            log.error("could not strip solutions from %s: removing it so that no solution "
                      "is released", folder)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        # nbgrader shows hook messages only at INFO level and swallows their errors.
        print(f"[autograder] stripped solution regions from {len(changed)} file(s) "
              f"in {folder}; its other files are those of `python -m autograder release`",
              flush=True)


# ----------------------------------------------------------------- autograde

_sandboxes: dict = {}
_sandbox_lock = threading.Lock()


def _shared_sandbox(slot: int):
    """One grading slot for the whole nbgrader run (starting one costs seconds)."""
    with _sandbox_lock:
        if slot not in _sandboxes:
            from .grading.sandbox import Limits, Sandbox

            sandbox = Sandbox(slot=slot, limits=Limits())
            sandbox.start()
            atexit.register(sandbox.close)
            _sandboxes[slot] = sandbox
        return _sandboxes[slot]


def grade_folder(folder: Path, slot: int = 0) -> dict:
    """grade_submission on folder, in the shared sandbox of that slot."""
    from .grading.grade import grade_submission

    return grade_submission(folder, sandbox=_shared_sandbox(slot))


def section_feedback(result: dict, section: str) -> str:
    """The text shown under a grade cell: section score, per-test messages, flags."""
    sec = result["sections"][section]
    auto_max = points.section_auto_max(section)
    lines = [f"Autograded by the isolated grader: {_num(sec['score'])} / {_num(auto_max)} "
             f"points ({section})."]
    for test in result["tests"]:
        if test["section"] == section:
            lines.append(f"- {test['name']}: {_num(test['score'])}/{_num(test['max_score'])} "
                         f"{test['status']}. {test['output']}")
    if result.get("flags"):
        lines.append("Flags: " + "; ".join(result["flags"]))
    return "\n".join(lines) + "\n"


def _num(x: float) -> str:
    return f"{float(x):g}"


def grade_outputs(result: dict, section: str) -> list:
    """Outputs that nbgrader reads as the section's autograded score.

    ``determine_grade`` scans a grade cell's outputs in order: an ``error`` or a ``stderr``
    stream gives 0; the first ``execute_result`` whose text/plain is a float in
    [0, points] gives that partial credit; no outputs at all would give FULL credit. So the
    cell carries exactly one execute_result with the score (0.0 included) and a stdout
    stream with the feedback.
    """
    score = float(result["sections"][section]["score"])
    score = min(max(score, 0.0), points.section_auto_max(section))
    return [
        nbformat.v4.new_output("execute_result", data={"text/plain": repr(score)},
                               execution_count=1),
        nbformat.v4.new_output("stream", name="stdout", text=section_feedback(result, section)),
    ]


def _error_output(message: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename="AutograderError", evalue=message,
                                  traceback=[message])


def _is_autograded_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


class RepairCellMetadata(NbGraderPreprocessor):
    """First of autograde's sanitizing steps: a notebook whose nbgrader metadata a student
    (or an old editor) damaged is repaired, not fatal.

    nbgrader stops the whole ``autograde`` at a cell whose ``schema_version`` is old
    (``SchemaTooOldError`` is re-raised by ``BaseConverter.convert_notebooks``: every
    student after it is never graded), and its ``ClearOutput`` fails on a cell without a
    ``cell_type``. Here each cell whose metadata nbgrader's own validator refuses gets
    the metadata of the release cell with the same grade id (the student's text is
    kept; nbgrader's ``OverwriteCells`` then restores what it always restores), a cell
    without a type gets its release cell's type, and a log line names the cell and the
    damage. Metadata of a grade id the assignment does not have is dropped.
    """

    def _release_cells(self, resources) -> dict[str, nbformat.NotebookNode]:
        coursedir = _coursedir(self)
        info = resources["nbgrader"]
        folder = Path(coursedir.format_path(coursedir.source_directory, ".",
                                            info["assignment"]))
        path = folder / f"{info['notebook']}.ipynb"
        if not path.is_file():
            return {}
        release = nbformat.read(path, as_version=4)
        return {c.metadata["nbgrader"]["grade_id"]: c for c in release.cells
                if "grade_id" in c.get("metadata", {}).get("nbgrader", {})}

    def preprocess(self, nb, resources):
        from nbgrader.nbgraderformat import MetadataValidator

        validator = MetadataValidator()
        release = self._release_cells(resources)
        who = f"{resources['nbgrader']['student']}: {resources['nbgrader']['notebook']}.ipynb"
        for index, cell in enumerate(nb.cells, start=1):
            meta = cell.setdefault("metadata", nbformat.NotebookNode())
            nbg = meta.get("nbgrader")
            grade_id = nbg.get("grade_id") if isinstance(nbg, dict) else None
            where = f"{who} cell {index}" + (f" (grade id {grade_id!r})" if grade_id else "")
            if cell.get("cell_type") not in ("code", "markdown", "raw"):
                kind = release[grade_id].cell_type if grade_id in release else (
                    "code" if "outputs" in cell else "markdown")
                self.log.warning("%s has no valid cell_type (%r); repaired as %s", where,
                                 cell.get("cell_type"), kind)
                cell["cell_type"] = kind
            if cell.cell_type == "code":
                cell.setdefault("outputs", [])
                cell.setdefault("execution_count", None)
            if nbg is None:
                continue
            try:
                if not isinstance(nbg, dict):
                    raise TypeError(f"nbgrader metadata is a {type(nbg).__name__}")
                validator.validate_cell(cell)
                continue
            except Exception as exc:  # any damage: SchemaTooOld, ValidationError, ...
                damage = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if grade_id in release:
                meta["nbgrader"] = nbformat.NotebookNode(
                    json.loads(json.dumps(release[grade_id].metadata["nbgrader"])))
                self.log.warning("%s: damaged nbgrader metadata (%s); restored from the "
                                 "release, the student's text is kept", where, damage)
            else:
                del meta["nbgrader"]
                self.log.warning("%s: damaged nbgrader metadata (%s) of a cell the "
                                 "assignment does not have; removed", where, damage)
        self._deduplicate(nb, who)
        return nb, resources

    def _deduplicate(self, nb, who: str) -> None:
        """A grade id that occurs twice counts by its last cell, as in nbgrader's
        DeduplicateIds, which however leaves ``"nbgrader": {}`` on the others: metadata of
        schema version 0, which its own CheckCellMetadata then refuses for the whole run.
        Here the earlier copies lose their nbgrader metadata altogether."""
        seen: set[str] = set()
        for index in range(len(nb.cells), 0, -1):
            meta = nb.cells[index - 1].get("metadata", {})
            grade_id = meta.get("nbgrader", {}).get("grade_id")
            if grade_id is None:
                continue
            if grade_id in seen:
                del meta["nbgrader"]
                self.log.warning("%s cell %d: grade id %r occurs again further down; this "
                                 "copy is graded as an ordinary cell", who, index, grade_id)
            seen.add(grade_id)


class IsolatedGrade(NbGraderPreprocessor):
    """Fill the autograded cells with the isolated grader's section scores."""

    sandbox_slot = Integer(
        0, help="Grading slot of the sandbox. As root each slot runs student code as its "
                "own user and kills all of that user's processes after each submission, "
                "so runs at the same time must use different slots.").tag(config=True)

    def _submission_folder(self, student: str, assignment: str) -> Path:
        coursedir = _coursedir(self)
        return Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        student, assignment, notebook = info["student"], info["assignment"], info["notebook"]
        if notebook != NOTEBOOK_ID:
            # Only assignment.ipynb is graded by the isolated grader; any autograded cell
            # elsewhere would get full credit from nbgrader with no outputs, so zero it.
            for cell in nb.cells:
                if _is_autograded_cell(cell):
                    cell.outputs = [_error_output(
                        f"{notebook}.ipynb is not graded by the isolated grader")]
            return nb, resources

        # The submitted copy is the pristine one (nothing has run in it); the autograded
        # copy differs only by nbgrader's sanitizing and the master's extra files.
        folder = self._submission_folder(student, assignment)
        if not (folder / f"{NOTEBOOK_ID}.ipynb").is_file():
            raise RuntimeError(f"submitted notebook not found at {folder}")
        result = dict(grade_folder(folder, self.sandbox_slot), submission=student)
        if has_error(result):
            # A fault of the grader is never a score: nbgrader records this submission as
            # failed (and grades the others); the next autograde grades it again.
            raise RuntimeError(
                f"the isolated grader failed on {student}/{assignment}; nothing recorded, "
                "run autograde again: " + "; ".join(result["flags"]))
        info[RESOURCE_KEY] = result
        sections = ", ".join(f"{k} {v['score']:g}/{v['max_score']:g}"
                             for k, v in result["sections"].items())
        self.log.info("Isolated grade of %s/%s: %g/%g (%s)%s", student, assignment,
                      result["score"], result["max_score"], sections,
                      f"; flags: {'; '.join(result['flags'])}" if result["flags"] else "")
        self.log.debug("Isolated grade of %s/%s in full: %s", student, assignment,
                       json.dumps(result, sort_keys=True))

        seen = set()
        for cell in nb.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in points.GRADE_CELLS:
                cell.outputs = grade_outputs(result, points.GRADE_CELLS[grade_id])
                cell.execution_count = 1
                seen.add(grade_id)
            elif _is_autograded_cell(cell):
                cell.outputs = [_error_output(f"grade cell {grade_id!r} is not part of the "
                                              "assignment")]
        # A submission that deleted a grade cell still gets the grade of its section
        # (without the cell, nbgrader would record nothing for it).
        for grade_id, section in points.GRADE_CELLS.items():
            if grade_id not in seen:
                self.log.warning("grade cell %s missing from %s's notebook: restored",
                                 grade_id, student)
                cell = nbformat.v4.new_code_cell(
                    source=f"# Grade cell {grade_id}: missing from the submission, restored "
                           "by the autograder.",
                    metadata={"nbgrader": {
                        "grade": True, "grade_id": grade_id, "locked": True,
                        "points": points.section_auto_max(section), "schema_version": 3,
                        "solution": False, "task": False}},
                    outputs=grade_outputs(result, section), execution_count=1)
                nb.cells.append(cell)
        return nb, resources


# ----------------------------------------------------------------- export

PENDING_COLUMN = "manual_pending"


def _pending_points(gradebook, assignment: str, student: str) -> float:
    """Points of the submission's answers that still wait for a person (nbgrader's
    ``needs_manual_grade``); an answer left untouched was scored 0 by autograde, not pending."""
    from nbgrader.api import MissingEntry

    try:
        submission = gradebook.find_submission(assignment, student)
    except MissingEntry:
        return 0.0
    return float(sum(grade.max_score for notebook in submission.notebooks
                     for grade in notebook.grades if grade.needs_manual_grade))


def _section_of(grade_name: str) -> str | None:
    """The section whose points a grade cell carries (None: not part of the assignment)."""
    if grade_name in points.GRADE_CELLS:
        return points.GRADE_CELLS[grade_name]
    return "warmup" if grade_name in points.MANUAL else None


def lms_rows(gradebook, assignment: str = points.ASSIGNMENT_ID) -> list:
    """A row of ``grading.lms`` per student of nbgrader's gradebook, filled from its own
    student records: ``lms_user_id`` is the LMS id (Canvas's ID), nbgrader's student id
    the SIS User ID. Import a roster with ``nbgrader db student import roster.csv``
    (columns ``id,first_name,last_name,email,lms_user_id``). No submission: 0, missing;
    an autograded cell with no score yet (autograde failed on it): empty, error."""
    from nbgrader.api import MissingEntry

    from .grading import lms

    rows = []
    for student in gradebook.students:
        name = ", ".join(n for n in (student.last_name, student.first_name) if n)
        person = lms.Student(folder=student.id, id=student.lms_user_id or "",
                             name=name or student.id, sis_id=student.id,
                             email=student.email or "")
        try:
            submission = gradebook.find_submission(assignment, student.id)
        except MissingEntry:
            rows.append(lms.LmsRow(person, "missing", 0.0,
                                   sections={s.key: 0.0 for s in points.SECTIONS},
                                   note="no submission"))
            continue
        grades = [g for nb in submission.notebooks for g in nb.grades]
        if any(g.name in points.GRADE_CELLS and g.auto_score is None and
               g.manual_score is None for g in grades):
            rows.append(lms.LmsRow(person, "error", None,
                                   note="autograde did not score it: run autograde again"))
            continue
        sections = {s.key: 0.0 for s in points.SECTIONS}
        for g in grades:
            key = _section_of(g.name)
            if key is not None:
                sections[key] += float(g.score or 0.0)
        penalty = float(submission.late_submission_penalty or 0.0)
        rows.append(lms.LmsRow(person, "graded",
                               max(0.0, float(submission.score) - penalty),
                               _pending_points(gradebook, assignment, student.id),
                               {k: round(v, 4) for k, v in sections.items()}))
    return rows


class PendingCsvExportPlugin(CsvExportPlugin):
    """nbgrader's CSV export plus a ``manual_pending`` column: the points still to be
    graded by hand, so that a 42.5 of 65 is not read as a final grade. With
    ``--PendingCsvExportPlugin.lms=canvas`` (or ``csv``) it also writes the file that
    ``grade --lms`` writes, from nbgrader's student records, next to the export."""

    lms = Unicode("", help="also write grades an LMS imports as they are: 'canvas' "
                  "(<stem>-canvas.csv) or 'csv' (<stem>-lms.csv)").tag(config=True)
    lms_assignment = Unicode("", help="the Canvas file's assignment column, e.g. "
                             "'Homework 1 (48213)' (default: the assignment's name)"
                             ).tag(config=True)

    def export(self, gradebook) -> None:
        super().export(gradebook)
        self._add_pending(gradebook)
        if self.lms:
            self.export_lms(gradebook)

    def export_lms(self, gradebook) -> Path:
        from .grading import lms

        if self.lms not in lms.FORMATS:
            raise ValueError(f"PendingCsvExportPlugin.lms must be one of "
                             f"{', '.join(lms.FORMATS)}, not {self.lms!r}")
        dest = Path(self.to or "grades.csv")
        target = dest.parent / lms.file_name(dest.stem, self.lms)
        rows = lms_rows(gradebook)
        for line in lms.summary(rows, []):
            self.log.warning("%s", line)
        written = lms.write(rows, target, self.lms,
                            self.lms_assignment or points.ASSIGNMENT_ID)
        self.log.info("Wrote %s (%d students)", written, len(rows))
        return written

    def _add_pending(self, gradebook) -> None:
        dest = Path(self.to or "grades.csv")
        with dest.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        if not rows:
            return
        header, body = rows[0], rows[1:]
        at, st = header.index("assignment"), header.index("student_id")
        out = [[*header, PENDING_COLUMN]]
        for row in body:
            pending = _pending_points(gradebook, row[at], row[st])
            out.append([*row, format(pending, "g")])
        with dest.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows(out)
