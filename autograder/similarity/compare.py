"""Fingerprints, the pairs that share them, and their scores and matching regions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import clustering as _clusters
from .submissions import (
    MODEL_ANSWER,
    QUESTIONS,
    TEMPLATE_ANSWER,
    CodeFile,
    Submission,
    boilerplate,
    model_answer_submission,
    read_submission,
)
from .tokens import N_WORDS, WINDOW, K, _shingles, answer_words, kgram_hashes, winnow

#: Own (non-boilerplate) tokens below which a submission's code counts as this many anyway,
#: so that two near-empty submissions cannot look like copies of each other.
MIN_CODE_TOKENS = 60
#: Shingles below which an answer counts as this many anyway (short answers such as
#: "Leaky ReLU" are alike by necessity, not by copying).
MIN_SHINGLES = 10
#: Pairs at or above this score go to the instructor report's flagged list.
DEFAULT_THRESHOLD = 0.5
#: Pairs below this score are left out of the JSON (they share only scraps of text).
DEFAULT_MIN_SCORE = 0.2


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
                        "a_span": ra[1], "b_span": rb[1],
                        "a_marks": _marks(x, file_a, a0, a1),
                        "b_marks": _marks(y, file_b, b0, b1)})
    return {"a": x.sub.name, "b": y.sub.name, "kind": "code",
            "score": round(max(share_x, share_y), 4),
            "a_share": round(share_x, 4), "b_share": round(share_y, 4),
            "matches": matches}


def _marks(code: _Code, file: CodeFile, start: int, end: int) -> list[list[int]]:
    """Character spans to highlight for the tokens start..end-1 of a match: the
    submission's own tokens only. A run of matching windows can pass over the release's
    stub (a signature between two functions) or over text the comparison drops (a
    docstring, a comment); the highlight is cut there, so that nothing of the release and
    nothing that was not compared is ever shown as matching."""
    spans: list[list[int]] = []
    current: list[int] | None = None
    for g in range(start, end):
        if code.boiler[g]:
            current = None
            continue
        tok = file.tokens[int(code.local[g])]
        if tok.end <= tok.start:
            continue  # layout: nothing to show
        if current is not None and file.text[current[1]:tok.start].strip():
            current = None  # a comment or docstring in between
        if current is None:
            current = [tok.start, tok.end]
            spans.append(current)
        else:
            current[1] = tok.end
    return spans


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


def _compare_code(codes: list[_Code], min_score: float,
                  outside: frozenset[str] = frozenset()) -> list[dict]:
    counts = _shared_counts([c.prints.tolist() for c in codes])
    out = []
    for i, j in zip(*np.nonzero(np.triu(counts, 1))):
        x, y = codes[int(i)], codes[int(j)]
        if x.sub.name in outside:
            if y.sub.name in outside:
                continue  # references are never compared with each other
            x, y = y, x  # the class's submission is "a": it is the one that may have copied
        share_x, share_y = _code_shares(x, y)
        score = max(share_x, share_y)
        if score > 0 and score >= min_score:  # matches are worked out for kept pairs only
            out.append(_code_pair(x, y, share_x, share_y))
    return out


def _compare_answers(question: str, answers: list[tuple[str, _Answer]],
                     outside: frozenset[str], min_score: float) -> list[dict]:
    counts = _shared_counts([a.shingles for _, a in answers])
    sizes = np.array([len(a.shingles) for _, a in answers])
    scores = _answer_score(counts, sizes[:, None], sizes[None, :])
    out = []
    for i, j in zip(*np.nonzero(np.triu((counts > 0) & (scores >= min_score), 1))):
        (na, x), (nb, y) = answers[int(i)], answers[int(j)]
        if na in outside:
            if nb in outside:
                continue  # the model answer and the references: never with each other
            # The model answer or a reference is always "b": the student is who copied.
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
    #: Groups of the class's flagged pairs (``clustering.clusters``), largest first.
    clusters: list[dict] = field(default_factory=list)
    #: The ``--against`` references (earlier terms, known solutions), by name.
    against: list[str] = field(default_factory=list)

    @property
    def past_matches(self) -> list[dict]:
        """Flagged pairs of a class submission with an ``--against`` reference."""
        refs = set(self.against)
        return [p for p in self.flagged if p["b"] in refs]

    @property
    def flagged(self) -> list[dict]:
        return [p for p in self.pairs if p["score"] >= self.threshold]

    def to_json(self) -> dict:
        return {
            "pairs": self.pairs,
            "threshold": self.threshold,
            "submissions": self.submissions,
            "model_answer": self.model_answer,
            "clusters": self.clusters,
            "against": self.against,
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


def references(folder: Path) -> list[tuple[Path, str]]:
    """The submissions of an ``--against`` folder: the folder itself where it is one,
    else each folder inside it (sorted), named ``<folder>/<name>``."""
    def is_submission(p: Path) -> bool:
        return (p / "source").is_dir() or (p / "assignment.ipynb").is_file()

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--against {folder}: not a folder")
    label = folder.resolve().name or "against"
    if is_submission(folder):
        return [(folder, label)]
    return [(p, f"{label}/{p.name}") for p in sorted(folder.iterdir())
            if p.is_dir() and not p.is_symlink()]


def _filled(sub: Submission, code: _Code | None) -> tuple[float, ...]:
    """How much of the assignment a submission did, read as text: answers written, then
    code of its own (tokens that are not the release's)."""
    answers = sum(1 for t in sub.answers.values() if t.strip() and t.strip() != TEMPLATE_ANSWER)
    return (float(answers), float(code.own if code else 0))


def compare(paths: Sequence[Path], names: Sequence[str] | None = None, *,
            threshold: float = DEFAULT_THRESHOLD, min_score: float = DEFAULT_MIN_SCORE,
            model_answer: bool = True, against: Sequence[tuple[Path, str]] = (),
            scores: dict[str, float] | None = None) -> Report:
    """Code and answer similarity of every pair of submissions, highest score first.

    ``against``: (folder, name) of earlier terms' submissions or known solutions; each is
    compared with every submission of the class, never with another reference.
    ``scores``: each submission's grade, where grading gave one; the most complete member
    of a cluster is then the best graded one."""
    paths = [Path(p) for p in paths]
    names = list(names) if names is not None else unique_names(paths)
    boiler = boilerplate()
    subs = [read_submission(p, n, boiler.files) for p, n in zip(paths, names)]
    taken = set(names)
    ref_names = []
    for path, name in against:
        while name in taken:
            name += " (earlier)"
        taken.add(name)
        ref_names.append(name)
        subs.append(read_submission(Path(path), name, boiler.files))
    key_name = None
    if model_answer:
        key_name = MODEL_ANSWER
        while key_name in taken:
            key_name += "-key"
        subs.append(model_answer_submission(key_name))
    outside = frozenset(ref_names + ([key_name] if key_name else []))

    prepared = {s.name: _prepare_code(s, boiler.code) for s in subs if s.files}
    codes = [c for c in prepared.values() if c]
    pairs = _compare_code(codes, min_score, outside)
    for q in QUESTIONS:
        answers = []
        for s in subs:
            text = s.answers.get(q)
            ready = _prepare_answer(text, boiler.answers) if text else None
            if ready:
                answers.append((s.name, ready))
        pairs += _compare_answers(q, answers, outside, min_score)
    for p in pairs:
        p["explanation"] = _clusters.explain(p)
    pairs.sort(key=lambda p: (-p["score"], p["kind"], p.get("question", ""), p["a"], p["b"]))
    notes = [{"submission": s.name, "note": n} for s in subs for n in s.notes]
    by_name = {s.name: s for s in subs}
    if scores:
        complete = {n: (float(scores.get(n, 0.0)),) for n in names}
        how = "highest score"
    else:
        complete = {n: _filled(by_name[n], prepared.get(n)) for n in names}
        how = "most answers written, then most code of its own"
    groups = _clusters.clusters(pairs, threshold, names, outside,
                                {n: by_name[n].path for n in names}, complete, how)
    return Report(pairs, notes, threshold, names, key_name, by_name, clusters=groups,
                  against=ref_names)
