#!/usr/bin/env bash
# Installs npm dependencies when they are missing or older than the lock file, then builds.
# Shared by `npm run pipeline` and `npm test`, so both work on a fresh clone with nothing before them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci =="
  npm ci --no-audit --no-fund
fi
node scripts/gen-avro-types.mjs --check
npx --no-install tsc -p tsconfig.json
