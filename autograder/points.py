"""The points table: the one place where points are written down.

Section totals, the nbgrader cell points and the columns of every grade report are
derived from ``TESTS`` and ``MANUAL``; ``tests/test_points.py`` checks the totals
against SPEC.md (65 = 25 + 15 + 25).
"""

from dataclasses import dataclass

ASSIGNMENT_ID = "hw1"


@dataclass(frozen=True)
class Section:
    key: str
    title: str


SECTIONS = (
    Section("warmup", "Warm-up questions (a)-(j)"),
    Section("cross_correlation", "2-D cross-correlation"),
    Section("spatial_batchnorm", "Spatial batch normalization"),
)

#: Hand-graded warm-up answers: notebook cell id -> points.
MANUAL = {f"warmup_{q}": 2.5 for q in "abcdfghij"}

#: Autograded tests, in the order they run: name -> (section, points).
TESTS = {
    "warmup_e_learning_rates": ("warmup", 2.5),
    # cross_correlation: 15
    "cc_worked_example": ("cross_correlation", 1.0),
    "cc_output_shape": ("cross_correlation", 2.0),
    "cc_values_square": ("cross_correlation", 2.0),
    "cc_values_nonsquare": ("cross_correlation", 3.0),
    "cc_dtype_device": ("cross_correlation", 2.0),
    "cc_inputs_unmodified": ("cross_correlation", 2.0),
    "cc_edge_cases": ("cross_correlation", 1.0),
    "cc_random_shapes": ("cross_correlation", 2.0),
    # spatial_batchnorm: 25
    "bn_forward_values": ("spatial_batchnorm", 4.0),
    "bn_forward_eps": ("spatial_batchnorm", 1.0),
    "bn_forward_shape_dtype": ("spatial_batchnorm", 2.0),
    "bn_running_stats_one_step": ("spatial_batchnorm", 2.0),
    "bn_running_stats_two_steps": ("spatial_batchnorm", 2.0),
    "bn_test_mode": ("spatial_batchnorm", 3.0),
    "bn_invalid_mode": ("spatial_batchnorm", 1.0),
    "bn_batch_size_one": ("spatial_batchnorm", 1.0),
    "bn_backward_dx": ("spatial_batchnorm", 4.0),
    "bn_backward_dgamma_dbeta": ("spatial_batchnorm", 3.0),
    "bn_backward_shape_dtype": ("spatial_batchnorm", 1.0),
    "bn_inputs_unmodified": ("spatial_batchnorm", 1.0),
}


def section_max(key: str) -> float:
    """All points of a section, hand-graded ones included."""
    auto = sum(p for s, p in TESTS.values() if s == key)
    manual = sum(MANUAL.values()) if key == "warmup" else 0.0
    return auto + manual


def section_auto_max(key: str) -> float:
    return sum(p for s, p in TESTS.values() if s == key)


def total_max() -> float:
    return sum(section_max(s.key) for s in SECTIONS)


#: nbgrader grade cells in the notebook whose score comes from the isolated grader:
#: grade_id -> section whose autograded points it carries.
GRADE_CELLS = {
    "warmup_e_test": "warmup",
    "cross_correlation_tests": "cross_correlation",
    "spatial_batchnorm_tests": "spatial_batchnorm",
}
