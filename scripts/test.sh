#!/usr/bin/env bash
# The one test command (`npm test`), the same for a newcomer and for CI: set up, lint, Rust tests,
# start the real services, every vitest project, stop the services (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n=== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "setup"
node scripts/setup.mjs

step "lint"
npm run --silent lint
npm run --silent typecheck

step "cargo test"
cargo test -p dispatch-core --quiet

step "services up"
trap 'bash scripts/services.sh down' EXIT
bash scripts/services.sh up
eval "$(bash scripts/services.sh env)"

step "vitest (unit + integration)"
results="$(mktemp -d)/vitest.json"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" || status=$?
# One plain closing line for people and CI alike.

step "services down"
trap - EXIT
bash scripts/services.sh down

printf '\nall steps took %ss\n' "$(( $(date +%s) - start ))"
# One plain closing line, for people and CI alike.
node -e 'const r = require(process.argv[1]); console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)' "$results" || true
exit "$status"
