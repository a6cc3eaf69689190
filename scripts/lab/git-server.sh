#!/usr/bin/env bash
# The lab's Git server: `git daemon` on the HOST at $LAB_HOST_ADDR:9418 (the lab bridge, so the
# VPS reaches it as git://$LAB_HOST_ADDR:9418/platform.git), serving a bare mirror of this
# repository in $PLATFORM_LAB_DIR/git/platform.git. Argo CD in the lab pulls gitops/ from it.
# Usage: git-server.sh start | stop | status | push [REF]
#   push REF (default HEAD) of the working repository to the mirror's branch main (forced: the
#   mirror follows the working repository, it is not a second history).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GIT_PORT="${LAB_GIT_PORT:-9418}"
GIT_BASE="$LAB_DIR/git"
GIT_REPO="$GIT_BASE/platform.git"
GIT_PIDFILE="$LAB_DIR/run/git-daemon.pid"
GIT_LOG="$LAB_LOGS/git-daemon.log"
GIT_URL="git://$LAB_HOST_ADDR:$GIT_PORT/platform.git"

ensure_repo() {
  if [ ! -d "$GIT_REPO" ]; then
    mkdir -p "$GIT_BASE"
    git init -q --bare -b main "$GIT_REPO"
    log "bare mirror created: $GIT_REPO"
  fi
}

answers() { timeout 3 bash -c "exec 3<>/dev/tcp/$LAB_HOST_ADDR/$GIT_PORT" 2>/dev/null; }

start() {
  ensure_repo
  if pid="$(lab_pidfile_alive "$GIT_PIDFILE")"; then log "git daemon already runs (pid $pid): $GIT_URL"; return 0; fi
  ip -4 addr show dev "$LAB_BRIDGE" 2>/dev/null | grep -q "inet $LAB_HOST_ADDR/" \
    || die "$LAB_HOST_ADDR is not on $LAB_BRIDGE: bring the lab up first (scripts/lab/up.sh)"
  mkdir -p "$LAB_DIR/run" "$LAB_LOGS"
  # Read-only (no receive-pack), this directory only, the lab address only.
  setsid git daemon --base-path="$GIT_BASE" --export-all --reuseaddr --informative-errors \
    --listen="$LAB_HOST_ADDR" --port="$GIT_PORT" "$GIT_BASE" \
    < /dev/null >> "$GIT_LOG" 2>&1 8>&- 9>&- &
  local pid=$!
  lab_write_pidfile "$GIT_PIDFILE" "$pid"
  local i
  for (( i = 0; i < 50; i++ )); do   # bounded: 10 s
    if ! lab_pidfile_alive "$GIT_PIDFILE" >/dev/null; then tail -n 5 "$GIT_LOG" >&2; die "git daemon exited (log: $GIT_LOG)"; fi
    if answers; then log "git daemon up (pid $pid): $GIT_URL"; return 0; fi
    sleep 0.2
  done
  kill -TERM "$pid" 2>/dev/null || true
  die "git daemon did not accept connections on $LAB_HOST_ADDR:$GIT_PORT within 10s (log: $GIT_LOG)"
}

stop() { lab_stop_pidfile "$GIT_PIDFILE" "git daemon"; }

status() {
  local pid
  if pid="$(lab_pidfile_alive "$GIT_PIDFILE")" && answers; then
    echo "git daemon: running (pid $pid), $GIT_URL"
    echo "main:       $(git --git-dir="$GIT_REPO" rev-parse --verify -q refs/heads/main || echo '(nothing pushed yet)')"
    return 0
  fi
  echo "git daemon: not running (start it with scripts/lab/git-server.sh start)"
  return 3
}

push() {
  ensure_repo
  local ref="${1:-HEAD}" sha
  sha="$(git -C "$PLATFORM_ROOT" rev-parse --verify "$ref^{commit}")" || die "no commit '$ref' in $PLATFORM_ROOT"
  git -C "$PLATFORM_ROOT" push -q --force "$GIT_REPO" "$sha:refs/heads/main"
  log "pushed $ref ($sha) to $GIT_REPO as main"
  echo "$sha"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  push) shift; push "$@" ;;
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "usage: git-server.sh start|stop|status|push [REF]" ;;
esac
