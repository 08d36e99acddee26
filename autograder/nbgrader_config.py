"""nbgrader configuration of the course root ``autograder/``.

Run nbgrader from this folder: ``cd autograder && nbgrader generate_assignment hw1``.
nbgrader's folder of instructor originals is called ``master/`` here, so that it is not
confused with ``source/``, the students' package at the top of the repository.
"""

import sys
import warnings
from pathlib import Path

# nbgrader imports the hooks below by name: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "deep-learning-embedded"
c.CourseDirectory.source_directory = "master"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# The only solution region in the notebook is the (e) answer cell: its stub keeps the
# template dict above the region and must not raise.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE"}

# The students' own implementations are graded, never the master copies: the list comes
# from the one description of the assignment.
from autograder.grading import assignment  # noqa: E402

c.Autograde.exclude_overwriting = {"hw1": assignment.exclude_overwriting()}

# The master source/*.py hold solution regions: strip them from nbgrader's release folder
# exactly as `python -m autograder release` does.
c.GenerateAssignment.post_convert_hook = "autograder.nbgrader_plugin.strip_release"

# One student's damaged nbgrader metadata (an old schema_version, a cell without a
# cell_type) is repaired and named in the log instead of stopping autograde for everyone
# after that student: our repair runs before nbgrader's own sanitizing steps.
c.Autograde.sanitize_preprocessors = [
    "autograder.nbgrader_plugin.RepairCellMetadata",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Autograded scores come from the isolated grader, never from a kernel that ran student
# code: no Execute step; IsolatedGrade fills the grade cells with the isolated results.
c.Autograde.autograde_preprocessors = [
    "autograder.nbgrader_plugin.IsolatedGrade",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# `nbgrader export` writes grades.csv with a manual_pending column: the hand-graded points
# that no one has given yet (nbgrader's own CSV shows 42.5 / 65 as if it were final).
c.ExportApp.plugin_class = "autograder.nbgrader_plugin.PendingCsvExportPlugin"

# nbgrader's own warning, not ours: Gradebook.add_submission (nbgrader/api.py) builds the
# new SubmittedAssignment with its assignment and student, which links it into their
# collections, then reads `submission.assignment.notebooks` before `db.add(submission)`.
# That read autoflushes, and SQLAlchemy 2 (which no longer cascades along backrefs) warns
# "Object of type <SubmittedAssignment> not in session, add operation along
# 'Assignment.submissions' will not proceed". Nothing is lost: the db.add and commit that
# follow store the submission, its notebooks and grades (tests/test_nbgrader.py reads them
# back). Only that warning, of these three collections, is silenced.
try:
    from sqlalchemy.exc import SAWarning
except ImportError:  # pragma: no cover - nbgrader always brings SQLAlchemy
    SAWarning = Warning
warnings.filterwarnings(
    "ignore", category=SAWarning,
    message=r"Object of type <Submitted(Assignment|Notebook)> not in session, add operation "
            r"along '(Student|Assignment|Notebook)\.submissions' will not proceed")
