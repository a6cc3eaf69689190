#!/usr/bin/env bash
# The lab's Kubernetes API from the host. The VPS's firewall keeps 6443 VPN-only (as in
# production), the host is no VPN peer, and the ssh role forbids TCP forwarding (ssh -L):
# so the host listens on 127.0.0.1:$LAB_API_PORT (default 6443) and relays each connection over
# an SSH *session* (root, the lab key, the pinned host key) to the VPS's 127.0.0.1:6443 (bash's
# /dev/tcp on the VPS). The relay needs no API yet (each connection is relayed when it comes),
# so up.sh starts it with the lab. kubectl uses $PLATFORM_LAB_DIR/kubeconfig: the operator's copy of
# K3s's admin kubeconfig, which the k3s domain writes (k3s_kubeconfig_fetch_dest) with this relay as
# its server.
# Usage: api-tunnel.sh start | stop | status     (start prints the kubeconfig's path)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

API_PORT="${LAB_API_PORT:-6443}"
TUNNEL_PIDFILE="$LAB_DIR/run/api-tunnel.pid"
KUBECONFIG_FILE="$LAB_DIR/kubeconfig"

answers() { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$API_PORT" 2>/dev/null; }

start() {
  local pid
  if pid="$(lab_pidfile_alive "$TUNNEL_PIDFILE")" && answers; then
    log "API tunnel already up (pid $pid): 127.0.0.1:$API_PORT"; echo "$KUBECONFIG_FILE"; return 0
  fi
  if answers; then die "127.0.0.1:$API_PORT is taken by something else: choose another LAB_API_PORT"; fi
  lab_ssh_answers || die "the lab VPS does not answer SSH: scripts/lab/up.sh"
  mkdir -p "$LAB_DIR/run" "$LAB_LOGS"
  local opts; mapfile -t opts < <(lab_ssh_opts)
  # One SSH master connection; each API connection is a new session on it (cheap).
  setsid python3 - "$API_PORT" ssh "${opts[@]}" -o BatchMode=yes -o ConnectTimeout=5 \
    -o ServerAliveInterval=10 -o ServerAliveCountMax=3 \
    -o ControlMaster=auto -o ControlPersist=60s -o "ControlPath=$LAB_DIR/run/api-ssh-%C" \
    "root@$LAB_VPS_ADDR" 'exec 3<>/dev/tcp/127.0.0.1/6443 || exit 1; cat <&3 & cat >&3; wait' \
    < /dev/null >> "$LAB_LOGS/api-tunnel.log" 2>&1 8>&- 9>&- <<'PY' &
import socket, subprocess, sys, threading
port, cmd = int(sys.argv[1]), sys.argv[2:]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(64)
def serve(conn):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr)
    def up():
        try:
            while (d := conn.recv(65536)):
                p.stdin.write(d); p.stdin.flush()
        except OSError:
            pass
        try: p.stdin.close()
        except OSError: pass
    threading.Thread(target=up, daemon=True).start()
    try:
        while (d := p.stdout.read1(65536)):
            conn.sendall(d)
    except OSError:
        pass
    conn.close(); p.kill(); p.wait()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
  pid=$!
  lab_write_pidfile "$TUNNEL_PIDFILE" "$pid"
  local i
  for (( i = 0; i < 50; i++ )); do   # bounded: 10 s
    lab_pidfile_alive "$TUNNEL_PIDFILE" >/dev/null || { tail -n 5 "$LAB_LOGS/api-tunnel.log" >&2; die "the API relay exited (log: $LAB_LOGS/api-tunnel.log)"; }
    if answers; then log "API relay up (pid $pid): 127.0.0.1:$API_PORT -> ssh $LAB_VPS_ADDR -> 127.0.0.1:6443"; echo "$KUBECONFIG_FILE"; return 0; fi
    sleep 0.2
  done
  kill -TERM "$pid" 2>/dev/null || true
  die "the API relay did not listen on 127.0.0.1:$API_PORT within 10s"
}

stop() { lab_stop_pidfile "$TUNNEL_PIDFILE" "API tunnel"; }

status() {
  local pid
  if pid="$(lab_pidfile_alive "$TUNNEL_PIDFILE")" && answers; then
    echo "API tunnel: up (pid $pid), 127.0.0.1:$API_PORT -> $LAB_VPS_ADDR 127.0.0.1:6443; KUBECONFIG=$KUBECONFIG_FILE"
    return 0
  fi
  echo "API tunnel: down (start it with scripts/lab/api-tunnel.sh start)"
  return 3
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "usage: api-tunnel.sh start|stop|status" ;;
esac
