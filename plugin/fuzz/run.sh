#!/usr/bin/env bash
# Runs each fuzz target named after the options for SECONDS from its corpus under DIR, after the
# inputs that once failed (plugin/fuzz/regressions/<target>/); on a failure, shows the panic and
# the failing input (base64, when small), so a CI log is enough to reproduce it.
# Usage: run.sh DIR SECONDS SEED TARGET...
set -euo pipefail
dir=$1 seconds=$2 seed=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir/artifacts"
for t in "$@"; do
  log=$dir/$t.log
  regressions=()
  [ -d "$here/regressions/$t" ] && regressions=("$here/regressions/$t")
  if ! RUSTC_BOOTSTRAP=1 "${CARGO:-cargo}" fuzz run --fuzz-dir "$here" -s none --target-dir "$dir/target" \
      "$t" "$dir/corpus/$t" "${regressions[@]}" -- \
      -max_total_time="$seconds" -seed="$seed" -timeout=30 \
      -artifact_prefix="$dir/artifacts/$t-" >"$log" 2>&1; then
    grep -E -A12 "panicked at|==[0-9]+== ERROR|deadly signal|out-of-memory|timeout after" "$log" | head -60 || true
    tail -15 "$log"
    for input in $(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log"); do
      if [ "$(stat -c %s "$input")" -le 16384 ]; then
        echo "the failing input, base64 (save it under plugin/fuzz/regressions/$t/):"
        base64 -w 100 "$input"
      fi
    done
    echo "fuzz target $t failed: $log"
    exit 1
  fi
  echo "$t: $(grep -E '^Done' "$log")"
done
