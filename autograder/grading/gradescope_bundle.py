"""The Gradescope autograder zip: ``python -m autograder gradescope-bundle ZIP``.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once when it builds
the image, then ``run_autograder`` for every submission (found in ``/autograder/submission``);
the script must leave ``/autograder/results/results.json``.  The zip holds the grader exactly
as it is in this repository (the ``autograder`` package with the master copy and the points
table) plus ``requirements.txt``; nbgrader's working folders and caches stay out.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "autograder"

#: Never shipped, wherever they are: caches and editor droppings.
SKIP_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".ruff_cache",
                       ".hypothesis", ".mypy_cache"})
SKIP_SUFFIXES = (".pyc", ".pyo", ".tmp")
#: nbgrader's working state in the course root (``autograder/``): student data, not grader.
COURSE_WORKING = frozenset({"release", "submitted", "autograded", "feedback", "gradebook.db",
                            ".nbgrader.log"})

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
set -euo pipefail
apt-get update
apt-get install -y --no-install-recommends python3 python3-pip
# Newer Ubuntu images refuse system-wide pip installs unless told otherwise.
export PIP_BREAK_SYSTEM_PACKAGES=1
req=/autograder/source/requirements.txt
# The CPU build of torch is a fraction of the default (CUDA) download.
torch_req=$(grep -E '^torch([^a-zA-Z0-9_-]|$)' "$req" || true)
if [ -n "$torch_req" ]; then
    pip3 install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu "$torch_req"
fi
pip3 install --no-cache-dir -r "$req"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission, from /autograder.
set -uo pipefail
source_dir=/autograder/source
results_dir=/autograder/results
work=$(mktemp -d)
mkdir -p "$results_dir"

# Grade a copy, never the upload in place.  Students sometimes zip the folder rather than
# its files: then grade the one folder inside that holds source/.
sub=/autograder/submission
if [ ! -d "$sub/source" ]; then
    inner=$(find "$sub" -mindepth 2 -maxdepth 3 -type d -name source -printf '%h\\n' | head -n 1)
    if [ -n "$inner" ]; then sub=$inner; fi
fi
mkdir -p "$work/submission"
cp -R "$sub/." "$work/submission/"

cd "$source_dir"
python3 -m autograder grade "$work/submission" --gradescope "$work/out"
status=$?

# One submission in, so exactly one results.json out, whatever folder name it got.
mapfile -t found < <(find "$work/out" -type f -name results.json 2>/dev/null)
if [ "${#found[@]}" -ne 1 ]; then
    echo "autograder: expected one results.json, found ${#found[@]} (grade exit status $status)"
    exit 1
fi
cp "${found[0]}" "$results_dir/results.json"
"""


def _shipped(repo: Path) -> Iterator[tuple[Path, str]]:
    """(file, name in the zip) for every file of the package that the grader needs."""
    root = repo / PACKAGE
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or path.is_symlink():
            continue
        if any(part in SKIP_DIRS for part in rel.parts) or path.suffix in SKIP_SUFFIXES:
            continue
        if rel.parts[0] in COURSE_WORKING or path.name == ".DS_Store":
            continue
        yield path, f"{PACKAGE}/{rel.as_posix()}"


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    # A fixed date keeps the zip byte-identical between builds of the same tree.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3  # Unix, so that unzip honours the mode bits below
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def write_bundle(zip_path: str | Path, repo: Path | None = None) -> Path:
    """Write the Gradescope autograder zip to ``zip_path`` and return its path
    (``repo``: the repository to pack, this one by default)."""
    repo = REPO if repo is None else repo
    requirements = repo / "requirements.txt"
    if not requirements.is_file():
        raise FileNotFoundError(f"{requirements} is missing: Gradescope's setup.sh installs "
                                "the grader's dependencies from it")
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_name(f".{zip_path.name}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            _add(zf, "setup.sh", SETUP_SH.encode(), executable=True)
            _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
            _add(zf, "requirements.txt", requirements.read_bytes())
            for path, name in _shipped(repo):
                _add(zf, name, path.read_bytes())
        tmp.replace(zip_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return zip_path
