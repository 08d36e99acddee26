"""Warm-up question (e): the answer key and its grader.

The figure of question (e) shows four training runs that differ only in their learning
rate, in panels A-D. The panel order is a fixed shuffle, so the key below is the only
place that says which panel is which; it never reaches the student bundle.

How the answer is read (which cells, which spellings) is decided in one place only,
``master/hw1/read_answer_e.py``. The student bundle ships that same file, and the
notebook's check cell and ``selfcheck.py`` call it, so the check prints exactly what is
graded here. It reads the saved notebook with ``ast`` and never executes it, so grading
runs no student code. The grader always loads the master copy, never a submission's.
This module imports nothing heavy (no torch, no matplotlib): the grader loads it often.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

from .points import ASSIGNMENT_ID

READER_PATH = Path(__file__).resolve().parent / "master" / ASSIGNMENT_ID / "read_answer_e.py"


def _load_reader():
    name = "autograder._read_answer_e"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, READER_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up by name
        spec.loader.exec_module(module)
    return sys.modules[name]


reader = _load_reader()

#: The four runs of the (e) figure: label -> learning rate of plain SGD (see figures.py).
LEARNING_RATES: dict[str, float] = {
    "low": 0.003,     # slow, nearly straight descent, far from converged after 60 epochs
    "good": 1.0,      # fast, and the lowest loss by far
    "high": 3.5,      # a fast first drop, then a noisy plateau well above "good"
    "very high": 30.0,  # the loss jumps far above its starting value and stays there
}

LABELS: tuple[str, ...] = tuple(LEARNING_RATES)
PANELS: tuple[str, ...] = reader.PANELS

#: Seed of the panel shuffle; chosen so that no label sits at its position in LABELS.
PANEL_SEED = 5

#: Panel letter -> label: the answer key of question (e).
PANEL_LABELS: dict[str, str] = dict(zip(PANELS, random.Random(PANEL_SEED).sample(LABELS, 4)))

ANSWER_GRADE_ID = reader.ANSWER_GRADE_ID
ANSWER_NAME = reader.ANSWER_NAME

#: The one rule for labels, shared with the student's check.
normalize_label = reader.normalize_label


def _join(letters: list[str]) -> str:
    return letters[0] if len(letters) == 1 else ", ".join(letters[:-1]) + " and " + letters[-1]


def grade_answer_e(notebook_path: str | Path) -> tuple[float, str]:
    """Grade question (e) of a notebook without running it.

    Returns (fraction of the four panels labelled correctly, message for the student).
    The labels are those that ``read_answer_e.read_answer`` finds, the very ones the
    student's check prints. The message names the wrong panels but never the right labels.
    Never raises: a missing, damaged or unreadable answer scores 0.0 with a message that
    says what went wrong.
    """
    try:
        reading = reader.read_answer(Path(notebook_path))
    except Exception as err:  # noqa: BLE001 -- a grader must never crash on odd input
        return 0.0, f"Question (e) could not be graded ({type(err).__name__})."
    if reading.error is not None:
        return 0.0, f"Question (e) could not be graded: {reading.error}."

    wrong = [p for p in PANELS
             if reading.labels[p] is not None and reading.labels[p] != PANEL_LABELS[p]]
    missing = reading.missing
    unreadable = [f"{p} ({t!r})" for p, t in reading.unreadable.items()]
    right = sum(reading.labels[p] == PANEL_LABELS[p] for p in PANELS)
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
    if reading.duplicates:
        notes.append("A label is given to more than one panel; each label is used exactly "
                     "once.")
    if reading.unknown_keys:
        notes.append("Ignored keys that are not panels A-D: "
                     + ", ".join(reading.unknown_keys) + ".")
    if wrong:
        notes.append("Hints: a too-small rate makes slow, steady progress; a too-large one "
                     "drops fast and then stalls at a higher, noisy loss; a far too large "
                     "one makes the loss grow instead of shrink.")
    return fraction, " ".join(notes)
