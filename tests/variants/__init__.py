"""A library of student submissions: realistic bugs and correct alternative solutions.

Each variant is one small file, ``bugs/<name>.py`` or ``correct/<name>.py``, holding a
docstring (what the student did) and a few module constants:

- ``TARGET``: the submission file it changes, ``"cross_correlation.py"`` or ``"batchnorm.py"``;
- ``CODE``: Python appended to the end of that file of the reference solution, so its
  definitions replace the reference functions of the same name;
- bugs only: ``SECTION`` (the section that must lose points), ``CATCHES`` (the property that
  exposes the bug, in one line) and ``ORACLE`` (the name of the check in
  ``tests/test_variants.py`` that proves it wrong);
- optional, for forbidden calls: ``FORBIDDEN_TESTS``, the grader tests that must score zero;
- optional, bugs only: ``FEEDBACK``, words that the grader's feedback on the failed tests of
  its section must contain (the hint that names the mistake).

The files are loaded by path, never imported as part of this package, so a variant's
top-level code (``CODE`` is just a string) cannot leak into the test process.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from autograder.grading import assignment

HERE = Path(__file__).resolve().parent
KINDS = ("bugs", "correct")
# From the one description of the assignment: its graded files and their sections.
SECTIONS = {f"{module}.py": section for module, section in assignment.SECTION_OF_MODULE.items()}
TARGETS = tuple(SECTIONS)


@dataclass(frozen=True)
class Variant:
    """One student submission, described as a change to the reference solution."""

    name: str
    target: str
    section: str
    catches: str
    code: str
    kind: str = "correct"
    oracle: str = ""
    forbidden_tests: tuple[str, ...] = ()
    doc: str = ""
    feedback: tuple[str, ...] = ()


def _load(path: Path, kind: str) -> Variant:
    spec = importlib.util.spec_from_file_location(f"_variant_{kind}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    target = module.TARGET
    if target not in TARGETS:
        raise ValueError(f"{path}: TARGET must be one of {TARGETS}, not {target!r}")
    if not (module.__doc__ or "").strip():
        raise ValueError(f"{path}: a variant starts with a docstring saying what it is")
    section = getattr(module, "SECTION", SECTIONS[target])
    if section != SECTIONS[target]:
        raise ValueError(f"{path}: a change to {target} can only break {SECTIONS[target]}")
    if kind == "bugs" and not (getattr(module, "CATCHES", "") and getattr(module, "ORACLE", "")):
        raise ValueError(f"{path}: a bug names what CATCHES it and the ORACLE check")
    return Variant(
        name=path.stem,
        target=target,
        section=section,
        catches=getattr(module, "CATCHES", ""),
        code=module.CODE,
        kind=kind,
        oracle=getattr(module, "ORACLE", ""),
        forbidden_tests=tuple(getattr(module, "FORBIDDEN_TESTS", ())),
        doc=module.__doc__.strip(),
        feedback=tuple(getattr(module, "FEEDBACK", ())),
    )


def all_variants(kind: str) -> list[Variant]:
    """Every variant of one kind ("bugs" or "correct"), sorted by name."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return [_load(path, kind) for path in sorted((HERE / kind).glob("*.py"))
            if path.name != "__init__.py"]


def apply_variant(dest: Path, variant: Variant | None) -> None:
    """Append the variant's code to its target file of the submission at dest."""
    if variant is None:
        return
    target = dest / "source" / variant.target
    with target.open("a", encoding="utf-8") as handle:
        handle.write("\n\n" + variant.code)


def make_submission(dest: Path, variant: Variant | None) -> Path:
    """A complete submission at dest: the reference solution changed by variant."""
    from autograder import build

    build.solution(dest)
    apply_variant(dest, variant)
    return dest


def make_sources(dest: Path, variant: Variant | None) -> Path:
    """Only the ``source/`` package of the submission (no notebook): enough to run the code."""
    from autograder import build

    for path in sorted((build.MASTER / "source").glob("*.py")):
        rel = f"source/{path.name}"
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(build.unmark_python(path.read_text(encoding="utf-8"), rel),
                          encoding="utf-8")
    apply_variant(dest, variant)
    return dest
