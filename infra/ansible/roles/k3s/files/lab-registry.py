#!/usr/bin/env python3
"""The lab node's registry mirror: a read-only OCI distribution endpoint on loopback that serves the
images the k3s role imported, from containerd's own content store (docs/adr/0008).

Why it exists: Argo CD's install manifests pull with `imagePullPolicy: Always`, so the kubelet asks
containerd to resolve the tag at every container start even when the image is present. containerd
(/etc/containerd/certs.d/<registry>/hosts.toml) asks this mirror first; it answers each imported
ref with the digest the role imported, and containerd finds every blob already local. A ref it does
not know gets 404 (containerd then tries the real registry, which the lab cannot reach).

  lab-registry.py --listen 127.0.0.1:5000 --images FILE.json --content DIR
    FILE.json: {"images": [{"ref": "quay.io/argoproj/argocd:v3.5.1", "digest": "sha256:...", ...}]}
               (the tool cache's images.json, copied by the role; re-read when it changes)
    DIR:       containerd's content store (blobs/sha256/<hex>)
Stdlib only: it runs on the VPS's Python (the one Ansible uses).
"""
import argparse
import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ROUTE = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class Images:
    """ref -> manifest digest, from images.json; re-read when its mtime changes."""

    def __init__(self, path: str):
        self.path, self.mtime, self.refs = path, None, {}

    def digest(self, ref: str):
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return None
        if mtime != self.mtime:
            with open(self.path) as f:
                self.refs = {i["ref"]: i["digest"] for i in json.load(f)["images"]}
            self.mtime = mtime
        return self.refs.get(ref)


def handler(images: Images, content: str):
    class Handler(BaseHTTPRequestHandler):
        server_version = "platform-lab-registry"

        def log_message(self, fmt, *args):  # one line per request in the journal
            sys.stderr.write("%s %s\n" % (self.command, fmt % args))

        def do_HEAD(self):
            self.serve(body=False)

        def do_GET(self):
            self.serve(body=True)

        def fail(self, status: int, code: str, message: str, body: bool):
            data = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def serve(self, body: bool):
            url = urlsplit(self.path)
            if url.path in ("/v2", "/v2/"):
                self.send_response(200)
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            m = ROUTE.match(url.path)
            if not m:
                return self.fail(404, "NOT_FOUND", url.path, body)
            name, kind, ref = m["name"], m["kind"], m["ref"]
            if kind == "manifests" and not DIGEST.match(ref):
                # containerd names the upstream registry in ?ns= when it asks a mirror.
                ns = parse_qs(url.query).get("ns", [""])[0]
                digest = images.digest(f"{ns}/{name}:{ref}") if ns else None
                if not digest:
                    return self.fail(404, "MANIFEST_UNKNOWN", f"{ns}/{name}:{ref} is not an imported image", body)
            else:
                digest = ref
            if not DIGEST.match(digest):
                return self.fail(404, "BLOB_UNKNOWN", digest, body)
            path = os.path.join(content, "blobs", "sha256", digest[len("sha256:"):])
            try:
                f = open(path, "rb")
            except FileNotFoundError:
                return self.fail(404, "BLOB_UNKNOWN", f"{digest} is not in containerd's content store", body)
            with f:
                size = os.fstat(f.fileno()).st_size
                self.send_response(200)
                self.send_header("Content-Type", MT_MANIFEST if kind == "manifests" else "application/octet-stream")
                self.send_header("Docker-Content-Digest", digest)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if body:
                    while chunk := f.read(1 << 20):
                        self.wfile.write(chunk)

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", required=True, help="HOST:PORT (loopback)")
    p.add_argument("--images", required=True)
    p.add_argument("--content", required=True)
    a = p.parse_args()
    host, port = a.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), handler(Images(a.images), a.content))
    sys.stderr.write(f"serving {a.images} from {a.content} on {a.listen}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
