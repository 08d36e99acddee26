#!/usr/bin/env bash
# Creates .venv with everything the kit needs (idempotent; a second run takes seconds).
# PYTHON names the interpreter that makes it (default python3; it must be 3.11 or newer),
# e.g. `PYTHON=python3.12 bash scripts/setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# TORCH_INDEX=cpu: torch's CPU wheel from PyTorch's own index (Linux's default wheel on PyPI
# is the CUDA build, several GB). Opt-in only: a machine that cannot reach that index would
# wait on it for every package. SETUP_PRINT_PIP=1 prints the pip arguments and stops.
case "${TORCH_INDEX:-}" in
    "") index=() ;;
    cpu) index=(--extra-index-url https://download.pytorch.org/whl/cpu) ;;
    *) echo "TORCH_INDEX must be empty or cpu, not '$TORCH_INDEX'" >&2; exit 2 ;;
esac
if [ -n "${SETUP_PRINT_PIP:-}" ]; then
    echo "pip install ${index[*]+${index[*]} }-r requirements.txt"
    exit 0
fi
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha256
# The venv's Python hashes: macOS has no sha256sum.
want=$(.venv/bin/python -c 'import hashlib; print(hashlib.sha256(open("requirements.txt", "rb").read()).hexdigest())')
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet ${index[@]+"${index[@]}"} -r requirements.txt
    echo "$want" > "$stamp"
fi
# nbclient and nbgrader start notebooks with the "python3" kernel: make it this venv's.
.venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (kit)" >/dev/null
