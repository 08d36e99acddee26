#!/usr/bin/env bash
# Mutation testing of autograder/grading/{hidden_tests,grade}.py with cosmic-ray (QUALITY.md).
# Usage: bash scripts/mutation/run.sh [WORKDIR]   (from the repository root; ~15 min, 2 cores)
# Works on copies of the repository under WORKDIR (default: a new temporary folder): the
# checkout itself is never mutated. Prints the report and the mutation score at the end.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$repo/.venv/bin"
work="${1:-$(mktemp -d /tmp/cosmic-ray.XXXXXX)}"
config=scripts/mutation/cosmic-ray.toml
for i in 1 2; do
    rm -rf "$work/w$i"
    mkdir -p "$work/w$i"
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
        | grep -zv '^\.venv$' | xargs -0 cp --parents -t "$work/w$i")
done
export PATH="$venv:$PATH"
pids=()
for i in 1 2; do
    (cd "$work/w$i" && exec cosmic-ray http-worker --port $((9875 + i))) \
        >"$work/worker$i.log" 2>&1 &
    pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
sleep 3
cd "$work/w1"
session="$work/session.sqlite"
rm -f "$session"
cosmic-ray init "$config" "$session"
cr-filter-operators "$session" "$config"
start=$(date +%s)
cosmic-ray exec "$config" "$session"
echo "exec took $(( $(date +%s) - start )) s"
cr-report "$session" --show-pending | tail -n 40
cr-rate "$session" || true  # the survival rate, in percent
