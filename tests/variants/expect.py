"""Pinned verdicts: the expected score of every hidden test for every example submission.

``expected.json`` maps each submission of the library (the reference, the release stubs and
every variant, as ``bugs/<name>`` or ``correct/<name>``) to the score of each test and the
flags the grader raised, graded at the default seed. ``tests/test_variants.py`` grades every
submission and compares exactly, so a change in any verdict shows up as a diff that someone
has to review and accept by regenerating the file:

    .venv/bin/python -m tests.variants.expect            # grade all, print the diff
    .venv/bin/python -m tests.variants.expect --write    # grade all, rewrite expected.json

Review a rewrite before committing it (``git diff tests/variants/expected.json``): a bug
loses points in its own section only, correct variants keep every point.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tests.variants import HERE, Variant, all_variants

EXPECTED = HERE / "expected.json"
SANDBOX_NOTE = "sandbox degraded: "  # reports.SANDBOX_NOTE: the machine's, not the verdict's


def key(variant: Variant | None | str) -> str:
    """The name of a submission in expected.json."""
    if variant is None:
        return "reference"
    if isinstance(variant, str):
        return variant  # "stubs"
    return f"{variant.kind}/{variant.name}"


def submissions() -> list[Variant | None | str]:
    """Every submission whose verdict is pinned: reference, stubs, correct ones, bugs."""
    return [None, "stubs", *all_variants("correct"), *all_variants("bugs")]


def make(dest: Path, variant: Variant | None | str) -> Path:
    from autograder import build
    from tests.variants import make_submission

    if variant == "stubs":
        build.release(dest)
        return dest
    return make_submission(dest, variant)


def verdict(result: dict) -> dict:
    """What is pinned of one grading result: every test's score, and the flags (without
    the notes on a degraded sandbox, which describe the machine)."""
    return {"tests": {t["name"]: t["score"] for t in result["tests"]},
            "flags": [f for f in result["flags"] if not f.startswith(SANDBOX_NOTE)]}


def load() -> dict[str, dict]:
    """submission -> {"tests": {test: score}, "flags": [...]}, as pinned."""
    return json.loads(EXPECTED.read_text(encoding="utf-8"))["submissions"]


def seed() -> int:
    """The seed the pinned verdicts were graded at."""
    return int(json.loads(EXPECTED.read_text(encoding="utf-8"))["seed"])


def diff(name: str, expected: dict | None, actual: dict) -> list[str]:
    """Readable differences between a pinned verdict and a new one (empty when equal)."""
    if expected is None:
        return [f"{name}: no pinned verdict (run python -m tests.variants.expect --write)"]
    lines = []
    tests_e, tests_a = expected["tests"], actual["tests"]
    for test in sorted(set(tests_e) | set(tests_a), key=lambda t: (t not in tests_e, t)):
        want, got = tests_e.get(test), tests_a.get(test)
        if want != got:
            lines.append(f"{name}: {test}: pinned {want}, now {got}")
    for flag in expected["flags"]:
        if flag not in actual["flags"]:
            lines.append(f"{name}: flag gone: {flag!r}")
    for flag in actual["flags"]:
        if flag not in expected["flags"]:
            lines.append(f"{name}: new flag: {flag!r}")
    return lines


def grade_all(seed: int | None = None) -> dict[str, dict]:
    from autograder.grading import grade
    from autograder.grading.sandbox import Sandbox

    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp, Sandbox(slot=41) as box:
        for i, variant in enumerate(submissions()):
            name = key(variant)
            path = make(Path(tmp) / f"s{i}" / name.replace("/", "-"), variant)
            out[name] = verdict(grade.grade_submission(path, seed=seed, sandbox=box))
            print(f"graded {name}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite expected.json")
    args = parser.parse_args(argv)
    from autograder.grading import grade

    actual = grade_all(grade.DEFAULT_SEED)
    expected = load() if EXPECTED.exists() else {}
    lines = [line for name, v in actual.items() for line in diff(name, expected.get(name), v)]
    lines += [f"{name}: pinned but no longer in the library" for name in expected
              if name not in actual]
    print("\n".join(lines) or "no change")
    if args.write:
        data = {"seed": grade.DEFAULT_SEED, "device": "cpu", "submissions": actual}
        EXPECTED.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n",
                            encoding="utf-8")
        print(f"wrote {EXPECTED}")
        return 0
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
