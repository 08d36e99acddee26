"""Grades an LMS imports as they are: ``grade --roster FILE.csv --lms canvas|csv``.

The roster maps the folder names of the submissions to the course's students. Its header
is ``folder,id,name`` and may add ``sis_id``, ``login``, ``section`` and ``email`` (in any
order, any case)::

    folder,id,name,sis_id,login,section
    alice,10234,"Liddell, Alice",s1001,aliddell,Section 01

``folder`` is the name the grade table shows for the submission (its folder or zip name);
``id`` is the student's id in the LMS (Canvas's numeric user id); ``sis_id`` and ``login``
are the university's ids (Canvas's "SIS User ID" and "SIS Login ID"). A bad roster (a
missing column, an unknown one, a duplicate folder or id, an empty folder or id) is an
error that names its line, raised before anything is graded.

Both files have a row for every roster row, in the roster's order:

- a roster row without a submission gets 0 points, marked ``missing``;
- a submission the grader failed on gets an empty cell, marked ``error`` (never a number:
  SPEC.md, its points are pending), and so does a roster row two submissions claim;
- a submission without a roster row is not in the file (it has no id the LMS could
  match): the command prints it and the instructor report lists it; it stays in
  ``--json``/``--csv``.

The score is the one that is final so far: autograded points plus the hand-graded points
merged with ``--manual``. Hand-graded points not given yet are not in it; the plain CSV
shows them in ``manual_pending`` and the command prints how many students wait for some.

Canvas's gradebook import (the layout of its own gradebook export, which it reads back):
columns ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per
assignment; a second row whose first cell is ``Points Possible`` gives each assignment's
maximum. Canvas matches a student by ID, else SIS User ID, else SIS Login ID, and an
assignment column by the id in parentheses at the end of its name ("hw1 (48213)"), else by
its name; a column it cannot match becomes a new assignment, so the file holds exactly one
assignment column and nothing else. Followed: Canvas Instructor Guide, "How do I import
grades in the Gradebook?" (community.canvaslms.com), and Ohio State's "Import a CSV File
to Carmen Grades" (teaching.resources.osu.edu/toolsets/carmencanvas/guides/
calculating-final-grades/import-csv-file-carmen-grades), which lists the required columns.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import points
from .results import has_error

REQUIRED = ("folder", "id", "name")
OPTIONAL = ("sis_id", "login", "section", "email")
MAX_ROSTER_BYTES = 16 << 20

#: What each LMS format is called on the command line.
FORMATS = ("canvas", "csv")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: Canvas's export writes the label right-aligned; its importer matches the words.
CANVAS_POINTS_ROW = "    Points Possible"
PLAIN_COLUMNS = ("id", "name", "sis_id", "login", "section", "email", "folder", "status",
                 "total", "max_total", "manual_pending")

# A cell that starts like a formula (OWASP's CSV-injection rule): an id must reach the LMS
# exactly as typed, so an id that would need the guard's quote is refused instead.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


class RosterError(ValueError):
    """A roster the command cannot use; the message names the file and the line."""


@dataclass(frozen=True)
class Student:
    folder: str
    id: str
    name: str
    sis_id: str = ""
    login: str = ""
    section: str = ""
    email: str = ""
    line: int = 0


@dataclass
class LmsRow:
    """One roster row in an LMS file: who, and the score or why there is none."""

    student: Student
    status: str                  # "graded" | "missing" | "error"
    total: float | None          # None: leave the cell empty
    manual_pending: float = 0.0
    sections: dict[str, float | None] = field(default_factory=dict)
    note: str = ""


def read_roster(path: str | os.PathLike) -> list[Student]:
    """The roster's rows in file order; ``RosterError`` naming the line of any bad one."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise RosterError(f"{path}: the roster is larger than {MAX_ROSTER_BYTES} bytes")
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError(f"{path}: the roster is not UTF-8 text (save it as CSV UTF-8)"
                          ) from None
    except OSError as exc:
        raise RosterError(f"{path}: cannot read the roster ({exc.strerror or exc})") from None
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise RosterError(f"{path}: not a CSV file ({exc})") from None
    if not rows:
        raise RosterError(f"{path}, line 1: the roster is empty; its header must start "
                          f"with {','.join(REQUIRED)}")
    header = [c.strip().lower() for c in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        why = (f"no column {', '.join(missing)}" if missing else "") + \
              ("; " if missing and unknown else "") + \
              (f"unknown column {', '.join(map(repr, unknown))}" if unknown else "")
        raise RosterError(f"{path}, line 1: {why} (the header is {','.join(REQUIRED)} "
                          f"plus any of {','.join(OPTIONAL)})")
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise RosterError(f"{path}, line 1: column {', '.join(twice)} appears twice")
    students: list[Student] = []
    folders: dict[str, int] = {}
    ids: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}, line {line}"
        if len(row) != len(header):
            raise RosterError(f"{where}: {len(row)} fields, the header has {len(header)}")
        cells = {k: v.strip() for k, v in zip(header, row)}
        for key in ("folder", "id"):
            if not cells[key]:
                raise RosterError(f"{where}: empty {key}")
        for key in ("id", "sis_id", "login"):
            if cells.get(key, "").startswith(_FORMULA_START):
                raise RosterError(f"{where}: {key} {cells[key]!r} starts like a spreadsheet "
                                  "formula; ids are letters and digits")
        for key, seen in (("folder", folders), ("id", ids)):
            if cells[key] in seen:
                raise RosterError(f"{where}: {key} {cells[key]!r} is already on line "
                                  f"{seen[cells[key]]}")
            seen[cells[key]] = line
        students.append(Student(line=line, **{k: cells.get(k, "")
                                              for k in REQUIRED + OPTIONAL}))
    return students


def _claims(name: str) -> list[str]:
    """The roster folders a submission name stands for: itself, and a zip's stem."""
    names = [name]
    if name.lower().endswith(".zip"):
        names.append(name[:-4])
    return names


def match(results: Sequence[dict], roster: Sequence[Student]
          ) -> tuple[list[LmsRow], list[str]]:
    """A row per roster row (in its order) and the submissions no roster row names."""
    by_folder = {s.folder: s for s in roster}
    taken: dict[str, list[dict]] = {}
    unmatched: list[str] = []
    for r in results:
        name = str(r["submission"])
        exact = [c for c in _claims(name) if c in by_folder]
        if exact:
            taken.setdefault(exact[0], []).append(r)
        else:
            unmatched.append(name)
    rows = []
    for student in roster:
        mine = taken.get(student.folder, [])
        if not mine:
            rows.append(LmsRow(student, "missing", 0.0,
                               sections={s.key: 0.0 for s in points.SECTIONS},
                               note="no submission"))
        elif len(mine) > 1:
            rows.append(LmsRow(student, "error", None,
                               note="several submissions: " + ", ".join(
                                   str(r["submission"]) for r in mine)))
        elif has_error(mine[0]):
            rows.append(LmsRow(student, "error", None,
                               note=f"grader error on {mine[0]['submission']}: points "
                               "pending, grade it again"))
        else:
            r = mine[0]
            rows.append(LmsRow(student, "graded", float(r["score"]),
                               float(r["sections"]["warmup"].get("manual_pending", 0.0)),
                               {k: float(v["score"]) for k, v in r["sections"].items()}))
    return rows, unmatched


def _number(x: float | None) -> str:
    return "" if x is None else format(round(float(x), 4), "g")


def canvas_rows(rows: Sequence[LmsRow], assignment: str) -> list[list[str]]:
    """Canvas's gradebook layout: header, the points possible row, a row per student."""
    from .reports import _csv_text

    out = [[*CANVAS_COLUMNS, assignment],
           [CANVAS_POINTS_ROW, "", "", "", "", _number(points.total_max())]]
    for row in rows:
        s = row.student
        out.append([_csv_text(s.name), s.id, s.sis_id, s.login, _csv_text(s.section),
                    _number(row.total)])
    return out


def plain_rows(rows: Sequence[LmsRow]) -> list[list[str]]:
    """id, name, status, total and a column per section: any gradebook's import."""
    from .reports import _csv_text

    keys = [s.key for s in points.SECTIONS]
    out = [[*PLAIN_COLUMNS, *keys]]
    for row in rows:
        s = row.student
        out.append([s.id, _csv_text(s.name), s.sis_id, s.login, _csv_text(s.section),
                    _csv_text(s.email), _csv_text(s.folder), row.status, _number(row.total),
                    _number(points.total_max()), _number(row.manual_pending),
                    *(_number(row.sections.get(k)) for k in keys)])
    return out


def write(rows: Sequence[LmsRow], path: str | os.PathLike, fmt: str,
          assignment: str = points.ASSIGNMENT_ID) -> Path:
    """The LMS file of format ``fmt`` (one of ``FORMATS``), written atomically."""
    from .reports import atomic_write

    if fmt not in FORMATS:
        raise ValueError(f"unknown LMS format {fmt!r}; known: {', '.join(FORMATS)}")
    table = canvas_rows(rows, assignment) if fmt == "canvas" else plain_rows(rows)
    return atomic_write(path, lambda f: csv.writer(f).writerows(table), newline="")


def file_name(stem: str, fmt: str) -> str:
    return f"{stem}-{fmt if fmt == 'canvas' else 'lms'}.csv"


def summary(rows: Sequence[LmsRow], unmatched: Sequence[str]) -> list[str]:
    """What the instructor must know before importing: plain lines for the terminal."""
    lines = []
    missing = [r.student for r in rows if r.status == "missing"]
    errors = [r for r in rows if r.status == "error"]
    pending = [r for r in rows if r.status == "graded" and r.manual_pending]
    if missing:
        lines.append(f"{len(missing)} roster student{'s' if len(missing) > 1 else ''} without "
                     "a submission, given 0 and marked missing: "
                     + ", ".join(f"{s.name or s.id} ({s.folder})" for s in missing))
    if errors:
        lines.append(f"{len(errors)} roster student{'s' if len(errors) > 1 else ''} left "
                     "empty (no number until graded): "
                     + "; ".join(f"{r.student.folder}: {r.note}" for r in errors))
    if unmatched:
        lines.append(f"{len(unmatched)} submission{'s' if len(unmatched) > 1 else ''} not in "
                     "the roster, left out of the LMS file (still in the grade files): "
                     + ", ".join(unmatched))
    if pending:
        lines.append(f"{len(pending)} student{'s' if len(pending) > 1 else ''} still wait for "
                     "hand-graded warm-up points; the LMS file has the score so far")
    return lines


def report_section(rows: Sequence[LmsRow], unmatched: Sequence[str]) -> list[str]:
    """The instructor report's roster section (every roster-derived string escaped)."""
    from .reports import md

    lines = ["## Roster", "",
             f"{len(rows)} students on the roster, "
             f"{sum(r.status == 'graded' for r in rows)} graded."]
    missing = [r for r in rows if r.status == "missing"]
    errors = [r for r in rows if r.status == "error"]
    if missing:
        lines += ["", "Missing (no submission; 0 in the LMS file):", ""]
        lines += [f"- {md(r.student.name)} ({md(r.student.id)}), folder "
                  f"{md(r.student.folder)}" for r in missing]
    if errors:
        lines += ["", "Left empty in the LMS file:", ""]
        lines += [f"- {md(r.student.name)} ({md(r.student.id)}): {md(r.note)}"
                  for r in errors]
    if unmatched:
        lines += ["", "Not in the roster (graded, left out of the LMS file):", ""]
        lines += [f"- {md(name)}" for name in unmatched]
    lines.append("")
    return lines
