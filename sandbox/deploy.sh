#!/usr/bin/env bash
# UltraZend deploy, as the CI/CD pipeline runs it on the host after a push to main:
#   git pull (fast-forward only) -> npm run migrate:latest -> npm run build -> pm2 startOrReload.
# Every step is logged with a UTC timestamp to logs/deploy.log (and echoed); the last line is
# "DEPLOY OK" or "DEPLOY FAILED", and the exit code is non-zero on failure.
set -uo pipefail

APP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG="$APP_ROOT/logs/deploy.log"
BRANCH="${DEPLOY_BRANCH:-main}"
mkdir -p "$APP_ROOT/logs"

# Host-specific settings (PM2_HOME...), not in git.
if [ -f "$APP_ROOT/.deploy.env" ]; then
  set -a; . "$APP_ROOT/.deploy.env"; set +a
fi
export PATH="$APP_ROOT/backend/node_modules/.bin:$PATH"
export NPM_CONFIG_UPDATE_NOTIFIER=false FORCE_COLOR=0 NO_COLOR=1

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" | tee -a "$LOG"; }

step() {
  local name="$1"; shift
  log "[$name] \$ $*"
  "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    log "[$name] failed with exit code $rc"
    log "DEPLOY FAILED"
    exit "$rc"
  fi
  log "[$name] ok"
}

log "deploy started in $APP_ROOT (branch $BRANCH, commit $(git -C "$APP_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
step pull git -C "$APP_ROOT" pull --ff-only origin "$BRANCH"
cd "$APP_ROOT/backend" || { log "DEPLOY FAILED"; exit 1; }
step migrate npm run --silent migrate:latest
step build npm run --silent build
cd "$APP_ROOT" || exit 1
step reload pm2 startOrReload ecosystem.config.js --only ultrazend-api --update-env
log "deployed commit $(git -C "$APP_ROOT" rev-parse --short HEAD)"
log "DEPLOY OK"
