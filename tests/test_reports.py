"""The views of the grader's results, checked on synthetic result dicts made from the points
table (no grading runs here)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
import statistics
import subprocess
import zipfile
from pathlib import Path

import jsonschema
import pytest

from autograder import cli, points
from autograder.grading import gradescope_bundle, reports

REPO = Path(__file__).resolve().parents[1]
FLAG = "forbidden call: torch.nn.functional.conv2d in cross_corr_2d"


def message(name: str, passed: bool) -> str:
    if passed:
        return f"{name}: every check matched the expected values."
    return f"{name}: expected shape (3, 4), got (4, 3); check the loop bounds."


def make_result(submission: str, kind: str, flags: list[str] | None = None,
                failing: frozenset[str] = frozenset()) -> dict:
    """A result as the grader returns it. ``kind``: ``full``, ``zero`` or ``mixed`` (every
    third test half right, the rest full); ``failing`` names tests forced to zero."""
    tests = []
    for i, (name, (section, pts)) in enumerate(points.TESTS.items()):
        if kind == "zero" or name in failing:
            score = 0.0
        elif kind == "mixed" and i % 3 == 0:
            score = pts / 2
        else:
            score = pts
        tests.append({"name": name, "section": section, "score": score, "max_score": pts,
                      "status": "passed" if score == pts else "failed",
                      "output": message(name, score == pts)})
    sections = {}
    for s in points.SECTIONS:
        sections[s.key] = {"score": sum(t["score"] for t in tests if t["section"] == s.key),
                           "max_score": points.section_max(s.key)}
    sections["warmup"]["manual_pending"] = sum(points.MANUAL.values())
    return {"submission": submission,
            "score": sum(sec["score"] for sec in sections.values()),
            "max_score": points.total_max(), "sections": sections, "tests": tests,
            "flags": list(flags or []), "seed": 1234, "elapsed_s": 0.8}


@pytest.fixture
def results() -> list[dict]:
    return [make_result("alice", "full"), make_result("bob", "zero"),
            make_result("carol", "mixed", flags=[FLAG, "timeout in bn_backward_dx"])]


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ------------------------------------------------------------------ the synthetic results

def test_synthetic_results_add_up(results):
    full, zero, mixed = results
    assert full["score"] == points.total_max() - sum(points.MANUAL.values())
    assert zero["score"] == 0.0
    halved = sum(pts / 2 for i, (_, pts) in enumerate(points.TESTS.values()) if i % 3 == 0)
    assert mixed["score"] == full["score"] - halved
    assert [t["name"] for t in mixed["tests"]] == list(points.TESTS)


# ------------------------------------------------------------------ JSON and its schema

def test_json_validates_and_round_trips(tmp_path, results):
    path = reports.write_json(results, tmp_path / "grades.json")
    loaded = json.loads(path.read_text())
    reports.validate(loaded, "grade")
    assert list(loaded) == ["submissions"]
    assert [e["submission"] for e in loaded["submissions"]] == ["alice", "bob", "carol"]
    for entry, result in zip(loaded["submissions"], results, strict=True):
        assert list(entry) == list(reports.SPEC_KEYS)  # internal keys (seed...) stay out
        assert entry == {k: result[k] for k in reports.SPEC_KEYS}
    assert leftovers(tmp_path) == []


def _drop_score(doc):
    del doc["submissions"][0]["score"]


def _bad_status(doc):
    doc["submissions"][0]["tests"][0]["status"] = "ok"


def _no_manual_pending(doc):
    del doc["submissions"][0]["sections"]["warmup"]["manual_pending"]


def _missing_section(doc):
    del doc["submissions"][0]["sections"]["spatial_batchnorm"]


def _score_as_text(doc):
    doc["submissions"][0]["score"] = "42.5"


def _flags_not_strings(doc):
    doc["submissions"][0]["flags"] = [{"why": "timeout"}]


def _test_without_output(doc):
    del doc["submissions"][0]["tests"][3]["output"]


@pytest.mark.parametrize("spoil", [_drop_score, _bad_status, _no_manual_pending,
                                   _missing_section, _score_as_text, _flags_not_strings,
                                   _test_without_output])
def test_invalid_json_fails_validation(results, spoil):
    doc = {"submissions": [reports.spec_entry(r) for r in results]}
    reports.validate(doc, "grade")
    spoil(doc)
    with pytest.raises(jsonschema.ValidationError):
        reports.validate(doc, "grade")


def test_write_json_refuses_a_result_off_spec(tmp_path, results):
    results[1]["tests"][0]["status"] = "skipped"
    with pytest.raises(jsonschema.ValidationError):
        reports.write_json(results, tmp_path / "grades.json")
    assert list(tmp_path.iterdir()) == []


def test_write_json_names_a_missing_key(tmp_path, results):
    del results[0]["flags"]
    with pytest.raises(jsonschema.ValidationError, match="flags"):
        reports.write_json(results, tmp_path / "grades.json")


def test_grade_schema_follows_the_points_table():
    schema = json.loads((reports.SCHEMAS / "grade.schema.json").read_text())
    sections = schema["$defs"]["submission"]["properties"]["sections"]
    keys = [s.key for s in points.SECTIONS]
    assert sections["required"] == keys
    assert list(sections["properties"]) == keys
    assert schema["$defs"]["test"]["properties"]["section"]["enum"] == keys


def test_unknown_schema_is_an_error():
    with pytest.raises(ValueError, match="no schema"):
        reports.validate({}, "gradebook")


# ------------------------------------------------------------------ CSV

def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_csv_header_max_row_and_a_column_per_test(tmp_path, results):
    rows = read_csv(reports.write_csv(results, tmp_path / "grades.csv"))
    header, max_row, *data = rows
    assert header[:6] == ["submission", "score", "warmup", "warmup_manual_pending",
                          "cross_correlation", "spatial_batchnorm"]
    assert header[6:-1] == list(points.TESTS)
    assert header[-1] == "flags"
    assert all(len(r) == len(header) for r in rows)

    top = dict(zip(header, max_row, strict=True))
    assert top["submission"] == "MAX"
    assert float(top["score"]) == points.total_max()
    for s in points.SECTIONS:
        assert float(top[s.key]) == points.section_max(s.key)
    assert float(top["warmup_manual_pending"]) == sum(points.MANUAL.values())
    for name, (_, pts) in points.TESTS.items():
        assert float(top[name]) == pts

    assert [r[0] for r in data] == ["alice", "bob", "carol"]
    for row, result in zip(data, results, strict=True):
        cells = dict(zip(header, row, strict=True))
        assert float(cells["score"]) == pytest.approx(result["score"])
        for t in result["tests"]:
            assert float(cells[t["name"]]) == t["score"]
        assert cells["flags"] == "; ".join(result["flags"])


def test_csv_cells_cannot_become_formulas(tmp_path):
    evil = make_result("=HYPERLINK(1)", "zero", flags=["-1 points: late"])
    rows = read_csv(reports.write_csv([evil], tmp_path / "grades.csv"))
    assert rows[2][0] == "'=HYPERLINK(1)"
    assert rows[2][-1] == "'-1 points: late"


# ------------------------------------------------------------------ atomic writes

def test_existing_file_is_replaced_without_leftovers(tmp_path, results):
    path = tmp_path / "grades.json"
    reports.write_json(results[:1], path)
    reports.write_json(results, path)
    assert len(json.loads(path.read_text())["submissions"]) == 3
    assert leftovers(tmp_path) == []


def test_failure_mid_write_keeps_the_old_json(tmp_path, results, monkeypatch):
    path = reports.write_json(results, tmp_path / "grades.json")
    before = path.read_bytes()

    def half_then_crash(obj, f, **kwargs):
        f.write('{"submissions": [')
        raise RuntimeError("disk full")

    monkeypatch.setattr(reports.json, "dump", half_then_crash)
    with pytest.raises(RuntimeError, match="disk full"):
        reports.write_json(results[:1], path)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_failure_mid_write_keeps_the_old_csv(tmp_path, results, monkeypatch):
    path = reports.write_csv(results, tmp_path / "grades.csv")
    before = path.read_bytes()

    def rows_then_crash(results):
        yield ["MAX"]
        raise RuntimeError("serializer broke")

    monkeypatch.setattr(reports, "_csv_rows", rows_then_crash)
    with pytest.raises(RuntimeError, match="serializer broke"):
        reports.write_csv(results, path)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_atomic_files_get_ordinary_permissions(tmp_path, results):
    old = os.umask(0o022)
    try:
        path = reports.write_json(results, tmp_path / "grades.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


# ------------------------------------------------------------------ Gradescope

def test_gradescope_results_validate_and_hide_hidden_tests(tmp_path, results):
    written = reports.write_gradescope(results, tmp_path / "gs")
    assert [p.relative_to(tmp_path / "gs").as_posix() for p in written] == [
        "alice/results.json", "bob/results.json", "carol/results.json"]
    for path, result in zip(written, results, strict=True):
        doc = json.loads(path.read_text())
        reports.validate(doc, "gradescope")
        assert doc["score"] == result["score"]
        assert doc["stdout_visibility"] in ("hidden", "visible", "after_due_date",
                                            "after_published")
        summary, *tests = doc["tests"]
        assert summary["visibility"] == "visible"
        assert [t["name"] for t in tests] == list(points.TESTS)
        for t in tests:
            expected = "visible" if t["name"] in reports.VISIBLE_TESTS else "after_published"
            assert t["visibility"] == expected
        assert sum(t["visibility"] == "after_published" for t in tests) >= len(tests) - 1
        assert sum(t["score"] for t in tests) == pytest.approx(result["score"])
        for flag in result["flags"]:
            assert flag in doc["output"]
            assert flag in summary["output"]


def test_gradescope_status_and_timing(results):
    doc = reports.gradescope_results(results[2])
    by_name = {t["name"]: t for t in doc["tests"]}
    for t in results[2]["tests"]:
        assert by_name[t["name"]]["status"] == t["status"]
        assert by_name[t["name"]]["output"] == t["output"]
    assert doc["execution_time"] == pytest.approx(0.8)
    assert doc["extra_data"]["seed"] == 1234


def test_gradescope_schema_refuses_undocumented_fields(results):
    doc = reports.gradescope_results(results[0])
    doc["tests"][1]["visibility"] = "secret"
    with pytest.raises(jsonschema.ValidationError):
        reports.validate(doc, "gradescope")
    doc = reports.gradescope_results(results[0])
    doc["points"] = 3
    with pytest.raises(jsonschema.ValidationError):
        reports.validate(doc, "gradescope")


def test_gradescope_names_stay_inside_the_folder(tmp_path):
    with pytest.raises(ValueError):
        reports.write_gradescope([make_result("..", "zero")], tmp_path)
    written = reports.write_gradescope([make_result("../escape", "zero")], tmp_path / "gs")
    assert [p.parent.parent for p in written] == [tmp_path / "gs"]  # one level, inside
    assert written[0].parent.name == "..__escape"


# ------------------------------------------------------------------ feedback

def _source_lines() -> set[str]:
    """Distinctive lines of every Python file of the grader (hidden tests, master copy)."""
    lines = set()
    for path in (REPO / "autograder").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if len(line) > 25 and not line.startswith("#"):
                lines.add(line)
    return lines


def test_feedback_has_every_message_and_no_source(tmp_path, results):
    written = reports.write_feedback(results, tmp_path / "fb")
    assert [p.name for p in written] == ["grades-alice-feedback.md", "grades-bob-feedback.md",
                                         "grades-carol-feedback.md"]
    source = _source_lines()
    for path, result in zip(written, results, strict=True):
        text = path.read_text()
        assert "feedback" in path.name
        assert f"{reports._num(result['score'])} / 65" in text
        for t in result["tests"]:
            assert t["output"] in text
            assert f"`{t['name']}`" in text
        for flag in result["flags"]:
            assert reports.md(flag) in text
        assert "hand" in text.lower()
        assert not any(line in text for line in source)
        assert "def " not in text and "import " not in text


def test_feedback_survives_backticks_in_a_message():
    result = make_result("dave", "zero")
    result["tests"][0]["output"] = "got ```inf``` where a finite value was expected"
    text = reports.feedback_markdown(result)
    assert "  ````text\n  " + result["tests"][0]["output"] + "\n  ````" in text


# ------------------------------------------------------------------ instructor report

def test_report_lists_most_failed_tests_and_flagged_submissions(tmp_path, results):
    a, b = "cc_values_nonsquare", "bn_backward_dx"
    results = [*results, make_result("dave", "full", failing=frozenset({a, b})),
               make_result("erin", "full", failing=frozenset({a}))]
    report, image = reports.write_report(results, tmp_path, "hw1")
    assert report.name == "hw1-report.md" and image.name == "hw1-histograms.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    counts = reports.failed_counts(results)
    assert counts[0] == (a, 3)  # bob, dave, erin
    assert [c for _, c in counts] == sorted((c for _, c in counts), reverse=True)
    assert dict(counts)[b] == 2  # bob, dave (carol's half credits fall on other tests)
    text = report.read_text()
    section = text.split("## Most-failed tests")[1].split("## Flagged")[0]
    positions = [section.index(f"`{name}`") for name, _ in counts]
    assert positions == sorted(positions)
    assert f"| `{a}` | cross_correlation | 3 | 3 |" in section

    flagged = text.split("## Flagged submissions")[1]
    assert "carol" in flagged and FLAG in flagged and "timeout in bn_backward_dx" in flagged
    assert "alice" not in flagged and "dave" not in flagged
    assert "hw1-histograms.png" in text
    assert str(len(results)) in text.split("## Scores")[0]
    assert leftovers(tmp_path) == []


def test_report_of_a_perfect_class(tmp_path):
    report, image = reports.write_report([make_result("alice", "full"),
                                          make_result("bob", "full")], tmp_path, "x")
    assert "No test failed." in report.read_text()
    assert image.stat().st_size > 0


def test_report_of_one_submission_draws_no_histogram_and_says_so(tmp_path):
    (tmp_path / "x-histograms.png").write_bytes(b"an earlier class's figure")
    report, image = reports.write_report([make_result("alice", "full")], tmp_path, "x")
    text = report.read_text()
    assert image is None and not (tmp_path / "x-histograms.png").exists()
    assert "No score histograms" in text and "histograms.png" not in text
    assert "No test failed." in text  # the rest of the report is complete


# ------------------------------------------------------------------ terminal table

def test_table_rows_and_footer(results):
    long_name = "a_rather_long_student_submission_folder_name_v2"
    results = [*results, make_result(long_name, "mixed")]
    table = reports.format_table(results)
    lines = table.splitlines()
    assert lines[0].split() == ["submission", "total", "warmup", "cross_correlation",
                                "spatial_batchnorm", "flags"]
    for name in ("alice", "bob", "carol"):
        assert any(line.startswith(name + " ") for line in lines)
    assert long_name not in table
    shortened = reports._shorten(long_name)
    assert len(shortened) == reports.NAME_WIDTH and shortened.endswith("_v2")
    assert shortened in table
    carol = next(line for line in lines if line.startswith("carol"))
    assert carol.split()[-1] == "2"
    mean = statistics.mean(r["score"] for r in results)
    median = statistics.median(r["score"] for r in results)
    mean_line = next(line for line in lines if line.startswith("mean"))
    median_line = next(line for line in lines if line.startswith("median"))
    assert mean_line.split()[2] == reports._num(mean)
    assert median_line.split()[1] == reports._num(median)
    assert "hand-graded" in lines[-1]
    assert len({len(line) for line in lines[:2]}) == 1  # header and rule line up


def test_table_without_submissions():
    assert "no submissions" in reports.format_table([])


# ------------------------------------------------------------------ progress bar

def test_progress_forced_and_disabled(capsys):
    assert list(reports.progress(range(3), total=3, enabled=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    assert list(reports.progress(range(3), total=3, enabled=True)) == [0, 1, 2]
    assert "3/3" in capsys.readouterr().err


def test_progress_off_when_stderr_is_not_a_terminal(capsys):
    assert list(reports.progress(iter("ab"), total=2)) == ["a", "b"]
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ Gradescope bundle

@pytest.fixture
def fake_repo(tmp_path) -> Path:
    """This repository's grader package, plus the clutter an instructor's checkout has."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "autograder", repo / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "requirements.txt", repo / "requirements.txt")
    course = repo / "autograder"
    for folder in ("release/hw1", "submitted/alice/hw1", "autograded/alice/hw1",
                   "feedback/alice/hw1", "__pycache__", "grading/__pycache__"):
        (course / folder).mkdir(parents=True, exist_ok=True)
        (course / folder / "leak.ipynb").write_text("{}")
    (course / "grading" / "__pycache__" / "reports.cpython-311.pyc").write_bytes(b"\0")
    (course / "gradebook.db").write_bytes(b"sqlite")
    return repo


def test_bundle_contents(tmp_path, fake_repo):
    zip_path = gradescope_bundle.write_bundle(tmp_path / "out" / "autograder.zip",
                                              repo=fake_repo)
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        infos = {i.filename: i for i in zf.infolist()}
        runtime = zf.read("requirements-grader.txt").decode()
        setup = zf.read("setup.sh").decode()
        run = zf.read("run_autograder").decode()
    for required in ("setup.sh", "run_autograder", "requirements-grader.txt",
                     "autograder/points.py", "autograder/cli.py", "autograder/__main__.py",
                     "autograder/grading/reports.py",
                     "autograder/grading/schemas/grade.schema.json",
                     "autograder/master/hw1/source/cross_correlation.py"):
        assert required in names
    for name in ("setup.sh", "run_autograder"):
        assert (infos[name].external_attr >> 16) & 0o111 == 0o111
    assert not (infos["requirements-grader.txt"].external_attr >> 16) & 0o111
    for name in names:
        parts = name.split("/")
        assert "__pycache__" not in parts and not name.endswith(".pyc")
        assert parts[:2] not in (["autograder", d] for d in ("release", "submitted",
                                                              "autograded", "feedback"))
        assert name != "autograder/gradebook.db"
    assert "requirements.txt" not in names  # the kit's: jupyterlab, pytest, playwright...
    assert "torch==2.13.0" in runtime.splitlines()
    assert '-r "$req"' in setup and "source/requirements-grader.txt" in setup
    assert "gradescope-run" in run and "AUTOGRADER_ROOT:-/autograder" in run


def test_bundle_scripts_are_valid_bash(tmp_path, fake_repo):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash here")
    zip_path = gradescope_bundle.write_bundle(tmp_path / "autograder.zip", repo=fake_repo)
    with zipfile.ZipFile(zip_path) as zf:
        for name in ("setup.sh", "run_autograder"):
            script = tmp_path / name
            script.write_bytes(zf.read(name))
            assert script.read_text().startswith("#!/usr/bin/env bash\n")
            subprocess.run([bash, "-n", str(script)], check=True)


def test_bundle_is_reproducible(tmp_path, fake_repo):
    one = gradescope_bundle.write_bundle(tmp_path / "one.zip", repo=fake_repo).read_bytes()
    two = gradescope_bundle.write_bundle(tmp_path / "two.zip", repo=fake_repo).read_bytes()
    assert one == two


def test_bundle_command(tmp_path, fake_repo, monkeypatch, capsys):
    monkeypatch.setattr(gradescope_bundle, "REPO", fake_repo)
    assert cli.main(["gradescope-bundle", str(tmp_path / "gs.zip")]) == 0
    assert "gs.zip" in capsys.readouterr().out
    assert zipfile.is_zipfile(tmp_path / "gs.zip")

    (fake_repo / "requirements.txt").unlink()
    assert cli.main(["gradescope-bundle", str(tmp_path / "again.zip")]) == 1
    assert "requirements.txt" in capsys.readouterr().out
    assert not (tmp_path / "again.zip").exists()


def test_histogram_axes_end_at_the_autograded_maxima():
    # A class where everyone answered the hand-graded questions (pending points) and one
    # where nobody did: the axes must not depend on that.
    for kind in ("full", "zero"):
        panels = reports.histogram_panels([make_result("a", kind), make_result("b", "mixed")])
        tops = {label: top for label, _, top in panels}
        assert tops == {"warmup": 2.5, "cross_correlation": 15.0, "spatial_batchnorm": 25.0,
                        "total": 42.5}
