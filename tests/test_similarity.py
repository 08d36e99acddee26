"""The similarity report finds planted copies above every pair of independent solutions.

The class is built from the release stubs: independent submissions take one correct
cross-correlation and one correct batch norm from ``tests/variants/correct`` (each written
on its own: the same algorithms, not the same text) and warm-up answers of three imagined
students (``tests/similarity_answers.json``). Planted copies disguise another submission:
identifiers renamed, functions reordered, comments and docstrings rewritten, an answer with
a few words changed, the model answer pasted in.
"""

from __future__ import annotations

import ast
import html
import importlib.util
import io
import json
import os
import re
import shutil
import sys
import tokenize
from pathlib import Path

import pytest

from autograder import build, cli, similarity
from autograder.grading import reports

HERE = Path(__file__).resolve().parent
ANSWERS = json.loads((HERE / "similarity_answers.json").read_text(encoding="utf-8"))["students"]
API = {"cross_corr_2d", "batchnorm_forward", "batchnorm_backward",
       "spatial_batchnorm_forward", "spatial_batchnorm_backward"}


def _variants():
    spec = importlib.util.spec_from_file_location("sim_variants", HERE / "variants" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ disguises

def _names_bound(text: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
    return names - API


def rename_identifiers(text: str) -> str:
    """Every local name, parameter and helper gets a new name (the API functions keep theirs,
    or the grader could not call them)."""
    mapping = {name: f"my_{name.lower()}_v" for name in _names_bound(text)}
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    lines = text.splitlines(keepends=True)
    edits = []
    for i, tok in enumerate(tokens):
        after_dot = i > 0 and tokens[i - 1].string == "."
        if tok.type == tokenize.NAME and tok.string in mapping and not after_dot:
            edits.append((tok.start, tok.end, mapping[tok.string]))
    for (r0, c0), (_, c1), new in reversed(edits):
        line = lines[r0 - 1]
        lines[r0 - 1] = line[:c0] + new + line[c1:]
    return "".join(lines)


def reorder_functions(text: str) -> str:
    """The top-level functions in reverse order (the module header stays first)."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    first = defs[0].lineno - 1 - len(defs[0].decorator_list)
    blocks = []
    for d, nxt in zip(defs, [*defs[1:], None]):
        end = (nxt.lineno - 1) if nxt else len(lines)
        blocks.append("".join(lines[d.lineno - 1:end]).rstrip() + "\n\n\n")
    assert len(blocks) >= 2
    return "".join(lines[:first]) + "".join(reversed(blocks))


def rewrite_comments(text: str) -> str:
    """Comments and docstrings replaced by new ones, with a line of HTML for good measure."""
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    lines = text.splitlines(keepends=True)
    edits = []
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1].type if i else None
        if tok.type == tokenize.COMMENT:
            edits.append((tok.start, tok.end, "# <script>alert('step')</script> my own note"))
        elif tok.type == tokenize.STRING and prev in (tokenize.INDENT, tokenize.NEWLINE, None):
            edits.append((tok.start, tok.end, '"""Written by me, from scratch."""'))
    for (r0, c0), (r1, c1), new in reversed(edits):
        lines[r0 - 1:r1] = [lines[r0 - 1][:c0] + new + lines[r1 - 1][c1:]]
    assert edits
    return "".join(lines)


def reword(answer: str) -> str:
    """A copied answer with four words changed."""
    out = answer
    for old, new in (("multiplied", "chained"), ("dies out", "fades"),
                     ("blows up", "explodes"), ("worse", "harder")):
        assert old in out
        out = out.replace(old, new)
    return out


# ------------------------------------------------------------------ the class

def set_answers(sub: Path, answers: dict[str, str]) -> None:
    nb_path = sub / "assignment.ipynb"
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id", "")
        letter = grade_id.removeprefix("warmup_")
        if cell["cell_type"] == "markdown" and letter in answers:
            cell["source"] = answers[letter]
    nb_path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def copy_submission(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


INDEPENDENT_CC = ("cc_as_strided_einsum", "cc_double_loop", "cc_functional_unfold",
                  "cc_shifted_slices_sum", "cc_tensor_unfold", "cc_transposed_result")
INDEPENDENT_BN = ("bn_channel_loop", "bn_channel_rows", "bn_direct_dict_cache",
                  "bn_noncontiguous_outputs", "bn_vanilla_permute", "bn_with_helpers")


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("similarity")
    stub = root / "_stub"
    build.release(stub)
    # Solutions written independently of each other. Later additions to the library vary
    # one student's approach (the same vanilla batch norm with another cache, say), so
    # they share text on purpose and are not independent.
    correct = {v.name: v for v in _variants().all_variants("correct")}
    cc = [correct[n] for n in INDEPENDENT_CC]
    bn = [correct[n] for n in INDEPENDENT_BN]

    independent: list[Path] = []
    reference = copy_submission(stub, root / "reference")
    solution = root / "_solution"
    build.solution(solution)
    for name in ("cross_correlation.py", "batchnorm.py"):
        shutil.copyfile(solution / "source" / name, reference / "source" / name)
    independent.append(reference)
    for i, (c, b) in enumerate(zip(cc, bn)):
        sub = copy_submission(stub, root / f"student{i}")
        for v in (c, b):
            target = sub / "source" / v.target
            target.write_text(target.read_text(encoding="utf-8") + "\n\n" + v.code,
                              encoding="utf-8")
        if i < len(ANSWERS):
            set_answers(sub, ANSWERS[i])
        independent.append(sub)

    renamed = copy_submission(root / "student0", root / "copy_renamed")
    reordered = copy_submission(root / "student1", root / "copy_reordered")
    commented = copy_submission(reference, root / "copy_comments")
    originals = {renamed: root / "student0", reordered: root / "student1",
                 commented: reference}
    for sub, disguise in ((renamed, rename_identifiers), (reordered, reorder_functions),
                          (commented, rewrite_comments)):
        for name in ("cross_correlation.py", "batchnorm.py"):
            path = sub / "source" / name
            path.write_text(disguise(path.read_text(encoding="utf-8")), encoding="utf-8")
            assert path.read_bytes() != (originals[sub] / "source" / name).read_bytes()
        set_answers(sub, {k: "YOUR ANSWER HERE" for k in "abcdfghij"})
    set_answers(reordered, {"b": reword(ANSWERS[0]["b"])})
    model_d = build.model_answers()["d"]
    pasted = re.sub(r"\s+", " ", model_d.replace("**", ""))  # reformatted, same words
    set_answers(commented, {"d": pasted})

    subs = independent + [renamed, reordered, commented]
    planted = [("code", None, "student0", "copy_renamed"),
               ("code", None, "student1", "copy_reordered"),
               ("code", None, "reference", "copy_comments"),
               ("answer", "b", "copy_reordered", "student0"),
               ("answer", "d", "copy_comments", similarity.MODEL_ANSWER)]
    report = similarity.compare(subs, min_score=0.0)
    return {"root": root, "subs": subs, "independent": [p.name for p in independent],
            "planted": planted, "report": report}


def _pair(report: similarity.Report, kind: str, question: str | None, a: str, b: str) -> dict:
    for p in report.pairs:
        if p["kind"] == kind and p.get("question") == question and {p["a"], p["b"]} == {a, b}:
            return p
    raise AssertionError(f"no {kind} pair {a} ~ {b} ({question}) in the report")


def _independent_scores(klass) -> list[tuple[float, str]]:
    """Every pair of independent work: code among the independent submissions, answers
    among the three students and the model answer."""
    people = set(klass["independent"]) | {similarity.MODEL_ANSWER}
    out = [(p["score"], f"{p['kind']} {p.get('question')} {p['a']}~{p['b']}")
           for p in klass["report"].pairs if p["a"] in people and p["b"] in people]
    assert len(out) > 20, out  # the independent pairs were really compared
    return out


# ------------------------------------------------------------------ thresholds

def test_every_planted_copy_ranks_above_every_independent_pair(klass):
    report = klass["report"]
    planted = {(kind, q, a, b): _pair(report, kind, q, a, b)["score"]
               for kind, q, a, b in klass["planted"]}
    worst_copy = min(planted.values())
    best_independent = max(_independent_scores(klass))
    assert worst_copy > best_independent[0], (planted, best_independent)


def test_independent_solutions_stay_below_the_default_threshold(klass):
    score, what = max(_independent_scores(klass))
    assert score < similarity.DEFAULT_THRESHOLD, what


def test_planted_copies_are_flagged_at_the_default_threshold(klass):
    report = klass["report"]
    flagged = {(p["kind"], p.get("question"), frozenset((p["a"], p["b"])))
               for p in report.flagged}
    for kind, q, a, b in klass["planted"]:
        assert (kind, q, frozenset((a, b))) in flagged, (kind, q, a, b)


def test_copying_the_key_names_the_student_first(klass):
    pair = _pair(klass["report"], "answer", "d", "copy_comments", similarity.MODEL_ANSWER)
    assert (pair["a"], pair["b"]) == ("copy_comments", similarity.MODEL_ANSWER)
    assert pair["score"] > 0.9


def test_the_stubs_alone_match_nothing(klass, tmp_path):
    # Two untouched release bundles share every line, all of it boilerplate.
    a, b = tmp_path / "a", tmp_path / "b"
    build.release(a)
    shutil.copytree(a, b)
    report = similarity.compare([a, b], min_score=0.0)
    assert [p for p in report.pairs if p["a"] != similarity.MODEL_ANSWER] == []


def test_identifiers_comments_and_layout_do_not_change_the_tokens():
    a = "def f(x, y):\n    # add\n    total = x + y\n    return total.sum(dim=0)\n"
    b = ('def g(p,\n      q):\n    """Doc."""\n    s = p + q  # other\n'
         '    return s.sum(dim=0)\n')
    c = "def g(p, q):\n    s = p - q\n    return s.sum(dim=0)\n"
    norm = [[t.text for t in similarity.tokenize_code(src)[0]] for src in (a, b, c)]
    assert norm[0] == norm[1]
    assert norm[0] != norm[2]
    assert "sum" in norm[0] and "dim" in norm[0]  # library names are kept


# ------------------------------------------------------------------ outputs

def test_json_has_the_spec_shape_and_is_sorted(klass, tmp_path):
    path = similarity.write_json(klass["report"], tmp_path / "sim.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    reports.validate(data, "similarity")
    pairs = data["pairs"]
    assert pairs
    scores = [p["score"] for p in pairs]
    assert scores == sorted(scores, reverse=True)
    names = set(klass["report"].submissions) | {similarity.MODEL_ANSWER}
    for p in pairs:
        assert {"a", "b", "kind", "score", "matches"} <= set(p)
        assert p["a"] in names and p["b"] in names and p["a"] != p["b"]
        assert 0.0 <= p["score"] <= 1.0
        assert isinstance(p["matches"], list) and p["matches"]
        if p["kind"] == "code":
            assert "question" not in p
            m = p["matches"][0]
            assert m["a_file"].startswith("source/") and m["b_file"].startswith("source/")
            assert 1 <= m["a_lines"][0] <= m["a_lines"][1]
        else:
            assert p["kind"] == "answer" and p["question"] in similarity.QUESTIONS
            assert p["matches"][0]["a_text"]


def test_html_shows_the_pairs_side_by_side_highlighted_and_escaped(klass, tmp_path):
    index = similarity.write_html(klass["report"], tmp_path / "html", top=10)
    page = index.read_text(encoding="utf-8")
    top = klass["report"].pairs[0]
    assert page.count("<h2 id='pair-") == 10
    assert f"{top['a']} ~ {top['b']}" in page
    assert page.count("<mark class=") >= sum(len(p["matches"]) for p in
                                             klass["report"].pairs[:10])
    # Student text is shown, never run: the comment planted in copy_comments stays text.
    assert "&lt;script&gt;" in page and "<script>" not in page


def test_a_renamed_copy_matches_every_file_at_the_renamed_lines(klass):
    report = klass["report"]
    pair = _pair(report, "code", None, "student0", "copy_renamed")
    side = "a" if pair["a"] == "copy_renamed" else "b"
    assert {m[f"{side}_file"] for m in pair["matches"]} == {
        "source/cross_correlation.py", "source/batchnorm.py"}
    files = {f.rel: f.text for f in report.subs["copy_renamed"].files}
    shown = [files[m[f"{side}_file"]][m[f"{side}_span"][0]:m[f"{side}_span"][1]]
             for m in pair["matches"]]
    assert all("my_" in text for text in shown)  # the disguised code itself is highlighted
    assert not any("raise NotImplementedError" in text for text in shown)  # stubs are not


# ------------------------------------------------------------------ robustness

def test_broken_submissions_are_reported_and_skipped(klass, tmp_path):
    broken = copy_submission(klass["root"] / "student2", tmp_path / "broken")
    (broken / "source" / "batchnorm.py").write_bytes(b"x = '\xff\xfe caf\xe9'\n")
    (broken / "source" / "huge.py").write_text("x = 1\n" * 100_000, encoding="utf-8")
    (broken / "source" / "bad_syntax.py").write_text("def f(:\n    return (\n", encoding="utf-8")
    (broken / "assignment.ipynb").unlink()
    garbled = copy_submission(klass["root"] / "student1", tmp_path / "garbled")
    (garbled / "assignment.ipynb").write_text("{not json", encoding="utf-8")
    missing = tmp_path / "does-not-exist"
    subs = [klass["root"] / "student0", klass["root"] / "copy_renamed", broken, garbled, missing]
    report = similarity.compare(subs, min_score=0.0)
    notes = {(n["submission"], n["note"]) for n in report.notes}
    text = "\n".join(f"{s}: {n}" for s, n in notes)
    assert "broken: source/batchnorm.py is not UTF-8 text: left out" in text
    assert re.search(r"broken: source/huge.py is too large", text)
    assert "broken: source/bad_syntax.py: not valid Python" in text
    assert "broken: assignment.ipynb is missing" in text
    assert "garbled: assignment.ipynb is not valid JSON" in text
    assert "does-not-exist: not a folder" in text
    # The rest of the class is still compared.
    assert _pair(report, "code", None, "student0", "copy_renamed")["score"] > 0.9
    # The broken submission's readable file still counts.
    assert any("broken" in (p["a"], p["b"]) and p["kind"] == "code" for p in report.pairs)


# ------------------------------------------------------------------ commands

def test_similarity_command_writes_json_and_html(klass, tmp_path, capsys):
    out = tmp_path / "out" / "sim.json"
    html_dir = tmp_path / "out" / "html"
    subs = [str(p) for p in klass["subs"]]
    rc = cli.main(["similarity", *subs, "--json", str(out), "--html", str(html_dir),
                   "--threshold", "0.6"])
    assert rc == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    reports.validate(data, "similarity")
    assert data["threshold"] == 0.6
    assert all(p["score"] >= similarity.DEFAULT_MIN_SCORE for p in data["pairs"])
    assert (html_dir / "index.html").is_file()
    printed = capsys.readouterr().out
    assert "copy_renamed" in printed and f"wrote {out}" in printed


def test_similarity_command_without_model_answer(klass, tmp_path):
    out = tmp_path / "sim.json"
    assert cli.main(["similarity", *map(str, klass["subs"]), "--json", str(out),
                     "--no-model-answer", "--min-score", "0"]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["model_answer"] is None
    assert all(similarity.MODEL_ANSWER not in (p["a"], p["b"]) for p in data["pairs"])


def test_similarity_command_fails_when_it_cannot_write(klass, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    rc = cli.main(["similarity", str(klass["subs"][0]), "--json", str(blocker / "x.json")])
    assert rc != 0


def test_grade_with_similarity_puts_flagged_pairs_in_the_report(klass, tmp_path):
    subs = [klass["root"] / "reference", klass["root"] / "copy_comments"]
    grades = tmp_path / "results" / "grades.json"
    rc = cli.main(["grade", *map(str, subs), "--json", str(grades), "--similarity",
                   "--similarity-threshold", "0.4"])
    assert rc == 0
    report = (grades.parent / "grades-report.md").read_text(encoding="utf-8")
    section = report.split("### Similar pairs (possible copying)", 1)[1]
    assert "| code | reference | copy_comments |" in section
    assert "| answer (d) | copy_comments | model-answer |" in section
    assert "grades-similarity/index.html" in section
    assert (grades.parent / "grades-similarity" / "index.html").is_file()
    sim = json.loads((grades.parent / "grades-similarity.json").read_text(encoding="utf-8"))
    assert sim["threshold"] == 0.4 and sim["pairs"][0]["score"] > 0.9
    # The grade file keeps SPEC's shape: suspicion never reaches a student's flags.
    data = json.loads(grades.read_text(encoding="utf-8"))
    reports.validate(data, "grade")
    assert all(not any("similar" in f for f in s["flags"]) for s in data["submissions"])


def test_grade_without_similarity_has_no_such_section(tmp_path):
    text = reports.report_markdown([])
    assert "Similar pairs" not in text
    assert "Similar pairs" in reports.report_markdown([], similarity=["### Similar pairs"])


# ------------------------------------------------------------------ benchmark code

def test_benchmark_class_is_renamed_and_compares(tmp_path):
    from benchmarks import similarity as bench

    subs = bench.make_class(tmp_path / "class", 7)
    assert len(subs) == 7
    first = (subs[0] / "source" / "cross_correlation.py").read_text(encoding="utf-8")
    same_variant = (subs[6] / "source" / "cross_correlation.py").read_text(encoding="utf-8")
    assert first != same_variant and "_s0" in first and "_s6" in same_variant
    report = similarity.compare(subs, min_score=0.0)
    # subs 0 and 6 share the cross-correlation variant under other names: found.
    pair = _pair(report, "code", None, "s0000", "s0006")
    cc = [m for m in pair["matches"] if m["a_file"] == "source/cross_correlation.py"]
    assert cc and cc[0]["b_file"] == "source/cross_correlation.py"


def test_benchmark_section_replaces_only_itself():
    from benchmarks import similarity as bench

    rows = [{"n": 50, "seconds": 1.0, "rc": 0, "pairs_compared": 1225, "pairs_written": 9,
             "flagged": 2, "compare_s": 0.5},
            {"n": 200, "seconds": 4.0, "rc": 0, "pairs_compared": 19900, "pairs_written": 90,
             "flagged": 20, "compare_s": 3.0}]
    result = {"rows": rows, "date": "d", "loadavg": [1.0, 1.0, 1.0], "cores": 2}
    new = bench.render(result)
    assert "**4.0 s** for 200, met" in new
    old = "# Benchmarks\n\nintro\n\n" + bench.BEGIN + "\nold numbers\n" + bench.END + "\n\ntail\n"
    text = bench.with_section(old, new)
    assert "old numbers" not in text and "intro" in text and text.endswith("tail\n")
    assert bench.section(text).startswith(bench.BEGIN) and "19900" in bench.section(text)
    assert bench.with_section("# Benchmarks\n", new).count(bench.BEGIN) == 1


def test_the_schema_ties_the_question_to_answer_pairs():
    import jsonschema

    pair = {"a": "x", "b": "y", "kind": "answer", "question": "b", "score": 0.5,
            "matches": [{"a_text": "t", "b_text": "t", "words": 3}]}
    reports.validate({"pairs": [pair]}, "similarity")
    for broken in ({k: v for k, v in pair.items() if k != "question"},
                   {**pair, "kind": "code"}, {**pair, "score": 1.5}):
        with pytest.raises(jsonschema.ValidationError):
            reports.validate({"pairs": [broken]}, "similarity")


def test_the_report_section_caps_its_table(klass):
    report = klass["report"]
    pairs = [dict(report.pairs[0], a=f"s{i}", b=f"t{i}", score=0.9) for i in range(7)]
    many = similarity.Report(pairs, [], 0.5, ["x"], None)
    lines = similarity.report_section(many, limit=3)
    assert sum(line.startswith("| 0.90 |") for line in lines) == 3
    assert any("4 more pairs above the threshold" in line for line in lines)


# ------------------------------------------------------------------ clusters, past terms

def _release_docstring_lines(tmp_path: Path) -> list[str]:
    stub = tmp_path / "_docs_stub"
    build.release(stub)
    lines = []
    for path in sorted((stub / "source").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Module, ast.FunctionDef)):
                doc = ast.get_docstring(node, clean=False) or ""
                lines += [ln.strip() for ln in doc.splitlines() if len(ln.strip()) > 25]
    assert len(lines) > 20
    return lines


def test_release_stubs_and_docstrings_are_never_highlighted(tmp_path):
    """Two copies of one solution: every line matches, and the runs of matching windows pass
    over the release's docstrings; the marks (what the HTML highlights) never cover one."""
    a, b = tmp_path / "a", tmp_path / "b"
    build.solution(a)
    shutil.copytree(a, b)
    report = similarity.compare([a, b], min_score=0.0, model_answer=False)
    pair = _pair(report, "code", None, "a", "b")
    docs = _release_docstring_lines(tmp_path)
    text = {f.rel: f.text for f in report.subs["a"].files}
    spans = [text[m["a_file"]][m["a_span"][0]:m["a_span"][1]] for m in pair["matches"]]
    assert any(d in s for s in spans for d in docs)  # the runs do pass over docstrings
    marked = [text[m["a_file"]][s:e] for m in pair["matches"] for s, e in m["a_marks"]]
    assert marked and not [d for d in docs if any(d in t for t in marked)]
    page = similarity.write_html(report, tmp_path / "html").read_text(encoding="utf-8")
    highlighted = re.findall(r"<mark class=\"m\d\">(.*?)</mark>", page, re.S)
    assert highlighted and not [d for d in docs if any(html.escape(d) in h for h in highlighted)]


def test_each_pair_is_explained_with_both_percentages(klass):
    pair = _pair(klass["report"], "code", None, "student0", "copy_renamed")
    a, b = pair["a"], pair["b"]
    assert pair["explanation"] == (
        f"{pair['a_share']:.0%} of {a}'s tokens appear in {b}'s; {pair['b_share']:.0%} of "
        f"{b}'s in {a}'s; the pair scores the larger")
    assert pair["score"] == max(pair["a_share"], pair["b_share"])
    answer = _pair(klass["report"], "answer", "b", "copy_reordered", "student0")
    assert f"{answer['a_share']:.0%} of {answer['a']}'s words in answer (b)" in \
        answer["explanation"] and f"scores {answer['score']:.0%}" in answer["explanation"]
    section = "\n".join(similarity.report_section(klass["report"]))
    assert reports.md(pair["explanation"]) in section


def _copies(tmp_path: Path, klass, names: list[str]) -> list[Path]:
    return [copy_submission(klass["root"] / "student0", tmp_path / n) for n in names]


def test_a_many_way_copy_is_one_cluster_with_its_earliest_and_most_complete(klass, tmp_path):
    first, second, third = _copies(tmp_path, klass, ["first", "second", "third"])
    other = klass["root"] / "student2"  # independent work: in no cluster
    for sub in (first, second):  # the copies without the answers: less complete
        set_answers(sub, {k: "YOUR ANSWER HERE" for k in "fghij"})
    for sub, when in ((first, 1_700_000_000), (second, 1_700_000_500), (third, 1_700_000_900)):
        os.utime(sub / "assignment.ipynb", (when, when))
    report = similarity.compare([third, other, first, second])
    assert len(report.clusters) == 1, report.clusters
    cluster = report.clusters[0]
    assert cluster["members"] == ["first", "second", "third"]
    assert cluster["pairs"] >= 3 and cluster["earliest"] == "first"
    assert cluster["earliest_by"] == "notebook modified"
    assert cluster["most_complete"] == "third"
    # With grades (grade --similarity) the best graded member is the most complete one.
    graded = similarity.compare([third, other, first, second],
                                scores={"first": 10, "second": 40.5, "third": 20})
    assert graded.clusters[0]["most_complete"] == "second"
    # nbgrader's own submission time wins over the files' times.
    (third / "timestamp.txt").write_text("2023-01-01 09:00:00.000000 UTC\n")
    assert similarity.compare([third, first, second]).clusters[0]["earliest"] == "third"
    section = "\n".join(similarity.report_section(report))
    assert "#### Cluster 1: 3 submissions" in section and "Earliest: first" in section
    assert "Most complete: third" in section
    data = json.loads(similarity.write_json(report, tmp_path / "s.json").read_text())
    reports.validate(data, "similarity")
    assert data["clusters"] == report.clusters


def test_pairs_with_the_key_or_a_reference_never_join_two_students():
    pairs = [{"a": "ann", "b": "key", "kind": "code", "score": 0.9},
             {"a": "bea", "b": "key", "kind": "code", "score": 0.9},
             {"a": "cid", "b": "dan", "kind": "answer", "question": "b", "score": 0.7},
             {"a": "dan", "b": "eve", "kind": "code", "score": 0.6},
             {"a": "eve", "b": "fay", "kind": "code", "score": 0.3}]
    groups = similarity.clusters(pairs, 0.5, ["ann", "bea", "cid", "dan", "eve", "fay"],
                                 frozenset({"key"}), {}, {}, "most")
    assert [g["members"] for g in groups] == [["cid", "dan", "eve"]]
    assert groups[0]["kinds"] == ["answer (b)", "code"] and groups[0]["earliest"] is None


def test_against_compares_one_way_and_names_the_past_submission(klass, tmp_path):
    past = tmp_path / "fall2025"
    copy_submission(klass["root"] / "reference", past / "ann")
    copy_submission(klass["root"] / "reference", past / "ben")  # the same as ann: not a pair
    copy_submission(klass["root"] / "student3", past / "cal")
    cls = [klass["root"] / "copy_comments", klass["root"] / "student2"]
    out = tmp_path / "sim.json"
    rc = cli.main(["similarity", *map(str, cls), "--against", str(past), "--json", str(out),
                   "--html", str(tmp_path / "html")])
    assert rc == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    reports.validate(data, "similarity")
    refs = {"fall2025/ann", "fall2025/ben", "fall2025/cal"}
    assert set(data["against"]) == refs
    assert not [p for p in data["pairs"] if p["a"] in refs]  # the class is always "a"
    assert not [p for p in data["pairs"] if p["b"] in refs and p["a"] not in
                {"copy_comments", "student2"}]
    matched = {p["b"] for p in data["pairs"] if p["a"] == "copy_comments"
               and p["kind"] == "code" and p["score"] >= data["threshold"]}
    assert matched == {"fall2025/ann", "fall2025/ben"}
    assert data["clusters"] == []  # one student matching past work is no cluster
    report = similarity.compare(cls, against=similarity.references(past))
    section = "\n".join(similarity.report_section(report))
    assert "Matches with earlier terms or known solutions (3 compared)" in section
    assert "copy\\_comments matches fall2025/ann" in section or \
        "copy_comments matches fall2025/ann" in section
    assert cli.main(["similarity", str(cls[0]), "--against", str(tmp_path / "none"),
                     "--json", str(out)]) == 2
