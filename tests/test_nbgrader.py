"""The nbgrader path end to end, in a copy of the course root.

``nbgrader generate_assignment`` must release no solution text; ``nbgrader autograde`` must
put in the gradebook, per student and section, the scores of ``grade_submission`` (the
isolated grader), never run anything of the student's, and leave the nine hand-graded
answers to the formgrader exactly when the student wrote something.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from filelock import FileLock

from autograder import build, points
from autograder.grading.grade import TEMPLATE_ANSWER, grade_submission
from autograder.grading.sandbox import Sandbox
from tests import test_integrity
from tests.variants import all_variants, expect, make_submission

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = points.ASSIGNMENT_ID
NOTEBOOK_ID = "assignment"
COURSE_ID = "deep-learning-embedded"
# Names of the grading slots (their temp folders); sandbox users are claimed uniquely.
NBGRADER_SLOT, REFERENCE_SLOT = 13, 14
# Every example submission of the library: nbgrader and `grade` must agree on all of them.
VARIANTS = tuple(v.name for kind in ("correct", "bugs") for v in all_variants(kind))
NBGRADER_WORK = ("release", "submitted", "autograded", "feedback", "gradebook.db",
                 ".nbgrader.log", "__pycache__", "*.pyc")


def _variant(name: str):
    found = [v for kind in ("bugs", "correct") for v in all_variants(kind) if v.name == name]
    assert found, f"no variant {name}"
    return found[0]


def _variant_builder(name: str):
    variant = _variant(name)
    return lambda dest: make_submission(dest, variant)


def _nbgrader(course: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(course.parent)
    # nbgrader runs `alembic` from PATH when it opens the gradebook.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _cells(nb) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if "grade_id" in c.get("metadata", {}).get("nbgrader", {})}


def _cheater(dest: Path, marker: Path) -> None:
    """The stubs, with a notebook that would fake its grades if anything in it ran."""
    build.release(dest)
    nb = nbformat.read(dest / build.NOTEBOOK, as_version=4)
    cheat = nbformat.v4.new_code_cell(
        "import torch\n"
        "torch.allclose = lambda *a, **k: True\n"
        "torch.testing.assert_close = lambda *a, **k: None\n"
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "open('source/cross_correlation.py', 'w').write("
        "'def cross_corr_2d(X, K):\\n    return X\\n')\n")
    nb.cells.insert(2, cheat)
    cells = _cells(nb)
    cells["warmup_e_answer"].source += "\nanswer_e = __import__('os').environ  # not run\n"
    for grade_id, section in points.GRADE_CELLS.items():
        cell = cells[grade_id]
        cell.metadata["nbgrader"]["points"] = 1000  # nbgrader restores the real points
        cell.source = "print('all good')"
        cell.outputs = [nbformat.v4.new_output(
            "execute_result", data={"text/plain": repr(points.section_auto_max(section))},
            execution_count=1)]
    nbformat.write(nb, dest / build.NOTEBOOK)


def _edge(dest: Path) -> None:
    """The reference code with the released notebook, edited at the borders of "unchanged".

    warmup_a emptied and warmup_b with a trailing newline are changed answers (nbgrader
    compares the exact text), and the cross-correlation grade cell is deleted.
    """
    build.solution(dest)
    nb = build.student_notebook()
    cells = _cells(nb)
    cells["warmup_a"].source = ""
    cells["warmup_b"].source = TEMPLATE_ANSWER + "\n"
    nb.cells = [c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") != "cross_correlation_tests"]
    nbformat.write(nb, dest / build.NOTEBOOK)


def _cheat_builder(base, module: str, code: str):
    """A submission made by base (build.release or build.solution) with code appended to
    source/<module>.py: the source-level cheats of tests/test_integrity.py."""
    def make(dest: Path) -> None:
        base(dest)
        with open(dest / "source" / f"{module}.py", "a", encoding="utf-8") as fh:
            fh.write("\n\n" + code + "\n")
    return make


SOURCE_CHEATS = {
    "cheat_patch_comparisons": (build.release, "cross_correlation",
                                test_integrity.PATCH_COMPARISONS),
    "cheat_swap_sys_modules": (build.release, "cross_correlation", test_integrity.SWAP_MODULES),
    "cheat_caller_frames": (build.release, "cross_correlation", test_integrity.FRAME_WALK),
    "cheat_exit_at_import": (build.solution, "batchnorm",
                             test_integrity.EXITS["os_exit_at_import"]),
    "cheat_hidden_tests_import": (build.release, "cross_correlation",
                                  "from autograder.grading import hidden_tests\n"),
}


def _copy_course(root: Path) -> Path:
    """A copy of the course root under root, with the repository files its hooks read: the
    model answers and requirements.txt (whose pins the release's requirements.txt takes)."""
    course = root / "autograder"
    shutil.copytree(REPO / "autograder", course, ignore=shutil.ignore_patterns(*NBGRADER_WORK))
    for name in ("written_answers.md", "requirements.txt"):
        shutil.copy(REPO / name, root / name)
    return course


def _grade_course(top: Path) -> dict:
    """Copy the course root under top, release, submit, autograde, export."""
    course = _copy_course(top / "repo")

    _nbgrader(course, "generate_assignment", ASSIGNMENT)

    marker = top / "cheat-ran"
    submitted = course / "submitted"
    builders = {
        "reference": build.solution,
        "stubs": build.release,
        "cheater": lambda d: _cheater(d, marker),
        "edge": _edge,
        **{name: _variant_builder(name) for name in VARIANTS},
        **{name: _cheat_builder(*spec) for name, spec in SOURCE_CHEATS.items()},
    }
    for student, make in builders.items():
        make(submitted / student / ASSIGNMENT)

    # Some 15 s per submission on a busy machine: the library of variants is large.
    autograde = _nbgrader(course, "autograde", ASSIGNMENT,
                          f"--IsolatedGrade.sandbox_slot={NBGRADER_SLOT}",
                          timeout=120 + 15 * len(builders))
    _nbgrader(course, "export")

    with Sandbox(slot=REFERENCE_SLOT) as sandbox:
        reference = {s: grade_submission(submitted / s / ASSIGNMENT, sandbox=sandbox)
                     for s in builders}
    with (course / "grades.csv").open(newline="") as fh:
        exported = {row["student_id"]: row for row in csv.DictReader(fh)}
    return {"course": str(course), "students": list(builders), "reference": reference,
            "exported": exported, "marker": str(marker),
            "autograde_log": autograde.stdout + autograde.stderr}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The graded course copy, made once per test session.

    Under pytest-xdist each worker would otherwise grade its own copy at the same time, in
    the same sandbox slots (whose cleanup kills every process of the slot's user), so the
    first worker grades and the others wait for its results.
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    done = shared / "nbgrader-course.json"
    with FileLock(str(shared / "nbgrader-course.lock")):
        if not done.exists():
            top = shared / "nbgrader-course"
            shutil.rmtree(top, ignore_errors=True)
            top.mkdir()
            done.write_text(json.dumps(_grade_course(top)))
    facts = json.loads(done.read_text())
    facts["course"], facts["marker"] = Path(facts["course"]), Path(facts["marker"])
    return facts


def _gradebook(course: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID)


# ------------------------------------------------------------------ release

def test_release_folder_holds_no_solution_text(course, tmp_path):
    release = course["course"] / "release" / ASSIGNMENT
    assert sorted(p.name for p in (release / "source").glob("*.py")) == sorted(
        p.name for p in (build.MASTER / "source").glob("*.py"))
    assert build.leaks(release) == []
    # Byte for byte the student view that `python -m autograder release` writes.
    bundle = tmp_path / "bundle"
    build.release(bundle)
    for path in (release / "source").glob("*.py"):
        assert path.read_bytes() == (bundle / "source" / path.name).read_bytes(), path.name
    # The answer cells say exactly what manual_pending treats as "unchanged".
    nb = nbformat.read(release / build.NOTEBOOK, as_version=4)
    cells = _cells(nb)
    for grade_id in points.MANUAL:
        assert cells[grade_id].source == TEMPLATE_ANSWER


@pytest.fixture(scope="module")
def nbgrader_release(tmp_path_factory) -> Path:
    """release/hw1 of ``nbgrader generate_assignment`` alone, in a copy of the course root
    (seconds, where the ``course`` fixture autogrades the whole library)."""
    course = _copy_course(tmp_path_factory.mktemp("release-only") / "repo")
    _nbgrader(course, "generate_assignment", ASSIGNMENT)
    return course / "release" / ASSIGNMENT


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_nbgrader_release_holds_the_files_of_autograder_release(nbgrader_release, tmp_path):
    """Students who fetch through nbgrader get the bundle of the course page: the same file
    names (README.md, requirements.txt; no README_student.md), every file but the notebook
    byte for byte, and the notebook's cells and metadata apart from our build stamp."""
    bundle = tmp_path / "bundle"
    build.release(bundle)
    ours, theirs = _tree(bundle), _tree(nbgrader_release)
    assert sorted(theirs) == sorted(ours)
    assert "README.md" in theirs and "requirements.txt" in theirs
    differ = [rel for rel in ours if rel != build.NOTEBOOK and ours[rel] != theirs[rel]]
    assert differ == []
    nb_ours, nb_theirs = (json.loads(files[build.NOTEBOOK]) for files in (ours, theirs))
    assert nb_ours["metadata"].pop(build.NB_STAMP_KEY)
    assert nb_theirs == nb_ours
    # nbgrader's release permissions hold for the files the hook wrote as well.
    modes = {rel: (nbgrader_release / rel).stat().st_mode & 0o777 for rel in theirs}
    assert len(set(modes.values())) == 1, modes


def test_release_hook_fails_closed(tmp_path, monkeypatch):
    from autograder import nbgrader_plugin

    folder = tmp_path / "release" / ASSIGNMENT
    shutil.copytree(build.MASTER, folder)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(build, "strip_python", lambda text, rel: text)  # a broken stripper
    with pytest.raises(RuntimeError, match="solution text"):
        nbgrader_plugin.strip_release(assignment=ASSIGNMENT, student=".", notebooks=[])
    assert not folder.exists()


# ------------------------------------------------------------------ autograde

def test_gradebook_sections_equal_the_isolated_grade(course):
    reference = course["reference"]
    with _gradebook(course["course"]) as gb:
        assert gb.find_assignment(ASSIGNMENT).max_score == pytest.approx(points.total_max())
        assert points.total_max() == 65.0
        for student in course["students"]:
            result = reference[student]
            for grade_id, section in points.GRADE_CELLS.items():
                grade = gb.find_grade(grade_id, NOTEBOOK_ID, ASSIGNMENT, student)
                assert grade.max_score == points.section_auto_max(section)
                assert grade.auto_score == pytest.approx(
                    result["sections"][section]["score"]), (student, section)
                assert not grade.needs_manual_grade, (student, grade_id)
            submission = gb.find_submission(ASSIGNMENT, student)
            assert submission.max_score == 65.0
            assert submission.score == pytest.approx(result["score"]), student


def test_scores_are_the_expected_ones(course):
    """A guard on the comparison above: the class is not all zeros or all full marks."""
    scores = {s: {k: v["score"] for k, v in r["sections"].items()}
              for s, r in course["reference"].items()}
    full = {"warmup": 2.5, "cross_correlation": 15.0, "spatial_batchnorm": 25.0}
    assert scores["reference"] == full
    assert scores["cc_double_loop"] == full
    # The deleted grade cell is restored by the autograder; (e) is unanswered in the release.
    assert scores["edge"] == dict(full, warmup=0.0)
    assert scores["stubs"] == scores["cheater"] == dict.fromkeys(full, 0.0)
    assert scores["cc_uses_conv2d"]["cross_correlation"] == 0.0
    # The grader's pinned verdicts (tests/variants/expected.json), section by section.
    pinned = expect.load()
    for name, section in (("cc_flipped_kernel", "cross_correlation"),
                          ("bn_unbiased_variance", "spatial_batchnorm")):
        tests = pinned[f"bugs/{name}"]["tests"]
        assert scores[name][section] == pytest.approx(
            sum(v for t, v in tests.items() if points.TESTS[t][0] == section)), name
    # Partial credit, neither nothing nor everything (the pinned value follows the seed).
    assert 0.0 < scores["cc_flipped_kernel"]["cross_correlation"] < 15.0
    assert scores["bn_unbiased_variance"]["spatial_batchnorm"] == pytest.approx(8.0)
    assert scores["bn_unbiased_variance"]["cross_correlation"] == 15.0


def test_source_level_cheats_gain_nothing_through_nbgrader(course):
    """The cheats of tests/test_integrity.py, run through `nbgrader autograde`: the
    gradebook holds the isolated grade (compared above), which gives them nothing."""
    scores = {s: {k: v["score"] for k, v in r["sections"].items()}
              for s, r in course["reference"].items()}
    value_tests = set(test_integrity.CC_VALUE_TESTS)
    for name in ("cheat_patch_comparisons", "cheat_swap_sys_modules", "cheat_caller_frames",
                 "cheat_hidden_tests_import"):
        tests = {t["name"]: t["score"] for t in course["reference"][name]["tests"]}
        assert all(tests[t] == 0 for t in value_tests), (name, tests)
        assert scores[name]["spatial_batchnorm"] == 0.0
    assert scores["cheat_hidden_tests_import"]["cross_correlation"] == 0.0
    # Exiting at import costs only its own section.
    assert scores["cheat_exit_at_import"] == {"warmup": 2.5, "cross_correlation": 15.0,
                                              "spatial_batchnorm": 0.0}


def test_hand_graded_answers(course):
    reference = course["reference"]
    expected_pending = {"reference": set(points.MANUAL), "stubs": set(), "cheater": set(),
                        "edge": {"warmup_a", "warmup_b"}}
    with _gradebook(course["course"]) as gb:
        for student in course["students"]:
            pending = set()
            for grade_id in points.MANUAL:
                grade = gb.find_grade(grade_id, NOTEBOOK_ID, ASSIGNMENT, student)
                if grade.needs_manual_grade:
                    assert grade.auto_score is None
                    pending.add(grade_id)
                else:
                    assert grade.auto_score == 0.0, (student, grade_id)
            if student in expected_pending:
                assert pending == expected_pending[student], student
            # Our grader and nbgrader agree on what waits for a human.
            assert reference[student]["sections"]["warmup"]["manual_pending"] == sum(
                points.MANUAL[g] for g in pending), student
            assert gb.find_submission(ASSIGNMENT, student).needs_manual_grade == bool(pending)


def test_export_csv(course):
    exported, reference = course["exported"], course["reference"]
    assert set(exported) == set(course["students"])
    for student, row in exported.items():
        assert float(row["max_score"]) == 65.0
        assert float(row["score"]) == pytest.approx(reference[student]["score"]), student
        # the course's exporter: the hand-graded points nobody has given yet
        assert float(row["manual_pending"]) == pytest.approx(
            reference[student]["sections"]["warmup"]["manual_pending"]), student


def test_autograde_logs_no_checksum_or_session_warning(course):
    """nbgrader#1961 (hidden-test blocks change the checksum) and SQLAlchemy's autoflush
    warning of Gradebook.add_submission must not alarm whoever reads the log. A warning
    about a cell stays for the submissions that really changed one (the cheats)."""
    log = course["autograde_log"]
    assert "Isolated grade of" in log  # the log is the autograde run's
    for noise in ("not in session", "SAWarning"):
        assert noise not in log, noise
    chunks = re.split(r"Creating/updating student with ID '([^']+)'", log)
    per_student = dict(zip(chunks[1::2], chunks[2::2]))
    honest = ["reference", "stubs", *VARIANTS]
    assert set(honest) <= set(per_student)
    warned = [s for s in honest if "Attribute '" in per_student[s]]
    assert not warned, f"nbgrader warned about the cells of {warned}"


def test_feedback_is_in_the_autograded_notebook(course):
    path = course["course"] / "autograded" / "cc_flipped_kernel" / ASSIGNMENT / build.NOTEBOOK
    cells = _cells(nbformat.read(path, as_version=4))
    outputs = cells["cross_correlation_tests"].outputs
    assert [o.output_type for o in outputs] == ["execute_result", "stream"]
    assert outputs[1].name == "stdout"
    score = course["reference"]["cc_flipped_kernel"]["sections"]["cross_correlation"]["score"]
    assert float(outputs[0].data["text/plain"]) == score
    messages = [t["output"] for t in course["reference"]["cc_flipped_kernel"]["tests"]
                if t["section"] == "cross_correlation" and t["status"] == "failed"]
    assert messages and messages[0] in outputs[1].text


def test_nothing_in_the_notebook_runs(course):
    assert not course["marker"].exists()
    autograded = course["course"] / "autograded" / "cheater" / ASSIGNMENT
    nb = nbformat.read(autograded / build.NOTEBOOK, as_version=4)
    cheat = nb.cells[2]
    assert "torch.allclose" in cheat.source and cheat.outputs == []
    stub = (autograded / "source" / "cross_correlation.py").read_text()
    assert "NotImplementedError" in stub
    cells = _cells(nb)
    for grade_id in points.GRADE_CELLS:
        # nbgrader put back the locked cell; our outputs replace the faked ones.
        assert float(cells[grade_id].outputs[0].data["text/plain"]) == 0.0
        assert cells[grade_id].metadata["nbgrader"]["points"] == points.section_auto_max(
            points.GRADE_CELLS[grade_id])


def test_feedback_verdicts_and_flags_agree_with_grade_on_every_variant(course):
    """Every variant of the library: each grade cell's feedback in the autograded notebook
    gives the isolated grade's verdict on each test of its section, and the same flags."""
    for student in VARIANTS:
        result = course["reference"][student]
        path = course["course"] / "autograded" / student / ASSIGNMENT / build.NOTEBOOK
        cells = _cells(nbformat.read(path, as_version=4))
        for grade_id, section in points.GRADE_CELLS.items():
            text = cells[grade_id].outputs[1].text
            for test in (t for t in result["tests"] if t["section"] == section):
                verdict = (f"- {test['name']}: {test['score']:g}/{test['max_score']:g} "
                           f"{test['status']}.")
                assert verdict in text, (student, grade_id, verdict)
            if result["flags"]:
                assert "Flags: " + "; ".join(result["flags"]) in text, (student, grade_id)
            else:
                assert "Flags:" not in text, (student, grade_id)


# ------------------------------------------------------------------ one damaged notebook

def _damaged(dest: Path, damage: str) -> None:
    """The reference, with the notebook damaged the way issue 19.5 saw it."""
    build.solution(dest)
    nb = json.loads((dest / build.NOTEBOOK).read_text())
    index = next(i for i, c in enumerate(nb["cells"])
                 if c["metadata"].get("nbgrader", {}).get("grade_id") == "warmup_a")
    if damage == "schema":
        nb["cells"][index]["metadata"]["nbgrader"]["schema_version"] = 1
    else:  # a duplicated grade cell that lost its cell_type
        copy = json.loads(json.dumps(nb["cells"][index]))
        del copy["cell_type"]
        nb["cells"].insert(index + 1, copy)
    (dest / build.NOTEBOOK).write_text(json.dumps(nb))


def test_one_damaged_notebook_never_stops_autograde(tmp_path):
    """alice, bob (an old schema_version), carol (a grade cell without cell_type), dave:
    every one is graded, the damaged ones by their code too, and the log names the cell."""
    course = _copy_course(tmp_path / "repo")
    _nbgrader(course, "generate_assignment", ASSIGNMENT)
    submitted = course / "submitted"
    build.solution(submitted / "alice" / ASSIGNMENT)
    _damaged(submitted / "bob" / ASSIGNMENT, "schema")
    _damaged(submitted / "carol" / ASSIGNMENT, "cell_type")
    build.solution(submitted / "dave" / ASSIGNMENT)
    proc = _nbgrader(course, "autograde", ASSIGNMENT, "--IsolatedGrade.sandbox_slot=15",
                     timeout=600)
    log = proc.stdout + proc.stderr
    assert "bob: assignment.ipynb cell" in log and "grade id 'warmup_a'" in log
    assert "Outdated schema version: 1 (expected 3)" in log
    assert re.search(r"carol: assignment\.ipynb cell \d+ \(grade id 'warmup_a'\) has no "
                     r"valid cell_type", log), log
    autograded = points.total_max() - sum(points.MANUAL.values())
    with _gradebook(course) as gb:
        for student in ("alice", "bob", "carol", "dave"):
            submission = gb.find_submission(ASSIGNMENT, student)
            assert submission.score == pytest.approx(autograded), student
