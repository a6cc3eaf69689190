#!/usr/bin/env bash
# Build (once) the lab's base image: a Debian 12 minbase rootfs with systemd and SSH and an
# offline apt mirror of scripts/lab/mirror-packages.txt, saved as a tarball in the tool cache.
# Prints the tarball's path as the last line on stdout. A cached image returns at once.
# Usage: build-image.sh [--print-key]
# The image holds nothing per lab (no SSH host keys, machine-id, hostname, authorized keys):
# up.sh adds those to each rootfs it extracts, so one cached image serves every lab.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Installed in the image itself. python3-apt because Ansible's apt module needs it on the
# target; procps because operators expect ps/pgrep when they debug inside.
LAB_IMAGE_PACKAGES=(systemd systemd-sysv dbus openssh-server python3 python3-apt iproute2 procps)

mirror_list="$LAB_SCRIPTS/mirror-packages.txt"
mapfile -t mirror_pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$mirror_list" | grep . | sort -u)

# The key changes with anything that changes the image's content; comments and order in
# the mirror list do not count. The Debian archive moving on does not change it either:
# delete the tarball (or set LAB_IMAGE_REBUILD=1) to pick up new point releases.
key="$( { cat "$LAB_SCRIPTS/build-image.sh"; printf '%s\n' "${LAB_IMAGE_PACKAGES[@]}" -- "${mirror_pkgs[@]}" -- \
  "$LAB_DEBIAN_SUITE" "$LAB_DEBIAN_MIRROR" "$LAB_DEBIAN_SECURITY_MIRROR"; } \
  | sha256sum | cut -c1-16)"
if [ "${1:-}" = "--print-key" ]; then echo "$key"; exit 0; fi

image="$LAB_IMAGE_CACHE/$key.tar"
mkdir -p "$LAB_IMAGE_CACHE"
# Two labs starting at once build the image once: the second waits here, then finds it cached.
exec 9>"$LAB_IMAGE_CACHE/.lock"
flock -w 1800 9 || die "another image build holds $LAB_IMAGE_CACHE/.lock for more than 30 min"
if [ -s "$image" ] && [ "${LAB_IMAGE_REBUILD:-0}" != 1 ]; then
  log "lab image $key: cached ($image)"
  echo "$image"; exit 0
fi

lab_require_root
lab_ensure_host_tools
log "lab image $key: building (debootstrap $LAB_DEBIAN_SUITE + offline mirror of ${#mirror_pkgs[@]} packages)"
t0=$(date +%s)
tmp="$(mktemp -d "$LAB_IMAGE_CACHE/.build-$key-XXXXXX")"
R="$tmp/rootfs"
# Every mount below happens in a private mount namespace (unshare -m), so even an
# interrupted build leaves no mount behind; --one-file-system is the second belt.
trap 'rm -rf --one-file-system "$tmp"' EXIT

in_chroot() { # in_chroot [--offline] CMD: run CMD (sh -ec) in the rootfs with /proc mounted; --offline: no network
  local flags=(--mount --propagation private)
  if [ "$1" = "--offline" ]; then flags+=(--net); shift; fi
  # shellcheck disable=SC2016  # $1/$2 expand in the inner sh, on purpose
  unshare "${flags[@]}" -- sh -c 'mount -t proc proc "$1/proc" && exec chroot "$1" /bin/sh -ec "$2"' \
    sh "$R" "$1"
}

step() { log "  [$(( $(date +%s) - t0 ))s] $*"; }
logged() { local f="$1"; shift; "$@" > "$f" 2>&1; } # keeps with_heartbeat's own lines on the terminal

step "debootstrap --variant=minbase ($LAB_DEBIAN_SUITE, ${#LAB_IMAGE_PACKAGES[@]} extra packages)"
with_heartbeat "debootstrap" logged "$tmp/debootstrap.log" unshare --mount --propagation private -- \
  debootstrap --variant=minbase --include="$(IFS=,; echo "${LAB_IMAGE_PACKAGES[*]}")" \
  "$LAB_DEBIAN_SUITE" "$R" "$LAB_DEBIAN_MIRROR" \
  || { tail -n 30 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }

# During the build the chroot uses the host's network and resolver, and gets security
# updates too, so the mirror serves what a freshly updated VPS would install.
cat > "$R/etc/apt/sources.list" <<EOF
deb $LAB_DEBIAN_MIRROR $LAB_DEBIAN_SUITE main
deb $LAB_DEBIAN_MIRROR $LAB_DEBIAN_SUITE-updates main
deb $LAB_DEBIAN_SECURITY_MIRROR $LAB_DEBIAN_SUITE-security main
EOF
cp /etc/resolv.conf "$R/etc/resolv.conf"
# No service may start inside a chroot during the build.
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod 0755 "$R/usr/sbin/policy-rc.d"

# A container has no kernel package, so apt would satisfy wireguard-tools' Recommends
# (wireguard-modules) with a whole linux-image (+ initramfs run, ~100 MB). On a real VPS the
# installed kernel provides it; this stub plays that kernel's part for the package manager.
stub="$R/tmp/kernel-stub"
mkdir -p "$stub/DEBIAN"
cat > "$stub/DEBIAN/control" <<EOF
Package: platform-lab-kernel-stub
Version: 1.0
Architecture: all
Maintainer: platform lab <root@localhost>
Provides: wireguard-modules (= 1.0.0)
Priority: optional
Section: kernel
Description: lab stand-in for the host kernel (it is the host's, shared by the container)
 Tells apt that the running kernel has WireGuard, as a VPS's installed linux-image does.
 In the lab, WireGuard runs as wireguard-go (userspace) instead.
EOF
dpkg-deb --root-owner-group -b "$stub" "$R/tmp/kernel-stub.deb" >/dev/null

step "apt-get dist-upgrade, then download the mirror packages with their dependencies"
with_heartbeat "apt (upgrade + download)" logged "$tmp/apt.log" in_chroot "
  export DEBIAN_FRONTEND=noninteractive
  dpkg -i /tmp/kernel-stub.deb && rm -rf /tmp/kernel-stub /tmp/kernel-stub.deb
  apt-get update -qq
  apt-get dist-upgrade -y -qq >/dev/null
  apt-get clean
  # --reinstall: packages already in the image (python3-apt) are downloaded too.
  apt-get install -y -qq --download-only --reinstall ${mirror_pkgs[*]} >/dev/null
" || { tail -n 30 "$tmp/apt.log" >&2; die "apt in the image chroot failed"; }

step "index the offline mirror (/srv/lab-mirror)"
M="$R/srv/lab-mirror"
mkdir -p "$M"
find "$R/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec mv -t "$M" {} +
( cd "$M"
  dpkg-scanpackages --multiversion . /dev/null 2>/dev/null > Packages
  gzip -9nk Packages
  # A Release file with hashes keeps apt from warning about an unsigned, hashless source.
  { printf 'Origin: platform-lab\nLabel: platform-lab offline mirror\nSuite: lab\nCodename: lab\n'
    printf 'Date: %s\nSHA256:\n' "$(date -Ru)"
    for f in Packages Packages.gz; do printf ' %s %s %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"; done
  } > Release )
for p in "${mirror_pkgs[@]}"; do
  grep -qx "Package: $p" "$M/Packages" || die "mirror is missing $p (is it in $LAB_DEBIAN_SUITE main?)"
done

step "configure the image: apt sources (mirror only), hosts; strip per-host identity"
rm -f "$R/etc/apt/sources.list" "$R/usr/sbin/policy-rc.d"
echo 'deb [trusted=yes] file:/srv/lab-mirror ./' > "$R/etc/apt/sources.list.d/lab-mirror.list"
rm -rf "$R"/var/lib/apt/lists/*
# Proves, at build time, that the mirror works with no network at all.
in_chroot --offline "apt-get update -qq && apt-get clean" > "$tmp/apt-offline.log" 2>&1 \
  || { cat "$tmp/apt-offline.log" >&2; die "apt-get update against the offline mirror failed"; }

# minbase writes no localhost line; PostgreSQL then cannot start ("could not translate host
# name"). up.sh adds the lab host's own name and address when it makes a rootfs from this image.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
printf '# The lab has no DNS server: names come from /etc/hosts only.\n' > "$R/etc/resolv.conf"
rm -f "$R"/etc/ssh/ssh_host_*
: > "$R/etc/machine-id"; rm -f "$R/var/lib/dbus/machine-id"
printf 'image_key=%s\nbuilt=%s\n' "$key" "$(date -u +%FT%TZ)" > "$R/etc/platform-lab-image"

step "write the tarball"
debs=$(find "$M" -name '*.deb' | wc -l)
{ echo "# lab image $key, built $(date -u +%FT%TZ)"; echo "# image packages:"
  in_chroot --offline "dpkg-query -W -f '\${binary:Package} \${Version}\n'"
  echo "# mirror: $debs .debs, $(du -sh "$M" | cut -f1)"; } > "$tmp/manifest.txt"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$R" -cf "$tmp/image.tar" .
mv "$tmp/manifest.txt" "$LAB_IMAGE_CACHE/$key.manifest"
mv "$tmp/image.tar" "$image"
log "lab image $key: built in $(( $(date +%s) - t0 ))s ($(du -h "$image" | cut -f1), mirror $debs .debs) -> $image"
echo "$image"
