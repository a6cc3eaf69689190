# Shared functions for the lab scripts (source it). Defines functions and variables only.
# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source it

LAB_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
. "$LAB_SCRIPTS/../lib/common.sh"
# lab.env: plain KEY=VALUE; a LAB_* variable already in the environment keeps its value.
while IFS='=' read -r _k _v; do
  [ -n "${!_k+x}" ] || printf -v "$_k" '%s' "$_v"
done < <(grep -E '^LAB_[A-Z0-9_]+=' "$LAB_SCRIPTS/lab.env")
unset _k _v

# All per-lab state (rootfs, keys, secrets, pid files, logs) lives here, never in the
# tool cache: the cache only holds the shared, secret-free base image.
LAB_DIR="${PLATFORM_LAB_DIR:-$PLATFORM_ROOT/.lab}"
LAB_ROOTFS="$LAB_DIR/rootfs"
LAB_SSH_KEY="$LAB_DIR/ssh/id_ed25519"
LAB_KNOWN_HOSTS="$LAB_DIR/ssh/known_hosts"
LAB_SSH_CONFIG="$LAB_DIR/ssh/config"
LAB_PIDFILE="$LAB_DIR/run/vps.pid"            # systemd-nspawn
LAB_INIT_PIDFILE="$LAB_DIR/run/vps-init.pid"  # the container's init (PID 1 inside)
LAB_LOGS="$LAB_DIR/logs"
LAB_IMAGE_CACHE="$TOOLS_CACHE/lab-image"
export LAB_DIR

lab_require_root() {
  [ "$(id -u)" -eq 0 ] || die "the lab needs root (network namespaces, bridge, systemd-nspawn)"
}

# Host tools the lab needs, as "command:debian-package". Installed only when missing,
# without recommends (wireguard-tools would otherwise pull in a whole kernel image).
LAB_HOST_TOOLS=(
  debootstrap:debootstrap systemd-nspawn:systemd-container dpkg-scanpackages:dpkg-dev
  ip:iproute2 unshare:util-linux flock:util-linux setsid:util-linux
  age:age age-keygen:age ssh:openssh-client ssh-keygen:openssh-client wg:wireguard-tools
)
lab_ensure_host_tools() {
  local missing=() entry
  for entry in "${LAB_HOST_TOOLS[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "installing host prerequisites: ${missing[*]}"
  with_heartbeat "apt-get update" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive with_heartbeat "apt-get install" \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- processes ---------------------------------------------------------------------------
# A pid file holds "PID STARTTIME": the start time (field 22 of /proc/PID/stat) guards
# against signalling an unrelated process that reused the PID after a crash or reboot.
lab_proc_starttime() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

lab_pidfile_alive() { # PIDFILE -> prints PID and returns 0 if that very process still runs
  local pid start
  [ -s "$1" ] || return 1
  read -r pid start < "$1" || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(lab_proc_starttime "$pid")" = "$start" ] || return 1
  # A zombie (dead, not yet reaped) does not count as running.
  ! grep -qE '^State:[[:space:]]+[ZX]' "/proc/$pid/status" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

lab_write_pidfile() { # PIDFILE PID
  mkdir -p "$(dirname "$1")"
  printf '%s %s\n' "$2" "$(lab_proc_starttime "$2")" > "$1"
}

# lab_stop_pidfile PIDFILE LABEL: stop the process a PID file records (TERM, a bounded wait, then
# KILL), and remove the file. A no-op when it is not running; fails when it survives SIGKILL.
lab_stop_pidfile() {
  local pid
  if pid="$(lab_pidfile_alive "$1")"; then
    kill -TERM "$pid" 2>/dev/null || true
    lab_wait_gone "$pid" 10 || { kill -KILL "$pid" 2>/dev/null || true; lab_wait_gone "$pid" 5 || die "$2 (pid $pid) survives SIGKILL"; }
    log "$2 stopped (pid $pid)"
  fi
  rm -f "$1"
}

# lab_wait_gone PID SECONDS: bounded wait for a process to exit.
lab_wait_gone() {
  local i
  for (( i = 0; i < $2 * 5; i++ )); do [ -d "/proc/$1" ] || return 0; sleep 0.2; done
  [ ! -d "/proc/$1" ]
}

# lab_container_init NSPAWN_PID: the container's init, i.e. the child of systemd-nspawn that
# is PID 1 in its own PID namespace (prints nothing while it does not exist yet).
lab_container_init() {
  local c kids
  read -ra kids < <(cat "/proc/$1/task/"*/children 2>/dev/null | tr '\n' ' ')
  for c in "${kids[@]}"; do
    [ "$(awk '/^NSpid:/ { print $NF }' "/proc/$c/status" 2>/dev/null)" = 1 ] && { echo "$c"; return 0; }
  done
  return 0
}

# lab_stop_container: stop the container that up.sh started, by the PIDs it recorded.
# systemd-nspawn turns SIGTERM into a clean poweroff of the container (services stop,
# PostgreSQL shuts down cleanly); SIGKILL only if that hangs. If systemd-nspawn died without
# taking the container along (it does not when it is SIGKILLed), the container's init is
# powered off directly (SIGRTMIN+4 is systemd's "poweroff"), then killed: killing PID 1 of a
# PID namespace ends every process in it.
lab_stop_container() {
  local pid t0 stopped=0; t0=$(date +%s)
  if pid="$(lab_pidfile_alive "$LAB_PIDFILE")"; then
    stopped=1
    log "stopping the lab container (systemd-nspawn pid $pid): poweroff, at most ${LAB_STOP_TIMEOUT}s"
    kill -TERM "$pid" 2>/dev/null || true
    if ! lab_wait_gone "$pid" "$LAB_STOP_TIMEOUT"; then
      log "  no clean poweroff within ${LAB_STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      lab_wait_gone "$pid" 10 || die "systemd-nspawn pid $pid survives SIGKILL"
    fi
  fi
  if pid="$(lab_pidfile_alive "$LAB_INIT_PIDFILE")"; then
    log "the container's init (pid $pid) runs without its systemd-nspawn: poweroff, at most ${LAB_STOP_TIMEOUT}s"
    stopped=1
    kill -s RTMIN+4 "$pid" 2>/dev/null || true
    if ! lab_wait_gone "$pid" "$LAB_STOP_TIMEOUT"; then
      log "  no clean poweroff within ${LAB_STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      lab_wait_gone "$pid" 10 || die "container init pid $pid survives SIGKILL"
    fi
  fi
  [ "$stopped" = 0 ] || log "  container stopped after $(( $(date +%s) - t0 ))s"
  rm -f "$LAB_PIDFILE" "$LAB_INIT_PIDFILE"
}

# --- network -----------------------------------------------------------------------------
lab_bridge_up() {
  if ! ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then
    # Refuse to shadow a network the machine already uses for something else.
    if ip -4 route show "$LAB_SUBNET" | grep -q .; then
      die "$LAB_SUBNET is already routed on this machine (ip route); change LAB_SUBNET in scripts/lab/lab.env"
    fi
    ip link add "$LAB_BRIDGE" type bridge
  fi
  ip addr replace "$LAB_HOST_ADDR/$LAB_PREFIXLEN" dev "$LAB_BRIDGE"
  ip link set "$LAB_BRIDGE" up
  # If br_netfilter is loaded, bridged frames traverse the host's FORWARD chains, where a
  # DROP policy (Docker sets one) would silently cut lab hosts off from each other.
  if [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo 0)" = 1 ] \
     && command -v nft >/dev/null 2>&1 && nft list ruleset 2>/dev/null | grep -q 'hook forward.*policy drop'; then
    log "warning: br_netfilter is active and a host forward chain drops by default: lab hosts may not reach each other"
  fi
}

lab_bridge_down() {
  if ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then ip link del "$LAB_BRIDGE"; fi
}

# Host end of a lab host's veth pair: "<netns>-h" (interface names are at most 15 chars).
lab_veth_host() { printf '%s-h' "$1"; }

# lab_netns_create NAME ADDR: a new lab host on the bridge. Inside the namespace it sees
# eth0 with ADDR/prefix and a default route via the host's bridge address (which leads
# nowhere beyond the host: the lab has no way out, on purpose). Idempotent.
lab_netns_create() {
  local name="${1:?netns name}" addr="${2:?address}" veth
  case "$name" in "$LAB_NETNS_PREFIX"*) ;; *) die "lab netns '$name' must start with '$LAB_NETNS_PREFIX'";; esac
  veth="$(lab_veth_host "$name")"
  [ ${#veth} -le 15 ] || die "netns name '$name' too long (host veth '$veth' must be <= 15 chars)"
  lab_bridge_up
  [ -e "/run/netns/$name" ] || ip netns add "$name"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    # The peer is created directly inside the namespace, so 'eth0' never clashes with the host's.
    ip link add "$veth" type veth peer name eth0 netns "$name"
  fi
  ip link set "$veth" master "$LAB_BRIDGE" up
  ip -n "$name" link set lo up
  ip -n "$name" addr replace "$addr/$LAB_PREFIXLEN" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$name" route replace default via "$LAB_HOST_ADDR" dev eth0
}

# lab_netns_delete NAME: removes the namespace and its veth pair. Processes still inside
# are not ours to kill (we stop our container by PID before this); they are reported.
lab_netns_delete() {
  local name="${1:?netns name}" veth pids
  veth="$(lab_veth_host "$name")"
  if [ -e "/run/netns/$name" ]; then
    pids="$(ip netns pids "$name" 2>/dev/null | tr '\n' ' ')"
    [ -z "$pids" ] || log "warning: processes still in netns $name (not stopped by us): $pids"
    ip netns del "$name"
  fi
  if ip link show "$veth" >/dev/null 2>&1; then ip link del "$veth"; fi
}

# lab_netns_list: the lab's namespaces that exist now (named $LAB_NETNS_PREFIX*), so down.sh also
# removes hosts that tests added and left behind.
lab_netns_list() {
  ip netns list 2>/dev/null | awk -v p="$LAB_NETNS_PREFIX" 'index($1, p) == 1 { print $1 }'
}

# --- cgroups -----------------------------------------------------------------------------
# The lab node (kubelet + containerd inside the VPS) needs the guest's cgroup layout to match the
# host's. lab_cgroup_layout prints "unified" when the host runs pure cgroup v2 (the controllers are
# on the cgroup2 mount: a typical systemd workstation), "legacy" when the controllers are on v1
# hierarchies (hybrid or v1 hosts, like the CI machines this project is built on).
lab_cgroup_layout() {
  if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] && [ -s /sys/fs/cgroup/cgroup.controllers ]; then
    echo unified
  else
    echo legacy
  fi
}

# lab_cgroup_enter NAME: move this shell into a cgroup NAME of its own, below its current cgroup,
# in every v1 hierarchy and in the cgroup2 one (legacy layout, no systemd PID 1 on the host).
# systemd-nspawn --keep-unit then makes its payload/supervisor cgroups there, so two labs never
# share (and fight over) one cgroup. Unified hosts with systemd use `systemd-run --scope` instead.
lab_cgroup_enter() {
  local name="${1:?cgroup name}" id ctrls rel fstype target opts mnt c ok
  while IFS=: read -r id ctrls rel; do
    mnt=""
    while read -r fstype target opts; do
      if [ -z "$ctrls" ]; then
        [ "$fstype" = cgroup2 ] && { mnt="$target"; break; }
      elif [ "$fstype" = cgroup ]; then
        ok=1
        for c in ${ctrls//,/ }; do case ",$opts," in *",$c,"*) ;; *) ok=0 ;; esac; done
        [ "$ok" = 1 ] && { mnt="$target"; break; }
      fi
    done < <(findmnt -rn -t cgroup,cgroup2 -o FSTYPE,TARGET,OPTIONS)
    [ -n "$mnt" ] || continue
    mkdir -p "$mnt$rel/$name"
    # A new v1 cpuset cgroup has no CPUs or memory nodes: joining it fails (ENOSPC) until they
    # are copied from the parent.
    for c in cpuset.cpus cpuset.mems; do
      if [ -f "$mnt$rel/$name/$c" ] && [ -z "$(cat "$mnt$rel/$name/$c")" ]; then cat "$mnt$rel/$c" > "$mnt$rel/$name/$c"; fi
    done
    echo "$BASHPID" > "$mnt$rel/$name/cgroup.procs"
  done < /proc/self/cgroup
  : "$id"
}

# --- ssh ---------------------------------------------------------------------------------
# Strict host key checking against the known_hosts pinned by up.sh: no trust on first use.
lab_ssh_opts() {
  printf '%s\n' -i "$LAB_SSH_KEY" -o IdentitiesOnly=yes -o "UserKnownHostsFile=$LAB_KNOWN_HOSTS" \
    -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR
}

lab_ssh() { # lab_ssh [ssh args...]: non-interactive, short timeouts (for probes)
  local opts; mapfile -t opts < <(lab_ssh_opts)
  ssh "${opts[@]}" -o BatchMode=yes -o ConnectTimeout=3 -o ServerAliveInterval=5 \
    -o ServerAliveCountMax=2 "root@$LAB_VPS_ADDR" "$@"
}

# lab_ssh_answers: one bounded probe (at most 10 s) that SSH accepts our key and pinned host key.
lab_ssh_answers() {
  local opts; mapfile -t opts < <(lab_ssh_opts)
  timeout 10 ssh "${opts[@]}" -o BatchMode=yes -o ConnectTimeout=3 "root@$LAB_VPS_ADDR" true \
    </dev/null >/dev/null 2>&1
}
