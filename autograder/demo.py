"""``python -m autograder demo``: the main job on built-in example submissions.

Rebuilds the student view, writes a small class (the reference, the untouched stubs,
correct alternatives and realistic bugs from ``tests/variants``), grades it with the same
code path as ``grade`` and prints the table.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from . import build

VARIANTS = build.REPO / "tests" / "variants" / "__init__.py"
EXAMPLES = ("cc_double_loop", "bn_vanilla_permute", "cc_flipped_kernel", "cc_uses_conv2d",
            "bn_unbiased_variance", "bn_momentum_swapped", "bn_backward_no_stat_terms")


def _variants_module():
    spec = importlib.util.spec_from_file_location("kit_variants", VARIANTS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def make_class(dest: Path) -> list[Path]:
    """Write the example class under dest; returns the submission folders."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    build.solution(dest / "reference")
    build.release(dest / "stubs")
    variants = _variants_module()
    by_name = {v.name: v for kind in ("correct", "bugs") for v in variants.all_variants(kind)}
    for name in EXAMPLES:
        variants.make_submission(dest / name, by_name[name])
    return [dest / "reference", dest / "stubs"] + [dest / n for n in EXAMPLES]
