"""Question (e): the notebook's check cell, selfcheck.py and the grader read one answer alike.

Each row of FORMATS is a way a student may write the answer. For each, the notebook is
saved with it; then the check cell of the released notebook runs (in this process, with the
kernel's value of answer_e beside it) and the grader grades the same file. They must agree:
the labels the check prints are the labels the grader scores, and the check fails exactly
when the answer has something to fix.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import build, warmup
from autograder.warmup import PANEL_LABELS as KEY
from autograder.warmup import grade_answer_e

PANELS = "ABCD"
ROMAN = {"low": "(i)", "good": "(ii)", "high": "(iii)", "very high": "(iv)"}
SEED_WORDING = {"low": "(i) Low learning rate", "good": "(ii) Good learning rate",
                "high": "(iii) High learning rate", "very high": "(iv) Very high learning rate"}
WRONG = {p: KEY[PANELS[(i + 1) % 4]] for i, p in enumerate(PANELS)}  # a derangement
TEMPLATE = 'answer_e = {"A": "", "B": "", "C": "", "D": ""}'


def literal(mapping: dict, keys=lambda p: p) -> str:
    return "{" + ", ".join(f"{keys(p)!r}: {v!r}" for p, v in mapping.items()) + "}"


def key_as(spell: dict[str, str]) -> dict[str, str]:
    return {p: spell[KEY[p]] for p in PANELS}


ALL = dict(KEY)
ERROR = "error"  # nothing can be read: every panel scores 0 and the check fails

# (id, answer-cell source, extra cells after it, expected labels or ERROR, check passes?)
FORMATS: list[tuple[str, str, list[str], dict | str, bool]] = [
    ("dict literal", f"answer_e = {literal(KEY)}", [], ALL, True),
    ("dict call with keywords",
     "answer_e = dict(" + ", ".join(f"{p}={KEY[p]!r}" for p in PANELS) + ")", [], ALL, True),
    ("dict call with pairs", f"answer_e = dict({sorted(KEY.items())!r})", [], ALL, True),
    ("dict call with a dict", f"answer_e = dict({literal(KEY)})", [], ALL, True),
    ("item assignments", TEMPLATE + "\n" + "\n".join(
        f"answer_e[{p!r}] = {KEY[p]!r}" for p in PANELS), [], ALL, True),
    ("update with a dict", TEMPLATE + f"\nanswer_e.update({literal(KEY)})", [], ALL, True),
    ("update with keywords", TEMPLATE + "\nanswer_e.update(" + ", ".join(
        f"{p}={KEY[p]!r}" for p in PANELS) + ")", [], ALL, True),
    ("in-place union", TEMPLATE + f"\nanswer_e |= {literal(KEY)}", [], ALL, True),
    ("answer in a new cell", TEMPLATE, [f"answer_e = {literal(KEY)}"], ALL, True),
    ("update in a new cell", TEMPLATE, [f"answer_e.update({literal(KEY)})"], ALL, True),
    ("new cell overrides one panel", f"answer_e = {literal(KEY)}",
     [f"answer_e['A'] = {WRONG['A']!r}"], {**KEY, "A": WRONG["A"]}, False),
    ("new cell swaps two panels", f"answer_e = {literal(KEY)}",
     [f"answer_e.update(A={KEY['B']!r}, B={KEY['A']!r})"], {**KEY, "A": KEY["B"], "B": KEY["A"]},
     True),
    ("trailing spaces", f"answer_e = {literal({p: KEY[p] + ' ' for p in PANELS})}", [],
     ALL, True),
    ("upper case", f"answer_e = {literal({p: KEY[p].upper() for p in PANELS})}", [], ALL, True),
    ("title case with hyphen",
     f"answer_e = {literal({p: KEY[p].title().replace(' ', '-') for p in PANELS})}", [],
     ALL, True),
    ("roman numerals", f"answer_e = {literal(key_as(ROMAN))}", [], ALL, True),
    ("the seed's own wording", f"answer_e = {literal(key_as(SEED_WORDING))}", [], ALL, True),
    ("with 'learning rate'",
     f"answer_e = {literal({p: KEY[p] + ' learning rate' for p in PANELS})}", [], ALL, True),
    ("lower-case keys", f"answer_e = {literal(KEY, str.lower)}", [], ALL, True),
    ("'Panel A' keys", f"answer_e = {literal(KEY, lambda p: 'Panel ' + p)}", [], ALL, True),
    ("annotated assignment", f"answer_e: dict = {literal(KEY)}", [], ALL, True),
    ("comments, magics and prints", f"%matplotlib inline\n# my answer\nanswer_e = "
     f"{literal(KEY)}\nprint(answer_e)\nassert len(answer_e) == 4", [], ALL, True),
    ("two assignments, the last wins", f"answer_e = {literal(WRONG)}\nanswer_e = {literal(KEY)}",
     [], ALL, True),
    ("blank template", TEMPLATE, [], dict.fromkeys(PANELS), True),
    ("one panel left empty", f"answer_e = {literal({**KEY, 'C': ''})}", [],
     {**KEY, "C": None}, True),
    ("all wrong", f"answer_e = {literal(WRONG)}", [], WRONG, True),
    ("one label used twice", f"answer_e = {literal({**KEY, 'A': KEY['B']})}", [],
     {**KEY, "A": KEY["B"]}, False),
    ("every panel 'low'", f"answer_e = {literal(dict.fromkeys(PANELS, 'low'))}", [],
     dict.fromkeys(PANELS, "low"), False),
    ("not a label", f"answer_e = {literal({**KEY, 'D': 'medium'})}", [],
     {**KEY, "D": None}, False),
    ("numeral and word disagree", f"answer_e = {literal({**KEY, 'B': '(i) high'})}", [],
     {**KEY, "B": None}, False),
    ("a key that is no panel", f"answer_e = {literal({**KEY, 'E': 'low'})}", [], ALL, False),
    ("computed value", "labels = ['low', 'good', 'high', 'very high']\n"
     "answer_e = dict(zip('ABCD', labels))", [], ERROR, False),
    ("assigned inside an if", f"if True:\n    answer_e = {literal(KEY)}", [], ERROR, False),
    ("changed in a loop", TEMPLATE + "\nfor p in 'ABCD':\n    answer_e[p] = 'low'", [],
     ERROR, False),
    ("cleared afterwards", f"answer_e = {literal(KEY)}\nanswer_e.clear()", [], ERROR, False),
    ("changed through a second name", f"answer_e = {literal(WRONG)}\nx = answer_e\n"
     f"x.update({literal(KEY)})", [], ERROR, False),
    ("key from a variable", TEMPLATE + "\np = 'A'\nanswer_e[p] = 'low'", [], ERROR, False),
    ("syntax error", "answer_e = {'A': 'low'", [], ERROR, False),
    ("a list", "answer_e = ['low', 'good', 'high', 'very high']", [], ERROR, False),
    ("no assignment", "labels = {'A': 'low'}", [], ERROR, False),
    ("item before assignment", "answer_e['A'] = 'low'", [], ERROR, False),
    ("a broken cell elsewhere is ignored", f"answer_e = {literal(KEY)}", ["x = (1,"], ALL, True),
]


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("rel") / "hw1"
    build.release(dest)
    return dest


def check_cell_source(release: Path) -> str:
    nb = nbformat.read(release / build.NOTEBOOK, as_version=4)
    [cell] = [c for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade_id") == "warmup_e_test"]
    return cell.source


def save_with(release: Path, folder: Path, answer: str, extra: list[str]) -> Path:
    nb = nbformat.read(release / build.NOTEBOOK, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "warmup_e_answer":
            cell.source = answer
            for offset, source in enumerate(extra, start=1):
                nb.cells.insert(index + offset, nbformat.v4.new_code_cell(source))
            break
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / build.NOTEBOOK)
    shutil.copyfile(release / build.ANSWER_READER, folder / build.ANSWER_READER)
    return folder / build.NOTEBOOK


def kernel_value(sources: list[str]) -> object:
    """answer_e after running the cells as a kernel would (None where they fail)."""
    namespace: dict = {}
    for source in sources:
        code = "\n".join("" if line.startswith("%") else line for line in source.splitlines())
        try:
            exec(compile(code, "<cell>", "exec"), namespace)  # test strings only
        except Exception:  # noqa: BLE001 -- a failing cell stops there, as in Jupyter
            continue
    return namespace.get("answer_e")


def printed_labels(out: str) -> dict | str:
    match = re.search(r"as the grader reads it: (.*)", out)
    assert match, out
    if match.group(1).strip() == "nothing can be graded":
        return ERROR
    found = dict(re.findall(r"([ABCD]): ((?:very )?\w+|\(no label\))", match.group(1)))
    return {p: None if found[p] == "(no label)" else found[p] for p in PANELS}


def test_there_are_at_least_30_formats() -> None:
    assert len(FORMATS) >= 30
    assert len({row[0] for row in FORMATS}) == len(FORMATS)


@pytest.mark.parametrize("answer, extra, expected, passes",
                         [row[1:] for row in FORMATS], ids=[row[0] for row in FORMATS])
def test_check_cell_and_grader_agree(release: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch, answer: str,
                                     extra: list[str], expected: dict | str,
                                     passes: bool) -> None:
    notebook = save_with(release, tmp_path / "hw1", answer, extra)
    monkeypatch.chdir(notebook.parent)
    monkeypatch.syspath_prepend(str(notebook.parent))
    runtime = kernel_value([answer, *extra])
    out = io.StringIO()
    failure = None
    with contextlib.redirect_stdout(out):
        try:
            exec(check_cell_source(release), {"answer_e": runtime} if runtime else {})
        except AssertionError as err:
            failure = str(err)
    shown = printed_labels(out.getvalue())
    assert shown == expected, out.getvalue()
    assert (failure is None) == passes, (failure, out.getvalue())
    if failure is not None:
        assert failure.strip(), "every failing check says why"
    # The kernel's value reads the same as the saved file wherever the cells run.
    if expected != ERROR and runtime is not None:
        assert "differs from the saved notebook" not in out.getvalue()

    score, message = grade_answer_e(notebook)
    if expected == ERROR:
        assert score == 0.0 and "could not be graded" in message
    else:
        right = sum(expected[p] == KEY[p] for p in PANELS)
        assert score == right / 4, message


def test_check_warns_when_the_notebook_is_not_saved(release: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = save_with(release, tmp_path / "hw1", TEMPLATE, [])
    monkeypatch.chdir(notebook.parent)
    monkeypatch.syspath_prepend(str(notebook.parent))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(check_cell_source(release), {"answer_e": dict(KEY)})
    assert "save the notebook" in out.getvalue()
    assert "still to label" in out.getvalue()


def test_grader_runs_the_master_reader_not_the_submissions(tmp_path: Path,
                                                          release: Path) -> None:
    notebook = save_with(release, tmp_path / "hw1", f"answer_e = {literal(WRONG)}", [])
    (notebook.parent / build.ANSWER_READER).write_text(
        "def read_answer(*a, **k):\n    raise SystemExit('tampered')\n", encoding="utf-8")
    assert warmup.READER_PATH.parent == build.MASTER
    assert grade_answer_e(notebook)[0] == 0.0


def test_selfcheck_prints_what_will_be_graded(release: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = tmp_path / "hw1"
    shutil.copytree(release, folder)
    save_with(release, folder, f"answer_e = {literal(key_as(SEED_WORDING))}", [])
    done = subprocess.run([sys.executable, "selfcheck.py"], cwd=folder, capture_output=True,
                          text=True, timeout=120)
    graded = ", ".join(f"{p}: {KEY[p]}" for p in PANELS)
    assert re.search(r"^PASS\s+warm-up \(e\)", done.stdout, re.M), done.stdout
    assert f"what will be graded: {graded}" in done.stdout
    save_with(release, folder, f"answer_e = {literal(dict.fromkeys(PANELS, 'low'))}", [])
    done = subprocess.run([sys.executable, "selfcheck.py"], cwd=folder, capture_output=True,
                          text=True, timeout=120)
    assert re.search(r"^FAIL\s+warm-up \(e\)", done.stdout, re.M), done.stdout
    assert "each label is used exactly once" in done.stdout


def test_reader_ships_without_the_key(release: Path) -> None:
    text = (release / build.ANSWER_READER).read_text(encoding="utf-8")
    assert "PANEL_LABELS" not in text and "PANEL_SEED" not in text
    assert (release / build.ANSWER_READER).read_bytes() == (
        build.REPO / build.ANSWER_READER).read_bytes()
