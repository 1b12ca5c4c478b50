#!/usr/bin/env bash
# Measures wall time and peak memory of `ov --version` and `ov init` (in a
# fresh git repository each run) with a release build. Not a test: prints
# median/min/max wall time in ms and the largest peak RSS in KiB.
#
# usage: scripts/bench-cli.sh [runs]   (default 20; needs /usr/bin/time)
set -euo pipefail

runs="${1:-20}"
cd "$(dirname "$0")/.."
cargo build --release -q -p overstory-cli --bin ov
target="${CARGO_TARGET_DIR:-target}"
ov="$(cd "$target/release" && pwd)/ov"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid

# measure <label> <setup-fn> <args...>: runs `ov <args>` $runs times.
measure() {
    local label=$1 setup=$2
    shift 2
    local times=() rss_max=0
    for i in $(seq "$runs"); do
        local dir="$work/$label-$i"
        mkdir -p "$dir"
        "$setup" "$dir"
        local start end rss
        start=$(date +%s%N)
        (cd "$dir" && /usr/bin/time -f '%M' -o "$dir.rss" "$ov" "$@" >/dev/null)
        end=$(date +%s%N)
        times+=($(((end - start) / 1000)))
        rss=$(tail -n 1 "$dir.rss")
        ((rss > rss_max)) && rss_max=$rss
    done
    local sorted
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    local median min max
    median=$(echo "$sorted" | sed -n "$(((runs + 1) / 2))p")
    min=$(echo "$sorted" | head -n 1)
    max=$(echo "$sorted" | tail -n 1)
    awk -v l="$label" -v r="$runs" -v med="$median" -v lo="$min" -v hi="$max" -v rss="$rss_max" \
        'BEGIN { printf "%-14s runs=%-3s median=%6.2f ms  min=%6.2f ms  max=%6.2f ms  peak RSS=%s KiB\n", l, r, med / 1000, lo / 1000, hi / 1000, rss }'
}

no_setup() { :; }
git_repo() { git -C "$1" init -q -b main; }

measure "ov --version" no_setup --version
measure "ov init" git_repo init

# One initialised project shared by the runs (warm databases), addressed
# with --project so each run starts from its own empty directory.
template="$work/template"
mkdir -p "$template"
git_repo "$template"
(cd "$template" && "$ov" init --yes >/dev/null && "$ov" mail send --to lead-1 --subject warm --body up >/dev/null)
measure "ov mail send" no_setup --project "$template" mail send --to lead-1 --subject s --body b --from builder-1
measure "ov mail check" no_setup --project "$template" mail check --agent lead-1
measure "ov status" no_setup --project "$template" status --json
