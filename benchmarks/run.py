"""Speed benchmarks of the kit: grading a class, the reference solutions, the notebook.

Run from the repository root (``--quick`` for a smoke run on tiny sizes)::

    .venv/bin/python -m benchmarks            # measure: BENCHMARKS.json, then BENCHMARKS.md
    .venv/bin/python -m benchmarks --quick    # minutes: build/benchmarks/BENCHMARKS.{json,md}
    .venv/bin/python -m benchmarks --render   # BENCHMARKS.md again from BENCHMARKS.json

Measuring (``benchmarks/measure.py``) writes only JSON; rendering (``benchmarks/render.py``)
reads only JSON, so editing the text needs no new run. ``benchmarks/sections.py`` lists the
sections. Every comparison is a ratio of two timings taken side by side in one run on one
machine; absolute times only mean something next to the machine description.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import measure
from benchmarks.sections import BY_KEY, SECTIONS, document

COMMAND = ".venv/bin/python -m benchmarks"


def measure_all(cfg: measure.Config, keys: list[str], work: Path, log=print) -> dict:
    results = measure.run_info(cfg)
    for key in keys:
        log(f"[benchmarks] {key} ...")
        t0 = time.perf_counter()
        results[key] = BY_KEY[key].measure(cfg, work)
        log(f"[benchmarks] {key} done in {time.perf_counter() - t0:.1f} s")
    measure.finish_info(results)
    return results


def merge_partial(previous: dict, fresh: dict, keys: list[str]) -> dict:
    """``--only`` re-measures some sections: they replace theirs in the earlier record and
    every other section is kept as it was measured. The page's header (machine, commit,
    command) stays the full run's; each re-measured section is listed with its own commit,
    date and command under ``partial_runs``, and the page says so."""
    merged = dict(previous)
    for key in keys:
        merged[key] = fresh[key]
    # An earlier partial run keeps only the sections that still hold its numbers.
    earlier = [dict(p, sections=[k for k in p["sections"] if k not in keys])
               for p in previous.get("partial_runs", [])]
    merged["partial_runs"] = [*(p for p in earlier if p["sections"]),
                              {"sections": keys, "git": fresh["git"], "date": fresh["date"],
                               "command": fresh["command"],
                               "loadavg": fresh["machine"].get("loadavg_end")}]
    return merged


def write_markdown(results: dict, out: Path) -> None:
    out.write_text(document(results, results.get("command", COMMAND)), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    keys = [s.key for s in SECTIONS]
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument("--out", help="markdown file to write, the JSON beside it (default: "
                        "BENCHMARKS.md, or build/benchmarks/BENCHMARKS.md with --quick)")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: render the markdown from the existing JSON")
    parser.add_argument("--only", help="comma-separated sections: " + ",".join(keys))
    parser.add_argument("--no-nbgrader", action="store_true", help="skip the nbgrader runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else (
        measure.REPO / "build" / "benchmarks" / "BENCHMARKS.md" if args.quick
        else measure.REPO / "BENCHMARKS.md")
    data = out.with_suffix(".json")
    if args.render:
        write_markdown(json.loads(data.read_text(encoding="utf-8")), out)
        print(f"wrote {out} from {data.name}")
        return 0
    cfg = measure.QUICK if args.quick else measure.FULL
    if args.no_nbgrader:
        cfg.nbgrader = False
    chosen = [k for k in (args.only.split(",") if args.only else keys) if k]
    unknown = set(chosen) - set(keys)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {', '.join(keys)}")
    work = Path(tempfile.mkdtemp(prefix="kit-benchmarks-"))
    try:
        results = measure_all(cfg, chosen, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["command"] = (COMMAND + " " + " ".join(
        argv if argv is not None else sys.argv[1:])).strip()
    if args.only and data.is_file():
        results = merge_partial(json.loads(data.read_text(encoding="utf-8")), results, chosen)
    out.parent.mkdir(parents=True, exist_ok=True)
    data.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    write_markdown(results, out)
    print(f"wrote {data} and {out.name}")
    return 0
