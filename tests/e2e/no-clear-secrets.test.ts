// No secret in clear anywhere the platform writes on the operator's side: the lab's secrets are
// decrypted here (sops + the lab's age key, in memory only), then every value is searched for,
// as is and base64-encoded, in
//  - the Pulumi stack outputs (`stack output --json`, without --show-secrets) and the raw state
//    (`stack export`, without --show-secrets, and every file under .lab/pulumi-state: checkpoints,
//    backups, history),
//  - every file under evidence/ (Ansible run records and logs, Pulumi logs, test evidence),
//  - every other lab file on the host (.lab/ except the VPS's own root file system, where the
//    services need their secrets: PostgreSQL's password, wg0.key, the K3s token).
// The lab stack is deployed first when its state is empty (`platform up lab`).
// Failures name the secret and the file, never the value.
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { saveEvidence } from "../support/evidence";
import { pulumiCli, pulumiLab } from "../support/faults";
import { labDir } from "../support/lab";
import { repoRoot, run, toolchainPath } from "../support/tools";

jest.setTimeout(40 * 60 * 1000);

const CRITERION = "no-clear-secrets";
const evidenceRoot = process.env.PLATFORM_EVIDENCE_DIR ?? path.join(repoRoot, "evidence");
const SECRET_NAMES = ["secret_postgresql_app_password", "secret_wireguard_server_private_key", "secret_k3s_token"];

interface Needle {
  secret: string;
  form: string;
  bytes: Buffer;
}
interface Finding {
  secret: string;
  form: string;
  where: string;
}

/** Each secret value in the forms it could leak in: as is, and base64 (how Pulumi and k8s encode bytes). */
function needlesOf(secrets: Record<string, string>): Needle[] {
  return Object.entries(secrets).flatMap(([secret, value]) => [
    { secret, form: "clear", bytes: Buffer.from(value) },
    { secret, form: "base64", bytes: Buffer.from(Buffer.from(value).toString("base64")) },
  ]);
}

function search(content: Buffer, where: string, needles: Needle[]): Finding[] {
  return needles.filter((n) => content.includes(n.bytes)).map((n) => ({ secret: n.secret, form: n.form, where }));
}

/** Every regular file under root (symlinks not followed; `skip` prunes directories). */
function walk(root: string, skip: (dir: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop()!;
    if (skip(dir)) continue;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) out.push(p);
    }
  }
  return out;
}

function searchFiles(files: string[], needles: Needle[]) {
  let bytes = 0;
  const findings: Finding[] = [];
  for (const f of files) {
    let content: Buffer;
    try {
      content = fs.readFileSync(f);
    } catch {
      continue; // removed meanwhile (a log rotated): nothing to read
    }
    bytes += content.length;
    findings.push(...search(content, path.relative(repoRoot, f), needles));
  }
  return { files: files.length, bytes, findings };
}

const platformLab = (args: string[]) => pulumiLab(args, { PLATFORM_EVIDENCE_DIR: evidenceRoot, PLATFORM_LAB_DIR: labDir });

describe("no secret in clear: Pulumi state and outputs, evidence, logs", () => {
  let needles: Needle[] = [];
  const summary: Record<string, unknown> = {};

  beforeAll(() => {
    const st = run("bash", ["scripts/lab/status.sh"]);
    if (st.status !== 0) throw new Error(`the lab is not up (run scripts/lab/up.sh): ${st.stdout}${st.stderr}`);
    const r = run("sops", ["--decrypt", "--output-type", "json", path.join(labDir, "secrets.sops.yaml")], {
      env: { ...process.env, PATH: toolchainPath(), SOPS_AGE_KEY_FILE: path.join(labDir, "age.key") },
    });
    // stderr only: stdout holds the secrets.
    if (r.status !== 0) throw new Error(`sops --decrypt of the lab secrets failed (exit ${r.status}): ${r.stderr}`);
    const secrets = JSON.parse(r.stdout) as Record<string, string>;
    needles = needlesOf(Object.fromEntries(SECRET_NAMES.map((k) => [k, secrets[k]])));
  });

  afterAll(() => {
    saveEvidence(CRITERION, "summary.json", summary);
  });

  it("decrypts every lab secret, each long enough to be searched for without false matches", () => {
    expect(needles.map((n) => `${n.secret} ${n.form}`)).toEqual(SECRET_NAMES.flatMap((s) => [`${s} clear`, `${s} base64`]));
    for (const n of needles) expect(`${n.secret}: ${n.bytes.length >= 16}`).toBe(`${n.secret}: true`);
  });

  it("finds a planted value (the search works), naming the file and not the value", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "no-clear-secrets-"));
    try {
      const canary = `canary-${randomBytes(12).toString("hex")}`;
      fs.writeFileSync(path.join(dir, "planted.log"), `line\nvalue=${Buffer.from(canary).toString("base64")}\n`);
      const r = searchFiles(walk(dir), needlesOf({ canary }));
      expect(r.findings).toEqual([{ secret: "canary", form: "base64", where: path.relative(repoRoot, path.join(dir, "planted.log")) }]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the lab stack is deployed, so its state holds every secret-bearing resource (pulumi up when it is not)", async () => {
    const deployed = async () => {
      const exp = await pulumiCli(["stack", "export"]);
      if (exp.status !== 0) return 0;
      return ((JSON.parse(exp.stdout) as { deployment: { resources?: unknown[] } }).deployment.resources ?? []).length;
    };
    const before = await deployed();
    summary.deployment = { resourcesBefore: before };
    if (before <= 1) {
      // Nothing deployed on this lab yet (or the VPS was recreated and the stack started over).
      const up = await platformLab(["up"]);
      summary.up = { status: up.status, tail: (up.stdout + up.stderr).split("\n").slice(-12) };
      expect(up.status).toBe(0);
    }
    expect(await deployed()).toBeGreaterThan(1);
  });

  it("stack outputs (stack output --json, no --show-secrets) hold no secret", async () => {
    const out = await pulumiCli(["stack", "output", "--json"]);
    expect(out.status).toBe(0);
    const outputs = JSON.parse(out.stdout) as Record<string, unknown>;
    summary.outputs = { names: Object.keys(outputs) };
    expect(Object.keys(outputs).length).toBeGreaterThan(0);
    expect(search(Buffer.from(out.stdout + out.stderr), "stack output --json", needles)).toEqual([]);
  });

  it("the raw state (stack export, every file under .lab/pulumi-state) holds no secret, and does hold encrypted secrets", async () => {
    const exp = await pulumiCli(["stack", "export"]);
    expect(exp.status).toBe(0);
    const state = JSON.parse(exp.stdout) as { deployment: { resources?: unknown[] } };
    const resources = state.deployment.resources ?? [];
    // The secrets are in the state, as ciphertext: Pulumi's secret envelope, encrypted with the lab's passphrase.
    const envelope = new RegExp(`"${pulumi.runtime.specialSigKey}":\\s*"${pulumi.runtime.specialSecretSig}"`, "g");
    const secretEnvelopes = (exp.stdout.match(envelope) ?? []).length;
    const files = searchFiles(walk(path.join(labDir, "pulumi-state")), needles);
    summary.state = { resources: resources.length, secretEnvelopes, files: files.files, bytes: files.bytes, findings: files.findings };
    expect(resources.length).toBeGreaterThan(1);
    expect(secretEnvelopes).toBeGreaterThan(0);
    expect(search(Buffer.from(exp.stdout + exp.stderr), "stack export", needles)).toEqual([]);
    expect(files.files).toBeGreaterThan(0);
    expect(files.findings).toEqual([]);
  });

  it("no file under evidence/ (Ansible records and logs, Pulumi logs, test evidence) holds a secret", () => {
    const files = walk(evidenceRoot);
    const r = searchFiles(files, needles);
    const ansibleLogs = files.filter((f) => /\/ansible-[^/]*\.(json|txt|log)$/.test(f)).length;
    summary.evidence = { root: path.relative(repoRoot, evidenceRoot) || evidenceRoot, files: r.files, bytes: r.bytes, ansibleFiles: ansibleLogs, findings: r.findings };
    expect(ansibleLogs).toBeGreaterThan(0);
    expect(r.findings).toEqual([]);
  });

  it("no lab file on the host outside the VPS's root file system holds a secret in clear", () => {
    const rootfs = path.join(labDir, "rootfs");
    const r = searchFiles(walk(labDir, (d) => d === rootfs), needles);
    summary.labFiles = { root: path.relative(repoRoot, labDir) || labDir, excluded: ["rootfs/ (the VPS itself)"], files: r.files, bytes: r.bytes, findings: r.findings };
    expect(r.findings).toEqual([]);
  });
});
