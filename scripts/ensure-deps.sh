#!/usr/bin/env bash
# Installs npm dependencies when they are missing or older than the lock file or a patch of
# patches/ (npm ci applies those through patch-package), then builds.
# Shared by `npm run pipeline` and `npm test`, so both work on a fresh clone with nothing before them.
set -euo pipefail
cd "$(dirname "$0")/.."
stale=false
[ -d node_modules ] || stale=true
for f in package-lock.json patches/*.patch; do
  if [ "$f" -nt node_modules/.package-lock.json ]; then stale=true; fi
done
if $stale; then
  echo "== npm ci =="
  npm ci --no-audit --no-fund
fi
node scripts/gen-avro-types.mjs --check
npx --no-install tsc -p tsconfig.json
