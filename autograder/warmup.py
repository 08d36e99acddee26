"""Warm-up question (e): the answer key and its grader.

The figure of question (e) shows four training runs that differ only in their learning
rate, in panels A-D. The panel order is a fixed shuffle, so the key below is the only
place that says which panel is which; it never reaches the student bundle.

The student's answer is a dict literal in the notebook cell ``warmup_e_answer``. It is
read with ``ast`` and never executed, so grading it runs no student code.
This module imports nothing heavy (no torch, no matplotlib): the grader loads it often.
"""

from __future__ import annotations

import ast
import random
import re
from pathlib import Path

import nbformat

#: The four runs of the (e) figure: label -> learning rate of plain SGD (see figures.py).
LEARNING_RATES: dict[str, float] = {
    "low": 0.02,
    "good": 1.0,
    "high": 4.0,
    "very high": 30.0,
}

LABELS: tuple[str, ...] = tuple(LEARNING_RATES)
PANELS: tuple[str, ...] = ("A", "B", "C", "D")

#: Seed of the panel shuffle; chosen so that no label sits at its position in LABELS.
PANEL_SEED = 5

#: Panel letter -> label: the answer key of question (e).
PANEL_LABELS: dict[str, str] = dict(zip(PANELS, random.Random(PANEL_SEED).sample(LABELS, 4)))

ANSWER_GRADE_ID = "warmup_e_answer"
ANSWER_NAME = "answer_e"

# The roman numerals of the question sheet: (i) low ... (iv) very high.
_ROMAN = {"i": "low", "ii": "good", "iii": "high", "iv": "very high"}
# Words that may surround a label without changing it ("very high learning rate").
_FILLER = {"learning", "rate", "lr", "step", "size", "stepsize", "the", "a", "curve", "run"}
_SYNONYMS = {
    "low": "low", "small": "low", "slow": "low", "too low": "low", "too small": "low",
    "good": "good", "right": "good", "optimal": "good", "ideal": "good", "best": "good",
    "high": "high", "large": "high", "big": "high", "too high": "high",
    "very high": "very high", "veryhigh": "very high", "very large": "very high",
    "way too high": "very high", "extremely high": "very high", "very big": "very high",
}


def normalize_label(text: object) -> str | None:
    """The canonical label ("low", "good", "high", "very high") of text, or None.

    Case, punctuation, hyphens and words such as "learning rate" are ignored, and the
    roman numerals of the question sheet are understood: "(ii)", "Low learning rate",
    "very-high LR" and "iv" are all accepted.
    """
    if not isinstance(text, str):
        return None
    words = re.sub(r"[^a-z]+", " ", text.lower()).split()
    words = [w for w in words if w not in _FILLER]
    phrase = " ".join(words)
    if phrase in _ROMAN:
        return _ROMAN[phrase]
    return _SYNONYMS.get(phrase)


def _panel_key(key: object) -> str | None:
    """'A', 'a', 'Panel A' and '(A)' all name panel A."""
    if not isinstance(key, str):
        return None
    words = re.sub(r"[^a-z]+", " ", key.lower()).split()
    words = [w for w in words if w != "panel"]
    if len(words) == 1 and words[0].upper() in PANELS:
        return words[0].upper()
    return None


def _strip_magics(source: str) -> str:
    """IPython magics and shell escapes are not Python: blank them before parsing."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _is_answer(target: ast.expr) -> bool:
    return isinstance(target, ast.Name) and target.id == ANSWER_NAME


def _answer_value(source: str) -> dict:
    """The value of answer_e after the top-level statements of the cell, found statically.

    Whole assignments (``answer_e = {...}``) and item assignments
    (``answer_e["A"] = "low"``) are followed in order; their values must be literals.
    Raises ValueError with a message for the student when that is not possible.
    """
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError as err:
        raise ValueError(f"the answer cell is not valid Python (line {err.lineno}: "
                         f"{err.msg}); fix it so that answer_e is a dict literal") from None
    value: dict | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, expr = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, expr = [node.target], node.value
        else:
            continue
        for target in targets:
            if _is_answer(target):
                try:
                    literal = ast.literal_eval(expr)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    raise ValueError(
                        f"line {node.lineno}: answer_e must be written out as a literal dict "
                        "such as {\"A\": \"low\", ...}; computed values are not read, "
                        "because the answer is graded without running the notebook") from None
                if not isinstance(literal, dict):
                    raise ValueError(f"line {node.lineno}: answer_e must be a dict, "
                                     f"not a {type(literal).__name__}")
                value = dict(literal)
            elif isinstance(target, ast.Subscript) and _is_answer(target.value):
                if value is None:
                    raise ValueError(f"line {node.lineno}: answer_e is changed before it is "
                                     "assigned a dict")
                try:
                    value[ast.literal_eval(target.slice)] = ast.literal_eval(expr)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    raise ValueError(f"line {node.lineno}: write panel letters and labels "
                                     "as plain strings, e.g. answer_e[\"A\"] = \"low\"") from None
    if value is None:
        raise ValueError("no assignment `answer_e = {...}` found at the top level of the "
                         "answer cell")
    return value


def _answer_source(notebook_path: Path) -> str:
    """Source of the (e) answer cell; ValueError with a message when it cannot be read."""
    try:
        nb = nbformat.read(str(notebook_path), as_version=4)
    except FileNotFoundError:
        raise ValueError(f"notebook not found: {Path(notebook_path).name}") from None
    except Exception as err:  # noqa: BLE001 -- nbformat raises many kinds on damaged files
        raise ValueError(f"the notebook could not be read ({type(err).__name__}); "
                         "was it saved from Jupyter?") from None
    cells = [cell for cell in nb.get("cells", [])
             if isinstance(cell, dict) and cell.get("cell_type") == "code"
             and cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == ANSWER_GRADE_ID]
    if not cells:
        raise ValueError("the answer cell of question (e) is missing from the notebook; "
                         "copy it back from a fresh copy of the assignment")
    source = cells[0].get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _join(letters: list[str]) -> str:
    return letters[0] if len(letters) == 1 else ", ".join(letters[:-1]) + " and " + letters[-1]


def grade_answer_e(notebook_path: str | Path) -> tuple[float, str]:
    """Grade question (e) of a notebook without running it.

    Returns (fraction of the four panels labelled correctly, message for the student).
    The message names the wrong panels but never the right labels. Never raises: a missing,
    damaged or unreadable answer scores 0.0 with a message that says what went wrong.
    """
    try:
        answer = _answer_value(_answer_source(Path(notebook_path)))
    except ValueError as err:
        return 0.0, f"Question (e) could not be graded: {err}."
    except Exception as err:  # noqa: BLE001 -- a grader must never crash on odd input
        return 0.0, f"Question (e) could not be graded ({type(err).__name__})."

    given: dict[str, object] = {}
    unknown_keys = []
    for key, label in answer.items():
        panel = _panel_key(key)
        if panel is None:
            unknown_keys.append(repr(key))
        else:
            given[panel] = label

    wrong, missing, unreadable = [], [], []
    for panel in PANELS:
        raw = given.get(panel)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            missing.append(panel)
            continue
        label = normalize_label(raw)
        if label is None:
            unreadable.append(f"{panel} ({raw!r})")
        elif label != PANEL_LABELS[panel]:
            wrong.append(panel)
    right = len(PANELS) - len(wrong) - len(missing) - len(unreadable)
    fraction = right / len(PANELS)

    if fraction == 1.0:
        return 1.0, ("Question (e): all four panels are labelled correctly. The pattern to "
                     "remember: the loss curve's speed, final level and noise tell you "
                     "whether to raise or lower the learning rate.")
    notes = [f"Question (e): {right} of 4 panels labelled correctly."]
    if wrong:
        notes.append(f"Look again at panel{'s' if len(wrong) > 1 else ''} {_join(wrong)}.")
    if missing:
        notes.append(f"No label for panel{'s' if len(missing) > 1 else ''} {_join(missing)}.")
    if unreadable:
        notes.append("Not one of \"low\", \"good\", \"high\", \"very high\": "
                     + ", ".join(unreadable) + ".")
    if unknown_keys:
        notes.append("Ignored keys that are not panels A-D: " + ", ".join(unknown_keys) + ".")
    if wrong:
        notes.append("Hints: a too-small rate makes slow, steady progress; a too-large one "
                     "drops fast and then stalls at a higher, noisy loss; a far too large "
                     "one makes the loss grow instead of shrink.")
    return fraction, " ".join(notes)
