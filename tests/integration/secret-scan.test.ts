// The secret scan CI runs (scripts/security/scan-secrets.sh: gitleaks over the Git history and the
// working tree, plus the SOPS check), on throwaway Git repositories made here: a clean one passes;
// a planted secret fails naming the file, also when a later commit deleted it; a clear-text
// secrets file fails. And the real repository passes.
// The fake secrets are generated at run time, so this file itself holds none for a scanner to find.
import { randomInt } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { saveEvidence } from "../support/evidence";
import { repoRoot, run, toolchainPath } from "../support/tools";

jest.setTimeout(20 * 60 * 1000);

const scanScript = path.join(repoRoot, "scripts/security/scan-secrets.sh");
const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: "test",
  GIT_AUTHOR_EMAIL: "test@example.invalid",
  GIT_COMMITTER_NAME: "test",
  GIT_COMMITTER_EMAIL: "test@example.invalid",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
};
const tmpDirs: string[] = [];

function git(repo: string, ...args: string[]) {
  const r = run("git", ["-C", repo, "-c", "commit.gpgsign=false", ...args], { env: gitEnv });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** A new Git repository with one harmless commit. */
function throwawayRepo(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "secret-scan-"));
  tmpDirs.push(dir);
  git(dir, "init", "-q", "-b", "main");
  fs.mkdirSync(path.join(dir, "scripts"));
  fs.writeFileSync(path.join(dir, "README.md"), "# A project\n\nNothing secret here.\n");
  fs.writeFileSync(path.join(dir, "scripts/hello.sh"), "#!/bin/sh\necho hello\n");
  commitAll(dir, "initial");
  return dir;
}

function commitAll(repo: string, message: string) {
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", message);
}

function scan(repo: string, name: string) {
  const r = run("bash", [scanScript, repo], { timeoutMs: 10 * 60 * 1000 });
  const output = `${r.stdout}${r.stderr}`;
  saveEvidence("secret-scan", `${name}.txt`, `$ scan-secrets.sh <${name}>\nexit ${r.status}\n${output}`);
  return { status: r.status, output };
}

/** An AWS access key id of the real shape (not AWS's documented EXAMPLE key, which is allowlisted upstream). */
function fakeAwsKeyId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  return ["AK", "IA", ...Array.from({ length: 16 }, () => alphabet[randomInt(alphabet.length)])].join("");
}

/** A real (throwaway) OpenSSH private key block. */
function privateKeyBlock(dir: string): string {
  const keyFile = path.join(dir, "..", `${path.basename(dir)}-key`);
  const r = run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "throwaway", "-f", keyFile]);
  if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  const key = fs.readFileSync(keyFile, "utf8");
  fs.rmSync(keyFile);
  fs.rmSync(`${keyFile}.pub`);
  return key;
}

afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("secret scan (scripts/security/scan-secrets.sh)", () => {
  beforeAll(() => {
    // Builds the pinned gitleaks into the tool cache when missing (seconds; fails clearly offline).
    const r = run("bash", [path.join(repoRoot, "scripts/toolchain/ensure.sh"), "gitleaks"], { timeoutMs: 30 * 60 * 1000 });
    if (r.status !== 0) throw new Error(`gitleaks not available: ${r.stderr}`);
  });

  it("passes a clean repository (a SOPS-encrypted secrets file and .sops.yaml included)", () => {
    const repo = throwawayRepo();
    // A real SOPS + age encrypted file: ciphertext is not a finding.
    const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "secret-scan-age-"));
    tmpDirs.push(keyDir);
    const keygen = run("age-keygen", ["-o", path.join(keyDir, "age.key")]);
    expect(keygen.status).toBe(0);
    const recipient = /public key: (age1[0-9a-z]+)/i.exec(fs.readFileSync(path.join(keyDir, "age.key"), "utf8"))![1];
    fs.mkdirSync(path.join(repo, "secrets"));
    const plain = path.join(repo, "secrets/prod.sops.yaml");
    fs.writeFileSync(plain, `db_password: ${fakeAwsKeyId().toLowerCase()}\n`);
    // An empty --config: this repository's .sops.yaml (placeholder recipient) must not apply here.
    fs.writeFileSync(path.join(keyDir, "sops-empty.yaml"), "");
    const enc = run("sops", ["--config", path.join(keyDir, "sops-empty.yaml"), "--encrypt", "--age", recipient, "--in-place", plain], {
      cwd: repo,
      env: { ...process.env, PATH: toolchainPath() },
    });
    expect(enc.status).toBe(0);
    expect(fs.readFileSync(plain, "utf8")).toMatch(/ENC\[AES256_GCM/);
    // This repository's SOPS configuration (public recipients only) is not a secrets file.
    fs.copyFileSync(path.join(repoRoot, ".sops.yaml"), path.join(repo, ".sops.yaml"));
    commitAll(repo, "encrypted secrets");

    const r = scan(repo, "clean");
    expect(r.output).toContain("gitleaks history: no leaks");
    expect(r.output).toContain("gitleaks worktree: no leaks");
    expect(r.output).toMatch(/secret scan of .*: clean/);
    expect(r.status).toBe(0);
  });

  it("fails on a secret in a committed file, naming the file (and never printing the secret)", () => {
    const repo = throwawayRepo();
    const keyId = fakeAwsKeyId();
    fs.mkdirSync(path.join(repo, "config"));
    fs.writeFileSync(path.join(repo, "config/deploy.ini"), `[default]\naws_access_key_id = ${keyId}\nregion = eu-west-3\n`);
    commitAll(repo, "add deploy config");

    const r = scan(repo, "planted-aws-key");
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/secret found \(history\): config\/deploy\.ini:2: rule aws-access-token in commit [0-9a-f]{12}/);
    expect(r.output).toMatch(/secret found \(worktree\): config\/deploy\.ini:2: rule aws-access-token/);
    expect(r.output).not.toContain(keyId);
  });

  it("fails on a secret that a later commit deleted (the history scan)", () => {
    const repo = throwawayRepo();
    fs.writeFileSync(path.join(repo, "id_deploy"), privateKeyBlock(repo));
    commitAll(repo, "oops, a key");
    const leaked = git(repo, "rev-parse", "--short=12", "HEAD").trim();
    fs.rmSync(path.join(repo, "id_deploy"));
    commitAll(repo, "remove the key");
    expect(fs.existsSync(path.join(repo, "id_deploy"))).toBe(false);

    const r = scan(repo, "deleted-private-key");
    expect(r.status).toBe(1);
    expect(r.output).toContain(`secret found (history): id_deploy:1: rule private-key in commit ${leaked}`);
    // The working tree is clean now: only the history tells.
    expect(r.output).toContain("gitleaks worktree: no leaks");
  });

  it("fails on a clear-text secrets.sops.yaml", () => {
    const repo = throwawayRepo();
    fs.mkdirSync(path.join(repo, "secrets"));
    // A value no gitleaks rule recognises: only the SOPS check can catch it.
    fs.writeFileSync(path.join(repo, "secrets/prod.sops.yaml"), "secret_postgresql_app_password: correct horse battery staple\n");
    commitAll(repo, "secrets, not encrypted");

    const r = scan(repo, "clear-sops-file");
    expect(r.status).toBe(1);
    expect(r.output).toContain("not SOPS-encrypted: secrets/prod.sops.yaml");
  });

  it("passes the real repository (history and working tree)", () => {
    const r = scan(repoRoot, "this-repository");
    expect(r.output).toMatch(/secret scan of .*: clean/);
    expect(r.status).toBe(0);
  });
});
