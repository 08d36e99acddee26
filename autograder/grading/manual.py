"""``grade --manual FILE.csv``: hand-graded warm-up points merged into the results.

The file has the header ``submission,question,points`` and one row per graded answer, e.g.
``alice,a,2.0``. ``submission`` is the name the table shows, ``question`` one of the
hand-graded warm-up letters (a-j except e), ``points`` between 0 and that question's
maximum. Any bad row stops the command before anything is graded, with a message naming
the row. Merged points count in ``score`` and in the warm-up section's ``score``;
``manual_pending`` drops by the maximum of each graded question.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .. import points

HEADER = ["submission", "question", "points"]
#: question letter -> maximum, from the points table (``warmup_a`` -> ``a``).
QUESTIONS = {grade_id.removeprefix("warmup_"): p for grade_id, p in points.MANUAL.items()}


class ManualError(ValueError):
    """A hand-grading file the command cannot use; the message names the row."""


def read(path: str | Path, submissions: list[str]) -> dict[str, dict[str, float]]:
    """``{submission: {question: points}}`` from the file at ``path``.

    ``submissions`` are the names of the graded submissions: a row for any other name is
    an error (most often a typo that would silently lose a student's points).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManualError(f"{path}: cannot read the hand-grading file ({exc})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip().lower() for c in rows[0]] != HEADER:
        raise ManualError(f"{path}, line 1: the header must be {','.join(HEADER)}, "
                          f"found {','.join(rows[0]) if rows else 'an empty file'}")
    known = set(submissions)
    merged: dict[str, dict[str, float]] = {}
    hand_graded = ", ".join(QUESTIONS)
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines are harmless
        where = f"{path}, line {line} ({','.join(row)})"
        if len(row) != 3:
            raise ManualError(f"{where}: expected 3 fields (submission,question,points), "
                              f"found {len(row)}")
        name, question, value = (cell.strip() for cell in row)
        if name not in known:
            raise ManualError(f"{where}: no graded submission is called {name!r} "
                              f"(graded: {', '.join(sorted(known)) or 'none'})")
        question = question.lower().strip("()")
        if question not in QUESTIONS:
            why = ("is autograded, not graded by hand" if question == "e"
                   else "is not a hand-graded warm-up question")
            raise ManualError(f"{where}: question {question!r} {why}; the hand-graded "
                              f"questions are {hand_graded}")
        try:
            score = float(value)
        except ValueError:
            raise ManualError(f"{where}: points {value!r} is not a number") from None
        top = QUESTIONS[question]
        if not math.isfinite(score) or score < 0 or score > top:
            raise ManualError(f"{where}: {value} points is outside 0-{top:g}, the range of "
                              f"question ({question})")
        if question in merged.get(name, {}):
            raise ManualError(f"{where}: question ({question}) of {name} is graded twice")
        merged.setdefault(name, {})[question] = score
    return merged


def merge(result: dict, grades: dict[str, float]) -> dict:
    """``result`` with the hand-graded points of ``grades`` (question -> points) added."""
    if not grades:
        return result
    warmup = result["sections"]["warmup"]
    added = round(sum(grades.values()), 4)
    pending_questions = result.get("pending_questions")
    if pending_questions is not None:
        still = [q for q in pending_questions if q not in grades]
        pending = sum(QUESTIONS[q] for q in still)
    else:  # a result recorded before questions were tracked
        pending = float(warmup.get("manual_pending", 0.0)) - sum(QUESTIONS[q] for q in grades)
        still = None
    warmup["score"] = round(float(warmup["score"]) + added, 4)
    warmup["manual_pending"] = round(max(pending, 0.0), 4)
    result["score"] = round(float(result["score"]) + added, 4)
    result["manual"] = {q: grades[q] for q in QUESTIONS if q in grades}
    if still is not None:
        result["pending_questions"] = still
    return result
