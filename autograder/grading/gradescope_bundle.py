"""The Gradescope autograder zip: ``python -m autograder gradescope-bundle ZIP``.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once when it builds
the image, then ``run_autograder`` for every submission (found in ``/autograder/submission``);
the script must leave ``/autograder/results/results.json``. Both scripts take the root from
``$AUTOGRADER_ROOT`` (default ``/autograder``), so that the tests can run them in a copy of
that layout.

What is shipped is an allowlist (``ALLOWED``) of what the grader needs: the package's
Python modules, the report schemas and the master copy of the assignment. Nothing else of
the course root goes in, whatever lies there: nbgrader's working folders, its gradebook,
an exported ``grades.csv``, feedback, logs, editor droppings.

The image installs only the grader's run-time packages (``RUNTIME_PACKAGES``, pinned as
``requirements.txt`` pins them), written to ``requirements-grader.txt`` in the zip. The pins
need Python 3.11 or newer: ``setup.sh`` uses the image's Python when it is recent enough
(Ubuntu 24.04: 3.12) and otherwise installs Python 3.11 from the deadsnakes PPA (Ubuntu
22.04 ships 3.10); the grader runs in its own virtual environment, ``ROOT/venv``.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "autograder"

#: What is shipped, relative to the package: (folder, glob, recursive). Nothing else.
ALLOWED = (
    (".", "*.py", False),                    # the package's modules (cli, points, warmup...)
    ("grading", "*.py", True),               # the grader, the child's side included
    ("grading/schemas", "*.schema.json", False),
    ("similarity", "*.py", True),            # imported by the command line
    ("master", "*.py", True),                # reference solution, (e) reader
    ("master", "*.ipynb", True),             # the master notebook
)
SKIP_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints"})
#: What the grader imports at run time; everything else in requirements.txt is for the
#: kit, the tests and the instructor's machine (jupyterlab, nbgrader, pytest, ruff...).
RUNTIME_PACKAGES = ("torch", "numpy", "nbformat", "jsonschema", "tqdm")
RUNTIME_REQUIREMENTS = "requirements-grader.txt"
MIN_PYTHON = (3, 11)

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
# Base image: Ubuntu 24.04 (Python 3.12) or Ubuntu 22.04 (Python 3.10: Python 3.11 comes
# from the deadsnakes PPA, since the pinned packages need 3.11 or newer).
set -euo pipefail
root=${AUTOGRADER_ROOT:-/autograder}
req="$root/source/requirements-grader.txt"
export DEBIAN_FRONTEND=noninteractive

recent_python() {
    local py
    for py in python3.13 python3.12 python3.11 python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c \
            'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
        then
            command -v "$py"
            return 0
        fi
    done
    return 1
}

apt-get update
apt-get install -y --no-install-recommends ca-certificates python3 python3-venv
if ! py=$(recent_python); then
    apt-get install -y --no-install-recommends software-properties-common gpg-agent
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
    py=$(recent_python)
fi
echo "grader Python: $py ($("$py" --version))"
"$py" -m venv "$root/venv"
pip=("$root/venv/bin/python" -m pip install --no-cache-dir --disable-pip-version-check)
"${pip[@]}" --upgrade pip
# The CPU build of torch is a fraction of the default (CUDA) download.
torch_req=$(grep -E '^torch([^a-zA-Z0-9_-]|$)' "$req" || true)
if [ -n "$torch_req" ]; then
    "${pip[@]}" --index-url https://download.pytorch.org/whl/cpu "$torch_req"
fi
"${pip[@]}" -r "$req"
"$root/venv/bin/python" -c "import torch, numpy, nbformat, jsonschema, tqdm"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission. The upload (loose files, a zip, a nested
# folder) is in $root/submission; each graded file is found there by its name.
set -euo pipefail
root=${AUTOGRADER_ROOT:-/autograder}
python=${AUTOGRADER_PYTHON:-$root/venv/bin/python}
cd "$root/source"
exec "$python" -m autograder gradescope-run --root "$root"
"""


def runtime_requirements(requirements: str) -> str:
    """The run-time packages with the pins of ``requirements``; a missing one is an error."""
    pins = {}
    for line in requirements.splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(==|>=|~=)", line)
        if match:
            pins[match.group(1).lower()] = line.split("#")[0].strip()
    missing = [p for p in RUNTIME_PACKAGES if p not in pins]
    if missing:
        raise FileNotFoundError(f"requirements.txt pins none of {', '.join(missing)}")
    return ("# The grader's run-time packages, pinned as requirements.txt pins them.\n"
            + "".join(pins[p] + "\n" for p in RUNTIME_PACKAGES))


def _shipped(repo: Path) -> Iterator[tuple[Path, str]]:
    """(file, name in the zip) for every file of the package that the grader needs."""
    root = repo / PACKAGE
    chosen: dict[str, Path] = {}
    for folder, pattern, recursive in ALLOWED:
        base = root / folder
        if not base.is_dir():
            continue
        for path in (base.rglob(pattern) if recursive else base.glob(pattern)):
            rel = path.relative_to(root)
            if not path.is_file() or path.is_symlink():
                continue
            if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts):
                continue
            chosen[rel.as_posix()] = path
    for rel in sorted(chosen):
        yield chosen[rel], f"{PACKAGE}/{rel}"


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
            _add(zf, RUNTIME_REQUIREMENTS, runtime_requirements(
                requirements.read_text(encoding="utf-8")).encode())
            for path, name in _shipped(repo):
                _add(zf, name, path.read_bytes())
        tmp.replace(zip_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return zip_path
