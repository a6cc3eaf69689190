# Correlation ids and the audit log. Source it.
# One id per operator action, taken from PLATFORM_CORRELATION_ID when the caller has one; it is
# carried into Git trailers, Pulumi update messages, Argo CD sync info, Ansible runs (env and
# extra var), evidence file names and the audit log.
# shellcheck shell=bash

correlation_id() {
  if [ -n "${PLATFORM_CORRELATION_ID:-}" ]; then
    printf '%s\n' "$PLATFORM_CORRELATION_ID"
  else
    printf '%s-%s\n' "$(date -u +%Y%m%dT%H%M%SZ)" "$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  fi
}

# The append-only audit log of operator actions (one JSON object per line).
audit_log_path() {
  local stack="${1:-lab}"
  if [ "$stack" = lab ]; then
    printf '%s/audit.jsonl\n' "${PLATFORM_LAB_DIR:-$PLATFORM_ROOT/.lab}"
  else
    printf '%s\n' "${PLATFORM_AUDIT_LOG:-${XDG_STATE_HOME:-$HOME/.local/state}/platform/audit-$stack.jsonl}"
  fi
}

# audit_record STACK ACTION OUTCOME CORRELATION_ID [key=value...]: append one record.
audit_record() {
  local stack="$1" action="$2" outcome="$3" cid="$4"; shift 4
  local file; file="$(audit_log_path "$stack")"
  mkdir -p "$(dirname "$file")"
  python3 - "$file" "$stack" "$action" "$outcome" "$cid" "$@" <<'PY'
import datetime, getpass, json, os, socket, subprocess, sys
file, stack, action, outcome, cid, *extra = sys.argv[1:]
def git(*a):
    try:
        return subprocess.run(["git", *a], capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return None
rec = {
    "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "correlationId": cid, "stack": stack, "action": action, "outcome": outcome,
    "who": f"{getpass.getuser()}@{socket.gethostname()}", "gitRevision": git("rev-parse", "HEAD"),
}
for kv in extra:
    k, _, v = kv.partition("=")
    rec[k] = v
with open(file, "a") as f:
    f.write(json.dumps(rec, sort_keys=True) + "\n")
PY
}
