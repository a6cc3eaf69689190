#!/bin/sh
# K3s stand-in for the lab: K3s cannot be built or downloaded on the lab machine (its build
# downloads release assets), so the k3s role installs this instead, through the very same
# tasks (download, checksum, systemd unit). It behaves like the k3s binary only as far as
# the role sees it: the version string, and a `server` that stays up under systemd.
# It runs no Kubernetes: a later lab replaces it with a real kube-apiserver.
# scripts/lab/up.sh copies it to $PLATFORM_LAB_DIR/artifacts/k3s with the version filled in.
K3S_VERSION="@K3S_VERSION@"

usage() {
  echo "usage: k3s [--version|-v] | k3s server|agent [flags...]   (lab stand-in for k3s $K3S_VERSION)"
}

# Stay in the foreground for ever, as `k3s server` does. Under a Type=notify unit (the
# upstream k3s.service) systemd waits for READY=1 from the main PID: python3 (present on
# every lab host, Ansible needs it) sends it from this very PID, then becomes `sleep`.
serve() {
  if [ -n "${NOTIFY_SOCKET:-}" ] && command -v python3 >/dev/null 2>&1; then
    exec python3 -c '
import os, socket, sys
addr = os.environ.pop("NOTIFY_SOCKET")
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(addr)
s.sendall(b"READY=1\nSTATUS=k3s lab stand-in: no Kubernetes runs here\n")
s.close()
os.execvp("sleep", ["sleep", "infinity"])
'
  fi
  exec sleep infinity
}

case "${1:-}" in
  --version|-v|version)
    echo "k3s version $K3S_VERSION (lab stand-in)"
    echo "go version none (lab stand-in)"
    ;;
  server|agent)
    echo "k3s lab stand-in $K3S_VERSION: '$1' running (no Kubernetes in the lab)" >&2
    serve
    ;;
  check-config)
    echo "k3s lab stand-in: nothing to check" ;;
  --help|-h|help|'')
    usage ;;
  *)
    echo "k3s lab stand-in: '$1' is not available in the lab" >&2
    usage >&2
    exit 1 ;;
esac
