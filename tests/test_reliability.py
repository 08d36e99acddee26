"""One submission never costs another, and a grader fault is never a score (issue 19).

- a fault of the judge on one submission of a class graded with ``--jobs 2``: only that
  one is "error" (points pending), the others are graded, the exit status is 1, the
  journal keeps nothing of it and the next run grades it again;
- a path that is not a submission stops before grading (exit 2) with a hint; a zip is
  graded like its folder, unpacked within bounds;
- a subset graded into a class's ``--json`` keeps the rest; feedback follows the stem;
- Ctrl-C ends with a resumable message, exit 130, no traceback;
- student-controlled text is escaped in markdown, HTML and CSV;
- Gradescope grades the answered notebook next to an untouched one, refuses two answered.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autograder import build, points
from autograder.grading import batch, grade, gradescope_run, reports, zips
from tests import fault_injection
from tests.ordinary_user import run_as_user, user_folder
from tests.test_reports import make_result

REPO = Path(__file__).resolve().parent.parent
AUTOGRADED = points.total_max() - sum(points.MANUAL.values())  # 42.5
HOSTILE = "<img src=x onerror=alert(1)> **Instructor: regrade approved, full marks**"


def _args(subs: list[Path], out: Path, name: str = "g", jobs: int = 2
          ) -> argparse.Namespace:
    return argparse.Namespace(
        submissions=[str(s) for s in subs], jobs=jobs, seed=None, timeout=None,
        json=str(out / f"{name}.json"), csv=str(out / f"{name}.csv"),
        gradescope=str(out / "gs"))


@pytest.fixture(scope="module")
def solution(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sol") / "reference"
    build.solution(path)
    return path


@pytest.fixture(scope="module")
def stubs(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stub") / "stubs"
    build.release(path)
    return path


def _class(root: Path, solution: Path, names=("alice", "bob", "carol")) -> list[Path]:
    for name in names:
        shutil.copytree(solution, root / "class" / name)
    return [root / "class" / n for n in names]


def _journal(out: Path, name: str = "g") -> list[str]:
    text = (out / f"{name}.json{batch.JOURNAL_SUFFIX}").read_text()
    return [Path(json.loads(line)["path"]).name for line in text.splitlines() if line]


# ------------------------------------------------------------------ a fault of the grader

def _inject_fault(monkeypatch, victim: str) -> None:
    fault_injection.inject(victim, monkeypatch.setattr)


def test_a_grader_fault_costs_only_its_submission_and_is_never_kept(
        tmp_path, solution, monkeypatch, capsys):
    subs = _class(tmp_path, solution)
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        _inject_fault(patch, "bob")
        assert batch.run_grade_command(_args(subs, out)) == 1
    screen = capsys.readouterr()
    assert "the grader failed on 1 submission (bob)" in screen.err
    assert "SystemError" in screen.err  # the traceback, for the instructor
    assert "! grader error" in screen.out and "bob (" in screen.out

    doc = {s["submission"]: s for s in json.loads((out / "g.json").read_text())["submissions"]}
    reports.validate({"submissions": list(doc.values())}, "grade")
    assert {t["status"] for t in doc["bob"]["tests"]} == {"error"}
    assert any(f.startswith("grader error: the grader failed") for f in doc["bob"]["flags"])
    for name in ("alice", "carol"):
        assert doc[name]["score"] == AUTOGRADED
        assert {t["status"] for t in doc[name]["tests"]} == {"passed"}
    assert sorted(_journal(out)) == ["alice", "carol"]

    rows = {r[0]: r for r in csv.reader(io.StringIO((out / "g.csv").read_text()))}
    header = next(iter(rows.values()))
    first_test = header.index(next(iter(points.TESTS)))
    assert set(rows["bob"][first_test:first_test + len(points.TESTS)]) == {"error"}
    assert rows["alice"][first_test] != "error"
    feedback = (out / "g-bob-feedback.md").read_text()
    assert "Grading error, your instructor has been told" in feedback
    assert "NOT SCORED YET" in feedback and "FAILED" not in feedback
    report = (out / "g-report.md").read_text()
    held = report.split("## Held for review")[1].split("##")[0]
    assert "**bob**" in held and "alice" not in held
    assert "bob" not in report.split("## Most-failed tests")[1].split("##")[0]
    gs = json.loads((out / "gs" / "bob" / "results.json").read_text())
    reports.validate(gs, "gradescope")
    assert gs["output"].startswith(reports.GRADING_ERROR_TEXT)
    assert all("score" not in t for t in gs["tests"][1:])  # no 0 of the student's

    # The next run reuses alice and carol and grades bob again, now without the fault.
    assert batch.run_grade_command(_args(subs, out)) == 0
    screen = capsys.readouterr().out
    assert "reused 2 of 3 results" in screen
    doc = {s["submission"]: s for s in json.loads((out / "g.json").read_text())["submissions"]}
    assert doc["bob"]["score"] == AUTOGRADED
    assert sorted(_journal(out)) == ["alice", "bob", "carol"]

    # A subset graded into the class's file updates that student and keeps the rest.
    (out / "g-report.md").unlink()
    assert batch.run_grade_command(_args([subs[0]], out)) == 0
    screen = capsys.readouterr().out
    assert "kept the results of 2 other submissions already in" in screen
    doc = json.loads((out / "g.json").read_text())["submissions"]
    assert sorted(s["submission"] for s in doc) == ["alice", "bob", "carol"]
    rows = list(csv.reader(io.StringIO((out / "g.csv").read_text())))
    assert sorted(r[0] for r in rows[2:]) == ["alice", "bob", "carol"]
    assert "3 submissions graded" in (out / "g-report.md").read_text()

    # Another --json beside it writes its own feedback, never over the first run's.
    before = (out / "g-alice-feedback.md").read_bytes()
    assert batch.run_grade_command(_args([subs[0]], out, name="late")) == 0
    assert (out / "late-alice-feedback.md").is_file()
    assert (out / "g-alice-feedback.md").read_bytes() == before


@pytest.mark.parametrize("mode", ["root", "user"])
def test_a_grader_fault_from_the_command_line(tmp_path, solution, mode):
    """The real command in a subprocess, as root and as an ordinary user: one submission
    of three (one of them zipped) meets a fault of the judge under --jobs 2."""
    base = tmp_path / "base"
    subs = _class(base, solution)
    files = [p.relative_to(subs[2]).as_posix() for p in subs[2].rglob("*") if p.is_file()]
    carol = _zip(base / "class" / "carol.zip", {f"carol/{r}": subs[2] / r for r in files})
    shutil.rmtree(subs[2])
    subs[2] = carol
    out = base / "out"
    grade_cmd = ["grade", *map(str, subs), "--jobs", "2", "--json", str(out / "g.json")]

    def run(cmd: list[str]) -> subprocess.CompletedProcess:
        if mode == "user":
            user_folder(base)
            return run_as_user(cmd, cwd=REPO, env={"HOME": str(base)}, folders=(base,))
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)

    faulty = run([sys.executable, "-m", "tests.fault_injection", "bob", *grade_cmd])
    assert faulty.returncode == 1, faulty.stderr
    assert "Traceback" in faulty.stderr and "SystemError" in faulty.stderr
    doc = {s["submission"]: s for s in json.loads((out / "g.json").read_text())["submissions"]}
    assert {t["status"] for t in doc["bob"]["tests"]} == {"error"}
    assert doc["alice"]["score"] == doc["carol.zip"]["score"] == AUTOGRADED
    assert sorted(_journal(out)) == ["alice", "carol.zip"]
    again = run([sys.executable, "-m", "autograder", *grade_cmd])
    assert again.returncode == 0, again.stderr
    assert "reused 2 of 3 results" in again.stdout
    doc = {s["submission"]: s for s in json.loads((out / "g.json").read_text())["submissions"]}
    assert doc["bob"]["score"] == AUTOGRADED


def test_an_answer_the_judge_cannot_read_is_error_and_not_journaled(tmp_path, solution,
                                                                    monkeypatch, capsys):
    """The held-for-review case (grade.Outcome.grader_error) is SPEC's "error" too."""
    subs = _class(tmp_path, solution, names=("dave",))
    run_hidden_test = grade.run_hidden_test
    held = next(iter(name for name in grade.hidden_tests.TESTS
                     if points.TESTS[name][0] == "spatial_batchnorm"))

    def unreadable(test, *args, **kwargs):
        outcome = run_hidden_test(test, *args, **kwargs)
        if test.name == held:
            return grade.Outcome(0.0, "not scored yet", grader_error="unreadable result")
        return outcome

    monkeypatch.setattr(grade, "run_hidden_test", unreadable)
    out = tmp_path / "out"
    assert batch.run_grade_command(_args(subs, out, jobs=1)) == 1
    [entry] = json.loads((out / "g.json").read_text())["submissions"]
    status = {t["name"]: t["status"] for t in entry["tests"]}
    assert status.pop(held) == "error" and set(status.values()) == {"passed"}
    assert entry["score"] == AUTOGRADED - points.TESTS[held][1]
    journal = out / f"g.json{batch.JOURNAL_SUFFIX}"
    assert not journal.exists() or _journal(out) == []


def test_the_journal_never_reuses_an_error_result(tmp_path, solution):
    journal_path = tmp_path / f"g.json{batch.JOURNAL_SUFFIX}"
    failed = grade.grader_failed_result(solution, 1, "SystemError: x")
    journal_path.write_text(json.dumps({"path": str(solution.resolve()), "fingerprint": "f",
                                        "result": failed}) + "\n")
    journal = batch.Journal(journal_path)
    assert journal.get(solution, "f") is None
    journal.add(solution, "f", failed)
    assert len(journal_path.read_text().splitlines()) == 1


# ------------------------------------------------------------------ paths that are not submissions

def test_a_path_that_is_not_a_submission_stops_before_grading(tmp_path, solution, capsys,
                                                              monkeypatch):
    subs = _class(tmp_path, solution)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "fake.zip").write_text("not a zip")
    monkeypatch.setattr(batch, "grade_many", lambda *a, **k: pytest.fail("graded"))
    out = tmp_path / "out"
    cases = {
        tmp_path / "class" / "alcie": f"does not exist; did you mean {tmp_path}/class/alice?",
        tmp_path / "class": "holds 3 submissions instead of being one",
        tmp_path / "notes.txt": "neither a folder nor a zip",
        tmp_path / "fake.zip": "neither a folder nor a zip",
    }
    for path, hint in cases.items():
        assert batch.run_grade_command(_args([subs[0], path], out)) == 2
        err = capsys.readouterr().err
        assert hint in err, err
    assert f"did you mean {tmp_path}/class/*?" in batch.check_paths([tmp_path / "class"])[0]
    assert not out.exists()  # nothing written


def test_the_cli_refuses_a_folder_of_submissions(tmp_path, solution):
    _class(tmp_path, solution, names=("alice", "bob"))
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade",
                           str(tmp_path / "class")], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "holds 2 submissions" in proc.stderr and "class/*?" in proc.stderr
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------ zipped submissions

def _zip(path: Path, members: dict[str, Path]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, src in members.items():
            zf.write(src, name)
    return path


def test_zipped_submissions_are_graded_like_folders(tmp_path, solution, capsys):
    files = [p.relative_to(solution).as_posix() for p in solution.rglob("*") if p.is_file()]
    of_folder = _zip(tmp_path / "erin.zip", {f"erin/{r}": solution / r for r in files})
    of_files = _zip(tmp_path / "frank.zip", {r: solution / r for r in files})
    out = tmp_path / "out"
    assert batch.run_grade_command(_args([of_folder, of_files], out)) == 0
    doc = {s["submission"]: s for s in json.loads((out / "g.json").read_text())["submissions"]}
    assert {n: s["score"] for n, s in doc.items()} == {"erin.zip": AUTOGRADED,
                                                        "frank.zip": AUTOGRADED}
    capsys.readouterr()
    assert batch.run_grade_command(_args([of_folder, of_files], out)) == 0
    assert "reused 2 of 2 results" in capsys.readouterr().out


def test_a_zip_unpacks_within_bounds(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.py", "x = 1\n")
        zf.writestr("/abs.py", "x = 1\n")
        zf.writestr("/".join(["d"] * 20) + "/deep.py", "x = 1\n")
        link = zipfile.ZipInfo("source/link.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("__MACOSX/._assignment.ipynb", "x")
        zf.writestr("source/batchnorm.py", "x = 1\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    notes: list[str] = []
    assert zips.unzip(archive, dest, "evil.zip", notes)
    found = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert found == ["source/batchnorm.py"]
    assert not (tmp_path / "escaped.py").exists() and not Path("/abs.py").exists()
    assert any("deep" in n for n in notes)
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def test_a_zip_with_too_many_entries_is_not_opened(tmp_path, monkeypatch):
    monkeypatch.setattr(zips, "MAX_ZIP_ENTRIES", 3)
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(5):
            zf.writestr(f"f{i}.py", "")
    notes: list[str] = []
    zips.unzip(archive, tmp_path, "many.zip", notes)
    assert notes == ["many.zip holds more than 3 entries; not opened"]
    assert not list(tmp_path.glob("f*.py"))


# ------------------------------------------------------------------ Ctrl-C

def test_ctrl_c_ends_with_a_resumable_message(tmp_path, solution):
    subs = _class(tmp_path, solution, names=("a1", "a2", "a3", "a4"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "autograder", "grade", *map(str, subs), "--jobs", "1",
           "--json", str(out / "g.json")]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    journal = out / f"g.json{batch.JOURNAL_SUFFIX}"
    deadline = time.monotonic() + 300
    while not (journal.exists() and journal.read_text().count("\n") >= 1):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    done = len(_journal(out))
    assert f"interrupted: {done} of 4 graded; run the same command to resume" in stderr
    assert not (out / "g.json").exists()
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"reused {done} of 4 results" in again.stdout


# ------------------------------------------------------------------ student text, escaped

def _rendered_markdown_is_inert(text: str) -> None:
    """No HTML tag and no emphasis of the hostile name survives into the markdown."""
    import markdown_it

    html = markdown_it.MarkdownIt("commonmark").enable("table").render(text)
    assert "<img src=x" not in html and 'src="x"' not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown as typed
    assert "<strong>Instructor" not in html and "<em>" not in html


def test_hostile_names_are_escaped_in_feedback_and_report(tmp_path, stubs, capsys):
    sub = tmp_path / "class" / "=HYPERLINK(x)**mallory**"
    shutil.copytree(stubs, sub)
    (sub / "source" / f"{HOSTILE}.py").write_text("import ctypes\n")
    out = tmp_path / "out"
    assert batch.run_grade_command(_args([sub], out, jobs=1)) == 0
    [entry] = json.loads((out / "g.json").read_text())["submissions"]
    assert any(HOSTILE in f for f in entry["flags"])  # the JSON keeps the name as it is
    [feedback] = out.glob("g-*-feedback.md")
    for path in (feedback, out / "g-report.md"):
        text = path.read_text()
        assert "<img src" not in text and "**Instructor" not in text
        _rendered_markdown_is_inert(text)
    rows = list(csv.reader(io.StringIO((out / "g.csv").read_text())))
    assert rows[2][0] == "'=HYPERLINK(x)**mallory**"


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "  =cmd", "\tx"])
def test_csv_cells_never_start_a_formula(tmp_path, value):
    result = make_result(value, "full", flags=[value])
    reports.write_csv([result], tmp_path / "g.csv")
    [row] = list(csv.reader(io.StringIO((tmp_path / "g.csv").read_text())))[2:]
    assert row[0] == "'" + value and row[-1] == "'" + value


def test_similarity_views_escape_names(tmp_path):
    from autograder.similarity import views

    line = views._md(f"{HOSTILE} | next")
    _rendered_markdown_is_inert(f"| a | b |\n|---|---|\n| {line} | x |\n")
    assert " \\| next" in line


# ------------------------------------------------------------------ Gradescope notebooks

def _answered(solution: Path, dest: Path, answer: str = "My own words.") -> Path:
    nb = json.loads((solution / "assignment.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "warmup_a":
            cell["source"] = answer
    dest.write_text(json.dumps(nb))
    return dest


def _collect(tmp_path: Path, upload: Path) -> tuple[Path, list[str]]:
    dest, scratch = tmp_path / "dest", tmp_path / "scratch"
    scratch.mkdir()
    return dest, gradescope_run.collect(upload, dest, scratch).notes


def test_gradescope_grades_the_answered_notebook_next_to_an_untouched_one(tmp_path, stubs,
                                                                          solution):
    up = tmp_path / "upload"
    up.mkdir()
    shutil.copy(stubs / "assignment.ipynb", up / "assignment.ipynb")
    answered = _answered(solution, up / "assignment (1).ipynb")
    assert gradescope_run.holds_answers(up / "assignment.ipynb") is False
    assert gradescope_run.holds_answers(answered) is True
    dest, notes = _collect(tmp_path, up)
    assert (dest / "assignment.ipynb").read_bytes() == answered.read_bytes()
    assert any("assignment (1).ipynb, the one notebook with answers" in n
               and "untouched assignment.ipynb" in n for n in notes), notes


def test_gradescope_refuses_two_answered_notebooks_naming_both(tmp_path, solution):
    up = tmp_path / "upload"
    up.mkdir()
    _answered(solution, up / "assignment.ipynb", "first")
    _answered(solution, up / "assignment (1).ipynb", "second")
    with pytest.raises(gradescope_run.AmbiguousUpload) as err:
        _collect(tmp_path, up)
    assert "assignment.ipynb" in str(err.value) and "assignment (1).ipynb" in str(err.value)


def test_gradescope_counts_identical_notebooks_once(tmp_path, solution):
    up = tmp_path / "upload"
    up.mkdir()
    shutil.copy(solution / "assignment.ipynb", up / "assignment.ipynb")
    shutil.copy(solution / "assignment.ipynb", up / "assignment (1).ipynb")
    dest, _ = _collect(tmp_path, up)
    assert (dest / "assignment.ipynb").read_bytes() == \
        (solution / "assignment.ipynb").read_bytes()


def test_gradescope_error_result_shows_no_score_of_the_students(solution):
    result = grade.grader_failed_result(solution, 1, "SystemError: x")
    payload = reports.gradescope_results(result)
    reports.validate(payload, "gradescope")
    assert payload["tests"][0]["output"].startswith(reports.GRADING_ERROR_TEXT)
    assert payload["extra_data"]["grading_error"] == list(points.TESTS)
    assert not any("score" in t for t in payload["tests"])
