#!/usr/bin/env python3
"""Deterministic single-layer OCI image archives, from local files only (no registry, stdlib only).

  oci-image.py build --ref REF --out FILE.oci.tar --entrypoint "PATH [ARG]..." [--user UID:GID]
                     [--expose PORT/PROTO]... [--label KEY=VALUE]... [--env K=V]... [--workdir DIR]
                     (--file SRC=DEST[:MODE]... | --layer-tar ROOTFS.tar)
      Writes an OCI image layout (oci-layout, index.json, blobs/sha256/*) as one tar FILE and
      prints {"ref", "digest" (the manifest's), "file"} as one JSON line. The layer is either the
      --file entries, or a whole root filesystem the caller has already written as a tar
      (deterministically: build-argocd-images.sh uses GNU tar --sort=name --mtime --numeric-owner).
  oci-image.py verify FILE.oci.tar...
      Checks every archive: layout version, index -> manifest -> config and layer, each blob's
      sha256 and size, the layer's diff_id, and the image-name annotations. Exit 1 on a mismatch.
  oci-image.py list OUT_DIR < lines-of-build-output
      Writes OUT_DIR/images.json from the JSON lines `build` printed.

Same inputs, same bytes: entries sorted, every mtime = SOURCE_DATE_EPOCH (default 0), uid/gid 0
without names, gzip without name or timestamp (what `gzip -n` does), JSON with sorted keys and no
whitespace, a fixed `created`. The ref is written as `io.containerd.image.name` (the name
`ctr images import` gives the image) and its tag as `org.opencontainers.image.ref.name`
(docker save's convention). See docs/adr/0008-images-without-a-registry.md.
"""
import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ANN_CONTAINERD_NAME = "io.containerd.image.name"
ANN_REF_NAME = "org.opencontainers.image.ref.name"


def epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def split_ref(ref: str):
    """registry/path:tag -> (name, tag); refuses digests and missing tags (we always pin a tag)."""
    if "@" in ref:
        raise SystemExit(f"error: {ref}: a built image is named by tag, not by digest")
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon <= slash:
        raise SystemExit(f"error: {ref}: no tag (want registry/name:tag)")
    return ref[:colon], ref[colon + 1:]


def tar_bytes(entries) -> bytes:
    """entries: list of (name, data or None for a directory, mode). Sorted, fixed metadata."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in sorted(entries, key=lambda e: e[0]):
            info = tarfile.TarInfo(name)
            info.mtime = epoch()
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    # filename="" and mtime=0: the header carries neither (gzip -n).
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=6, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def parse_file_arg(spec: str):
    """SRC=DEST[:MODE] -> (src, dest without leading /, mode)."""
    if "=" not in spec:
        raise SystemExit(f"error: --file {spec}: want SRC=DEST[:MODE]")
    src, dest = spec.split("=", 1)
    mode = 0o755
    if ":" in dest:
        dest, m = dest.rsplit(":", 1)
        mode = int(m, 8)
    dest = dest.lstrip("/")
    if not dest or ".." in dest.split("/"):
        raise SystemExit(f"error: --file {spec}: bad destination")
    return src, dest, mode


def files_layer(specs) -> bytes:
    entries = []
    dirs = set()
    for spec in specs:
        src, dest, mode = parse_file_arg(spec)
        with open(src, "rb") as f:
            entries.append((dest, f.read(), mode))
        parts = dest.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    entries += [(d + "/", None, 0o755) for d in dirs]
    return tar_bytes(entries)


def build(args) -> None:
    name, tag = split_ref(args.ref)
    if bool(args.file) == bool(args.layer_tar):
        raise SystemExit("error: give either --file entries or one --layer-tar")
    if args.layer_tar:
        with open(args.layer_tar, "rb") as f:
            layer_tar = f.read()
    else:
        layer_tar = files_layer(args.file)
    layer = gzip_bytes(layer_tar)
    created = datetime.datetime.fromtimestamp(epoch(), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + args.env
    entrypoint = args.entrypoint.split(" ")
    cfg = {"Entrypoint": entrypoint, "Env": env, "WorkingDir": args.workdir}
    if args.user:
        cfg["User"] = args.user
    if args.expose:
        cfg["ExposedPorts"] = {p: {} for p in args.expose}
    labels = dict(kv.split("=", 1) for kv in args.label)
    if labels:
        cfg["Labels"] = labels
    config = canonical({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
        "history": [{"created": created, "created_by": "scripts/toolchain/oci-image.py"}],
    })
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": MT_LAYER, "digest": sha256(layer), "size": len(layer)}],
        "annotations": {"org.opencontainers.image.version": tag, "org.opencontainers.image.created": created},
    })
    mdigest = sha256(manifest)
    index = canonical({
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [{
            "mediaType": MT_MANIFEST,
            "digest": mdigest,
            "size": len(manifest),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {ANN_CONTAINERD_NAME: args.ref, ANN_REF_NAME: tag},
        }],
    })
    layout = [("oci-layout", canonical({"imageLayoutVersion": "1.0.0"}), 0o644),
              ("index.json", index, 0o644),
              ("blobs/", None, 0o755), ("blobs/sha256/", None, 0o755)]
    for blob in (layer, config, manifest):
        layout.append(("blobs/sha256/" + sha256(blob)[len("sha256:"):], blob, 0o644))
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(tar_bytes(layout))
    os.replace(tmp, args.out)
    print(json.dumps({"ref": args.ref, "digest": mdigest, "file": os.path.basename(args.out)}, sort_keys=True))


class Invalid(Exception):
    pass


def read_layout(path: str):
    """The archive's regular files by name (what `ctr images import` reads)."""
    files = {}
    with tarfile.open(path, "r:") as tar:
        for m in tar.getmembers():
            if m.isfile():
                files[m.name] = tar.extractfile(m).read()
    return files


def blob(files, desc, media_type):
    if desc.get("mediaType") != media_type:
        raise Invalid(f"{desc.get('digest')}: media type {desc.get('mediaType')}, want {media_type}")
    name = "blobs/" + desc["digest"].replace(":", "/", 1)
    if name not in files:
        raise Invalid(f"{name}: missing")
    data = files[name]
    if sha256(data) != desc["digest"]:
        raise Invalid(f"{name}: content digest {sha256(data)}")
    if len(data) != desc["size"]:
        raise Invalid(f"{name}: size {len(data)}, descriptor says {desc['size']}")
    return data


def verify_one(path: str) -> str:
    files = read_layout(path)
    if json.loads(files.get("oci-layout", b"{}")).get("imageLayoutVersion") != "1.0.0":
        raise Invalid("oci-layout missing or not 1.0.0")
    index = json.loads(files["index.json"])
    if index.get("schemaVersion") != 2 or len(index.get("manifests", [])) != 1:
        raise Invalid("index.json: want schemaVersion 2 and exactly one manifest")
    mdesc = index["manifests"][0]
    ref = mdesc.get("annotations", {}).get(ANN_CONTAINERD_NAME, "")
    _, tag = split_ref(ref)
    if mdesc["annotations"].get(ANN_REF_NAME) != tag:
        raise Invalid(f"{ANN_REF_NAME} is not the tag of {ref}")
    manifest = json.loads(blob(files, mdesc, MT_MANIFEST))
    config = json.loads(blob(files, manifest["config"], MT_CONFIG))
    if len(manifest["layers"]) != 1:
        raise Invalid("want exactly one layer")
    layer = blob(files, manifest["layers"][0], MT_LAYER)
    if config["rootfs"]["diff_ids"] != [sha256(gzip.decompress(layer))]:
        raise Invalid("config rootfs.diff_ids does not match the uncompressed layer")
    if (config["architecture"], config["os"]) != ("amd64", "linux"):
        raise Invalid("platform is not linux/amd64")
    return f"{os.path.basename(path)}: {ref} {mdesc['digest']} ok"


def verify(args) -> None:
    bad = 0
    for path in args.archives:
        try:
            print(verify_one(path))
        except (Invalid, KeyError, ValueError, tarfile.TarError, SystemExit) as e:
            print(f"{os.path.basename(path)}: INVALID: {e}", file=sys.stderr)
            bad += 1
    sys.exit(1 if bad else 0)


def list_images(args) -> None:
    images = [json.loads(line) for line in sys.stdin if line.strip()]
    images.sort(key=lambda i: i["ref"])
    out = os.path.join(args.out_dir, "images.json")
    with open(out + ".tmp", "w") as f:
        json.dump({"images": images}, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(out + ".tmp", out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--ref", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--entrypoint", required=True)
    b.add_argument("--user", default="")
    b.add_argument("--expose", action="append", default=[])
    b.add_argument("--label", action="append", default=[])
    b.add_argument("--env", action="append", default=[])
    b.add_argument("--workdir", default="/")
    b.add_argument("--file", action="append", default=[])
    b.add_argument("--layer-tar", default="")
    b.set_defaults(fn=build)
    v = sub.add_parser("verify")
    v.add_argument("archives", nargs="+")
    v.set_defaults(fn=verify)
    ls = sub.add_parser("list")
    ls.add_argument("out_dir")
    ls.set_defaults(fn=list_images)
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
