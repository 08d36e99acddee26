"""``grade --roster FILE --lms canvas|csv``: grades an LMS imports as they are.

The roster, the matching and both layouts are checked on synthetic results (no grading);
one small class is graded for real to see the files written by the command. The Canvas
layout is the one of Canvas's gradebook export/import (see ``autograder/grading/lms.py``):
``Student, ID, SIS User ID, SIS Login ID, Section``, one assignment column, a
``Points Possible`` row.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import build, points
from autograder.grading import lms
from tests.test_reports import make_result

REPO = Path(__file__).resolve().parents[1]
HEADER = "folder,id,name,sis_id,login,section,email\n"


def roster_file(tmp_path: Path, text: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


# ------------------------------------------------------------------ the roster

def test_reads_the_roster_in_its_order_any_case_any_column_order(tmp_path):
    path = roster_file(tmp_path, "\ufeffName, ID ,Folder,Section\n"
                                 '"Liddell, Alice",10234,alice,S01\n\n'
                                 "Bob Roberts,10235,bob,S02\n")
    students = lms.read_roster(path)
    assert [(s.folder, s.id, s.name, s.section, s.line) for s in students] == [
        ("alice", "10234", "Liddell, Alice", "S01", 2), ("bob", "10235", "Bob Roberts", "S02", 4)]
    assert students[0].sis_id == "" and students[0].email == ""


@pytest.mark.parametrize("text, words", [
    ("folder,name\nalice,Alice\n", ["line 1", "no column id"]),
    ("folder,id,name,sectoin\nalice,1,Alice,S\n", ["line 1", "unknown column 'sectoin'"]),
    ("folder,id,name,id\nalice,1,Alice,2\n", ["line 1", "id appears twice"]),
    ("", ["line 1", "empty"]),
    ("folder,id,name\nalice,1,Alice\nbob,2,Bob\nalice,3,Al\n",
     ["line 4", "folder 'alice' is already on line 2"]),
    ("folder,id,name\nalice,1,Alice\nbob,1,Bob\n", ["line 3", "id '1' is already on line 2"]),
    ("folder,id,name\nalice,,Alice\n", ["line 2", "empty id"]),
    ("folder,id,name\n ,7,Nobody\n", ["line 2", "empty folder"]),
    ("folder,id,name\nalice,1\n", ["line 2", "2 fields, the header has 3"]),
    ("folder,id,name\nalice,=1+1,Alice\n", ["line 2", "formula"]),
])
def test_a_bad_roster_is_an_error_that_names_the_line(tmp_path, text, words):
    path = roster_file(tmp_path, text)
    with pytest.raises(lms.RosterError) as err:
        lms.read_roster(path)
    for word in [str(path), *words]:
        assert word in str(err.value)


def test_a_roster_that_is_not_utf8_or_not_there_is_an_error(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("folder,id,name\nzoe,1,Zoë\n".encode("latin-1"))
    with pytest.raises(lms.RosterError, match="not UTF-8"):
        lms.read_roster(path)
    with pytest.raises(lms.RosterError, match="cannot read"):
        lms.read_roster(tmp_path / "none.csv")


# ------------------------------------------------------------------ matching

def _class() -> tuple[list[dict], list[lms.Student]]:
    broken = make_result("carol", "full")
    broken["tests"][0]["status"] = "error"
    results = [make_result("alice", "full"), make_result("bob.zip", "mixed"), broken,
               make_result("mallory", "zero")]
    roster = [lms.Student("dave", "4", "Dave"), lms.Student("alice", "1", "Alice A"),
              lms.Student("bob", "2", "Bob B"), lms.Student("carol", "3", "Carol C")]
    return results, roster


def test_every_roster_row_gets_a_row_and_strays_are_reported():
    results, roster = _class()
    rows, unmatched = lms.match(results, roster)
    assert [r.student.folder for r in rows] == ["dave", "alice", "bob", "carol"]
    status = {r.student.folder: (r.status, r.total) for r in rows}
    assert status == {"dave": ("missing", 0.0), "alice": ("graded", results[0]["score"]),
                      "bob": ("graded", results[1]["score"]), "carol": ("error", None)}
    assert results[1]["score"] not in (0.0, results[0]["score"])  # the rows can be told apart
    assert unmatched == ["mallory"]
    said = "\n".join(lms.summary(rows, unmatched))
    assert "Dave (dave)" in said and "carol: grader error" in said and "mallory" in said


def test_two_submissions_for_one_student_leave_the_cell_empty():
    rows, unmatched = lms.match([make_result("alice", "full"), make_result("alice.zip", "zero")],
                                [lms.Student("alice", "1", "Alice")])
    assert (rows[0].status, rows[0].total, unmatched) == ("error", None, [])
    assert "alice.zip" in rows[0].note


# ------------------------------------------------------------------ layouts

def test_canvas_file_has_canvas_columns_one_assignment_and_points_possible(tmp_path):
    results, roster = _class()
    rows, _ = lms.match(results, roster)
    path = lms.write(rows, tmp_path / "c.csv", "canvas", "Homework 1 (48213)")
    table = _read(path)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                        "Homework 1 (48213)"]
    assert table[1][0].strip() == "Points Possible"
    assert table[1][1:] == ["", "", "", "", format(points.total_max(), "g")]
    body = {row[1]: row for row in table[2:]}
    assert list(body) == ["4", "1", "2", "3"]  # the roster's order, every roster row
    assert all(len(row) == 6 for row in table)
    assert body["4"][5] == "0"       # missing: zero
    assert body["3"][5] == ""        # grader error: no number
    assert float(body["1"][5]) == results[0]["score"]
    assert body["1"][0] == "Alice A"


def test_plain_file_has_id_name_status_total_and_sections(tmp_path):
    results, roster = _class()
    rows, _ = lms.match(results, roster)
    table = _read(lms.write(rows, tmp_path / "p.csv", "csv"))
    keys = [s.key for s in points.SECTIONS]
    assert table[0] == [*lms.PLAIN_COLUMNS, *keys]
    col = {name: i for i, name in enumerate(table[0])}
    body = {row[col["id"]]: row for row in table[1:]}
    assert {i: r[col["status"]] for i, r in body.items()} == {
        "4": "missing", "1": "graded", "2": "graded", "3": "error"}
    bob = results[1]
    assert float(body["2"][col["total"]]) == bob["score"]
    for k in keys:
        assert float(body["2"][col[k]]) == bob["sections"][k]["score"]
        assert body["3"][col[k]] == ""
    assert float(body["2"][col["manual_pending"]]) == sum(points.MANUAL.values())


def test_roster_text_cannot_run_as_a_formula_or_render_in_the_report(tmp_path):
    student = lms.Student("alice", "1", '=HYPERLINK("http://x","y")', section="+S1",
                          email="@me")
    rows, _ = lms.match([], [student])
    for fmt in lms.FORMATS:
        table = _read(lms.write(rows, tmp_path / f"{fmt}.csv", fmt))
        cells = [c for row in table[1:] for c in row]
        assert not any(c.lstrip().startswith(("=", "+", "@")) for c in cells), cells
    section = "\n".join(lms.report_section(rows, ["<img src=x onerror=alert(1)>"]))
    assert "<img" not in section and "&lt;img" in section


# ------------------------------------------------------------------ the command

def _grade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def test_a_bad_roster_or_lms_without_roster_stops_before_grading(tmp_path):
    sub = tmp_path / "alice"
    build.release(sub)
    out = tmp_path / "out" / "g.json"
    proc = _grade(str(sub), "--lms", "canvas", "--json", str(out))
    assert proc.returncode == 2 and "--roster" in proc.stderr
    bad = roster_file(tmp_path, "folder,id,name\nalice,1,A\nalice,2,B\n")
    proc = _grade(str(sub), "--roster", str(bad), "--lms", "csv", "--json", str(out))
    assert proc.returncode == 2 and f"{bad}, line 3" in proc.stderr, proc.stderr
    assert not out.exists() and not out.parent.exists()


def test_grade_command_writes_the_lms_files(tmp_path):
    """A class of two graded for real: one on the roster with hand-graded points, one not on
    it; a roster student without a submission."""
    alice, stray = tmp_path / "class" / "alice", tmp_path / "class" / "stray"
    build.solution(alice)  # 42.5 autograded
    build.release(stray)
    roster = roster_file(tmp_path, HEADER + 'alice,10234,"Liddell, Alice",s1,al,S01,a@x\n'
                                          "dave,10299,Dave D,s9,dd,S02,d@x\n")
    manual = roster_file(tmp_path, "submission,question,points\nalice,a,2\n", "manual.csv")
    out = tmp_path / "out"
    proc = _grade(str(alice), str(stray), "--jobs", "2", "--roster", str(roster),
                  "--manual", str(manual), "--lms", "canvas", "--lms-assignment",
                  "Homework 1 (48213)", "--json", str(out / "g.json"))
    assert proc.returncode == 0, proc.stderr
    table = _read(out / "g-canvas.csv")
    assert table[0][-1] == "Homework 1 (48213)"
    assert [r[:2] for r in table[2:]] == [["Liddell, Alice", "10234"], ["Dave D", "10299"]]
    assert [r[5] for r in table[2:]] == ["44.5", "0"]  # automatic + merged hand points
    assert "stray" in proc.stderr and "not in the roster" in proc.stderr
    assert "Dave D (dave)" in proc.stderr and "missing" in proc.stderr
    report = (out / "g-report.md").read_text(encoding="utf-8")
    assert "## Roster" in report and "stray" in report.split("## Roster")[1]
    # The grade files still hold the submission that is not on the roster.
    assert '"submission": "stray"' in (out / "g.json").read_text(encoding="utf-8")

    # The same run, the plain CSV: nothing is graded again (the journal), the file appears.
    proc = _grade(str(alice), str(stray), "--roster", str(roster), "--manual", str(manual),
                  "--lms", "csv", "--json", str(out / "g.json"))
    assert proc.returncode == 0, proc.stderr
    plain = _read(out / "g-lms.csv")
    col = {name: i for i, name in enumerate(plain[0])}
    assert [(r[col["id"]], r[col["status"]], r[col["total"]], r[col["manual_pending"]])
            for r in plain[1:]] == [("10234", "graded", "44.5", "20"),
                                    ("10299", "missing", "0", "0")]


# ------------------------------------------------------------------ nbgrader's exporter

def _gradebook(tmp_path: Path):
    """A real nbgrader gradebook: three students from nbgrader's records (one with no
    submission, one autograded with hand-graded answers pending, one graded by hand)."""
    from nbgrader.api import Gradebook

    gb = Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", "deep-learning-embedded")
    gb.add_assignment(points.ASSIGNMENT_ID)
    gb.add_notebook("assignment", points.ASSIGNMENT_ID)
    cells = {**{g: points.section_auto_max(s) for g, s in points.GRADE_CELLS.items()},
             **points.MANUAL}
    for name, top in cells.items():
        gb.add_grade_cell(name, "assignment", points.ASSIGNMENT_ID, max_score=top,
                          cell_type="code" if name in points.GRADE_CELLS else "markdown")
    gb.add_student("s1001", first_name="Alice", last_name="Liddell", email="a@x",
                   lms_user_id="10234")
    gb.add_student("s1002", first_name="Bob", last_name="=cmd|' /C calc'!A0",
                   lms_user_id="10235")
    gb.add_student("s1003", first_name="Dave", last_name="Doe", lms_user_id="10299")
    for sid, auto, hand in (("s1001", {"cross_correlation_tests": 15.0,
                                       "spatial_batchnorm_tests": 25.0,
                                       "warmup_e_test": 2.5}, {}),
                            ("s1002", {"cross_correlation_tests": 6.0,
                                       "spatial_batchnorm_tests": 0.0,
                                       "warmup_e_test": 0.0},
                             {g: 2.0 for g in points.MANUAL})):
        gb.add_submission(points.ASSIGNMENT_ID, sid)
        for name in cells:
            grade = gb.find_grade(name, "assignment", points.ASSIGNMENT_ID, sid)
            if name in auto:
                grade.auto_score = auto[name]
            elif name in hand:
                grade.manual_score = hand[name]
            # An answer written and graded by nobody yet waits for a person.
            grade.needs_manual_grade = name not in auto and name not in hand
        gb.db.commit()
    return gb


def test_nbgrader_export_writes_the_same_lms_files_from_its_student_records(tmp_path,
                                                                           monkeypatch):
    from autograder.nbgrader_plugin import PendingCsvExportPlugin

    # nbgrader runs `alembic` from PATH when it opens the gradebook.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    gb = _gradebook(tmp_path)
    try:
        for fmt in lms.FORMATS:
            plugin = PendingCsvExportPlugin(to=str(tmp_path / "grades.csv"), lms=fmt,
                                            lms_assignment="Homework 1 (48213)")
            plugin.export(gb)
    finally:
        gb.close()
    canvas = _read(tmp_path / "grades-canvas.csv")
    assert canvas[0] == [*lms.CANVAS_COLUMNS, "Homework 1 (48213)"]
    assert canvas[1][0].strip() == "Points Possible" and canvas[1][5] == "65"
    body = {row[1]: row for row in canvas[2:]}
    assert set(body) == {"10234", "10235", "10299"}
    assert body["10234"][:3] == ["Liddell, Alice", "10234", "s1001"]
    assert body["10234"][5] == "42.5" and body["10235"][5] == "24" and body["10299"][5] == "0"
    assert body["10235"][0].startswith("'")  # a name that looks like a formula stays text
    plain = _read(tmp_path / "grades-lms.csv")
    col = {name: i for i, name in enumerate(plain[0])}
    rows = {r[col["id"]]: r for r in plain[1:]}
    assert {i: (r[col["status"]], r[col["manual_pending"]]) for i, r in rows.items()} == {
        "10234": ("graded", "22.5"), "10235": ("graded", "0"), "10299": ("missing", "0")}
    assert rows["10235"][col["warmup"]] == "18" and rows["10235"][col["cross_correlation"]] == "6"
    assert rows["10234"][col["email"]] == "a@x"


def test_nbgrader_export_command_takes_the_lms_option(tmp_path, monkeypatch):
    """``nbgrader export --PendingCsvExportPlugin.lms=canvas`` in the course root: the
    course's configuration picks the exporter, the option reaches it."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    _gradebook(tmp_path).close()
    (tmp_path / "nbgrader_config.py").write_bytes(
        (REPO / "autograder" / "nbgrader_config.py").read_bytes())
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export",
                           "--PendingCsvExportPlugin.lms=canvas"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    canvas = _read(tmp_path / "grades-canvas.csv")
    assert canvas[0][:5] == list(lms.CANVAS_COLUMNS) and len(canvas) == 5
    assert "marked missing: Doe, Dave (s1003)" in proc.stdout + proc.stderr
