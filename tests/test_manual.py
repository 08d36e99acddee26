"""``grade --manual FILE.csv``: hand-graded warm-up points merged into every view.

The parsing and merging are checked on synthetic results (no grading); one class of two
is graded for real to see the points reach the JSON, CSV, feedback, report and table.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import build, points
from autograder.grading import manual, reports
from tests.test_reports import make_result

REPO = Path(__file__).resolve().parents[1]
HEADER = "submission,question,points\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "manual.csv"
    path.write_text(text)
    return path


def test_reads_one_row_per_graded_answer(tmp_path):
    path = write(tmp_path, HEADER + "alice,a,2.0\nalice,j,2.5\n\nbob,(c),0\n")
    assert manual.read(path, ["alice", "bob"]) == {"alice": {"a": 2.0, "j": 2.5},
                                                   "bob": {"c": 0.0}}


@pytest.mark.parametrize("rows, words", [
    ("alice,e,2.0\n", ["line 2", "alice,e,2.0", "autograded"]),
    ("alice,a,1\nalice,k,1\n", ["line 3", "alice,k,1", "not a hand-graded"]),
    ("alice,a,3\n", ["line 2", "outside 0-2.5"]),
    ("alice,a,-0.5\n", ["line 2", "outside 0-2.5"]),
    ("alice,a,nan\n", ["line 2", "outside 0-2.5"]),
    ("alice,a,two\n", ["line 2", "not a number"]),
    ("alcie,a,2\n", ["line 2", "'alcie'", "no graded submission"]),
    ("alice,a,2\nalice,a,1\n", ["line 3", "graded twice"]),
    ("alice,a\n", ["line 2", "3 fields"]),
])
def test_a_bad_row_is_an_error_that_names_it(tmp_path, rows, words):
    path = write(tmp_path, HEADER + rows)
    with pytest.raises(manual.ManualError) as err:
        manual.read(path, ["alice", "bob"])
    for word in words:
        assert word in str(err.value)


def test_a_bad_header_is_an_error(tmp_path):
    with pytest.raises(manual.ManualError, match="line 1"):
        manual.read(write(tmp_path, "student,q,score\nalice,a,2\n"), ["alice"])


def test_merge_adds_points_and_lowers_pending():
    result = make_result("alice", "full")
    before = result["score"]
    manual.merge(result, {"a": 2.0, "b": 2.5, "c": 1.0})
    warmup = result["sections"]["warmup"]
    assert result["score"] == before + 5.5
    assert warmup["score"] == 2.5 + 5.5
    assert warmup["manual_pending"] == 22.5 - 3 * 2.5
    assert result["manual"] == {"a": 2.0, "b": 2.5, "c": 1.0}
    assert manual.merge(make_result("bob", "full"), {}) == make_result("bob", "full")


def test_pending_follows_the_questions_the_student_answered():
    result = make_result("alice", "full")
    result["pending_questions"] = ["a", "b"]  # only two answers were written
    result["sections"]["warmup"]["manual_pending"] = 5.0
    manual.merge(result, {"a": 2.0, "c": 0.0})  # (c) was left blank and graded 0
    assert result["sections"]["warmup"]["manual_pending"] == 2.5
    assert result["pending_questions"] == ["b"]


def test_table_footnote_and_csv_show_each_students_pending_points(tmp_path):
    alice, bob = make_result("alice", "full"), make_result("bob", "full")
    manual.merge(alice, {q: 2.5 for q in "abcdfg"})  # 7.5 still pending
    table = reports.format_table([alice, bob])
    foot = table.splitlines()[-1]
    assert "7.5 for alice" in foot and "22.5 for bob" in foot
    assert "hand-graded" in foot
    reports.write_csv([alice, bob], tmp_path / "g.csv")
    rows = {r[0]: r for r in csv.reader((tmp_path / "g.csv").open())}
    col = rows["submission"].index("warmup_manual_pending")
    assert rows["alice"][col] == "7.5" and rows["bob"][col] == "22.5"
    assert rows["alice"][rows["submission"].index("score")] == str(42.5 + 15)


def test_footnote_counts_a_large_group():
    results = [make_result(f"s{i}", "full") for i in range(8)]
    assert reports.pending_footnote(results).endswith("22.5 for 8 submissions")


def _grade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


# A cross_corr_2d that returns zeros of the right shape: 6 of the section's 15 points.
CC_ZEROS = """
def cross_corr_2d(X, K):
    return torch.zeros(X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1,
                       dtype=X.dtype, device=X.device)
"""


def test_grade_command_merges_into_every_output(tmp_path):
    """Three students with three different results, given in an order that is none of the
    sorted ones (by name: Bob, alice, zoe; ignoring case: alice, Bob, zoe; by path:
    A/zoe, B/alice, C/Bob): a result, a name or hand-graded points paired with the wrong
    student shows up in every output."""
    zoe, bob, alice = (tmp_path / "class" / d for d in ("A/zoe", "C/Bob", "B/alice"))
    build.solution(zoe)  # 42.5 autograded, every answer written
    build.release(bob)  # nothing: 0, no answer written
    build.solution(alice)
    with open(alice / "source" / "cross_correlation.py", "a") as fh:
        fh.write("\n\n" + CC_ZEROS)  # 42.5 - 15 + 6 = 33.5 autograded
    sheet = write(tmp_path, HEADER + "alice,a,2.0\nBob,a,0.5\nalice,b,2.5\nalice,c,1\n")
    out = tmp_path / "out"
    proc = _grade(str(zoe), str(bob), str(alice), "--jobs", "2", "--manual", str(sheet),
                  "--json", str(out / "g.json"), "--csv", str(out / "g.csv"))
    assert proc.returncode == 0, proc.stderr
    subs = {s["submission"]: s for s in json.loads((out / "g.json").read_text())["submissions"]}
    auto = points.total_max() - sum(points.MANUAL.values())
    assert auto == 42.5
    assert {n: s["score"] for n, s in subs.items()} == {"zoe": auto, "Bob": 0.5,
                                                        "alice": 33.5 + 5.5}
    assert {n: s["sections"]["cross_correlation"]["score"] for n, s in subs.items()} == {
        "zoe": 15.0, "Bob": 0.0, "alice": 6.0}
    assert {n: s["sections"]["warmup"] for n, s in subs.items()} == {
        "zoe": {"score": 2.5, "max_score": 25.0, "manual_pending": 22.5},
        "Bob": {"score": 0.5, "max_score": 25.0, "manual_pending": 0.0},
        "alice": {"score": 8.0, "max_score": 25.0, "manual_pending": 15.0}}
    foot = next(line for line in proc.stdout.splitlines() if "hand-graded" in line)
    assert "15 for alice" in foot and "22.5 for zoe" in foot and "Bob" not in foot, foot
    rows = {r[0]: r for r in csv.reader((out / "g.csv").open())}
    col = {name: i for i, name in enumerate(rows["submission"])}
    assert {n: (rows[n][col["score"]], rows[n][col["warmup_manual_pending"]])
            for n in subs} == {"zoe": ("42.5", "22.5"), "Bob": ("0.5", "0"),
                               "alice": ("39", "15")}
    feedback = {n: (out / f"g-{n}-feedback.md").read_text() for n in subs}
    assert all(f.startswith(f"# Feedback for {n}\n") for n, f in feedback.items())
    assert "| (a) | 2 / 2.5 |" in feedback["alice"] and "**Score so far: 39 / 65**" in feedback[
        "alice"]
    assert "| (a) | 0.5 / 2.5 |" in feedback["Bob"] and "**Score so far: 0.5 / 65**" in feedback[
        "Bob"]
    assert "| (a) |" not in feedback["zoe"] and "**Score so far: 42.5 / 65**" in feedback["zoe"]
    assert "merged with `--manual`" in (out / "g-report.md").read_text()

    # A bad row stops the command before anything is graded or written.
    bad = write(tmp_path, HEADER + "alice,e,2.0\n")
    again = tmp_path / "again"
    proc = _grade(str(alice), "--manual", str(bad), "--json", str(again / "g.json"))
    assert proc.returncode == 2
    assert "line 2 (alice,e,2.0)" in proc.stderr and "autograded" in proc.stderr
    assert not (again / "g.json").exists()

    # No file, no change.
    proc = _grade(str(zoe), "--manual", str(tmp_path / "none.csv"),
                  "--json", str(again / "g.json"))
    assert proc.returncode == 0, proc.stderr
    only = json.loads((again / "g.json").read_text())["submissions"][0]
    assert only["score"] == auto and only["sections"]["warmup"]["manual_pending"] == 22.5
