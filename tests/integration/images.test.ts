// The lab's container images (scripts/toolchain/build-images.sh, docs/adr/0008): built twice from
// the same inputs into two directories, they are byte-identical; each archive is a valid OCI
// layout (every blob's digest and size match its descriptor, read here independently of the
// Python helper); names and configs are the pinned ones; the binaries are static; pause exits 0
// on SIGTERM and SIGINT; containerd 1.6.20's own import code (no daemon) imports and unpacks them
// under the pinned names. A corrupted archive fails the same checks. Argo CD's two images (one
// Debian layer with the pinned argocd binary; build-argocd-images.sh, their own cache entry) are
// listed under the names the release's manifests pull, with upstream's entrypoints and user.
import { spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { readVersions } from "../../lib/versions";
import { saveEvidence } from "../support/evidence";
import { repoRoot, run } from "../support/tools";

jest.setTimeout(30 * 60 * 1000);

const buildScript = path.join(repoRoot, "scripts/toolchain/build-images.sh");
const helper = path.join(repoRoot, "scripts/toolchain/oci-image.py");
const versions = readVersions();

interface Expected {
  ref: string;
  entrypoint: string;
  user: string;
  ports: string[];
  binary: string;
  versionArgs: string[];
  versionOutput: string;
}
const expected: Expected[] = [
  {
    ref: versions.PAUSE_IMAGE,
    entrypoint: "/pause",
    user: "65535:65535",
    ports: [],
    binary: "pause",
    versionArgs: ["-v"],
    versionOutput: `pause ${versions.PAUSE_VERSION}`,
  },
  {
    ref: versions.GREETER_IMAGE,
    entrypoint: "/greeter",
    user: "65532:65532",
    ports: ["8080/tcp"],
    binary: "greeter",
    versionArgs: ["--version"],
    versionOutput: `greeter ${versions.GREETER_VERSION}`,
  },
  {
    // Built from toolchain/coredns (ensure.sh coredns), packaged as upstream's image is.
    ref: versions.COREDNS_IMAGE,
    entrypoint: "/coredns",
    user: "65532:65532",
    ports: ["53/tcp", "53/udp"],
    binary: "coredns",
    versionArgs: ["-version"],
    versionOutput: `CoreDNS-${versions.COREDNS_VERSION}`,
  },
];

const sha256 = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

interface TarEntry {
  name: string;
  type: string; // "0" file, "5" directory
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  uname: string;
  data: Buffer;
}

/** A minimal ustar reader (what our archives are): enough to check every header field we fix. */
function readTar(buf: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  const str = (b: Buffer) => b.toString("utf8").replace(/\0.*$/s, "");
  const num = (b: Buffer) => parseInt(str(b).trim() || "0", 8);
  for (let off = 0; off + 512 <= buf.length; ) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const stored = num(h.subarray(148, 156));
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    if (sum !== stored) throw new Error(`tar header checksum mismatch at offset ${off}`);
    const prefix = str(h.subarray(345, 500));
    const name = (prefix ? `${prefix}/` : "") + str(h.subarray(0, 100));
    const size = num(h.subarray(124, 136));
    entries.push({
      name,
      type: str(h.subarray(156, 157)) || "0",
      mode: num(h.subarray(100, 108)),
      uid: num(h.subarray(108, 116)),
      gid: num(h.subarray(116, 124)),
      mtime: num(h.subarray(136, 148)),
      uname: str(h.subarray(265, 297)),
      data: buf.subarray(off + 512, off + 512 + size),
    });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

const checked = new Map<string, ReturnType<typeof parseLayout>>();
/** checkLayout(file): parseLayout once per archive. */
function checkLayout(file: string) {
  if (!checked.has(file)) checked.set(file, parseLayout(file));
  return checked.get(file)!;
}

/** Parses and checks one archive the way an importer does; throws on any mismatch. */
function parseLayout(file: string) {
  const entries = readTar(fs.readFileSync(file));
  const files = new Map(entries.filter((e) => e.type === "0").map((e) => [e.name, e.data]));
  const blob = (d: Descriptor, mediaType: string): Buffer => {
    if (d.mediaType !== mediaType) throw new Error(`${d.digest}: media type ${d.mediaType}, want ${mediaType}`);
    const data = files.get(`blobs/${d.digest.replace(":", "/")}`);
    if (!data) throw new Error(`${d.digest}: blob missing`);
    if (sha256(data) !== d.digest) throw new Error(`${d.digest}: content hashes to ${sha256(data)}`);
    if (data.length !== d.size) throw new Error(`${d.digest}: size ${data.length}, descriptor says ${d.size}`);
    return data;
  };
  expect(JSON.parse(files.get("oci-layout")!.toString())).toEqual({ imageLayoutVersion: "1.0.0" });
  const index = JSON.parse(files.get("index.json")!.toString()) as { schemaVersion: number; manifests: Descriptor[] };
  expect(index.schemaVersion).toBe(2);
  expect(index.manifests).toHaveLength(1);
  const mdesc = index.manifests[0];
  const manifest = JSON.parse(blob(mdesc, "application/vnd.oci.image.manifest.v1+json").toString()) as {
    config: Descriptor;
    layers: Descriptor[];
  };
  const config = JSON.parse(blob(manifest.config, "application/vnd.oci.image.config.v1+json").toString());
  expect(manifest.layers).toHaveLength(1);
  const layerGz = blob(manifest.layers[0], "application/vnd.oci.image.layer.v1.tar+gzip");
  const layerTar = zlib.gunzipSync(layerGz);
  if (config.rootfs.diff_ids[0] !== sha256(layerTar)) throw new Error("rootfs.diff_ids[0] is not the uncompressed layer's digest");
  // Every blob in the archive is referenced: nothing stale rides along.
  const referenced = new Set([mdesc, manifest.config, manifest.layers[0]].map((d) => `blobs/${d.digest.replace(":", "/")}`));
  expect([...files.keys()].filter((n) => n.startsWith("blobs/")).sort()).toEqual([...referenced].sort());
  return { entries, mdesc, config, layerGz, layer: readTar(layerTar) };
}

/** The ELF file's program header types (PT_INTERP = 3 means dynamically linked). */
function elfProgramHeaderTypes(elf: Buffer): number[] {
  if (elf.subarray(0, 4).toString("latin1") !== "\x7fELF" || elf[4] !== 2) throw new Error("not a 64-bit ELF file");
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  return Array.from({ length: phnum }, (_, i) => elf.readUInt32LE(phoff + i * phentsize));
}

function build(dir: string) {
  const start = Date.now();
  const r = run("bash", [buildScript, dir], { timeoutMs: 25 * 60 * 1000 });
  if (r.status !== 0) throw new Error(`build-images.sh ${dir} failed (exit ${r.status}):\n${r.stderr}`);
  return { seconds: Math.round((Date.now() - start) / 1000), stderr: r.stderr };
}

interface ImagesJson {
  images: { ref: string; digest: string; file: string }[];
}
const readImages = (dir: string): ImagesJson => JSON.parse(fs.readFileSync(path.join(dir, "images.json"), "utf8"));

/** Resolves once the process has installed a handler for every signal in `signals` (from /proc). */
async function handlersInstalled(pid: number, signals: number[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const caught = BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)/m.exec(status)![1]}`);
    if (signals.every((s) => (caught >> BigInt(s - 1)) & 1n)) return;
    if (Date.now() > deadline) throw new Error(`pid ${pid} installed no handler for ${signals} within ${timeoutMs} ms`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Polls `cond` (no fixed sleeps) until it holds; throws after timeoutMs. */
async function waitFor<T>(what: string, cond: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = cond();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

const childrenOf = (pid: number): number[] => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const procState = (pid: number): string | undefined => {
  try {
    return /^State:\s*(\S)/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  } catch {
    return undefined; // gone: reaped
  }
};

function runUntilSignalled(binary: string, signal: NodeJS.Signals): Promise<{ code: number | null; signal: string | null }> {
  const child = spawn(binary, [], { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on("exit", (code, sig) => resolve({ code, signal: sig })),
  );
  const guard = setTimeout(() => child.kill("SIGKILL"), 10_000); // bounded: never hang the suite
  return handlersInstalled(child.pid!, [2, 15, 17]) // SIGINT, SIGTERM, SIGCHLD
    .then(() => {
      child.kill(signal);
      return exited;
    })
    .catch((e) => {
      child.kill("SIGKILL"); // leave nothing running on a failure
      throw e;
    })
    .finally(() => clearTimeout(guard));
}

describe("the lab's images, built without a registry (build-images.sh)", () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "platform-images-"));
  const first = path.join(work, "first");
  const second = path.join(work, "second");
  const bins = path.join(work, "bin");
  const timings: Record<string, number> = {};

  beforeAll(() => {
    timings.first = build(first).seconds;
    timings.second = build(second).seconds;
    fs.mkdirSync(bins);
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it("gives the same digests and the same bytes for the same inputs", () => {
    const a = readImages(first);
    const b = readImages(second);
    const digests = (i: ImagesJson) => Object.fromEntries(i.images.map((x) => [x.ref, x.digest]));
    saveEvidence("images", "digests.json", { first: digests(a), second: digests(b), buildSeconds: timings });
    expect(digests(b)).toEqual(digests(a));
    for (const img of a.images) {
      expect(sha256(fs.readFileSync(path.join(second, img.file)))).toBe(sha256(fs.readFileSync(path.join(first, img.file))));
    }
  });

  it("lists exactly the pinned refs, each with its archive and manifest digest", () => {
    const images = readImages(first).images;
    expect(images.map((i) => i.ref).sort()).toEqual([...expected.map((e) => e.ref), versions.ARGOCD_IMAGE, versions.ARGOCD_REDIS_IMAGE].sort());
    for (const img of images) {
      expect(img.file).toBe(`${img.ref.replace(/[/:@]/g, "_")}.oci.tar`);
      expect(checkLayout(path.join(first, img.file)).mdesc.digest).toBe(img.digest);
    }
  });

  it.each(expected.map((e) => [e.ref, e] as const))("%s: valid layout, named for containerd, pinned config", (_ref, e) => {
    const img = readImages(first).images.find((i) => i.ref === e.ref)!;
    const { entries, mdesc, config } = checkLayout(path.join(first, img.file));
    // The name `ctr images import` gives the image, and the tag under the OCI annotation.
    expect(mdesc.annotations).toEqual({
      "io.containerd.image.name": e.ref,
      "org.opencontainers.image.ref.name": e.ref.slice(e.ref.lastIndexOf(":") + 1),
    });
    expect(mdesc.platform).toEqual({ architecture: "amd64", os: "linux" });
    expect(config.architecture).toBe("amd64");
    expect(config.os).toBe("linux");
    expect(config.created).toBe("1970-01-01T00:00:00Z");
    expect(config.config.Entrypoint).toEqual([e.entrypoint]);
    expect(config.config.User).toBe(e.user);
    expect(Object.keys(config.config.ExposedPorts ?? {}).sort()).toEqual(e.ports);
    // Fixed metadata, sorted entries in the outer archive.
    for (const t of entries) expect([t.mtime, t.uid, t.gid, t.uname]).toEqual([0, 0, 0, ""]);
    expect(entries.map((t) => t.name)).toEqual([...entries.map((t) => t.name)].sort());
  });

  it.each(expected.map((e) => [e.ref, e] as const))("%s: the layer is one static binary, which runs", (_ref, e) => {
    const img = readImages(first).images.find((i) => i.ref === e.ref)!;
    const { layerGz, layer } = checkLayout(path.join(first, img.file));
    // gzip -n: no file name (FLG bit 3) and no timestamp (MTIME = 0) in the header.
    expect(layerGz[3] & 0x08).toBe(0);
    expect(layerGz.readUInt32LE(4)).toBe(0);
    expect(layer.map((t) => [t.name, t.type, t.mode, t.uid, t.gid, t.mtime])).toEqual([[e.binary, "0", 0o755, 0, 0, 0]]);
    const elf = layer[0].data;
    const types = elfProgramHeaderTypes(elf);
    expect(types).toContain(1); // PT_LOAD: a real executable
    expect(types).not.toContain(3); // PT_INTERP: would need a dynamic loader the image lacks
    const bin = path.join(bins, e.binary);
    fs.writeFileSync(bin, elf, { mode: 0o755 });
    const v = run(bin, e.versionArgs, { timeoutMs: 30_000 });
    expect(v.status).toBe(0);
    expect(v.stdout).toContain(e.versionOutput);
  });

  it("Argo CD's images: one Debian layer with the pinned argocd binary, git, tini and redis-server; upstream's entrypoints and user", () => {
    const images = readImages(first).images;
    const argocd = checkLayout(path.join(first, images.find((i) => i.ref === versions.ARGOCD_IMAGE)!.file));
    const redis = checkLayout(path.join(first, images.find((i) => i.ref === versions.ARGOCD_REDIS_IMAGE)!.file));
    expect(argocd.config.rootfs.diff_ids).toEqual(redis.config.rootfs.diff_ids); // containerd stores the layer once
    expect(argocd.config.config).toMatchObject({ Entrypoint: ["/usr/bin/tini", "--"], User: "999", WorkingDir: "/home/argocd" });
    expect(redis.config.config).toMatchObject({ Entrypoint: ["/usr/bin/redis-server"], User: "999" });
    const files = new Map(argocd.layer.map((t) => [t.name.replace(/^\.\//, ""), t]));
    for (const f of ["usr/bin/git", "usr/bin/tini", "usr/bin/redis-server", "usr/local/bin/entrypoint.sh", "usr/local/bin/git-verify-wrapper.sh", "usr/bin/cp", "usr/bin/sh"]) expect(`${f} ${files.has(f)}`).toBe(`${f} true`);
    // Debian 12's merged /usr: /bin/cp and /bin/sh (what the repo-server's init container runs) are there through the /bin link.
    expect(files.get("bin")?.type).toBe("2");
    // The binary is the tool cache's pinned build, byte for byte; the components are links to it.
    const cached = fs.readFileSync(path.join(run("bash", ["-c", `. "${repoRoot}/scripts/lib/common.sh" && tool_dir argocd "$ARGOCD_VERSION"`]).stdout.trim(), "argocd"));
    expect(sha256(files.get("usr/local/bin/argocd")!.data)).toBe(sha256(cached));
    for (const c of ["argocd-application-controller", "argocd-repo-server", "argocd-applicationset-controller"]) expect(files.get(`usr/local/bin/${c}`)?.type).toBe("2");
    expect(files.get("etc/passwd")!.data.toString()).toMatch(/^argocd:x:999:999:/m);
    saveEvidence("images", "argocd-images.json", { argocd: argocd.mdesc, redis: redis.mdesc, layerEntries: argocd.layer.length });
  });

  it.each(["SIGTERM", "SIGINT"] as const)("pause exits 0 on %s", async (signal) => {
    const img = readImages(first).images.find((i) => i.ref === versions.PAUSE_IMAGE)!;
    const pause = path.join(bins, `pause-${signal}`);
    fs.writeFileSync(pause, checkLayout(path.join(first, img.file)).layer[0].data, { mode: 0o755 });
    expect(await runUntilSignalled(pause, signal)).toEqual({ code: 0, signal: null });
  });

  it("pause reaps an exited child when it is PID 1 of a PID namespace", async () => {
    const img = readImages(first).images.find((i) => i.ref === versions.PAUSE_IMAGE)!;
    const pause = path.join(bins, "pause-pid1");
    fs.writeFileSync(pause, checkLayout(path.join(first, img.file)).layer[0].data, { mode: 0o755 });
    const fifo = path.join(work, "release-child");
    expect(run("mkfifo", [fifo]).status).toBe(0);
    // sh starts a child that blocks on the FIFO, then becomes pause (PID 1): the child is pause's.
    const ns = spawn("unshare", ["--pid", "--fork", "--kill-child", "sh", "-c", `(read x < '${fifo}') & exec '${pause}'`], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => ns.on("exit", (code) => resolve(code)));
    const guard = setTimeout(() => ns.kill("SIGKILL"), 15_000); // bounded: never hang the suite
    try {
      const pid1 = await waitFor("pause as PID 1", () => {
        const c = childrenOf(ns.pid!)[0];
        try {
          return c && fs.readlinkSync(`/proc/${c}/exe`) === pause ? c : undefined;
        } catch {
          return undefined; // between fork and exec
        }
      });
      await handlersInstalled(pid1, [2, 15, 17]);
      const child = await waitFor("pause's child", () => childrenOf(pid1)[0]);
      fs.writeFileSync(fifo, "go\n"); // the child reads it and exits
      // A zombie (state Z) would stay forever; a reaped child leaves /proc.
      await waitFor(`child ${child} reaped`, () => (procState(child) === undefined ? true : undefined));
      process.kill(pid1, "SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      clearTimeout(guard);
      // On a failure, end the namespace now (--kill-child takes pause and its child with it).
      if (ns.exitCode === null && ns.signalCode === null) {
        ns.kill("SIGKILL");
        await exited;
      }
    }
  });

  it("fails the layout checks when a blob is corrupted (ours and the helper's)", () => {
    const img = readImages(first).images.find((i) => i.ref === versions.GREETER_IMAGE)!;
    const buf = Buffer.from(fs.readFileSync(path.join(first, img.file)));
    // Flip one byte inside the first blob's content (after oci-layout, index.json and the dirs).
    const blobEntry = readTar(buf).find((t) => t.name.startsWith("blobs/sha256/") && t.type === "0")!;
    const at = buf.indexOf(blobEntry.data.subarray(0, 64)) + 10;
    buf[at] ^= 0xff;
    const corrupted = path.join(work, "corrupted.oci.tar");
    fs.writeFileSync(corrupted, buf);
    expect(() => parseLayout(corrupted)).toThrow(/hashes to|diff_ids|checksum/);
    const r = run("python3", [helper, "verify", corrupted]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("INVALID");
    expect(run("python3", [helper, "verify", path.join(first, img.file)]).status).toBe(0);
  });

  it("imports and unpacks with containerd 1.6.20's own import code, under the pinned names", () => {
    // tests/support/containerd-import: Client.Import(WithAllPlatforms), what
    // `ctr -n k8s.io images import --all-platforms` runs, then unpack through the walking differ.
    const tool = path.join(work, "containerd-import");
    const goEnv = { ...process.env, GOTOOLCHAIN: "local", CGO_ENABLED: "0", GOFLAGS: "-mod=readonly -buildvcs=false" };
    const b = run("go", ["build", "-o", tool, "."], { cwd: path.join(repoRoot, "tests/support/containerd-import"), env: goEnv });
    if (b.status !== 0) throw new Error(`go build containerd-import: ${b.stderr}`);
    const images = readImages(first).images;
    const root = path.join(work, "containerd");
    const r = run(tool, [root, ...images.map((i) => path.join(first, i.file))], { timeoutMs: 5 * 60 * 1000 });
    if (r.status !== 0) throw new Error(`containerd-import: ${r.stderr}`);
    const imported = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { name: string; target: string; files: { name: string; mode: string; size: number }[] });
    saveEvidence("images", "containerd-import.jsonl", r.stdout);
    expect(imported.map((i) => [i.name, i.target]).sort()).toEqual(images.map((i) => [i.ref, i.digest]).sort());
    for (const e of expected) {
      const img = imported.find((i) => i.name === e.ref)!;
      const layer = checkLayout(path.join(first, images.find((i) => i.ref === e.ref)!.file)).layer;
      expect(img.files).toEqual([{ name: e.binary, mode: "-rwxr-xr-x", uid: 0, gid: 0, size: layer[0].data.length }]);
    }
  });

  it("is what ensure.sh images caches (same digests in the tool cache)", () => {
    const r = run("bash", [path.join(repoRoot, "scripts/toolchain/ensure.sh"), "images"], { timeoutMs: 25 * 60 * 1000 });
    expect(r.status).toBe(0);
    const dir = run("bash", ["-c", `. "${repoRoot}/scripts/lib/common.sh" && images_dir`]).stdout.trim();
    expect(readImages(dir)).toEqual(readImages(first));
  });
});
