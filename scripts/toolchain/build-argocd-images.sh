#!/usr/bin/env bash
# Build Argo CD's two container images for the lab, under the exact names the pinned release's
# install manifests use ($ARGOCD_IMAGE, $ARGOCD_REDIS_IMAGE in toolchain/versions.env), from local
# inputs: one Debian 12 minbase root filesystem (debootstrap, from the Debian archive) with what
# upstream's image installs from its distribution (git, tini, gpg, openssh-client, ca-certificates)
# plus redis-server, and the pinned argocd binary (ensure.sh argocd) laid out as upstream's
# Dockerfile lays it out. Both images are that one layer (containerd stores it once); they differ
# in their entrypoint: upstream's tini for argocd, redis-server for redis. See docs/adr/0008.
# Usage: build-argocd-images.sh OUT_DIR
#   writes OUT_DIR/<ref with / and : as _>.oci.tar, OUT_DIR/images.json and OUT_DIR/built.jsonl
#   (oci-image.py's lines, which build-images.sh adds to the lab's images.json), packages.txt
# Normally run through `ensure.sh argocd-images` (cached by argocd_images_key), which
# build-images.sh calls: the lab's images then include these two.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$PLATFORM_ROOT/scripts/lab/lab.env"
out="${1:?usage: build-argocd-images.sh OUT_DIR}"
mkdir -p "$out"; out="$(cd "$out" && pwd)"
oci="$PLATFORM_ROOT/scripts/toolchain/oci-image.py"
[ "$(id -u)" = 0 ] || die "building Argo CD's images needs root (debootstrap)"
command -v debootstrap >/dev/null 2>&1 || die "no debootstrap (apt-get install debootstrap; scripts/setup.sh installs it)"

argocd_dir="$(tool_dir argocd "$ARGOCD_VERSION")"
bash "$(dirname "$0")/ensure.sh" argocd >/dev/null
[ -x "$argocd_dir/argocd" ] || die "$argocd_dir/argocd is missing: bash scripts/toolchain/ensure.sh argocd"
# The names must be the ones the manifests pull, or the pods would wait for an image no one has.
for ref in "$ARGOCD_IMAGE" "$ARGOCD_REDIS_IMAGE"; do
  grep -q "image: $ref\$" "$argocd_dir/manifests/core-install.yaml" \
    || die "toolchain/versions.env names $ref, but Argo CD $ARGOCD_VERSION's core-install.yaml does not use it"
done
[ "${ARGOCD_IMAGE##*:}" = "v$ARGOCD_VERSION" ] || die "toolchain/versions.env: ARGOCD_IMAGE=$ARGOCD_IMAGE, but its tag should be v$ARGOCD_VERSION"

# What upstream's Dockerfile installs from its distribution, and Argo CD's cache.
packages=(git tini ca-certificates gpg gpg-agent openssh-client redis-server)
work="$(mktemp -d "${TMPDIR:-/tmp}/argocd-images-XXXXXX")"
trap 'rm -rf --one-file-system "$work"' EXIT
R="$work/rootfs"
log "argocd images: debootstrap --variant=minbase $LAB_DEBIAN_SUITE + ${packages[*]}"
with_heartbeat "debootstrap" unshare --mount --propagation private -- \
  debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  "$LAB_DEBIAN_SUITE" "$R" "$LAB_DEBIAN_MIRROR" > "$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

# Upstream's layout: user argocd (999, group 999), HOME /home/argocd, /app/config/{ssh,tls,gpg/...},
# the binary and its role links in /usr/local/bin, entrypoint.sh and the git/gpg wrappers beside.
chroot "$R" /bin/sh -ec '
  groupadd -g 999 argocd
  useradd -r -u 999 -g argocd -d /home/argocd -s /usr/sbin/nologin argocd
  mkdir -p /home/argocd && chown argocd:0 /home/argocd && chmod g=u /home/argocd
  mkdir -p /app/config/ssh /app/config/tls /app/config/gpg/source /app/config/gpg/keys
  touch /app/config/ssh/ssh_known_hosts && ln -sf /app/config/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts
  chown argocd /app/config/gpg/keys && chmod 0700 /app/config/gpg/keys
'
install -m 0755 "$argocd_dir/argocd" "$R/usr/local/bin/argocd"
for role in argocd-server argocd-repo-server argocd-cmp-server argocd-application-controller argocd-dex \
            argocd-notifications argocd-applicationset-controller argocd-k8s-auth argocd-commit-server; do
  ln -s argocd "$R/usr/local/bin/$role"
done
install -m 0755 "$argocd_dir/bin/git-verify-wrapper.sh" "$argocd_dir/bin/gpg-wrapper.sh" "$R/usr/local/bin/"
upstream="$(cd "$PLATFORM_ROOT" && go env GOMODCACHE)/github.com/argoproj/argo-cd/v3@v$ARGOCD_VERSION"
install -m 0755 "$upstream/entrypoint.sh" "$R/usr/local/bin/entrypoint.sh"
ln -s entrypoint.sh "$R/usr/local/bin/uid_entrypoint.sh"
# Nothing a container needs from the build: apt's caches and lists, documentation, device nodes
# (the runtime provides /dev).
rm -rf "$R"/var/cache/apt/* "$R"/var/lib/apt/lists/* "$R"/usr/share/doc/* "$R"/usr/share/man/* \
  "$R"/usr/share/info/* "$R"/var/log/*.log "$R"/var/cache/debconf/*-old
find "$R/dev" -mindepth 1 -delete

log "argocd images: writing the layer ($(du -sh "$R" | cut -f1))"
# GNU format, sorted, one mtime, numeric owners: the same tree gives the same bytes.
tar --format=gnu --sort=name --mtime=@"${SOURCE_DATE_EPOCH:-0}" --numeric-owner -C "$R" -cf "$work/layer.tar" .
safe_name() { printf '%s' "$1" | tr '/:@' '___'; }
{
  nice -n 10 python3 "$oci" build --ref "$ARGOCD_IMAGE" --out "$out/$(safe_name "$ARGOCD_IMAGE").oci.tar" \
    --layer-tar "$work/layer.tar" --entrypoint "/usr/bin/tini --" --user 999 --workdir /home/argocd \
    --env USER=argocd --env GRPC_ENABLE_TXT_SERVICE_CONFIG=false \
    --label "org.opencontainers.image.source=github.com/argoproj/argo-cd/v3@v$ARGOCD_VERSION (build-argocd-images.sh)" \
    --label "org.opencontainers.image.version=v$ARGOCD_VERSION"
  nice -n 10 python3 "$oci" build --ref "$ARGOCD_REDIS_IMAGE" --out "$out/$(safe_name "$ARGOCD_REDIS_IMAGE").oci.tar" \
    --layer-tar "$work/layer.tar" --entrypoint /usr/bin/redis-server --user 999 --workdir / --expose 6379/tcp \
    --label "org.opencontainers.image.source=Debian $LAB_DEBIAN_SUITE redis-server $(chroot "$R" dpkg-query -W -f '${Version}' redis-server) (build-argocd-images.sh)"
} > "$out/built.jsonl"
python3 "$oci" list "$out" < "$out/built.jsonl"
python3 "$oci" verify "$out"/*.oci.tar >&2
chroot "$R" dpkg-query -W -f '${binary:Package} ${Version}\n' > "$out/packages.txt"
log "argocd images in $out: $(ls "$out"/*.oci.tar | xargs -n1 basename | tr '\n' ' ')"
