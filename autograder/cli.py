"""The instructor's commands. ``python -m autograder --help`` lists them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _build(args: argparse.Namespace) -> int:
    from . import build

    for rel in build.build():
        print(f"wrote {rel}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from . import build

    stale = build.drift()
    if stale:
        print("the committed student view differs from the master; run "
              "`python -m autograder build`:\n  " + "\n  ".join(stale))
        return 1
    print("student view is up to date")
    return 0


def _release(args: argparse.Namespace) -> int:
    from . import build

    written = build.release(Path(args.dir))
    print(f"student bundle: {len(written)} files in {args.dir}")
    return 0


def _solution(args: argparse.Namespace) -> int:
    from . import build

    written = build.solution(Path(args.dir))
    print(f"solution submission: {len(written)} files in {args.dir}")
    return 0


def _figures(args: argparse.Namespace) -> int:
    from . import figures

    for path in figures.make_all():
        print(f"wrote {path.relative_to(figures.MASTER.parents[2])}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from .grading.batch import run_grade_command

    try:
        return run_grade_command(args)
    except KeyboardInterrupt:
        # Ctrl-C outside the batch itself (starting, writing the reports): what was
        # finished is in the journal.
        print("interrupted; run the same command to resume", file=sys.stderr)
        return 130


def _similarity(args: argparse.Namespace) -> int:
    from .similarity import run_command

    return run_command(args)


def _demo(args: argparse.Namespace) -> int:
    from . import build, demo
    from .grading.batch import run_grade_command

    written = build.build()
    print(f"student view rebuilt from autograder/master ({len(written)} files)")
    out = Path(args.out)
    subs = demo.make_class(out / "class")
    print(f"example class: {len(subs)} submissions in {out / 'class'}")
    grade_args = argparse.Namespace(
        submissions=[str(p) for p in subs], jobs=args.jobs, seed=None, timeout=None,
        json=str(out / "results" / "grades.json"), csv=str(out / "results" / "grades.csv"),
        gradescope=str(out / "results" / "gradescope"))
    return run_grade_command(grade_args)


def _gradescope_bundle(args: argparse.Namespace) -> int:
    from .grading.gradescope_bundle import write_bundle

    try:
        path = write_bundle(Path(args.zip))
    except FileNotFoundError as err:
        print(f"cannot build the Gradescope autograder: {err}")
        return 1
    print(f"Gradescope autograder: {path}")
    return 0


def _gradescope_run(args: argparse.Namespace) -> int:
    from .grading.gradescope_run import main

    return main(args.root)


def _threshold_option(p: argparse.ArgumentParser, flag: str) -> None:
    p.add_argument(flag, dest="similarity_threshold", type=float, default=None, metavar="T",
                   help="similarity score (0-1) from which a pair is flagged (default 0.5)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="regenerate the student view (assignment.ipynb, source/, "
                   "figures/) from autograder/master").set_defaults(func=_build)
    sub.add_parser("check", help="fail when the committed student view is stale"
                   ).set_defaults(func=_check)
    sub.add_parser("figures", help="regenerate the warm-up figures (then run build)"
                   ).set_defaults(func=_figures)
    r = sub.add_parser("release", help="write the student bundle to DIR")
    r.add_argument("dir")
    r.set_defaults(func=_release)
    s = sub.add_parser("solution", help="write a complete, correct submission to DIR")
    s.add_argument("dir")
    s.set_defaults(func=_solution)
    g = sub.add_parser("grade", help="grade submission folders and print a table")
    g.add_argument("submissions", nargs="+", metavar="SUB")
    g.add_argument("--jobs", type=int, default=1, help="submissions graded at once")
    g.add_argument("--json", metavar="FILE", help="write all results as JSON")
    g.add_argument("--csv", metavar="FILE", help="one row per submission, a column per test")
    g.add_argument("--gradescope", metavar="DIR",
                   help="write DIR/<submission>/results.json in Gradescope's format")
    g.add_argument("--manual", metavar="FILE.csv",
                   help="merge hand-graded warm-up points: header submission,question,points, "
                   "one row per graded answer, e.g. alice,a,2.0")
    g.add_argument("--roster", metavar="FILE.csv",
                   help="the course's students: header folder,id,name (and any of sis_id, "
                   "login, section, email); every roster row gets a row in the --lms file")
    g.add_argument("--lms", choices=("canvas", "csv"), default=None,
                   help="also write grades an LMS imports as they are, next to the grade "
                   "files: canvas (<stem>-canvas.csv, Canvas's gradebook import) or csv "
                   "(<stem>-lms.csv: id, name, total, sections); needs --roster")
    g.add_argument("--lms-assignment", metavar="NAME",
                   help="the assignment column of the Canvas file; 'Homework 1 (48213)' "
                   "matches Canvas assignment 48213 (default: hw1, a new assignment)")
    g.add_argument("--seed", type=int, default=None,
                   help="seed of the random test inputs (default: fixed per assignment)")
    g.add_argument("--timeout", type=float, default=None,
                   help="seconds allowed per test (default 10)")
    g.add_argument("--speed-points", action="store_true",
                   help="count latency: 1 extra point per section whose correct function "
                   "runs within the 30 fps frame budget (33 ms) on its workload, added to "
                   "the total on top of the 65 (off by default: latency is feedback only)")
    g.add_argument("--require-sandbox", action="store_true",
                   help="stop with an error where a protection of the sandbox is missing, "
                   "instead of grading in a degraded sandbox")
    g.add_argument("--similarity", action="store_true",
                   help="also compare code and warm-up answers across the submissions; "
                   "pairs above the threshold go into the instructor report")
    _threshold_option(g, "--similarity-threshold")
    g.set_defaults(func=_grade)
    m = sub.add_parser("similarity", help="code and warm-up answer similarity across "
                       "submissions (possible copying)")
    m.add_argument("submissions", nargs="+", metavar="SUB")
    m.add_argument("--json", metavar="FILE", required=True,
                   help="write the pairs as JSON, highest score first")
    m.add_argument("--html", metavar="DIR", help="write DIR/index.html: the top pairs side by "
                   "side with the matching regions highlighted")
    _threshold_option(m, "--threshold")
    m.add_argument("--min-score", type=float, default=None, metavar="S",
                   help="leave pairs scoring below S out of the JSON (default 0.2)")
    m.add_argument("--top", type=int, default=50, metavar="N",
                   help="pairs shown in the HTML (default 50)")
    m.add_argument("--against", metavar="DIR", action="append", default=[],
                   help="compare one way with earlier terms' submissions or known solutions: "
                   "DIR is one submission or a folder of them, never compared with each "
                   "other (repeatable)")
    m.add_argument("--no-model-answer", action="store_true",
                   help="do not compare the answers with written_answers.md")
    m.set_defaults(func=_similarity)
    d = sub.add_parser("demo", help="rebuild the student view, grade the built-in example "
                       "class and print the table")
    d.add_argument("--out", default="build/demo", help="where the class and results go")
    d.add_argument("--jobs", type=int, default=2)
    d.set_defaults(func=_demo)
    z = sub.add_parser("gradescope-bundle", help="write the Gradescope autograder zip to ZIP")
    z.add_argument("zip", metavar="ZIP")
    z.set_defaults(func=_gradescope_bundle)
    r = sub.add_parser("gradescope-run", help="what Gradescope's run_autograder runs: grade "
                       "ROOT/submission, write ROOT/results/results.json")
    r.add_argument("--root", default=None, help="Gradescope's folder (default "
                   "$AUTOGRADER_ROOT, else /autograder)")
    r.set_defaults(func=_gradescope_run)
    return p


def _skip_unused_format_checkers() -> None:
    """jsonschema (imported by nbformat and by our report checks) loads the optional
    rfc3987-syntax package when it is installed, which builds dozens of grammars at import
    (1-2 s on this machine, more than grading one submission). Neither our schemas nor
    nbformat's use the IRI formats it checks, so the commands import jsonschema without it."""
    sys.modules.setdefault("rfc3987_syntax", None)  # an import of it raises ImportError


def main(argv: list[str] | None = None) -> int:
    _skip_unused_format_checkers()
    args = parser().parse_args(argv)
    return args.func(args)
