"""Keep a random sample of a cosmic-ray session's pending mutants (the rest are deleted).

Usage: python scripts/mutation/sample.py SESSION.sqlite COUNT [SEED]
For a run that cannot test every mutant in the time there is: the sample is uniform over
the pending mutants (after cr-filter-operators), so the score it gives is an estimate for
the whole filtered set; QUALITY.md says how many ran of how many.
"""

from __future__ import annotations

import random
import sqlite3
import sys


def sample(session: str, count: int, seed: int = 22) -> tuple[int, int]:
    """Keep `count` pending mutants chosen with `seed`; returns (kept, pending before)."""
    db = sqlite3.connect(session)
    with db:
        pending = [row[0] for row in db.execute(
            "SELECT job_id FROM work_items WHERE job_id NOT IN (SELECT job_id FROM work_results)"
            " ORDER BY job_id")]
        keep = set(random.Random(seed).sample(pending, min(count, len(pending))))
        drop = [(job,) for job in pending if job not in keep]
        db.executemany("DELETE FROM mutation_specs WHERE job_id = ?", drop)
        db.executemany("DELETE FROM work_items WHERE job_id = ?", drop)
    return len(keep), len(pending)


if __name__ == "__main__":
    kept, before = sample(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if sys.argv[3:] else 22)
    print(f"kept {kept} of {before} pending mutants")
