"""Run ``python -m autograder`` with a fault injected into the judge, for tests only.

``python -m tests.fault_injection VICTIM grade SUB ...`` grades like the real command, but
the judge raises a SystemError (as ``ast.parse`` did under ``--jobs 2`` in issue 19.2) in
the middle of the hidden tests of the submission folder named VICTIM. Nothing in the
grader knows about it: the fault is a monkeypatch of this process, so the tests can run
the command in a subprocess, as root and as an ordinary user.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from autograder.grading import grade


def inject(victim: str, setattr_=setattr) -> None:
    """Make the judge fail on the submission named ``victim`` after its first test."""
    current = threading.local()
    read_notebook, run_hidden_test = grade.read_notebook, grade.run_hidden_test
    first = next(iter(grade.hidden_tests.TESTS))

    def reading(path):
        current.name = Path(path).name
        return read_notebook(path)

    def running(test, *args, **kwargs):
        if getattr(current, "name", None) == victim and test.name != first:
            raise SystemError("<built-in function compile> returned NULL without setting "
                              "an exception")
        return run_hidden_test(test, *args, **kwargs)

    setattr_(grade, "read_notebook", reading)
    setattr_(grade, "run_hidden_test", running)


if __name__ == "__main__":
    from autograder import cli

    inject(sys.argv[1])
    sys.exit(cli.main(sys.argv[2:]))
