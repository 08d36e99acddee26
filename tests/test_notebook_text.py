"""The student notebook says what the course needs it to say, and its check cells are fair:
dtype before values, a message on every assert, timings that repeat enough."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from autograder import build


@pytest.fixture(scope="module")
def nb() -> nbformat.NotebookNode:
    return nbformat.read(build.REPO / build.NOTEBOOK, as_version=4)


def markdown(nb: nbformat.NotebookNode) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def code_cells(nb: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def parse(source: str) -> ast.Module:
    return ast.parse("\n".join("" if line.lstrip().startswith("%") else line
                               for line in source.splitlines()))


def test_every_assert_of_a_check_cell_has_a_message(nb) -> None:
    bare = [(i, ast.unparse(node)) for i, source in enumerate(code_cells(nb))
            for node in ast.walk(parse(source))
            if isinstance(node, ast.Assert) and node.msg is None]
    assert not bare, f"asserts without a message: {bare}"


VALUE_CHECK = re.compile(r"allclose|torch\.equal|\.item\(\)|error <")


def test_check_cells_check_dtype_before_values(nb) -> None:
    for source in code_cells(nb):
        nodes = sorted((n for n in ast.walk(parse(source)) if isinstance(n, ast.Assert)),
                       key=lambda n: n.lineno)
        asserts = [ast.unparse(n.test) for n in nodes]
        values = [i for i, a in enumerate(asserts) if VALUE_CHECK.search(a)]
        if not values:
            continue
        dtypes = [i for i, a in enumerate(asserts) if "dtype" in a]
        assert dtypes and dtypes[0] < values[0], f"dtype checked after values in:\n{source}"
    # The gradient check (now in selfcheck.py, run by the notebook's gradient cells) checks
    # each gradient's dtype before its error.
    tree = parse((build.MASTER / "selfcheck.py").read_text(encoding="utf-8"))
    [grad] = [n for n in ast.walk(tree)
              if isinstance(n, ast.FunctionDef) and n.name == "_gradient_check"]
    grad_source = ast.unparse(grad)
    assert "rel_error(got, num)" in grad_source
    assert grad_source.index("torch.float64, ") < grad_source.index("error < GRADIENT_TOLERANCE")


def test_timings_repeat_at_least_ten_times(nb) -> None:
    [cell] = [s for s in code_cells(nb) if "def best_time" in s]
    func = next(n for n in parse(cell).body
                if isinstance(n, ast.FunctionDef) and n.name == "best_time")
    assert ast.literal_eval(func.args.defaults[0]) >= 10
    assert "max(repeats, 10)" in cell
    text = markdown(nb)
    assert text.count("33 ms") >= 2 and "at least 10 runs" in text
    assert "a few milliseconds already rules out real time" not in text  # was untrue


def test_policy_and_own_words(nb) -> None:
    text = markdown(nb)
    assert "Collaboration and AI tools" in text
    assert "Instructors: the policy below is a default; edit it" in text
    assert "in your own words; do not copy\nanswers from the internet" in text


def test_batch_norm_section_cites_and_explains(nb) -> None:
    text = markdown(nb)
    assert "Ioffe and Szegedy" in text.replace("S. Ioffe and C. Szegedy", "Ioffe and Szegedy")
    assert "ICML 2015" in text
    assert "Why $\\gamma$ and $\\beta$" in text and "undo the\nnormalization" in text
    assert "`momentum = 0` keeps only the latest batch" in text
    assert "`momentum = 1` never updates them" in text
    assert "computational graph" in text
    # The hints give the graph and the steps, not the exact permute lines (removed on purpose).
    assert "permute(0, 2, 3, 1)" not in text
    assert not any("permute(0, 2, 3, 1)" in s for s in code_cells(nb))


@pytest.mark.parametrize("needle", [
    "torch.nn.functional.conv*", "torch.nn.grad.*", "`unfold`", "`as_strided`", "`einsum`",
    "`F.batch_norm`", "`nn.*Norm*`", "`Tensor.backward`", "`torch.func`", "`var_mean`",
])
def test_banned_and_allowed_tools_are_listed(nb, needle: str) -> None:
    assert needle in markdown(nb)


def test_cost_of_a_banned_call_is_stated(nb) -> None:
    text = markdown(nb)
    assert text.count("**Cost of a forbidden call**") == 2
    assert "scores 0, and the submission is flagged for review" in text


def test_question_e_says_each_label_once_and_save_first(nb) -> None:
    text = markdown(nb)
    assert "Each label is used exactly once." in text
    assert '"(iv) Very high learning\nrate"' in text
    assert "Save the notebook (Ctrl+S)" in text


def test_question_h_says_how_to_put_a_sketch_in_the_answer(nb) -> None:
    """A dragged or pasted image is stored in the notebook as a cell attachment; a linked
    file is not graded. The size limit stated is the grader's own."""
    from autograder.grading.grade import MAX_NOTEBOOK_BYTES

    question = re.sub(r"\s+", " ", next(c.source for c in nb.cells if c.cell_type == "markdown"
                                        and c.source.startswith("### (h)")))
    for needle in ("drag the image file into the cell, or paste it", "attachment:",
                   "Do not link a separate file", "a linked picture is lost"):
        assert needle in question, needle
    assert f"under {MAX_NOTEBOOK_BYTES >> 20} MB" in question
    # The example it shows is what JupyterLab writes for a pasted image.
    assert re.search(r"!\[(\w+\.png)\]\(attachment:\1\)", question)
