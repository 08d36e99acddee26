"""Every hidden test checks a rule that the student text states: hidden_tests.RULES maps
each test to phrases that must appear in what students receive."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from autograder import build
from autograder.grading.hidden_tests import RULES, RULES_OF_EVERY_TEST, TESTS


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def student_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Notebook markdown, the student README and the docstrings of the released source/."""
    dest: Path = tmp_path_factory.mktemp("bundle") / "hw1"
    build.release(dest)
    nb = nbformat.read(dest / build.NOTEBOOK, as_version=4)
    parts = [c.source for c in nb.cells if c.cell_type == "markdown"]
    parts.append((dest / "README.md").read_text(encoding="utf-8"))
    for path in sorted((dest / "source").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)):
                parts.append(ast.get_docstring(node) or "")
    return _flat("\n".join(parts))


def test_every_hidden_test_has_a_rule_and_no_rule_is_stale() -> None:
    assert sorted(set(TESTS) - set(RULES)) == [], "hidden tests without a stated rule"
    assert sorted(set(RULES) - set(TESTS)) == [], "rules for hidden tests that do not exist"
    assert all(RULES[name] for name in TESTS)


@pytest.mark.parametrize("name", sorted(TESTS))
def test_rule_is_stated_in_the_student_text(student_text: str, name: str) -> None:
    for phrase in RULES.get(name, ()):
        assert _flat(phrase) in student_text, f"{name}: {phrase!r} is not in the student text"


@pytest.mark.parametrize("phrase", RULES_OF_EVERY_TEST)
def test_rules_of_every_test_are_in_the_notebook_and_the_readme(tmp_path: Path,
                                                                phrase: str) -> None:
    """One thread, one process: the sandbox ends a call that starts either, so the rule is
    told where students read the rules, the notebook's introduction and their README."""
    dest = tmp_path / "hw1"
    build.release(dest)
    nb = nbformat.read(dest / build.NOTEBOOK, as_version=4)
    notebook = _flat("\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))
    readme = _flat((dest / "README.md").read_text(encoding="utf-8"))
    assert _flat(phrase) in notebook, phrase
    assert _flat(phrase) in readme, phrase


def test_non_contiguous_inputs_are_a_stated_rule_of_the_edge_cases(student_text: str) -> None:
    """cc_edge_cases hands over transposed and offset views; the notebook says so."""
    assert any("non-contiguous" in phrase for phrase in RULES["cc_edge_cases"])
    assert "The inputs may be non-contiguous views" in student_text
