"""Python source to identifier-blind tokens, markdown to words; hashing and winnowing."""

from __future__ import annotations

import ast
import builtins
import functools
import hashlib
import importlib.util
import io
import keyword
import re
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..parsing import parse

#: Tokens per hashed window (a k-gram): about a line and a half of code.
K = 20
#: Winnowing window: every common run of K + WINDOW - 1 tokens or more is found.
WINDOW = 5
#: Words per answer shingle.
N_WORDS = 3

_BUILTINS = frozenset(dir(builtins))
_HASH_MASK = (1 << 52) - 1  # copydetect's winnow compares hashes as floats: keep them exact
_BASE = np.uint64(1_000_003)


@dataclass
class Token:
    text: str          # normalised form that is hashed
    start: int         # character offsets in the file's text
    end: int
    line: int          # 1-based line of the token's start



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
            bound = _bound_names(parse(text))  # one thread at a time
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

