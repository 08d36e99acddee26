"""Reading submissions as text (never running them), and what counts as boilerplate."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import build, points
from ..grading.files import walk
from ..parsing import parse
from .tokens import (
    N_WORDS,
    K,
    Token,
    _bound_names,
    _shingles,
    answer_words,
    kgram_hashes,
    tokenize_code,
)

#: Name of the pseudo-submission that holds the model answers.
MODEL_ANSWER = "model-answer"

MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 40
MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024
MAX_ANSWER_CHARS = 20_000

QUESTIONS = tuple(key.removeprefix("warmup_") for key in points.MANUAL)
TEMPLATE_ANSWER = "YOUR ANSWER HERE"


@dataclass
class CodeFile:
    rel: str
    text: str
    tokens: list[Token]

    def __post_init__(self) -> None:
        self.visible = np.array([i for i, t in enumerate(self.tokens) if t.end > t.start],
                                dtype=np.int64)

    def region(self, first: int, last: int) -> tuple[list[int], list[int]] | None:
        """([start line, end line], [start, end character]) of tokens first..last, layout
        tokens at either end left out; None when none of them has text."""
        i0 = int(np.searchsorted(self.visible, first))
        i1 = int(np.searchsorted(self.visible, last, side="right")) - 1
        if i1 < i0:
            return None
        a, b = self.tokens[int(self.visible[i0])], self.tokens[int(self.visible[i1])]
        end_line = a.line if b.line < a.line else b.line + self.text.count(
            "\n", b.start, b.end)
        return [a.line, end_line], [a.start, b.end]


@dataclass
class Submission:
    name: str
    path: Path | None
    files: list[CodeFile] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _read_text(path: Path, limit: int) -> str:
    if path.is_symlink():
        raise ValueError("is a symbolic link")
    if not path.exists():
        raise FileNotFoundError(path)
    if not path.is_file():
        raise ValueError("is not a regular file")
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"is too large ({size} bytes; the limit is {limit})")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8 text") from None


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def read_answers(notebook: Path) -> dict[str, str]:
    """The markdown answers (a)-(j) of a notebook, keyed by letter; read as JSON, never run."""
    nb = json.loads(_read_text(notebook, MAX_NOTEBOOK_BYTES))
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("is not a Jupyter notebook (no cell list)")
    found: dict[str, str] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
            continue
        meta = cell.get("metadata")
        nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = nbg.get("grade_id") if isinstance(nbg, dict) else None
        if isinstance(grade_id, str) and grade_id.startswith("warmup_"):
            letter = grade_id.removeprefix("warmup_")
            if letter in QUESTIONS and letter not in found:
                found[letter] = _cell_source(cell)[:MAX_ANSWER_CHARS]
    return found


def read_submission(path: Path, name: str, unchanged: frozenset[str] = frozenset()
                    ) -> Submission:
    """A submission's code files and answers; whatever cannot be read becomes a note.
    Files whose text is in ``unchanged`` (the release's own files) hold nothing to compare."""
    sub = Submission(name=name, path=path)
    if not path.is_dir():
        sub.notes.append("not a folder: skipped")
        return sub
    source = path / "source"
    if source.is_dir() and not source.is_symlink():
        files = [source / rel for rel, _ in walk(source, "source").files
                 if rel.endswith(".py")]  # bounded, iterative, never through a link
        if len(files) > MAX_FILES:
            sub.notes.append(f"source/ holds {len(files)} Python files; only the first "
                             f"{MAX_FILES} are compared")
            files = files[:MAX_FILES]
        texts: dict[str, str] = {}
        for file in files:
            rel = file.relative_to(path).as_posix()
            try:
                text = _read_text(file, MAX_FILE_BYTES)
            except (OSError, ValueError) as err:
                sub.notes.append(f"{rel} {err}: left out")
                continue
            if text not in unchanged:
                texts[rel] = text
        bound: set[str] = set()
        parsed = True
        for text in texts.values():
            try:
                bound |= _bound_names(parse(text))  # one thread at a time
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                parsed = False
        for rel, text in texts.items():
            # Names bound in one file and used in another (helpers) are the student's too.
            tokens, note = tokenize_code(text, bound if parsed else None)
            if note:
                sub.notes.append(f"{rel}: {note}")
            sub.files.append(CodeFile(rel, text, tokens))
    else:
        sub.notes.append("no source/ folder: no code compared")
    notebook = path / build.NOTEBOOK
    try:
        sub.answers = read_answers(notebook)
    except FileNotFoundError:
        sub.notes.append(f"{build.NOTEBOOK} is missing: no answers compared")
    except (OSError, ValueError, RecursionError) as err:
        reason = "is not valid JSON" if isinstance(err, json.JSONDecodeError) else str(err)
        sub.notes.append(f"{build.NOTEBOOK} {reason}: no answers compared")
    return sub


# ----------------------------------------------------------------------------- boilerplate

@dataclass(frozen=True)
class Boilerplate:
    code: frozenset[int]
    answers: frozenset[int]
    files: frozenset[str]  # the release's Python files, exactly as students get them


def _student_notebook() -> dict:
    # The committed student view is what build() makes (CI checks that it is not stale);
    # rebuilding it through nbgrader would cost more than the whole comparison.
    committed = build.REPO / build.NOTEBOOK
    if committed.is_file():
        return json.loads(committed.read_text(encoding="utf-8"))
    return json.loads(json.dumps(build.student_notebook()))


def boilerplate() -> Boilerplate:
    """Windows of the release stubs and of the notebook's own code; shingles of the notebook's
    markdown (questions, instructions) and of the answer template."""
    code_sources = [build.strip_python(p.read_text(encoding="utf-8"), f"source/{p.name}")
                    for p in sorted((build.MASTER / "source").glob("*.py"))]
    stamps = [build.PY_STAMP.format(assignment=points.ASSIGNMENT_ID, path=f"source/{p.name}")
              for p in sorted((build.MASTER / "source").glob("*.py"))]
    files = frozenset(stamp + text for stamp, text in zip(stamps, code_sources))
    prose = [TEMPLATE_ANSWER]
    for cell in _student_notebook().get("cells", []):
        text = _cell_source(cell)
        if cell.get("cell_type") == "code":
            code_sources.append("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln
                                          for ln in text.splitlines()))
        elif cell.get("cell_type") == "markdown":
            prose.append(text)
    code: set[int] = set()
    for text in code_sources:
        tokens, _ = tokenize_code(text)
        code.update(kgram_hashes([t.text for t in tokens], K).tolist())
    answers: set[int] = set()
    for text in prose:
        answers.update(_shingles(text, answer_words(text), N_WORDS))
    return Boilerplate(frozenset(code), frozenset(answers), files)


def model_answer_submission(name: str = MODEL_ANSWER) -> Submission:
    answers = {k: v for k, v in build.model_answers().items() if k in QUESTIONS}
    return Submission(name=name, path=None, answers=answers)

