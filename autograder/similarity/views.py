"""The report's views (JSON, terminal summary, instructor-report section, HTML) and the
``similarity`` command."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from .compare import DEFAULT_MIN_SCORE, DEFAULT_THRESHOLD, Report, compare

#: Pairs shown side by side in the HTML report.
DEFAULT_HTML_PAIRS = 50


def write_json(report: Report, path: str | Path) -> Path:
    from ..grading.reports import atomic_write

    payload = report.to_json()
    pairs = payload.pop("pairs")

    def write(f) -> None:
        # One pair per line: readable, and json's fast encoder (indent= makes it slow).
        f.write('{"pairs": [')
        f.write(",".join("\n" + json.dumps(p, allow_nan=False) for p in pairs))
        f.write("\n]")
        for key, value in payload.items():
            f.write(f",\n{json.dumps(key)}: {json.dumps(value, allow_nan=False)}")
        f.write("\n}\n")
    return atomic_write(path, write)


def _label(pair: dict) -> str:
    return "code" if pair["kind"] == "code" else f"answer ({pair['question']})"


def summary_lines(report: Report, limit: int = 20) -> list[str]:
    """Plain text for the terminal: the flagged pairs, best first."""
    flagged = report.flagged
    out = [f"similarity: {len(report.submissions)} submissions, {len(report.pairs)} pairs "
           f"kept, {len(flagged)} at or above {report.threshold:g}"]
    for p in flagged[:limit]:
        out.append(f"  {p['score']:.2f}  {_label(p):<12} {p['a']}  ~  {p['b']}")
    if len(flagged) > limit:
        out.append(f"  ... and {len(flagged) - limit} more (see the JSON)")
    for i, c in enumerate(report.clusters, start=1):
        out.append(f"  cluster {i}: {', '.join(c['members'])} (earliest: "
                   f"{c['earliest'] or 'unknown'}; most complete: {c['most_complete']})")
    for n in report.notes:
        out.append(f"  note: {n['submission']}: {n['note']}")
    return out


def report_section(report: Report, limit: int = 100) -> list[str]:
    """Markdown lines for the instructor report: the pairs above the threshold (the first
    ``limit`` of them; the JSON has them all)."""
    flagged = report.flagged
    html_index = report.html_index
    lines = ["### Similar pairs (possible copying)", "",
             (f"Code and warm-up answers of {len(report.submissions)} submissions were compared"
              + (f", with the model answers as `{report.model_answer}`" if report.model_answer
                 else "")
              + f". Pairs scoring {report.threshold:g} or more (1 = one is contained in the "
              "other) are listed; a high score is a reason to look, not a verdict."), ""]
    if html_index:
        lines += [f"Side-by-side view of the top pairs: [{html_index}]({html_index})", ""]
    lines += _cluster_lines(report)
    lines += _past_lines(report)
    if flagged:
        lines += ["| score | what | a | b | matching regions |", "|---:|---|---|---|---|"]
        for p in flagged[:limit]:
            lines.append(f"| {p['score']:.2f} | {_label(p)} | {_md(p['a'])} | {_md(p['b'])} | "
                         f"{_regions(p)} |")
        if len(flagged) > limit:
            lines += ["", f"... and {len(flagged) - limit} more pairs above the threshold, "
                      "in the similarity JSON."]
    else:
        lines.append("None above the threshold.")
    if report.notes:
        lines += ["", "Left out of the comparison:"]
        lines += [f"- {_md(n['submission'])}: {_md(n['note'])}" for n in report.notes]
    lines.append("")
    return lines


def _cluster_lines(report: Report) -> list[str]:
    """One section per cluster: its members, who was first, who did most, its pairs."""
    lines = []
    for i, c in enumerate(report.clusters, start=1):
        members = set(c["members"])
        lines += [f"#### Cluster {i}: {len(members)} submissions", "",
                  "Members: " + ", ".join(_md(m) for m in c["members"]) + ".", "",
                  f"- Earliest: {_md(c['earliest']) if c['earliest'] else 'unknown'} "
                  f"({_md(c['earliest_by'])})",
                  f"- Most complete: {_md(c['most_complete'])} "
                  f"({_md(c['most_complete_by'])})", ""]
        for p in report.flagged:
            if p["a"] in members and p["b"] in members:
                lines.append(f"- {p['score']:.2f} {_label(p)}, {_md(p['a'])} ~ "
                             f"{_md(p['b'])}: {_md(p['explanation'])}")
        lines.append("")
    return lines


def _past_lines(report: Report) -> list[str]:
    """The class's matches with earlier terms or known solutions (``--against``)."""
    if not report.against:
        return []
    past = report.past_matches
    lines = [f"#### Matches with earlier terms or known solutions ({len(report.against)} "
             "compared)", ""]
    if not past:
        return lines + ["None above the threshold.", ""]
    for p in past:
        lines.append(f"- {p['score']:.2f} {_label(p)}: {_md(p['a'])} matches "
                     f"{_md(p['b'])}: {_md(p['explanation'])}")
    return lines + [""]


def _md(text: str) -> str:
    """Student-controlled text (folder and file names, notes) as literal markdown: no
    HTML, no emphasis or links, no table cell breaks (``grading.reports.md``)."""
    from ..grading.reports import md

    return md(text)


def _regions(pair: dict) -> str:
    if pair["kind"] == "code":
        parts = [f"{m['a_file']}:{m['a_lines'][0]}-{m['a_lines'][1]} ~ "
                 f"{m['b_file']}:{m['b_lines'][0]}-{m['b_lines'][1]}" for m in pair["matches"][:3]]
    else:
        parts = [f"{m['words']} words" for m in pair["matches"][:3]]
    more = len(pair["matches"]) - 3
    return _md("; ".join(parts) + (f"; +{more} more" if more > 0 else ""))


# ----------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; }
table { border-collapse: collapse; } td, th { padding: .2em .6em; border-bottom: 1px solid #ddd; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; font-size: 85%; white-space: pre-wrap; }
.answer { white-space: pre-wrap; background: #f7f7f7; padding: .6em; }
mark.m0 { background: #ffe08a; } mark.m1 { background: #a8e6a1; } mark.m2 { background: #9fd3ff; }
mark.m3 { background: #f7b2d9; } mark.m4 { background: #d6c2ff; } mark.m5 { background: #ffc59e; }
.flag { color: #b00020; font-weight: bold; }
"""


def _highlight(text: str, spans: list[tuple[int, int, int]]) -> str:
    """``text`` escaped, with ``<mark class="mN">`` around each (start, end, colour) span."""
    out, pos = [], 0
    for start, end, colour in sorted(spans):
        start = max(start, pos)
        if end <= start:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f'<mark class="m{colour % 6}">{html.escape(text[start:end])}</mark>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _pair_html(report: Report, pair: dict, number: int) -> str:
    esc = html.escape
    a, b = report.subs.get(pair["a"]), report.subs.get(pair["b"])
    title = f"{esc(pair['a'])} ~ {esc(pair['b'])}: {esc(_label(pair))}, score {pair['score']:.2f}"
    body = [f"<h2 id='pair-{number}'>{number}. {title}</h2>",
            f"<p>{esc(pair.get('explanation') or '')}. Matching regions have the same "
            "colour on both sides; the release's stubs, docstrings and comments are never "
            "marked.</p>"]
    columns = []
    for side, sub in (("a", a), ("b", b)):
        blocks = [f"<h3>{esc(pair[side])}</h3>"]
        if pair["kind"] == "code":
            files = {f.rel: f for f in (sub.files if sub else [])}
            for rel in dict.fromkeys(m[f"{side}_file"] for m in pair["matches"]):
                spans = [(start, end, i) for i, m in enumerate(pair["matches"])
                         if m[f"{side}_file"] == rel
                         for start, end in m.get(f"{side}_marks", [m[f"{side}_span"]])]
                text = files[rel].text if rel in files else ""
                blocks.append(f"<h4>{esc(rel)}</h4><pre>{_highlight(text, spans)}</pre>")
        else:
            text = sub.answers.get(pair["question"], "") if sub else ""
            spans = [(m[f"{side}_span"][0], m[f"{side}_span"][1], i)
                     for i, m in enumerate(pair["matches"])]
            blocks.append(f"<div class='answer'>{_highlight(text, spans)}</div>")
        columns.append("<div>" + "\n".join(blocks) + "</div>")
    body.append("<div class='side'>" + "\n".join(columns) + "</div>")
    return "\n".join(body)


def write_html(report: Report, folder: str | Path, top: int = DEFAULT_HTML_PAIRS) -> Path:
    """``folder/index.html``: a table of the top pairs, then each pair side by side."""
    from ..grading.reports import atomic_write

    esc = html.escape
    shown = report.pairs[:top]
    rows = []
    for i, p in enumerate(shown, start=1):
        mark = " class='flag'" if p["score"] >= report.threshold else ""
        rows.append(f"<tr><td{mark}>{p['score']:.2f}</td><td>{esc(_label(p))}</td>"
                    f"<td><a href='#pair-{i}'>{esc(p['a'])}</a></td><td>{esc(p['b'])}</td>"
                    f"<td>{len(p['matches'])}</td></tr>")
    notes = "".join(f"<li>{esc(n['submission'])}: {esc(n['note'])}</li>" for n in report.notes)
    page = "\n".join([
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
        "<title>Similarity report</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>Similarity report</h1>",
        f"<p>{len(report.submissions)} submissions; {len(report.pairs)} pairs kept, "
        f"{len(report.flagged)} at or above the threshold {report.threshold:g} (in red). "
        f"The top {len(shown)} are shown below.</p>",
        "<table><tr><th>score</th><th>what</th><th>a</th><th>b</th><th>regions</th></tr>",
        *rows, "</table>",
        f"<h2>Left out</h2><ul>{notes}</ul>" if notes else "",
        *(_pair_html(report, p, i) for i, p in enumerate(shown, start=1)),
        "</body></html>", ""])
    return atomic_write(Path(folder) / "index.html", lambda f: f.write(page))


# ----------------------------------------------------------------------------- command

def run_command(args) -> int:
    """``python -m autograder similarity``; exit status 0 when the report was written."""
    from .compare import references

    paths = [Path(p) for p in args.submissions]
    against = []
    for folder in getattr(args, "against", None) or []:
        try:
            against += references(Path(folder))
        except OSError as err:
            print(f"error: {err}")
            return 2
    report = compare(paths, threshold=_option(args, "similarity_threshold", DEFAULT_THRESHOLD),
                     min_score=_option(args, "min_score", DEFAULT_MIN_SCORE),
                     model_answer=not args.no_model_answer, against=against)
    try:
        written = [write_json(report, args.json)]
        if args.html:
            written.append(write_html(report, args.html, top=args.top))
    except OSError as err:
        print(f"error: cannot write the report: {err}")
        return 1
    print("\n".join(summary_lines(report)))
    for path in written:
        print(f"wrote {path}")
    return 0


def _option(args, name: str, default: float) -> float:
    value = getattr(args, name, None)
    return default if value is None else float(value)


def for_grade(args, paths: Sequence[Path], names: Sequence[str], out: Path | None,
              scores: dict[str, float] | None = None) -> Report:
    """``grade --similarity``: compare the graded submissions under the names of the grade
    table (``scores``: their grades, which pick each cluster's most complete member); with
    an output folder, write ``<stem>-similarity.json`` and an HTML folder."""
    report = compare(paths, names, threshold=_option(args, "similarity_threshold",
                                                     DEFAULT_THRESHOLD), scores=scores)
    if out is not None:
        write_json(report, out.parent / f"{out.stem}-similarity.json")
        report.html_index = f"{out.stem}-similarity/index.html"
        write_html(report, out.parent / f"{out.stem}-similarity")
    print("\n".join(summary_lines(report)))
    return report
