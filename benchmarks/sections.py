"""The benchmark's sections: one registry entry each, a measure and a render function.

``measure(cfg, work)`` returns plain data that goes into ``BENCHMARKS.json`` under the
section's key; ``render(results, summary)`` reads it back (and may read other sections of
the same run) and returns the section's lines of ``BENCHMARKS.md``. To add a benchmark,
write the two functions and add one ``Section`` here, in the place where the document
should show it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import late, measure, render, similarity


@dataclass(frozen=True)
class Section:
    key: str
    measure: Callable[[measure.Config, Path], object]
    render: Callable[[dict, list], list[str]]


SECTIONS: tuple[Section, ...] = (
    Section("class", measure.bench_class, render.render_class),
    Section("single", measure.bench_single, render.render_single),
    Section("marginal", measure.bench_marginal, render.render_marginal),
    Section("late", late.bench_late, late.render_late),
    Section("cc", lambda cfg, work: measure.bench_cc(cfg), render.render_cc),
    Section("bn", lambda cfg, work: measure.bench_bn(cfg), render.render_bn),
    Section("notebook", lambda cfg, work: measure.bench_notebook(work), render.render_notebook),
    Section("slow", measure.bench_slow, render.render_slow),
    Section("similarity",
            lambda cfg, work: similarity.measure([20] if cfg == measure.QUICK else [200, 400],
                                                 work),
            lambda results, summary: similarity.render(results["similarity"]).splitlines()),
)

BY_KEY = {s.key: s for s in SECTIONS}


def document(results: dict, command: str) -> str:
    return render.document(results, command, [(s.key, s.render) for s in SECTIONS])
