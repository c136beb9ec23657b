#!/usr/bin/env bash
# `npm run test:e2e` (and `npm run bench:e2e` with the argument "bench"): sets the tier up
# (setup.sh), runs the e2e test files one after another (they share one engine, one data root
# and fixed host ports), and cleans up (cleanup.sh) on every exit, failing when that fails.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

finish() {
  local status=$?
  bash "$HERE/cleanup.sh" || { echo "e2e: clean-up failed" >&2; ((status)) || status=1; }
  exit "$status"
}
trap finish EXIT

bash "$HERE/setup.sh"
cd "$ROOT"
if [[ "${1:-test}" == bench ]]; then
  node --import tsx bench/e2e-realise.ts
else
  node --import tsx --test --test-concurrency=1 --test-reporter=spec test/e2e/*.test.ts
fi
