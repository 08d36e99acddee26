"""Copied code and copied warm-up answers across a class: ``python -m autograder similarity``.

Two comparisons, one report:

- **Code.** Every ``source/**/*.py`` of a submission is read as text and turned into a token
  stream with Python's own ``tokenize``: comments, docstrings, layout and string contents are
  dropped, and every name the submission binds itself (variables, parameters, its functions,
  import aliases) becomes one placeholder, while library names (``torch``, ``.unfold``,
  ``dim=``) stay, because a copier cannot rename them and independent authors pick them
  differently. Fingerprints are chosen from hashes of K-token windows with copydetect's
  winnowing (robust winnowing, as in MOSS): every common run of at least
  ``K + WINDOW - 1`` tokens is found wherever it sits, so reordered functions still match.
  Whatever the release stubs and the notebook's own code contain is boilerplate: it is
  neither matched nor counted.
- **Answers.** Each markdown answer (a)-(j), but the autograded (e), is normalised
  (markdown, links, HTML, punctuation and case dropped) and cut into word N-grams; two
  answers to the same question are compared by containment. The question text and the
  answer template are boilerplate. The model answers of ``written_answers.md`` take part
  as one more submission, ``model-answer``, so copying the key shows up as a pair.

Student files are only read, never imported or run: the similarity step is safe on hostile
submissions. A file or notebook that cannot be read (not UTF-8, too large, not a notebook,
a link) is reported in ``notes`` and left out; it never stops the run.
"""

from __future__ import annotations

import ast
import builtins
import functools
import hashlib
import html
import importlib.util
import io
import json
import keyword
import re
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import build, points

#: Tokens per hashed window (a k-gram): about a line and a half of code.
K = 20
#: Winnowing window: every common run of K + WINDOW - 1 tokens or more is found.
WINDOW = 5
#: Own (non-boilerplate) tokens below which a submission's code counts as this many anyway,
#: so that two near-empty submissions cannot look like copies of each other.
MIN_CODE_TOKENS = 60
#: Words per answer shingle.
N_WORDS = 3
#: Shingles below which an answer counts as this many anyway (short answers such as
#: "Leaky ReLU" are alike by necessity, not by copying).
MIN_SHINGLES = 10
#: Pairs at or above this score go to the instructor report's flagged list.
DEFAULT_THRESHOLD = 0.5
#: Pairs below this score are left out of the JSON (they share only scraps of text).
DEFAULT_MIN_SCORE = 0.2
#: Pairs shown side by side in the HTML report.
DEFAULT_HTML_PAIRS = 50
#: Name of the pseudo-submission that holds the model answers.
MODEL_ANSWER = "model-answer"

MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 40
MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024
MAX_ANSWER_CHARS = 20_000

QUESTIONS = tuple(key.removeprefix("warmup_") for key in points.MANUAL)
TEMPLATE_ANSWER = "YOUR ANSWER HERE"

_BUILTINS = frozenset(dir(builtins))
_HASH_MASK = (1 << 52) - 1  # copydetect's winnow compares hashes as floats: keep them exact
_BASE = np.uint64(1_000_003)


# ----------------------------------------------------------------------------- data

@dataclass
class Token:
    text: str          # normalised form that is hashed
    start: int         # character offsets in the file's text
    end: int
    line: int          # 1-based line of the token's start


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


@dataclass
class _Code:
    """A submission's code ready for comparison: token windows of all files in one array."""

    sub: Submission
    file_of: np.ndarray          # file index of each global token position
    local: np.ndarray            # position of each global token inside its file
    boiler: np.ndarray           # bool, token covered by a boilerplate window
    own: int                     # tokens that are not boilerplate
    occ_hash: np.ndarray         # fingerprint of each selected window, sorted (then by place)
    occ_pos: np.ndarray          # global position of that window
    occ_key: np.ndarray          # fingerprint and how many times it came before, in one int
    prints: np.ndarray           # the distinct fingerprints, sorted


@dataclass
class _Answer:
    text: str
    words: list[tuple[int, int]]      # character span of each word
    shingles: dict[int, list[int]]    # shingle hash -> word positions (boilerplate removed)


# ----------------------------------------------------------------------------- code tokens

def _bound_names(tree: ast.AST) -> set[str]:
    """Names a module binds itself: these can be renamed freely, so they are not evidence."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Import):
            # ``import torch`` keeps a library's name; ``import torch as t`` binds one.
            names.update(a.asname for a in node.names if a.asname)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names if a.name != "*")
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    return starts


def tokenize_code(text: str, bound: set[str] | None = None) -> tuple[list[Token], str | None]:
    """Normalised tokens of Python source, and a note when it could not be read to the end.

    ``bound`` is the set of names to replace by the placeholder ``V``; by default the names
    the text binds itself (or, when it does not parse, every name that is no keyword,
    builtin or attribute).
    """
    note = None
    if bound is None:
        try:
            bound = _bound_names(ast.parse(text))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            bound = None
            note = "not valid Python: compared on its raw tokens"
    starts = _line_starts(text)
    raw: list[tokenize.TokenInfo] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            raw.append(tok)
    except (tokenize.TokenError, SyntaxError, ValueError):  # IndentationError too
        note = note or "could not be tokenized to the end"
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
    significant = [t for t in raw if t.type not in skip]
    out: list[Token] = []
    prev: tokenize.TokenInfo | None = None
    drop: set[int] = set()
    for i, tok in enumerate(significant):
        nxt = significant[i + 1] if i + 1 < len(significant) else None
        if tok.type == tokenize.STRING and (prev is None or prev.type in (
                tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)) and (
                nxt is None or nxt.type == tokenize.NEWLINE):
            drop.update((i, i + 1))  # a docstring or a bare string statement: prose, not code
        prev = tok
    prev = None
    for i, tok in enumerate(significant):
        if i in drop:
            continue
        kind, string = tok.type, tok.string
        if kind == tokenize.NAME:
            if keyword.iskeyword(string) or (prev is not None and prev.string == "."):
                norm = string
            elif bound is None:
                norm = string if string in _BUILTINS else "V"
            else:
                norm = "V" if string in bound else string
        elif kind == tokenize.STRING or kind in _FSTRING_TYPES:
            norm = "S"
        elif kind == tokenize.NEWLINE or string == ";":
            norm = ";"
        elif kind == tokenize.INDENT:
            norm = "{"
        elif kind == tokenize.DEDENT:
            norm = "}"
        else:
            norm = string
        (r0, c0), (r1, c1) = tok.start, tok.end
        start = starts[r0 - 1] + c0 if r0 - 1 < len(starts) else len(text)
        end = starts[r1 - 1] + c1 if r1 - 1 < len(starts) else len(text)
        if kind in (tokenize.INDENT, tokenize.DEDENT):
            start = end  # layout: nothing to highlight
        out.append(Token(norm, start, end, r0))
        prev = tok
    return out, note


_FSTRING_TYPES = {getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE",
                                                   "FSTRING_END") if hasattr(tokenize, n)}


@functools.cache
def _load_winnow():
    """copydetect's robust-winnowing selection (``copydetect/pywinnow.py``, numpy only).

    Loaded from its file: ``import copydetect`` would run the package's ``__init__``, which
    imports its report generator and matplotlib.pyplot (a second per run, for nothing)."""
    spec = importlib.util.find_spec("copydetect")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("copydetect is not installed: pip install -r requirements.txt")
    path = Path(list(spec.submodule_search_locations)[0]) / "pywinnow.py"
    module_spec = importlib.util.spec_from_file_location("_copydetect_pywinnow", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module._winnow


def winnow(hashes: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The fingerprints that winnowing keeps and their positions (copydetect's ``winnow``
    with ``remove_duplicates=False``)."""
    if window <= 1 or len(hashes) == 0:
        return hashes, np.arange(len(hashes))
    idx = _load_winnow()(hashes, window)
    return hashes[idx], idx


_VOCAB: dict[str, int] = {}


def _token_id(text: str) -> int:
    value = _VOCAB.get(text)
    if value is None:
        value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        _VOCAB[text] = value
    return value


def kgram_hashes(texts: Sequence[str], k: int) -> np.ndarray:
    """Hash of every window of k consecutive tokens (stable across runs and machines)."""
    n = len(texts) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    ids = np.fromiter((_token_id(t) for t in texts), dtype=np.uint64, count=len(texts))
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * _BASE + ids[j:j + n]
        h ^= h >> np.uint64(29)
    return (h & np.uint64(_HASH_MASK)).astype(np.int64)


# ----------------------------------------------------------------------------- answer words

_MD_DROP = re.compile(
    r"<!--.*?-->"                     # HTML comments
    r"|!\[[^\]]*\]\([^)]*\)"          # images
    r"|\]\([^)]*\)"                   # link targets (the link text stays)
    r"|<[^>\n]*>"                     # HTML tags
    r"|https?://\S+",
    re.S)
_WORD = re.compile(r"[^\W_]+")


def answer_words(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of a markdown answer, markup left out."""
    masked = _MD_DROP.sub(lambda m: " " * len(m.group(0)), text)
    return [m.span() for m in _WORD.finditer(masked)]


def _shingles(text: str, spans: list[tuple[int, int]], n: int) -> list[int]:
    words = [text[a:b].lower() for a, b in spans]
    if len(words) < n:
        return []
    return [h for h in kgram_hashes(words, n).tolist()]


# ----------------------------------------------------------------------------- reading

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
        files = sorted(p for p in source.rglob("*.py") if "__pycache__" not in p.parts)
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
                bound |= _bound_names(ast.parse(text))
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


# ----------------------------------------------------------------------------- fingerprints

def _prepare_code(sub: Submission, boiler: frozenset[int]) -> _Code | None:
    file_of, local, masks, occ_h, occ_p = [], [], [], [], []
    offset = 0
    for index, f in enumerate(sub.files):
        texts = [t.text for t in f.tokens]
        n = len(texts)
        hashes = kgram_hashes(texts, K)
        mask = np.zeros(n, dtype=bool)
        if len(hashes):
            is_boiler = np.fromiter((h in boiler for h in hashes.tolist()), dtype=bool,
                                    count=len(hashes))
            for j in np.flatnonzero(is_boiler).tolist():
                mask[j:j + K] = True
            selected, idx = winnow(hashes, WINDOW)
            keep = np.fromiter((h not in boiler for h in selected.tolist()), dtype=bool,
                               count=len(selected))
            occ_h.append(selected[keep])
            occ_p.append(idx[keep] + offset)
        file_of.append(np.full(n, index, dtype=np.int32))
        local.append(np.arange(n, dtype=np.int32))
        masks.append(mask)
        offset += n
    if not offset:
        return None
    boiler_mask = np.concatenate(masks)
    own = int((~boiler_mask).sum())
    hashes = np.concatenate(occ_h) if occ_h else np.zeros(0, dtype=np.int64)
    if not len(hashes):
        return None
    positions = np.concatenate(occ_p).astype(np.int64)
    order = np.lexsort((positions, hashes))
    hashes, positions = hashes[order], positions[order]
    # The k-th occurrence of a fingerprint on one side pairs with its k-th on the other.
    first = np.searchsorted(hashes, hashes)
    rank = np.minimum(np.arange(len(hashes)) - first, _RANKS - 1)
    keys = (hashes << _RANK_BITS) | rank
    return _Code(sub, np.concatenate(file_of), np.concatenate(local), boiler_mask, own,
                 hashes, positions, keys, np.unique(hashes))


_RANK_BITS = 11  # fingerprints have 52 bits: 52 + 11 fits an int64
_RANKS = 1 << _RANK_BITS


def _prepare_answer(text: str, boiler: frozenset[int]) -> _Answer | None:
    spans = answer_words(text)
    shingles: dict[int, list[int]] = {}
    for i, h in enumerate(_shingles(text, spans, N_WORDS)):
        if h not in boiler:
            shingles.setdefault(h, []).append(i)
    if not shingles:
        return None
    return _Answer(text, spans, shingles)


def _diagonal_runs(a: Sequence[int], b: Sequence[int], width: int,
                   apart: np.ndarray | None = None) -> list[tuple[int, int, int, int]]:
    """Group matching window positions (a[i] on one side, b[i] on the other) into runs that
    advance together; each run is (a_start, a_end, b_start, b_end), ends exclusive, windows
    of ``width``. A run is cut wherever ``apart`` (a label per pair: its files) changes."""
    if not len(a):
        return []
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    labels = np.zeros(len(a), dtype=np.int64) if apart is None else np.asarray(apart)
    order = np.lexsort((a, a - b, labels))
    a, b, labels = a[order], b[order], labels[order]
    cut = np.ones(len(a), dtype=bool)
    cut[1:] = ((a[1:] - b[1:]) != (a[:-1] - b[:-1])) | (a[1:] > a[:-1] + width) | (
        labels[1:] != labels[:-1])
    first = np.flatnonzero(cut)
    last = np.empty_like(first)
    last[:-1] = first[1:] - 1
    last[-1] = len(a) - 1
    runs = sorted(zip((a[last] - a[first]).tolist(), a[first].tolist(),
                      (a[last] + width).tolist(), b[first].tolist(), (b[last] + width).tolist()),
                  reverse=True)
    # Repeated code (two lines that differ only in names) also matches crosswise; keep a
    # run only where it shows something the longer runs do not already show.
    kept: list[tuple[int, int, int, int]] = []
    for _, a0, a1, b0, b1 in runs:
        if not (_covered(a0, a1, [(k[0], k[1]) for k in kept])
                or _covered(b0, b1, [(k[2], k[3]) for k in kept])):
            kept.append((a0, a1, b0, b1))
    return sorted(kept)


def _covered(start: int, end: int, intervals: list[tuple[int, int]]) -> bool:
    """Whether most of [start, end) lies inside the union of intervals."""
    inside = sum(max(0, min(end, b) - max(start, a)) for a, b in intervals)
    return inside >= 0.8 * (end - start)


def _coverage(positions: np.ndarray, width: int, boiler: np.ndarray) -> int:
    """Tokens inside the windows at positions that are not boilerplate."""
    if not len(positions):
        return 0
    covered = np.zeros(len(boiler), dtype=bool)
    covered[(np.asarray(positions)[:, None] + np.arange(width)).ravel()] = True
    return int(np.count_nonzero(covered & ~boiler))


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """values in sorted_set, as a mask (np.isin, without its overhead on small arrays)."""
    idx = np.searchsorted(sorted_set, values)
    idx[idx == len(sorted_set)] = 0
    return sorted_set[idx] == values


def _code_shares(x: _Code, y: _Code) -> tuple[float, float]:
    """Share of each side's own tokens that lie in windows found on the other side."""
    px = x.occ_pos[_member(x.occ_hash, y.prints)]
    py = y.occ_pos[_member(y.occ_hash, x.prints)]
    return (min(1.0, _coverage(px, K, x.boiler) / max(x.own, MIN_CODE_TOKENS)),
            min(1.0, _coverage(py, K, y.boiler) / max(y.own, MIN_CODE_TOKENS)))


def _pairs_of(shared: list[int], x: dict[int, list[int]], y: dict[int, list[int]]
              ) -> tuple[list[int], list[int]]:
    """Positions of each shared fingerprint on both sides, paired up."""
    xs: list[int] = []
    ys: list[int] = []
    for h in shared:
        px, py = x[h], y[h]
        if len(px) == 1 and len(py) == 1 or len(px) * len(py) > 9:
            xs.append(px[0])  # a window repeated many times: pair the first occurrences
            ys.append(py[0])
        else:
            for p in px:
                xs.extend([p] * len(py))
                ys.extend(py)
    return xs, ys


def _code_pair(x: _Code, y: _Code, share_x: float, share_y: float) -> dict:
    _, ix, iy = np.intersect1d(x.occ_key, y.occ_key, assume_unique=True, return_indices=True)
    xs, ys = x.occ_pos[ix], y.occ_pos[iy]
    files = x.file_of[xs].astype(np.int64) * 1_000_003 + y.file_of[ys]
    runs = sorted((int(x.file_of[a0]), int(y.file_of[b0]), a0, a1, b0, b1)
                  for a0, a1, b0, b1 in _diagonal_runs(xs, ys, K, files))
    matches = []
    for fa, fb, a0, a1, b0, b1 in runs:
        a0, a1 = _trim(x.boiler, a0, a1)  # boilerplate at either end is not shown
        b0, b1 = _trim(y.boiler, b0, b1)
        if a1 <= a0 or b1 <= b0:
            continue
        file_a, file_b = x.sub.files[fa], y.sub.files[fb]
        ra = file_a.region(int(x.local[a0]), int(x.local[a1 - 1]))
        rb = file_b.region(int(y.local[b0]), int(y.local[b1 - 1]))
        if ra is None or rb is None:
            continue
        matches.append({"a_file": file_a.rel, "a_lines": ra[0],
                        "b_file": file_b.rel, "b_lines": rb[0],
                        "tokens": int(min(a1 - a0, b1 - b0)),
                        "a_span": ra[1], "b_span": rb[1]})
    return {"a": x.sub.name, "b": y.sub.name, "kind": "code",
            "score": round(max(share_x, share_y), 4),
            "a_share": round(share_x, 4), "b_share": round(share_y, 4),
            "matches": matches}


def _trim(boiler: np.ndarray, start: int, end: int) -> tuple[int, int]:
    own = np.flatnonzero(~boiler[start:end])
    if not len(own):
        return start, start
    return start + int(own[0]), start + int(own[-1]) + 1


def _answer_score(shared: int | np.ndarray, size_x: int | np.ndarray,
                  size_y: int | np.ndarray) -> float | np.ndarray:
    """Containment: shared shingles over the shorter answer's (at least MIN_SHINGLES)."""
    return np.minimum(1.0, shared / np.maximum(np.minimum(size_x, size_y), MIN_SHINGLES))


def _answer_pair(question: str, a_name: str, x: _Answer, b_name: str, y: _Answer,
                 shared: list[int]) -> dict:
    def covered(ans: _Answer) -> int:
        words = {p + j for h in shared for p in ans.shingles[h] for j in range(N_WORDS)}
        return len(words)

    score = _answer_score(len(shared), len(x.shingles), len(y.shingles))
    xs, ys = _pairs_of(shared, x.shingles, y.shingles)
    matches = []
    for a0, a1, b0, b1 in _diagonal_runs(xs, ys, N_WORDS):
        sa = [x.words[a0][0], x.words[min(a1, len(x.words)) - 1][1]]
        sb = [y.words[b0][0], y.words[min(b1, len(y.words)) - 1][1]]
        matches.append({"a_text": x.text[sa[0]:sa[1]], "b_text": y.text[sb[0]:sb[1]],
                        "words": min(a1, len(x.words)) - a0, "a_span": sa, "b_span": sb})
    return {"a": a_name, "b": b_name, "kind": "answer", "question": question,
            "score": round(float(score), 4),
            "a_share": round(covered(x) / max(len(x.words), 1), 4),
            "b_share": round(covered(y) / max(len(y.words), 1), 4),
            "matches": matches}


def _shared_counts(sets: list) -> np.ndarray:
    """Fingerprints shared by every pair of documents, from an inverted index: documents
    that share none are never compared."""
    index: dict[int, list[int]] = {}
    for i, keys in enumerate(sets):
        for h in keys:
            index.setdefault(h, []).append(i)
    counts = np.zeros((len(sets), len(sets)), dtype=np.int32)
    for docs in index.values():
        if len(docs) > 1:
            ids = np.asarray(docs)
            counts[np.ix_(ids, ids)] += 1
    return counts


def _compare_code(codes: list[_Code], min_score: float) -> list[dict]:
    counts = _shared_counts([c.prints.tolist() for c in codes])
    out = []
    for i, j in zip(*np.nonzero(np.triu(counts, 1))):
        x, y = codes[int(i)], codes[int(j)]
        share_x, share_y = _code_shares(x, y)
        score = max(share_x, share_y)
        if score > 0 and score >= min_score:  # matches are worked out for kept pairs only
            out.append(_code_pair(x, y, share_x, share_y))
    return out


def _compare_answers(question: str, answers: list[tuple[str, _Answer]], key_name: str | None,
                     min_score: float) -> list[dict]:
    counts = _shared_counts([a.shingles for _, a in answers])
    sizes = np.array([len(a.shingles) for _, a in answers])
    scores = _answer_score(counts, sizes[:, None], sizes[None, :])
    out = []
    for i, j in zip(*np.nonzero(np.triu((counts > 0) & (scores >= min_score), 1))):
        (na, x), (nb, y) = answers[int(i)], answers[int(j)]
        if na == key_name:  # the model answer is always "b": the student is who copied
            (na, x), (nb, y) = (nb, y), (na, x)
        shared = list(x.shingles.keys() & y.shingles.keys())
        out.append(_answer_pair(question, na, x, nb, y, shared))
    return out


# ----------------------------------------------------------------------------- the run

@dataclass
class Report:
    pairs: list[dict]
    notes: list[dict]
    threshold: float
    submissions: list[str]
    model_answer: str | None
    subs: dict[str, Submission] = field(repr=False, default_factory=dict)
    #: Where the HTML view went, relative to the instructor report (set by ``for_grade``).
    html_index: str | None = None

    @property
    def flagged(self) -> list[dict]:
        return [p for p in self.pairs if p["score"] >= self.threshold]

    def to_json(self) -> dict:
        return {
            "pairs": self.pairs,
            "threshold": self.threshold,
            "submissions": self.submissions,
            "model_answer": self.model_answer,
            "settings": {"code_kgram_tokens": K, "winnow_window": WINDOW,
                         "answer_shingle_words": N_WORDS},
            "notes": self.notes,
        }


def unique_names(paths: Sequence[Path]) -> list[str]:
    """Folder names, with ``-2``, ``-3`` ... where two folders share one (as ``grade``)."""
    seen: dict[str, int] = {}
    names = []
    for path in paths:
        name = path.resolve().name or "submission"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return names


def compare(paths: Sequence[Path], names: Sequence[str] | None = None, *,
            threshold: float = DEFAULT_THRESHOLD, min_score: float = DEFAULT_MIN_SCORE,
            model_answer: bool = True) -> Report:
    """Code and answer similarity of every pair of submissions, highest score first."""
    paths = [Path(p) for p in paths]
    names = list(names) if names is not None else unique_names(paths)
    boiler = boilerplate()
    subs = [read_submission(p, n, boiler.files) for p, n in zip(paths, names)]
    key_name = None
    if model_answer:
        key_name = MODEL_ANSWER
        while key_name in names:
            key_name += "-key"
        subs.append(model_answer_submission(key_name))

    codes = [c for c in (_prepare_code(s, boiler.code) for s in subs if s.files) if c]
    pairs = _compare_code(codes, min_score)
    for q in QUESTIONS:
        answers = []
        for s in subs:
            text = s.answers.get(q)
            prepared = _prepare_answer(text, boiler.answers) if text else None
            if prepared:
                answers.append((s.name, prepared))
        pairs += _compare_answers(q, answers, key_name, min_score)
    pairs.sort(key=lambda p: (-p["score"], p["kind"], p.get("question", ""), p["a"], p["b"]))
    notes = [{"submission": s.name, "note": n} for s in subs for n in s.notes]
    return Report(pairs, notes, threshold, names, key_name, {s.name: s for s in subs})


# ----------------------------------------------------------------------------- outputs

def write_json(report: Report, path: str | Path) -> Path:
    from .grading.reports import atomic_write

    payload = report.to_json()
    pairs = payload.pop("pairs")

    def write(f) -> None:
        # One pair per line: readable, and json's fast encoder (indent= makes it slow).
        f.write('{"pairs": [')
        f.write(",".join("\n" + json.dumps(p, allow_nan=False) for p in pairs))
        f.write("\n]")
        for key, value in payload.items():
            f.write(f",\n{json.dumps(key)}: {json.dumps(value, allow_nan=False)}")
        f.write("\n}\n")
    return atomic_write(path, write)


def _label(pair: dict) -> str:
    return "code" if pair["kind"] == "code" else f"answer ({pair['question']})"


def summary_lines(report: Report, limit: int = 20) -> list[str]:
    """Plain text for the terminal: the flagged pairs, best first."""
    flagged = report.flagged
    out = [f"similarity: {len(report.submissions)} submissions, {len(report.pairs)} pairs "
           f"kept, {len(flagged)} at or above {report.threshold:g}"]
    for p in flagged[:limit]:
        out.append(f"  {p['score']:.2f}  {_label(p):<12} {p['a']}  ~  {p['b']}")
    if len(flagged) > limit:
        out.append(f"  ... and {len(flagged) - limit} more (see the JSON)")
    for n in report.notes:
        out.append(f"  note: {n['submission']}: {n['note']}")
    return out


def report_section(report: Report) -> list[str]:
    """Markdown lines for the instructor report: the pairs above the threshold."""
    flagged = report.flagged
    html_index = report.html_index
    lines = ["### Similar pairs (possible copying)", "",
             (f"Code and warm-up answers of {len(report.submissions)} submissions were compared"
              + (f", with the model answers as `{report.model_answer}`" if report.model_answer
                 else "")
              + f". Pairs scoring {report.threshold:g} or more (1 = one is contained in the "
              "other) are listed; a high score is a reason to look, not a verdict."), ""]
    if html_index:
        lines += [f"Side-by-side view of the top pairs: [{html_index}]({html_index})", ""]
    if flagged:
        lines += ["| score | what | a | b | matching regions |", "|---:|---|---|---|---|"]
        for p in flagged:
            lines.append(f"| {p['score']:.2f} | {_label(p)} | {_md(p['a'])} | {_md(p['b'])} | "
                         f"{_regions(p)} |")
    else:
        lines.append("None above the threshold.")
    if report.notes:
        lines += ["", "Left out of the comparison:"]
        lines += [f"- {_md(n['submission'])}: {_md(n['note'])}" for n in report.notes]
    lines.append("")
    return lines


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _regions(pair: dict) -> str:
    if pair["kind"] == "code":
        parts = [f"{m['a_file']}:{m['a_lines'][0]}-{m['a_lines'][1]} ~ "
                 f"{m['b_file']}:{m['b_lines'][0]}-{m['b_lines'][1]}" for m in pair["matches"][:3]]
    else:
        parts = [f"{m['words']} words" for m in pair["matches"][:3]]
    more = len(pair["matches"]) - 3
    return _md("; ".join(parts) + (f"; +{more} more" if more > 0 else ""))


# ----------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; }
table { border-collapse: collapse; } td, th { padding: .2em .6em; border-bottom: 1px solid #ddd; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; font-size: 85%; white-space: pre-wrap; }
.answer { white-space: pre-wrap; background: #f7f7f7; padding: .6em; }
mark.m0 { background: #ffe08a; } mark.m1 { background: #a8e6a1; } mark.m2 { background: #9fd3ff; }
mark.m3 { background: #f7b2d9; } mark.m4 { background: #d6c2ff; } mark.m5 { background: #ffc59e; }
.flag { color: #b00020; font-weight: bold; }
"""


def _highlight(text: str, spans: list[tuple[int, int, int]]) -> str:
    """``text`` escaped, with ``<mark class="mN">`` around each (start, end, colour) span."""
    out, pos = [], 0
    for start, end, colour in sorted(spans):
        start = max(start, pos)
        if end <= start:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f'<mark class="m{colour % 6}">{html.escape(text[start:end])}</mark>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _pair_html(report: Report, pair: dict, number: int) -> str:
    esc = html.escape
    a, b = report.subs.get(pair["a"]), report.subs.get(pair["b"])
    title = f"{esc(pair['a'])} ~ {esc(pair['b'])}: {esc(_label(pair))}, score {pair['score']:.2f}"
    body = [f"<h2 id='pair-{number}'>{number}. {title}</h2>",
            f"<p>Share of each side's own text that matches: {pair['a_share']:.0%} and "
            f"{pair['b_share']:.0%}. Matching regions have the same colour on both sides.</p>"]
    columns = []
    for side, sub in (("a", a), ("b", b)):
        blocks = [f"<h3>{esc(pair[side])}</h3>"]
        if pair["kind"] == "code":
            files = {f.rel: f for f in (sub.files if sub else [])}
            for rel in dict.fromkeys(m[f"{side}_file"] for m in pair["matches"]):
                spans = [(m[f"{side}_span"][0], m[f"{side}_span"][1], i)
                         for i, m in enumerate(pair["matches"]) if m[f"{side}_file"] == rel]
                text = files[rel].text if rel in files else ""
                blocks.append(f"<h4>{esc(rel)}</h4><pre>{_highlight(text, spans)}</pre>")
        else:
            text = sub.answers.get(pair["question"], "") if sub else ""
            spans = [(m[f"{side}_span"][0], m[f"{side}_span"][1], i)
                     for i, m in enumerate(pair["matches"])]
            blocks.append(f"<div class='answer'>{_highlight(text, spans)}</div>")
        columns.append("<div>" + "\n".join(blocks) + "</div>")
    body.append("<div class='side'>" + "\n".join(columns) + "</div>")
    return "\n".join(body)


def write_html(report: Report, folder: str | Path, top: int = DEFAULT_HTML_PAIRS) -> Path:
    """``folder/index.html``: a table of the top pairs, then each pair side by side."""
    from .grading.reports import atomic_write

    esc = html.escape
    shown = report.pairs[:top]
    rows = []
    for i, p in enumerate(shown, start=1):
        mark = " class='flag'" if p["score"] >= report.threshold else ""
        rows.append(f"<tr><td{mark}>{p['score']:.2f}</td><td>{esc(_label(p))}</td>"
                    f"<td><a href='#pair-{i}'>{esc(p['a'])}</a></td><td>{esc(p['b'])}</td>"
                    f"<td>{len(p['matches'])}</td></tr>")
    notes = "".join(f"<li>{esc(n['submission'])}: {esc(n['note'])}</li>" for n in report.notes)
    page = "\n".join([
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
        "<title>Similarity report</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>Similarity report</h1>",
        f"<p>{len(report.submissions)} submissions; {len(report.pairs)} pairs kept, "
        f"{len(report.flagged)} at or above the threshold {report.threshold:g} (in red). "
        f"The top {len(shown)} are shown below.</p>",
        "<table><tr><th>score</th><th>what</th><th>a</th><th>b</th><th>regions</th></tr>",
        *rows, "</table>",
        f"<h2>Left out</h2><ul>{notes}</ul>" if notes else "",
        *(_pair_html(report, p, i) for i, p in enumerate(shown, start=1)),
        "</body></html>", ""])
    return atomic_write(Path(folder) / "index.html", lambda f: f.write(page))


# ----------------------------------------------------------------------------- command

def run_command(args) -> int:
    """``python -m autograder similarity``; exit status 0 when the report was written."""
    paths = [Path(p) for p in args.submissions]
    report = compare(paths, threshold=_option(args, "similarity_threshold", DEFAULT_THRESHOLD),
                     min_score=_option(args, "min_score", DEFAULT_MIN_SCORE),
                     model_answer=not args.no_model_answer)
    try:
        written = [write_json(report, args.json)]
        if args.html:
            written.append(write_html(report, args.html, top=args.top))
    except OSError as err:
        print(f"error: cannot write the report: {err}")
        return 1
    print("\n".join(summary_lines(report)))
    for path in written:
        print(f"wrote {path}")
    return 0


def _option(args, name: str, default: float) -> float:
    value = getattr(args, name, None)
    return default if value is None else float(value)


def for_grade(args, paths: Sequence[Path], names: Sequence[str], out: Path | None) -> Report:
    """``grade --similarity``: compare the graded submissions under the names of the grade
    table; with an output folder, write ``<stem>-similarity.json`` and an HTML folder."""
    report = compare(paths, names, threshold=_option(args, "similarity_threshold",
                                                     DEFAULT_THRESHOLD))
    if out is not None:
        write_json(report, out.parent / f"{out.stem}-similarity.json")
        report.html_index = f"{out.stem}-similarity/index.html"
        write_html(report, out.parent / f"{out.stem}-similarity")
    print("\n".join(summary_lines(report)))
    return report
