"""Speed of ``python -m autograder similarity`` on a generated class.

    .venv/bin/python -m benchmarks.similarity            # 200 submissions, then 50-400 to
                                                         # see the growth; updates BENCHMARKS.md
    .venv/bin/python -m benchmarks.similarity --sizes 20 --no-write   # smoke run
    .venv/bin/python -m benchmarks.similarity --render   # prose only, from BENCHMARKS.json

Each submission is the release bundle with one correct cross-correlation and one correct
batch norm of ``tests/variants/correct`` (36 combinations, so many pairs are near copies and
the slow path that builds matches runs often), its identifiers renamed per student, and the
nine warm-up answers drawn from three students' answers with a third of the words replaced
at random, so every pair of answers shares some text. The timed command is the real one,
in a fresh process (interpreter start and imports included), writing the JSON and the HTML.

The section of BENCHMARKS.md between the ``similarity`` markers is replaced; the numbers also
go to ``BENCHMARKS.json`` under ``"similarity"``. The rest of both files is left alone.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import io
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from autograder import build  # noqa: E402

COMMAND = ".venv/bin/python -m benchmarks.similarity"
TARGET_S = 10.0
TARGET_N = 200
BEGIN = "<!-- similarity:begin -->"
END = "<!-- similarity:end -->"
ANSWERS = REPO / "tests" / "similarity_answers.json"


def _variants():
    spec = importlib.util.spec_from_file_location("bench_variants",
                                                  REPO / "tests" / "variants" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _rename(code: str, suffix: str) -> str:
    """Give every name the code binds (the graded functions aside) a per-student spelling."""
    api = {"cross_corr_2d", "batchnorm_forward", "batchnorm_backward",
           "spatial_batchnorm_forward", "spatial_batchnorm_backward"}
    bound = {n.id for n in ast.walk(ast.parse(code))
             if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {n.arg for n in ast.walk(ast.parse(code)) if isinstance(n, ast.arg)}
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    lines = code.splitlines(keepends=True)
    for i in reversed(range(len(tokens))):
        tok = tokens[i]
        if (tok.type == tokenize.NAME and tok.string in bound - api
                and not (i and tokens[i - 1].string == ".")):
            (row, c0), (_, c1) = tok.start, tok.end
            lines[row - 1] = lines[row - 1][:c0] + f"{tok.string}_{suffix}" + lines[row - 1][c1:]
    return "".join(lines)


def _noisy(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    words = text.split()
    return " ".join(rng.choice(vocabulary) if rng.random() < 0.33 else w for w in words)


def make_class(dest: Path, n: int, seed: int = 0) -> list[Path]:
    """n submissions under dest (see the module docstring)."""
    if dest.exists():
        shutil.rmtree(dest)
    stub = dest / "_stub"
    build.release(stub)
    correct = _variants().all_variants("correct")
    cc = [v for v in correct if v.target == "cross_correlation.py"]
    bn = [v for v in correct if v.target == "batchnorm.py"]
    students = json.loads(ANSWERS.read_text(encoding="utf-8"))["students"]
    vocabulary = sorted({w for s in students for a in s.values() for w in a.split()})
    rng = random.Random(seed)
    nb = json.loads((stub / build.NOTEBOOK).read_text(encoding="utf-8"))
    subs = []
    for i in range(n):
        sub = dest / f"s{i:04d}"
        (sub / "source").mkdir(parents=True)
        for f in (stub / "source").glob("*.py"):
            shutil.copyfile(f, sub / "source" / f.name)
        for v in (cc[i % len(cc)], bn[(i // len(cc)) % len(bn)]):
            target = sub / "source" / v.target
            target.write_text(target.read_text(encoding="utf-8") + "\n\n"
                              + _rename(v.code, f"s{i}"), encoding="utf-8")
        for cell in nb["cells"]:
            grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id", "")
            letter = grade_id.removeprefix("warmup_")
            if cell["cell_type"] == "markdown" and letter in students[0]:
                answer = students[(i + ord(letter)) % len(students)][letter]
                cell["source"] = _noisy(answer, rng, vocabulary)
        (sub / build.NOTEBOOK).write_text(json.dumps(nb), encoding="utf-8")
        subs.append(sub)
    return subs


def time_command(subs: list[Path], out: Path) -> dict:
    """The real command in a fresh process: wall time, exit status, pairs written."""
    cmd = [sys.executable, "-m", "autograder", "similarity", *map(str, subs),
           "--json", str(out / "similarity.json"), "--html", str(out / "html")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    pairs = flagged = None
    if proc.returncode == 0:
        data = json.loads((out / "similarity.json").read_text(encoding="utf-8"))
        pairs = len(data["pairs"])
        flagged = sum(p["score"] >= data["threshold"] for p in data["pairs"])
    return {"n": len(subs), "seconds": round(seconds, 3), "cpu_s": round(cpu, 3),
            "rc": proc.returncode,
            "pairs_compared": len(subs) * (len(subs) - 1) // 2, "pairs_written": pairs,
            "flagged": flagged, "stderr_tail": proc.stderr[-400:] if proc.returncode else ""}


def time_phases(subs: list[Path]) -> dict:
    """In-process: the comparison alone, without interpreter start and the writing."""
    from autograder import similarity

    t0 = time.perf_counter()
    similarity.compare(subs)
    return {"compare_s": round(time.perf_counter() - t0, 3)}


def measure(sizes: list[int], work: Path, repeats: int = 1) -> dict:
    rows = []
    for n in sizes:
        subs = make_class(work / f"class{n}", n)
        best = None
        for r in range(repeats):
            row = time_command(subs, work / f"out{n}-{r}")
            if best is None or row["seconds"] < best["seconds"]:
                best = row
        best.update(time_phases(subs))
        rows.append(best)
        print(f"[similarity] n={n}: {best['seconds']:.2f} s end to end, "
              f"{best['compare_s']:.2f} s comparing", flush=True)
        shutil.rmtree(work / f"class{n}", ignore_errors=True)
    return {"rows": rows, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "loadavg": _loadavg(), "cores": _cores(), "repeats": repeats}


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in __import__("os").getloadavg()]
    except OSError:
        return None


def _cores() -> int:
    return len(__import__("os").sched_getaffinity(0))


def _extrapolate(rows: list[dict], budget: float, key: str = "seconds") -> int | None:
    """Largest class that fits in budget seconds, from a fit t = a + b n^2 on the measured
    points (pairwise work grows as n^2)."""
    pts = [(r["n"], r[key]) for r in rows if r["rc"] == 0 and key in r]
    if len(pts) < 2:
        return None
    (n0, t0), (n1, t1) = min(pts), max(pts)
    if n1 == n0:
        return None
    b = max((t1 - t0) / (n1 * n1 - n0 * n0), 1e-12)
    a = t0 - b * n0 * n0
    return int(((budget - a) / b) ** 0.5) if budget > a else None


def render(result: dict) -> str:
    rows = result["rows"]
    main = next((r for r in rows if r["n"] == TARGET_N), rows[-1])
    ok = main["rc"] == 0 and main["seconds"] <= TARGET_S
    lines = [BEGIN, "## Similarity report (possible copying)", "",
             f"Reproduce: `{COMMAND}` (writes only this section and the `similarity` key of "
             "BENCHMARKS.json).", "",
             f"- date {result['date']}, {result['cores']} cores, load average "
             f"{result['loadavg']} (other developers shared the machine)",
             f"- target: {TARGET_N} submissions in at most {TARGET_S:g} s: "
             f"**{main['seconds']:.1f} s** for {main['n']}, {'met' if ok else '**missed**'} "
             f"(best of {result.get('repeats', 1)}; the command used "
             f"{main.get('cpu_s', 0):.1f} s of CPU: wall time above that is waiting for a "
             "core that other work held)",
             "",
             "`python -m autograder similarity SUB... --json FILE --html DIR` in a fresh "
             "process (interpreter start, imports and the boilerplate of the release included), "
             "on generated classes: each submission the stubs plus one of the 36 combinations "
             "of correct variants with renamed identifiers, and noisy copies of three "
             "students' answers (see `benchmarks/similarity.py`).", "",
             "| submissions | pairs compared (code + 9 answers each) | end to end, wall | "
             "end to end, CPU | comparison alone, wall | pairs written | flagged |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['n']} | {r['pairs_compared']} × 10 | {r['seconds']:.2f} s | "
                     f"{r.get('cpu_s', 0):.2f} s | {r['compare_s']:.2f} s | "
                     f"{r['pairs_written']} | {r['flagged']} |")
    fit = _extrapolate(rows, 60.0)
    fit_cpu = _extrapolate(rows, 60.0, "cpu_s")
    lines += ["", "This class is harder than a real one: with only six correct variants of "
              "each file, one pair in three shares a whole file, so thousands of pairs are "
              "written (score 0.2 or more) and flagged (0.5 or more), and each needs its "
              "matches worked out; a class of mostly independent work writes far fewer. "
              "Fingerprints go into an inverted index and scores are computed first, so only "
              "kept pairs pay for their matches, but the number of pairs grows as n²."
              + (f" A fit of t = a + b·n² through the measured points puts the class that "
                 f"still finishes in one minute at about **{fit} submissions** on this shared "
                 "machine" if fit else "")
              + (f", and at about {fit_cpu} where the command has the cores to itself (wall "
                 "time close to its CPU time)." if fit and fit_cpu else "." if fit else ""),
              "", END]
    return "\n".join(lines) + "\n"


def section(text: str) -> str:
    """The similarity section of a BENCHMARKS.md text, markers included ("" if none)."""
    if BEGIN in text and END in text:
        return BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"
    return ""


def with_section(text: str, new: str) -> str:
    """text with its similarity section replaced by new (appended when it has none)."""
    if section(text):
        head, rest = text.split(BEGIN, 1)
        return head + new.rstrip("\n") + rest.split(END, 1)[1]
    return text.rstrip("\n") + "\n\n" + new


def write(result: dict, md: Path, js: Path) -> None:
    text = md.read_text(encoding="utf-8") if md.exists() else "# Benchmarks\n"
    md.write_text(with_section(text, render(result)), encoding="utf-8")
    data = json.loads(js.read_text(encoding="utf-8")) if js.exists() else {}
    data["similarity"] = result
    js.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.similarity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50,100,200,400",
                        help="class sizes, comma-separated (default 50,100,200,400)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per size; the best counts")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch the files")
    parser.add_argument("--render", action="store_true", help="measure nothing: rewrite the "
                        "section from the numbers stored in BENCHMARKS.json")
    args = parser.parse_args(argv)
    if args.render:
        stored = json.loads((REPO / "BENCHMARKS.json").read_text(encoding="utf-8"))
        write(stored["similarity"], REPO / "BENCHMARKS.md", REPO / "BENCHMARKS.json")
        print("rewrote the similarity section of BENCHMARKS.md from BENCHMARKS.json")
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = Path(tempfile.mkdtemp(prefix="kit-similarity-"))
    try:
        result = measure(sizes, work, args.repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.no_write:
        print(render(result))
    else:
        write(result, REPO / "BENCHMARKS.md", REPO / "BENCHMARKS.json")
        print("updated the similarity section of BENCHMARKS.md and BENCHMARKS.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
