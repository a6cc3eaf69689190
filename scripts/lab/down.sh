#!/usr/bin/env bash
# Tear the lab down and leave nothing behind: the container (stopped by its recorded PID),
# every lab network namespace with its veth, the bridge, any mount under the lab directory,
# and the rootfs. Keeps the cached image, and the lab's SSH key, age key and secrets
# (so the next up.sh brings back the same lab identity) unless --purge is given.
# Idempotent. Usage: down.sh [--purge]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

purge=0
case "${1:-}" in
  --purge) purge=1 ;;
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) die "unknown argument '$1' (usage: down.sh [--purge])" ;;
esac
lab_require_root
t0=$(date +%s)

if [ -d "$LAB_DIR" ]; then
  exec 8>"$LAB_DIR/run.lock"
  flock -w 300 8 || die "another up.sh/down.sh holds $LAB_DIR/run.lock"
  # Host-side helpers of the lab cluster first, by their PID files (no-ops when not running): the
  # API relay's SSH connection otherwise stays open through the poweroff, and with it an sshd
  # session on the VPS; poweroffs that had one left over hung until SIGKILL (docs/runbooks/lab.md).
  bash "$LAB_SCRIPTS/api-tunnel.sh" stop
  bash "$LAB_SCRIPTS/git-server.sh" stop
  lab_stop_container
fi

# Network: every lab namespace (tests may have added some), stray host-side veths, bridge.
for ns in $(lab_netns_list); do
  log "deleting netns $ns"
  lab_netns_delete "$ns"
done
for veth in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' \
               | awk -v p="$LAB_NETNS_PREFIX" 'index($1, p) == 1 && $1 ~ /-h$/'); do
  log "deleting stray veth $veth"
  ip link del "$veth"
done
if ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then log "deleting bridge $LAB_BRIDGE"; lab_bridge_down; fi

# Mounts: systemd-nspawn mounts in its own namespace, so normally there is none here; a
# crashed image build or a manual chroot could have left some. Deepest first.
if [ -d "$LAB_DIR" ]; then
  lab_dir_real="$(realpath "$LAB_DIR")"
  findmnt -rn -o TARGET | awk -v d="$lab_dir_real/" 'index($0, d) == 1' | sort -r | while read -r m; do
    log "unmounting $m"
    umount "$m" 2>/dev/null || umount -l "$m"
  done
fi

if [ -e "$LAB_ROOTFS" ]; then
  log "removing the rootfs ($LAB_ROOTFS)"
  rm -rf --one-file-system "$LAB_ROOTFS"
fi
rm -f "$LAB_DIR/run/rootfs.ready"

if [ "$purge" = 1 ] && [ -e "$LAB_DIR" ]; then
  log "--purge: removing $LAB_DIR (SSH key, age key, secrets, artifacts, logs, and whatever else lives there, e.g. the Pulumi lab state)"
  rm -rf --one-file-system "$LAB_DIR"
fi
log "lab down in $(( $(date +%s) - t0 ))s (cached image kept in $LAB_IMAGE_CACHE)"
