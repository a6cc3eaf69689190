#!/usr/bin/env bash
# Is the lab up? Up means: the systemd-nspawn process recorded by up.sh still runs, and SSH
# on the VPS accepts the lab key with the pinned host key. Exit 0 if up, 3 if down.
# Usage: status.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lab_require_root

up=1
echo "lab dir:    $LAB_DIR"
if pid="$(lab_pidfile_alive "$LAB_PIDFILE")"; then
  echo "container:  running (systemd-nspawn pid $pid)"
else
  echo "container:  not running"; up=0
fi
if [ -e "/run/netns/$LAB_VPS_NETNS" ]; then echo "network:    netns $LAB_VPS_NETNS, $LAB_VPS_ADDR on bridge $LAB_BRIDGE"
else echo "network:    no netns $LAB_VPS_NETNS"; up=0; fi
if [ "$up" = 1 ] && lab_ssh_answers; then
  echo "ssh:        root@$LAB_VPS_ADDR answers (key $LAB_SSH_KEY)"
else
  echo "ssh:        no answer"; up=0
fi
[ -s "$LAB_DIR/run/rootfs.ready" ] && echo "image:      $(cat "$LAB_DIR/run/rootfs.ready")"
if [ "$up" = 1 ]; then echo "lab: UP"; exit 0; fi
echo "lab: DOWN (start it with scripts/lab/up.sh)"
exit 3
