"""Warm-up question (e): the answer key, its figure and its static grader; figures (f), (h)."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import build, figures, warmup
from autograder.warmup import LEARNING_RATES, PANEL_LABELS, grade_answer_e, normalize_label

LABELS = ["low", "good", "high", "very high"]


# --- the key -----------------------------------------------------------------------------

def test_panel_labels_are_a_fixed_shuffle() -> None:
    assert sorted(PANEL_LABELS) == ["A", "B", "C", "D"]
    assert sorted(PANEL_LABELS.values()) == sorted(LABELS)
    assert list(PANEL_LABELS.values()) != LABELS, "the panels must not be in the natural order"
    again = dict(zip("ABCD", random.Random(warmup.PANEL_SEED).sample(LABELS, 4)))
    assert again == PANEL_LABELS


def test_learning_rates_increase_with_the_labels() -> None:
    assert list(LEARNING_RATES) == LABELS
    rates = list(LEARNING_RATES.values())
    assert rates == sorted(rates) and len(set(rates)) == 4 and rates[0] > 0


def test_warmup_module_is_light() -> None:
    code = ("import sys, autograder.warmup; "
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=build.REPO, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_model_answer_e_agrees_with_the_key() -> None:
    text = build.model_answers()["e"]
    found = dict(re.findall(r"\b([ABCD]): (very high|high|good|low)\b", text.splitlines()[0]))
    assert found == PANEL_LABELS


# --- the curves follow the key -----------------------------------------------------------

@pytest.fixture(scope="module")
def curves() -> dict[str, list[float]]:
    return figures.learning_rate_curves()


def test_curves_are_reproducible(curves: dict[str, list[float]]) -> None:
    assert figures.train_run(LEARNING_RATES["good"]) == curves["good"]


def late_noise(curve: list[float]) -> float:
    """Spread of the epoch-to-epoch changes over the second half of a run."""
    late = curve[len(curve) // 2:]
    steps = [b - a for a, b in zip(late, late[1:])]
    mean = sum(steps) / len(steps)
    return (sum((s - mean) ** 2 for s in steps) / len(steps)) ** 0.5


def test_curves_have_the_classic_shapes(curves: dict[str, list[float]]) -> None:
    low, good, high, very_high = (curves[label] for label in LABELS)
    start = good[0]
    assert all(c[0] == start for c in curves.values()), "runs must share the starting weights"
    # The final level: mean of the last five epochs, so one noisy epoch does not decide.
    final = {label: sum(c[-5:]) / 5 for label, c in curves.items()}
    # Ordering of the final losses: good < high < low < start < very high, with room between.
    assert final["good"] < final["high"] < final["low"] < start < final["very high"], final
    assert final["high"] > 5 * final["good"], "high must stall at a clearly worse level"
    assert final["low"] - final["high"] > 0.15 * start, "low and high must not end alike"

    # good: fast and low.
    assert min(good[1:11]) < 0.5 * start and final["good"] < 0.1 * start

    # low: slow, monotone, nearly linear, far from converged.
    assert all(b < a for a, b in zip(low, low[1:])), "low must go down at every epoch"
    half = len(low) // 2
    first, second = low[0] - low[half], low[half] - low[-1]
    assert second > 0.5 * first, "low must be nearly linear, not fast-then-flat"
    assert final["low"] > 0.75 * start, "low must still be far from converged"
    line = [low[0] + (low[-1] - low[0]) * i / (len(low) - 1) for i in range(len(low))]
    assert max(abs(a - b) for a, b in zip(low, line)) < 0.2 * (low[0] - low[-1])

    # high: a fast first drop (well ahead of low), then a noisy plateau.
    assert min(high[1:6]) < 0.75 * start and min(high[1:6]) < low[5] - 0.2 * start
    late = high[len(high) // 2:]
    assert min(late) > 3 * final["good"], "high must not reach the good run's level"
    assert late_noise(high) > 5 * late_noise(good) and late_noise(high) > 50 * late_noise(low)
    assert sum(b > a for a, b in zip(late, late[1:])) >= len(late) // 4, "high must be noisy"

    # very high: diverges at once and never comes back below the start.
    assert max(very_high[1:3]) > 10 * start, "very high should blow up right away"
    assert min(very_high[1:]) > 2 * start


def test_figure_e_panels_follow_the_key() -> None:
    fake = {label: [float(i + 1)] * 5 for i, label in enumerate(LABELS)}
    fig = figures.draw_e(fake)
    axes = [ax for ax in fig.axes if ax.get_title() in PANEL_LABELS]
    assert [ax.get_title() for ax in axes] == ["A", "B", "C", "D"]
    top = figures.Y_TOP * fake[PANEL_LABELS["A"]][0]
    for ax in axes:
        loss = fake[PANEL_LABELS[ax.get_title()]]
        assert list(ax.lines[1].get_ydata()) == loss, "the curve is drawn as it is, unclipped"
        assert ax.get_ylim() == (0, top)
        text = " ".join(t.get_text() for t in ax.texts).lower()
        assert not any(label in text for label in ("low", "good", "high"))
        # A run that leaves the shared axis says so and is shown whole on a log scale.
        assert bool(ax.texts) == (loss[0] > top)
        assert bool(ax.child_axes) == (loss[0] > top)


def test_committed_figures_are_reproducible(tmp_path: Path) -> None:
    made = {
        "warmup_e_learning_rates.png": figures.figure_e(tmp_path / "e.png"),
        "warmup_f_activation.png": figures.figure_f(tmp_path / "f.png"),
    }
    for name, path in made.items():
        assert path.read_bytes() == (figures.FIGURES / name).read_bytes(), (
            f"{name} is stale: run `python -m autograder figures` and `build`")
    h = figures.figure_h(tmp_path / "h.png")
    assert h.read_bytes() == (figures.ANSWER_FIGURES / "h_networks.png").read_bytes()
    blocks = figures.figure_h_blocks(tmp_path / "blocks.png")
    assert blocks.read_bytes() == (figures.ANSWER_FIGURES / "h_blocks.png").read_bytes()


def test_figure_h_numbers() -> None:
    depth = {name.split()[0]: v[0] for name, v in figures.NETWORKS.items()}
    assert depth == {"AlexNet": 8, "VGG-16": 16, "GoogLeNet": 22, "ResNet-152": 152}
    errors = [v[2] for v in figures.NETWORKS.values()]
    assert errors == sorted(errors, reverse=True)
    assert "answer_figures/h_networks.png" in build.model_answers()["h"]
    assert "answer_figures/h_blocks.png" in build.model_answers()["h"]


def test_figure_h_sketches_show_the_three_building_blocks() -> None:
    from matplotlib.figure import Figure

    for draw, needles in ((figures._vgg, ["3×3 conv", "max pool"]),
                          (figures._inception, ["1×1 conv\n(reduce)", "3×3 conv", "5×5 conv",
                                                "concatenate"]),
                          (figures._residual, ["+", "identity", "F(x)"])):
        ax = Figure().subplots()
        draw(ax)
        text = " ".join(t.get_text() for t in ax.texts)
        for needle in needles:
            assert needle in text, (draw.__name__, needle)


# --- the written answers -------------------------------------------------------------------

def rubric(letter: str) -> str:
    text = (build.REPO / "written_answers.md").read_text(encoding="utf-8")
    section = text.split(f"<!-- /answer:{letter} -->", 1)[1].split("\n---", 1)[0]
    return section


@pytest.mark.parametrize("letter", list("abcdfghij"))
def test_every_rubric_has_the_six_levels(letter: str) -> None:
    levels = re.findall(r"^- \*\*(\d(?:\.\d)?):\*\*", rubric(letter), re.M)
    assert levels == ["2.5", "2", "1.5", "1", "0.5", "0"], levels


def test_written_answers_fix_the_known_imprecisions() -> None:
    answers = build.model_answers()
    assert "18–152" in answers["h"] and "1202" in answers["h"] and "CIFAR-10" in answers["h"]
    assert "internal covariate shift" in answers["b"] and "disputes" in answers["b"]
    assert "unbiased" in answers["i"] and "baseline" in answers["i"]
    assert "not computed everywhere" in answers["i"]
    assert "PReLU" in answers["f"] and "PReLU" in rubric("f")


def test_model_answer_e_describes_the_real_runs(curves: dict[str, list[float]]) -> None:
    text = build.model_answers()["e"]
    low, good, high, very_high = (curves[label] for label in LABELS)

    def stated(pattern: str) -> float:
        match = re.search(pattern, text)
        assert match, pattern
        return float(match.group(1))

    assert abs(stated(r"to about ([0-9.]+) after 60 epochs") - low[-1]) < 0.02
    assert abs(stated(r"the lowest\s+value of the four, about ([0-9.]+)") - good[-1]) < 0.01
    assert abs(stated(r"\(to 0\.5 after 5 epochs\)".replace("0\\.5", "([0-9.]+)"))
               - good[5]) < 0.02
    assert abs(stated(r"from 1\.08 to about ([0-9.]+) \(off") - max(very_high)) < 2
    late = high[len(high) // 2:]
    assert abs(stated(r"between about ([0-9.]+) and") - min(late)) < 0.06
    assert abs(stated(r"between about [0-9.]+ and ([0-9.]+)") - max(late)) < 0.06
    low_end, high_end = stated(r"stays between about ([0-9.]+) and"), stated(
        r"stays between about [0-9.]+ and ([0-9.]+)")
    assert low_end - 0.5 < min(very_high[2:]) and max(very_high[2:]) < high_end + 0.5


# --- normalize_label ---------------------------------------------------------------------

@pytest.mark.parametrize("text, label", [
    ("low", "low"), ("Low learning rate", "low"), ("i", "low"), ("(i)", "low"),
    ("good", "good"), ("(ii)", "good"), ("Good LR", "good"), ("  GOOD  ", "good"),
    ("high", "high"), ("iii", "high"), ("High learning-rate", "high"),
    ("very high", "very high"), ("very-high", "very high"), ("very high lr", "very high"),
    ("VERY_HIGH", "very high"), ("(iv)", "very high"), ("veryhigh", "very high"),
    ("Good ", "good"), ("(iv) Very high learning rate", "very high"),
    ("(i) Low learning rate", "low"), ("iii high", "high"),
])
def test_normalize_label_accepts_spellings(text: str, label: str) -> None:
    assert normalize_label(text) == label


@pytest.mark.parametrize("text", ["", "medium", "v", "high low", "learning rate", None, 3,
                                  ["low"], "not low", "(i) high", "(iv) low"])
def test_normalize_label_rejects_other_text(text: object) -> None:
    assert normalize_label(text) is None


# --- grade_answer_e ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    sol, rel = tmp_path_factory.mktemp("sol"), tmp_path_factory.mktemp("rel")
    build.solution(sol)
    build.release(rel)
    return {"solution": sol / "assignment.ipynb", "release": rel / "assignment.ipynb"}


def with_answer(bundles: dict[str, Path], tmp_path: Path, source: str) -> Path:
    """A copy of the release notebook whose (e) answer cell holds source."""
    nb = nbformat.read(bundles["release"], as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "warmup_e_answer":
            cell.source = source
    path = tmp_path / "assignment.ipynb"
    nbformat.write(nb, path)
    return path


def test_solution_scores_full_and_release_zero(bundles: dict[str, Path]) -> None:
    score, message = grade_answer_e(bundles["solution"])
    assert score == 1.0 and "all four" in message
    score, message = grade_answer_e(bundles["release"])
    assert score == 0.0 and "No label for panels A, B, C and D" in message


def derangement_of_key() -> dict[str, str]:
    panels = sorted(PANEL_LABELS)
    return {p: PANEL_LABELS[panels[(i + 1) % 4]] for i, p in enumerate(panels)}


def test_partial_credit_names_wrong_panels_only(bundles: dict[str, Path],
                                                tmp_path: Path) -> None:
    answer = dict(PANEL_LABELS)
    swapped = derangement_of_key()
    answer["B"], answer["D"] = swapped["B"], swapped["D"]
    score, message = grade_answer_e(with_answer(bundles, tmp_path, f"answer_e = {answer!r}"))
    assert score == 0.5
    assert "B and D" in message and "2 of 4" in message
    # The message is the same whatever wrong label was given: it cannot leak the key.
    other = dict(answer)
    other["B"] = next(label for label in LABELS
                      if label not in (PANEL_LABELS["B"], answer["B"]))
    again = grade_answer_e(with_answer(bundles, tmp_path, f"answer_e = {other!r}"))
    assert again == (0.5, message)


def test_all_wrong_scores_zero(bundles: dict[str, Path], tmp_path: Path) -> None:
    answer = derangement_of_key()
    score, message = grade_answer_e(with_answer(bundles, tmp_path, f"answer_e = {answer!r}"))
    assert score == 0.0 and "A, B, C and D" in message


def test_answers_in_other_spellings_and_item_assignments(bundles: dict[str, Path],
                                                         tmp_path: Path) -> None:
    roman = {"low": "(i)", "good": "Good learning rate", "high": "iii", "very high": "very-high"}
    lines = ['answer_e = {"A": "", "B": "", "C": "", "D": ""}', "%matplotlib inline"]
    lines += [f"answer_e[{panel.lower()!r}] = {roman[label]!r}"
              for panel, label in PANEL_LABELS.items()]
    score, message = grade_answer_e(with_answer(bundles, tmp_path, "\n".join(lines)))
    assert score == 1.0, message


@pytest.mark.parametrize("source, needle", [
    ("answer_e = {'A': 'low'", "not valid Python"),
    ("answer_e = dict(zip('ABCD', ['low', 'good', 'high', 'very high']))", "plain strings"),
    ("answer_e = ['low', 'good', 'high', 'very high']", "must be a dict"),
    ("labels = {'A': 'low'}", "no assignment"),
    ("answer_e['A'] = 'low'", "before it is assigned"),
    ("answer_e = {'A': 'medium', 'B': '', 'C': '', 'D': ''}", "'medium'"),
])
def test_broken_answers_score_zero_with_a_message(bundles: dict[str, Path], tmp_path: Path,
                                                  source: str, needle: str) -> None:
    score, message = grade_answer_e(with_answer(bundles, tmp_path, source))
    assert score == 0.0 and needle in message


def test_broken_notebooks_score_zero_with_a_message(bundles: dict[str, Path],
                                                    tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.ipynb"
    corrupt.write_text('{"cells": [', encoding="utf-8")
    assert grade_answer_e(corrupt)[0] == 0.0
    assert "could not be read" in grade_answer_e(corrupt)[1]

    binary = tmp_path / "binary.ipynb"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert grade_answer_e(binary)[0] == 0.0

    missing = grade_answer_e(tmp_path / "nowhere.ipynb")
    assert missing[0] == 0.0 and "not found" in missing[1]

    nb = json.loads(bundles["solution"].read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("nbgrader", None)
    no_cell = tmp_path / "no_cell.ipynb"
    no_cell.write_text(json.dumps(nb), encoding="utf-8")
    score, message = grade_answer_e(no_cell)
    assert score == 0.0 and "missing" in message

    assert grade_answer_e(tmp_path)[0] == 0.0  # a folder, not a notebook


@settings(deadline=None, max_examples=40)
@given(source=st.text(max_size=80))
def test_grader_never_raises(tmp_path_factory: pytest.TempPathFactory, source: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "assignment.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        source, metadata={"nbgrader": {"grade_id": "warmup_e_answer"}})])
    nbformat.write(nb, path)
    score, message = grade_answer_e(path)
    assert score in (0.0, 0.25, 0.5, 0.75, 1.0) and isinstance(message, str) and message


def test_the_block_sketches_cover_every_network_of_the_table(monkeypatch, tmp_path) -> None:
    """(h)'s table lists AlexNet, VGG-16, GoogLeNet and ResNet-152: the sketches show a block
    of each, and ResNet-152's is the bottleneck (1×1, 3×3, 1×1), not the basic block."""
    drawn = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.setdefault("fig", fig) and path)
    figures.figure_h_blocks(tmp_path / "blocks.png")
    axes = drawn["fig"].axes
    titles = " | ".join(ax.get_title() for ax in axes)
    networks = [name.split()[0].split("-")[0] for name in figures.NETWORKS]
    assert len(axes) == len(networks), titles
    for network, ax in zip(networks, axes):
        assert network in ax.get_title(), titles
    resnet = [t.get_text() for t in axes[-1].texts]
    assert "bottleneck" in axes[-1].get_title()
    assert [t for t in resnet if t.startswith("1×1 conv")] and "3×3 conv, 64" in resnet


# --- rubric and question agree -------------------------------------------------------------

def test_rubric_e_lists_exactly_the_scores_an_answer_using_each_label_once_can_get(
        bundles: dict[str, Path], tmp_path: Path) -> None:
    """The question says each label is used once: over all 24 such answers the grader gives
    only the scores that the rubric lists for them (never three right), and the rubric's
    1.875 is reachable only by an answer that repeats a label."""
    import itertools

    reachable = set()
    for labels in itertools.permutations(LABELS):
        answer = dict(zip("ABCD", labels))
        score, _ = grade_answer_e(with_answer(bundles, tmp_path, f"answer_e = {answer!r}"))
        reachable.add(score * 2.5)
    stated = re.search(r"uses each label once, as the question asks, scores\s+([0-9./ ]+)\(",
                       rubric("e"))
    assert stated, rubric("e")
    assert {float(v) for v in stated.group(1).split("/")} == reachable
    assert 1.875 not in reachable
    repeated = dict(PANEL_LABELS)
    repeated["A"] = PANEL_LABELS["B"]  # three right, B's label used twice
    score, message = grade_answer_e(with_answer(bundles, tmp_path, f"answer_e = {repeated!r}"))
    assert score * 2.5 == 1.875 and "more than one panel" in message
    assert "1.875 is given only to an answer that" in _flat(rubric("e"))


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_rubric_h_asks_only_what_the_question_asks() -> None:
    """(h) asks for one defining characteristic of each network: no level may require a
    trend across the four, and the rubric says a trend is not needed."""
    question = next(c.source for c in build.student_notebook().cells
                    if c.cell_type == "markdown" and c.source.startswith("### (h)"))
    assert "trend" not in question
    levels = [line for line in rubric("h").splitlines() if re.match(r"- \*\*[0-9.]+:\*\*", line)]
    assert len(levels) == 6 and not [line for line in levels if "trend" in line], levels
    assert "not needed for full marks" in _flat(rubric("h"))


def test_answer_j_says_a_half_turn_not_a_vertical_flip_makes_a_6_a_9() -> None:
    text = _flat(build.model_answers()["j"])
    assert "half-turn rotation turns a 6 into a 9" in text
    assert not re.search(r"(vertical|horizontal) flip (turns|makes) a 6", text)
