"""Typed grading results: one test, one submission. ``to_json()`` gives SPEC.md's entries.

A test the grader could not score (``grader_error``: the student's process answered but the
judge could not read the answer, or the judge itself failed on the submission) has SPEC's
status ``"error"``: its points are pending, never the student's loss, and never kept as
final (the journal does not keep such a result, so the next run grades it again). Its
submission carries a flag ``grader error: ...`` that the instructor report lists.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from .. import points

GRADER_ERROR = "grader error"
MAX_TEXT = 2000


def clean_text(text: object, limit: int = MAX_TEXT) -> str:
    """Student-controlled text made safe to store, print and render: valid UTF-8 (lone
    surrogates and undecodable bytes become "?"), no control or format characters other
    than newline and tab (no terminal escapes, no bidirectional overrides), bounded."""
    text = str(text).encode("utf-8", "replace").decode("utf-8")
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class TestResult:
    """One graded test of one submission."""

    __test__ = False  # not a pytest test class

    name: str
    section: str
    score: float
    max_score: float
    output: str
    grader_error: str = ""

    @classmethod
    def of(cls, name: str, score: float, output: str, grader_error: str = "") -> TestResult:
        """The result of test `name` (section and maximum from the points table)."""
        section, max_score = points.TESTS[name]
        score = 0.0 if grader_error else round(min(max(score, 0.0), max_score), 4)
        return cls(name, section, score, max_score, clean_text(output),
                   clean_text(grader_error, 500))

    @property
    def status(self) -> str:
        if self.grader_error:
            return "error"
        return "passed" if self.score >= self.max_score else "failed"

    def to_json(self) -> dict:
        entry = {"name": self.name, "section": self.section, "score": self.score,
                 "max_score": self.max_score, "status": self.status, "output": self.output}
        if self.grader_error:
            entry["grader_error"] = self.grader_error
        return entry

    @classmethod
    def from_json(cls, entry: dict) -> TestResult:
        return cls(str(entry["name"]), str(entry["section"]), float(entry["score"]),
                   float(entry["max_score"]), str(entry.get("output", "")),
                   str(entry.get("grader_error", "")))


def error_tests(result: dict) -> list[dict]:
    """The tests of a result dict that the grader could not score (SPEC's ``"error"``)."""
    return [t for t in result.get("tests", []) if t.get("status") == "error"]


def has_error(result: dict) -> bool:
    """Whether the grader failed on some test of this result: its score is not final."""
    return bool(error_tests(result))


@dataclass
class SubmissionResult:
    """Everything graded about one submission."""

    submission: str
    tests: list[TestResult]
    flags: list[str] = field(default_factory=list)
    manual_pending: float = 0.0
    seed: int | None = None
    elapsed_s: float | None = None
    #: letters of the hand-graded answers still to grade (None: not known)
    pending_questions: list[str] | None = None
    #: latency feedback (latency.py): feedback only, never in a section's score
    latency: dict | None = None

    def section_score(self, key: str) -> float:
        return round(sum(t.score for t in self.tests if t.section == key), 4)

    @property
    def held_for_review(self) -> list[TestResult]:
        return [t for t in self.tests if t.grader_error]

    def to_json(self) -> dict:
        sections = {}
        for section in points.SECTIONS:
            entry = {"score": self.section_score(section.key),
                     "max_score": points.section_max(section.key)}
            if section.key == "warmup":
                entry["manual_pending"] = self.manual_pending
            sections[section.key] = entry
        flags = list(self.flags) + [
            f"{GRADER_ERROR}: {t.name} ({t.max_score:g} points) is held for review, not "
            f"scored: {t.grader_error}" for t in self.held_for_review
            # a fault of the whole submission is flagged once, not once per test
            if not any(t.grader_error in f for f in self.flags)]
        flags = [clean_text(f, 500) for f in flags]
        out = {"submission": clean_text(self.submission, 300),
               "score": round(sum(s["score"] for s in sections.values()), 4),
               "max_score": points.total_max(),
               "sections": sections, "tests": [t.to_json() for t in self.tests],
               "flags": list(dict.fromkeys(flags))}
        if self.seed is not None:
            out["seed"] = self.seed
        if self.elapsed_s is not None:
            out["elapsed_s"] = round(self.elapsed_s, 3)
        if self.pending_questions is not None:
            out["pending_questions"] = list(self.pending_questions)
        if self.latency is not None:
            out["latency"] = self.latency
        return out
