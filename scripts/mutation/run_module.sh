#!/usr/bin/env bash
# One module's sampled cosmic-ray run (QUALITY.md section 3, "Rerun on four modules").
# Usage: bash scripts/mutation/run_module.sh MODULE COUNT [WORKDIR]
#   MODULE: hidden_tests | grade | guard | confine (scripts/mutation/MODULE.toml)
# Works on a copy of the repository (cosmic-ray mutates files in place).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="${3:-$(mktemp -d /tmp/cosmic-ray.XXXXXX)}"
rm -rf "$work/copy" && mkdir -p "$work/copy"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | grep -zv '^\.venv$' | xargs -0 cp --parents -t "$work/copy")
ln -s "$repo/.venv" "$work/copy/.venv"
cd "$work/copy"
export PATH="$work/copy/.venv/bin:$PATH"
s="$work/$1.sqlite"
rm -f "$s"
cosmic-ray init "scripts/mutation/$1.toml" "$s"
cr-filter-operators "$s" "scripts/mutation/$1.toml"
python scripts/mutation/sample.py "$s" "$2"
start=$(date +%s)
cosmic-ray exec "scripts/mutation/$1.toml" "$s"
echo "exec $1 took $(( $(date +%s) - start )) s"
cr-report "$s"
