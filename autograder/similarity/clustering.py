"""Pairs above the threshold grouped into clusters; each pair's score in plain words.

A many-way copy (five students passing one file around) is ten pairs; the instructor wants
one group with its members, the one who had it first and the most complete version.
Clusters are the connected components of the class's flagged pairs (union-find). Pairs
with the model answer or with an ``--against`` reference never join two students: two
students who each copied last year's solution did not necessarily copy each other.

Earliest: nbgrader's ``timestamp.txt`` in the submission folder when there is one (the
time nbgrader recorded at submission), else the modification time of the notebook (what
an LMS download or a copied folder keeps), else the newest ``source/*.py``. Most
complete: the highest score where grading gave one (``grade --similarity``), else the most
answers written, then the most code of one's own.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

MAX_TIMESTAMP_BYTES = 200


def submitted_at(path: Path | None) -> tuple[dt.datetime | None, str]:
    """When a submission was handed in, and where that came from."""
    if path is None or not path.is_dir():
        return None, "unknown"
    stamp = path / "timestamp.txt"
    if stamp.is_file() and not stamp.is_symlink() and stamp.stat().st_size <= MAX_TIMESTAMP_BYTES:
        try:
            from dateutil.parser import parse  # nbgrader's own parser of this file

            when = parse(stamp.read_text(encoding="utf-8").strip())
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)  # nbgrader writes UTC
            return when, "nbgrader timestamp.txt"
        except (ValueError, OverflowError, OSError, UnicodeDecodeError, ImportError):
            pass  # a damaged stamp: fall back to the files' times

    def modified(file: Path) -> dt.datetime | None:
        try:
            return dt.datetime.fromtimestamp(os.lstat(file).st_mtime, tz=dt.UTC)
        except OSError:
            return None

    notebook = modified(path / "assignment.ipynb")
    if notebook is not None:
        return notebook, "notebook modified"
    source = path / "source"
    if source.is_dir() and not source.is_symlink():
        times = [t for t in map(modified, sorted(source.glob("*.py"))) if t is not None]
        if times:
            return max(times), "source modified"
    return None, "unknown"


def clusters(pairs: Sequence[dict], threshold: float, members: Sequence[str],
             outside: frozenset[str], paths: Mapping[str, Path | None],
             completeness: Mapping[str, tuple[float, ...]], by: str) -> list[dict]:
    """Connected components (two or more members) of the class's pairs at or above the
    threshold, largest first; each with its earliest and its most complete member."""
    parent = {m: m for m in members}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving
            x = parent[x]
        return x

    inside = [p for p in pairs if p["score"] >= threshold and p["a"] in parent
              and p["b"] in parent and p["a"] not in outside and p["b"] not in outside]
    for p in inside:
        ra, rb = root(p["a"]), root(p["b"])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for m in members:
        if m not in outside:
            groups.setdefault(root(m), []).append(m)
    out = []
    for group in groups.values():
        if len(group) < 2:
            continue
        names = set(group)
        mine = [p for p in inside if p["a"] in names]
        times = {m: submitted_at(paths.get(m)) for m in group}
        dated = sorted((t, m) for m, (t, _) in times.items() if t is not None)
        earliest = dated[0][1] if dated else None
        most = max(group, key=lambda m: (completeness.get(m, ()), m == earliest, m))
        out.append({
            "members": sorted(group),
            "earliest": earliest,
            "earliest_by": times[earliest][1] if earliest else "unknown",
            "submitted": {m: t.isoformat(timespec="seconds") if t else None
                          for m, (t, _) in sorted(times.items())},
            "most_complete": most,
            "most_complete_by": by,
            "pairs": len(mine),
            "kinds": sorted({p["kind"] if p["kind"] == "code" else f"answer ({p['question']})"
                             for p in mine}),
            "top_score": max(p["score"] for p in mine),
        })
    out.sort(key=lambda c: (-len(c["members"]), -c["top_score"], c["members"]))
    return out


def explain(pair: dict) -> str:
    """The pair's score in plain words, with both percentages."""
    a, b = pair["a"], pair["b"]
    sa, sb = pair.get("a_share", pair["score"]), pair.get("b_share", pair["score"])
    if pair["kind"] == "code":
        return (f"{sa:.0%} of {a}'s tokens appear in {b}'s; {sb:.0%} of {b}'s in {a}'s; "
                "the pair scores the larger")
    q = pair["question"]
    return (f"{sa:.0%} of {a}'s words in answer ({q}) appear in {b}'s; {sb:.0%} of {b}'s "
            f"in {a}'s; the pair scores {pair['score']:.0%}, the share of the shorter "
            "answer's three-word phrases found in the other")
