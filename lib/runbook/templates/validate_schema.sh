#!/usr/bin/env bash
# Pre-deploy schema validation (UltraZend recovery runbook, phase 08; from the seed's 8.2, fixed):
#   - the copy of the database is made by SQLite (.backup), not cp, which can miss the -wal file
#     of a live database and so the last committed transactions;
#   - every path is built from this script's folder (the seed cd'ed into backend/ and then still
#     used backend/ prefixes, so its clean-up removed nothing);
#   - the copy lives in a private temporary folder removed by a trap, whatever happens.
# Usage (from anywhere):  scripts/validate_schema.sh            # validates the app's database
#                         SOURCE_DATABASE=/path/db.sqlite scripts/validate_schema.sh
set -euo pipefail

APP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
under_root() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$APP_ROOT" "$1" ;; esac; }
BACKEND="$(under_root __BACKEND_SH__)"
SOURCE_DB="${SOURCE_DATABASE:-$(under_root __DATABASE_SH__)}"

echo "🔍 Validating the schema before the deploy..."
if [ ! -f "$SOURCE_DB" ]; then
  echo "❌ database $SOURCE_DB not found (set SOURCE_DATABASE)"
  exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ultrazend-validate.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
COPY="$WORK/ultrazend_test.sqlite"

# SQLite's online backup: a consistent copy even while the app writes.
if ! sqlite3 -cmd ".timeout 5000" "$SOURCE_DB" ".backup '$COPY'"; then
  echo "❌ could not copy $SOURCE_DB with sqlite3 .backup"
  exit 1
fi

cd "$BACKEND"
export DATABASE_URL="$COPY"

if npm run --silent migrate:latest; then
  echo "✅ Migrations OK"
else
  echo "❌ Migrations failed"
  exit 1
fi

if node -e "
const db = require('./src/config/database');
db.raw('SELECT 1')
  .then(() => { console.log('✅ Database connection OK'); return db.destroy(); })
  .then(() => process.exit(0))
  .catch((err) => { console.error('❌ Database connection failed:', err.message); process.exit(1); });
"; then
  echo "✅ Schema validation passed"
else
  echo "❌ Schema validation failed"
  exit 1
fi

echo "✅ Schema validation completed"
