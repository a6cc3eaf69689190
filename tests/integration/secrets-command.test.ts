// The secrets command (`platform secrets`, cli/commands/secrets.ts), run for real with the pinned sops and age:
//  - the lab stack on a throwaway lab directory (PLATFORM_LAB_DIR; the operator's .lab/ is never
//    read): init, rotate, recipients, check, and every bad input leaving the file byte-identical;
//  - the prod stack on a throwaway copy of the repository's code and stack files (the real
//    .sops.yaml holds a placeholder recipient): .sops.yaml's creation rule is the recipient list.
// Decrypted values stay in this process: assertions compare key names and booleans, so that a
// failing test prints no value. Keys are generated at run time; none is committed.
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ALL_DOMAINS, DOMAINS } from "../../lib/domains";
import { secretsHash } from "../../lib/secrets";
import { evidenceDir, saveEvidence } from "../support/evidence";
import { repoRoot, run } from "../support/tools";

jest.setTimeout(10 * 60 * 1000);

const criterion = "secrets-command";
const tmpDirs: string[] = [];
const tmp = (prefix: string) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Every value decrypted during the test: none may appear in an output, a file or the audit log. */
const seenValues = new Set<string>();
let sopsDir = "";
let evidenceN = 0;

/** The environment without any age key of the operator's (no key may answer but the ones named here). */
function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${sopsDir}:${process.env.PATH}`, ...extra };
  for (const k of ["SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "PLATFORM_CORRELATION_ID"]) {
    if (!(k in extra)) delete env[k];
  }
  return env;
}

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
  output: string;
}

/** `platform secrets ARGS` of the checkout `root` (its cli/platform.js, as an operator runs it). */
function command(root: string, args: string[], env: NodeJS.ProcessEnv, name: string): Result {
  const r = run(path.join(root, "cli/platform.js"), ["secrets", ...args], { cwd: root, env, timeoutMs: 3 * 60 * 1000 });
  const res = { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
  expect(leaked(res.output)).toEqual([]);
  evidenceN += 1;
  // A private key passed on purpose (bad-input case) is not written into the evidence either.
  const shown = args.map((a) => (a.startsWith("AGE-SECRET-KEY-") ? "<an age private key>" : a)).join(" ");
  saveEvidence(criterion, `${String(evidenceN).padStart(2, "0")}-${name}.txt`, `$ platform secrets ${shown}\nexit ${res.status}\n${res.output}`);
  return res;
}

/** The names (never the values) of the seen values that appear in `text`. */
function leaked(text: string): string[] {
  return [...seenValues].filter((v) => text.includes(v)).map((v) => `a value of length ${v.length}`);
}

/** sops decrypt with exactly this key (nothing else on the machine may answer); null when it cannot. */
function decrypt(file: string, keyFile: string): Record<string, string> | null {
  const home = tmp("secrets-home-");
  const r = run(path.join(sopsDir, "sops"), ["--config", "/dev/null", "decrypt", "--input-type", "yaml", "--output-type", "json", file], {
    env: { ...baseEnv({}), HOME: home, XDG_CONFIG_HOME: path.join(home, ".config"), SOPS_AGE_KEY_FILE: keyFile },
  });
  if (r.status !== 0) return null;
  const values = JSON.parse(r.stdout) as Record<string, string>;
  for (const v of Object.values(values)) seenValues.add(String(v));
  return values;
}

/** The keys whose values differ between two decryptions (compared here, never printed). */
function changedKeys(a: Record<string, string>, b: Record<string, string>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
}

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

function ageKey(dir: string, name: string): { file: string; pub: string } {
  const file = path.join(dir, name);
  const r = run("age-keygen", ["-o", file]);
  if (r.status !== 0) throw new Error(`age-keygen: ${r.stderr}`);
  const pub = run("age-keygen", ["-y", file]).stdout.trim();
  return { file, pub };
}

/** A YAML document of SOPS-encrypted values, made here with sops directly (for files the command did not write).
 * Read from stdin without a path: jest's stdin is a socket, which /dev/stdin cannot open. */
function encryptYaml(plain: string, recipient: string, out: string) {
  const r = run(path.join(sopsDir, "sops"), ["--config", "/dev/null", "encrypt", "--age", recipient, "--filename-override", "in.yaml"], {
    env: baseEnv({}),
    input: plain,
  });
  if (r.status !== 0) throw new Error(`sops encrypt: ${r.stderr}`);
  fs.writeFileSync(out, r.stdout);
}

beforeAll(() => {
  // This run's evidence only: numbered files of an earlier run would read as part of this one.
  fs.rmSync(evidenceDir(criterion), { recursive: true, force: true });
  const r = run("bash", [path.join(repoRoot, "scripts/toolchain/ensure.sh"), "sops"], { timeoutMs: 30 * 60 * 1000 });
  if (r.status !== 0) throw new Error(`sops not available: ${r.stderr}`);
  sopsDir = r.stdout.trim().split("\n").pop()!.split(":").find((d) => fs.existsSync(path.join(d, "sops"))) ?? "";
  expect(sopsDir).not.toBe("");
});

describe("platform secrets on the lab stack (throwaway PLATFORM_LAB_DIR)", () => {
  let labDir = "";
  let keysDir = "";
  let secretsFile = "";
  let labKey = "";
  let required: string[] = [];
  const env = (extra: Record<string, string> = {}) => baseEnv({ PLATFORM_LAB_DIR: labDir, ...extra });
  const secrets = (args: string[], name: string, extra: Record<string, string> = {}) => command(repoRoot, args, env(extra), name);

  beforeAll(() => {
    labDir = tmp("secrets-lab-");
    keysDir = tmp("secrets-keys-");
    secretsFile = path.join(labDir, "secrets.sops.yaml");
    labKey = path.join(labDir, "age.key");
  });

  it("keys: lists every required key with the domain infra/ansible/domains.yml maps it to", () => {
    const r = secrets(["keys"], "keys");
    expect(r.status).toBe(0);
    const rows = r.stdout.trim().split("\n").map((l) => l.split("\t"));
    required = rows.map(([k]) => k);
    expect(required).toEqual(expect.arrayContaining(["secret_postgresql_app_password", "secret_wireguard_server_private_key", "secret_k3s_token"]));
    for (const [key, domain] of rows) {
      const expected = Object.entries(DOMAINS)
        .filter(([, spec]) => spec.secrets.some((k) => k.key === key))
        .map(([d]) => d);
      expect({ key, domain }).toEqual({ key, domain: expected.join(" ") || "(no domain)" });
    }
  });

  it("check: fails naming the missing file (before init), and creates nothing", () => {
    const r = secrets(["check", "lab"], "check-missing-file");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: missing file: .*secrets\.sops\.yaml does not exist \(create it: platform secrets init lab\)/);
    expect(fs.existsSync(secretsFile)).toBe(false);
  });

  it("init: an encrypted file of fresh values that decrypt with the lab key and appear nowhere in clear", () => {
    const r = secrets(["init", "lab"], "init");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`created ${secretsFile}: ${required.length} fresh values`);
    const text = fs.readFileSync(secretsFile, "utf8");
    expect(text).toMatch(/^sops:/m);
    expect(text).toMatch(/mac: ENC\[AES256_GCM/);
    const values = decrypt(secretsFile, labKey)!;
    expect(values).not.toBeNull();
    expect(Object.keys(values).sort()).toEqual([...required].sort());
    expect(Object.entries(values).filter(([, v]) => String(v).length < 32).map(([k]) => k)).toEqual([]);
    // Not in the file, the command's output (command() checks it) or anything else it wrote.
    expect(leaked(text)).toEqual([]);
    for (const f of fs.readdirSync(labDir)) expect({ f, leaked: leaked(fs.readFileSync(path.join(labDir, f), "utf8")) }).toEqual({ f, leaked: [] });
    // The WireGuard public key the lab keeps beside its secrets matches the new private key.
    const pub = run("wg", ["pubkey"], { input: `${values.secret_wireguard_server_private_key}\n` });
    if (pub.status === 0) expect(fs.readFileSync(path.join(labDir, "wireguard-server.pub"), "utf8").trim() === pub.stdout.trim()).toBe(true);

    const c = secrets(["check", "lab"], "check-ok");
    expect(c.status).toBe(0);
    expect(c.stdout).toContain(`holds all ${required.length} required keys`);
  });

  it("init: refuses to overwrite an existing file", () => {
    const before = sha256(secretsFile);
    const r = secrets(["init", "lab"], "init-again");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("already exists: init never overwrites");
    expect(sha256(secretsFile)).toBe(before);
  });

  it("rotate KEY: changes exactly that value, names the domain that re-runs, leaves the others", () => {
    const before = decrypt(secretsFile, labKey)!;
    const r = secrets(["rotate", "lab", "secret_k3s_token"], "rotate-one");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("rotated secret_k3s_token: the k3s domain re-runs");
    const after = decrypt(secretsFile, labKey)!;
    expect(changedKeys(before, after)).toEqual(["secret_k3s_token"]);
    expect(leaked(fs.readFileSync(secretsFile, "utf8"))).toEqual([]);
    // The program's own per-domain secrets hash (index.ts): only the k3s domain's changes, so
    // `pulumi preview` shows that one domain.
    const hashChanged = Object.entries(DOMAINS)
      .filter(([, spec]) => secretsHash(before, spec.secrets.map((k) => k.key)) !== secretsHash(after, spec.secrets.map((k) => k.key)))
      .map(([d]) => d);
    expect(hashChanged).toEqual(["k3s"]);
  });

  it("rotate --all: every value changes, and the lab's WireGuard public key follows", () => {
    const before = decrypt(secretsFile, labKey)!;
    const pubBefore = fs.readFileSync(path.join(labDir, "wireguard-server.pub"), "utf8");
    const r = secrets(["rotate", "lab", "--all"], "rotate-all");
    expect(r.status).toBe(0);
    const after = decrypt(secretsFile, labKey)!;
    expect(changedKeys(before, after)).toEqual([...required].sort());
    for (const k of required) expect(r.stdout).toContain(`rotated ${k}:`);
    // Every domain that consumes a key, in the converge order (infra/ansible/domains.yml).
    expect(r.stdout).toContain(`expect: ${ALL_DOMAINS.filter((d) => DOMAINS[d].secrets.length).join(" ")}`);
    if (run("wg", ["--version"]).status === 0) {
      expect(fs.readFileSync(path.join(labDir, "wireguard-server.pub"), "utf8") === pubBefore).toBe(false);
    }
  });

  it("add-recipient lets a second key decrypt; remove-recipient makes it fail on the re-keyed file", () => {
    const second = ageKey(keysDir, "second.key");
    expect(decrypt(secretsFile, second.file)).toBeNull();
    const values = decrypt(secretsFile, labKey)!;

    const add = secrets(["add-recipient", "lab", second.pub], "add-recipient");
    expect(add.status).toBe(0);
    expect(add.stdout).toContain(`added ${second.pub}`);
    const bySecond = decrypt(secretsFile, second.file);
    expect(bySecond).not.toBeNull();
    expect(changedKeys(values, bySecond!)).toEqual([]);
    const list = secrets(["recipients", "lab"], "recipients-two");
    expect(list.status).toBe(0);
    expect(list.stdout.trim().split("\n").map((l) => l.split("\t")[0]).sort()).toEqual([second.pub, run("age-keygen", ["-y", labKey]).stdout.trim()].sort());

    const again = secrets(["add-recipient", "lab", second.pub], "add-recipient-again");
    expect(again.status).toBe(0);
    expect(again.stdout).toContain("already a recipient");

    const oldVersion = path.join(keysDir, "old-version.sops.yaml");
    fs.copyFileSync(secretsFile, oldVersion);
    const rm = secrets(["remove-recipient", "lab", second.pub], "remove-recipient");
    expect(rm.status).toBe(0);
    expect(rm.stdout).toContain("rotate them too: platform secrets rotate lab --all");
    expect(decrypt(secretsFile, second.file)).toBeNull();
    // The lab key still reads the same values; the removed key only reads the copy it had before.
    expect(changedKeys(values, decrypt(secretsFile, labKey)!)).toEqual([]);
    expect(decrypt(oldVersion, second.file)).not.toBeNull();
    expect(fs.readFileSync(secretsFile, "utf8")).not.toContain(second.pub);
  });

  describe("bad input: a clear error, and the file stays byte-identical", () => {
    let stranger: { file: string; pub: string };
    let privateKeyLine = "";
    beforeAll(() => {
      stranger = ageKey(keysDir, "stranger.key");
      privateKeyLine = fs.readFileSync(stranger.file, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!;
      seenValues.add(privateKeyLine);
    });
    const cases: [string, () => string[], RegExp, () => Record<string, string>][] = [
      ["unknown stack", () => ["rotate", "nosuchstack", "--all"], /error: unknown stack 'nosuchstack' \(no Pulumi\.nosuchstack\.yaml; known: .*lab.*\)/, () => ({})],
      ["unknown key", () => ["rotate", "lab", "secret_k3s_token", "secret_nope"], /error: unknown key 'secret_nope' \(known: /, () => ({})],
      ["missing age key", () => ["rotate", "lab", "--all"], /error: missing age key: \/nonexistent\/age\.key does not exist \(SOPS_AGE_KEY_FILE\)/, () => ({ SOPS_AGE_KEY_FILE: "/nonexistent/age.key" })],
      ["wrong age key", () => ["rotate", "lab", "--all"], /error: wrong age key: .*stranger\.key .* is not a recipient of /, () => ({ SOPS_AGE_KEY_FILE: stranger.file })],
      ["malformed recipient", () => ["add-recipient", "lab", "age1notanagekey"], /error: malformed recipient: not an age public key/, () => ({})],
      ["a private key given as recipient", () => ["add-recipient", "lab", privateKeyLine], /error: malformed recipient: that is an age PRIVATE key/, () => ({})],
      ["removing a key that is not a recipient", () => ["remove-recipient", "lab", stranger.pub], /is not a recipient of .*: nothing to remove/, () => ({})],
      ["removing the key in use", () => ["remove-recipient", "lab", run("age-keygen", ["-y", labKey]).stdout.trim()], /is the key this command decrypts with .*would lock you out/, () => ({})],
    ];
    it.each(cases)("%s", (name, args, message, extra) => {
      const before = sha256(secretsFile);
      const r = secrets(args(), `bad-${name.replace(/\W+/g, "-")}`, extra());
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(sha256(secretsFile)).toBe(before);
    });

    it("a clear-text file is refused by every action that would rewrite it", () => {
      const backup = path.join(keysDir, "backup.sops.yaml");
      fs.copyFileSync(secretsFile, backup);
      try {
        fs.writeFileSync(secretsFile, `secret_postgresql_app_password: ${createHash("sha256").update(String(Math.random())).digest("hex")}\n`);
        const before = sha256(secretsFile);
        for (const args of [["rotate", "lab", "--all"], ["add-recipient", "lab", stranger.pub]]) {
          const r = secrets(args, `bad-clear-text-${args[0]}`);
          expect(r.status).toBe(1);
          expect(r.stderr).toMatch(/error: not SOPS-encrypted: .* is clear text/);
          expect(sha256(secretsFile)).toBe(before);
        }
      } finally {
        fs.copyFileSync(backup, secretsFile);
      }
    });
  });

  describe("check: fails with the reason named", () => {
    const withFile = (content: () => void, test: () => void) => {
      const backup = path.join(keysDir, "check-backup.sops.yaml");
      fs.copyFileSync(secretsFile, backup);
      try {
        content();
        test();
      } finally {
        fs.copyFileSync(backup, secretsFile);
      }
    };
    it("clear-text file", () =>
      withFile(
        () => fs.writeFileSync(secretsFile, "secret_postgresql_app_password: not-encrypted-at-all\n"),
        () => {
          const r = secrets(["check", "lab"], "check-clear-text");
          expect(r.status).toBe(1);
          expect(r.stderr).toMatch(/error: not SOPS-encrypted: .*secrets\.sops\.yaml is clear text/);
        },
      ));
    it("wrong key", () => {
      const other = ageKey(keysDir, "other.key");
      const r = secrets(["check", "lab"], "check-wrong-key", { SOPS_AGE_KEY_FILE: other.file });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`error: wrong age key: ${other.file} (SOPS_AGE_KEY_FILE; public key ${other.pub}) is not a recipient of`);
    });
    it("missing required key", () =>
      withFile(
        () => {
          const v = createHash("sha256").update(String(Math.random())).digest("hex");
          seenValues.add(v);
          encryptYaml(`secret_postgresql_app_password: "${v}"\nsecret_wireguard_server_private_key: "${v}"\n`, run("age-keygen", ["-y", labKey]).stdout.trim(), secretsFile);
        },
        () => {
          const r = secrets(["check", "lab"], "check-missing-key");
          expect(r.status).toBe(1);
          expect(r.stderr).toMatch(/error: missing required key\(s\) in .*: secret_k3s_token \(add them with fresh values: platform secrets rotate lab secret_k3s_token\)/);
        },
      ));
    it("a value deleted by hand (MAC mismatch)", () =>
      withFile(
        () => fs.writeFileSync(secretsFile, fs.readFileSync(secretsFile, "utf8").replace(/^secret_k3s_token: ENC\[.*\]\n/m, "")),
        () => {
          const r = secrets(["check", "lab"], "check-mac-mismatch");
          expect(r.status).toBe(1);
          expect(r.stderr).toMatch(/error: cannot decrypt .* the file was edited without sops: MAC mismatch/);
        },
      ));
    it("a value replaced by hand with something envelope-shaped: named, and never quoted", () => {
      const planted = `ENC[${createHash("sha256").update(String(Math.random())).digest("hex")}]`;
      seenValues.add(planted);
      withFile(
        () => fs.writeFileSync(secretsFile, fs.readFileSync(secretsFile, "utf8").replace(/^secret_k3s_token: ENC\[.*\]$/m, `secret_k3s_token: ${planted}`)),
        () => {
          const r = secrets(["check", "lab"], "check-planted-value");
          expect(r.status).toBe(1);
          expect(r.stderr).toMatch(/error: cannot decrypt .* the file was edited without sops/);
        },
      );
    });
    it("and passes again on the restored file", () => {
      expect(secrets(["check", "lab"], "check-ok-again").status).toBe(0);
    });
  });

  it("wrote one audit record per action: correlation id, action, outcome, reasons; never a value", () => {
    const lines = fs.readFileSync(path.join(labDir, "audit.jsonl"), "utf8").trim().split("\n");
    expect(leaked(lines.join("\n"))).toEqual([]);
    const records = lines.map((l) => JSON.parse(l) as Record<string, string>);
    // Every run after the stack was known (all but `keys` and the unknown stack) left one record.
    expect(records.length).toBe(evidenceN - 2);
    for (const r of records) {
      expect(r.correlationId).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{8}$/);
      expect(r.stack).toBe("lab");
      expect(r.action).toMatch(/^secrets-(init|rotate|recipients|add-recipient|remove-recipient|check)$/);
      expect(["succeeded", "refused", "unchanged"]).toContain(r.outcome);
      if (r.outcome === "refused") expect(r.reason).toBeTruthy();
    }
    expect(records.filter((r) => r.action === "secrets-rotate" && r.outcome === "succeeded").map((r) => r.keys)).toEqual([
      "secret_k3s_token",
      required.join(","),
    ]);
    saveEvidence(criterion, "audit-records.json", records);
  });
});

describe("platform secrets: the command line, --json, and the lab's own script", () => {
  let labDir = "";
  const env = (extra: Record<string, string> = {}) => baseEnv({ PLATFORM_LAB_DIR: labDir, ...extra });
  const secrets = (args: string[], name: string, extra: Record<string, string> = {}) => command(repoRoot, args, env(extra), `cli-${name}`);
  const auditLines = () => (fs.existsSync(path.join(labDir, "audit.jsonl")) ? fs.readFileSync(path.join(labDir, "audit.jsonl"), "utf8").trim().split("\n").filter(Boolean) : []);
  const mode = (f: string) => (fs.statSync(f).mode & 0o777).toString(8);
  beforeAll(() => {
    labDir = tmp("secrets-cli-lab-");
  });

  it.each(["init", "rotate", "recipients", "add-recipient", "remove-recipient", "check", "keys"])("%s --help: its usage, exit 0", (action) => {
    const r = secrets([action, "--help"], `help-${action}`);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^usage: platform secrets ${action} `));
  });

  it("usage errors exit 2 naming the action, flag or argument, and leave no audit record", () => {
    const before = auditLines().length;
    const cases: [string[], string][] = [
      [["frobnicate", "lab"], "unknown action 'frobnicate'"],
      [["check", "lab", "--force"], "unknown flag '--force'"],
      [["rotate", "lab", "--all", "secret_k3s_token"], "either KEY... or --all"],
      [["rotate", "lab"], "needs KEY... or --all"],
      [["init", "lab", "extra"], "unexpected argument 'extra'"],
      [["add-recipient", "lab"], "needs STACK AGE_PUBKEY"],
      [[], "which action?"],
    ];
    for (const [args, says] of cases) {
      const r = secrets(args, `usage-${args.join("-") || "none"}`);
      expect({ args, status: r.status }).toEqual({ args, status: 2 });
      expect(r.stderr).toContain(says);
    }
    expect(auditLines().length).toBe(before);
  });

  it("scripts/lab/secrets.sh (lab up) creates the lab's key and file once, then keeps and checks them", () => {
    const script = path.join(repoRoot, "scripts/lab/secrets.sh");
    const first = run("bash", [script], { env: env({ SOPS_AGE_KEY_FILE: "/nonexistent/operator.key" }) });
    expect(leaked(`${first.stdout}${first.stderr}`)).toEqual([]);
    expect(first.status).toBe(0);
    const file = path.join(labDir, "secrets.sops.yaml");
    const values = decrypt(file, path.join(labDir, "age.key"))!;
    expect(Object.keys(values).sort()).toEqual(["secret_k3s_token", "secret_postgresql_app_password", "secret_wireguard_server_private_key"]);
    expect(mode(file)).toBe("600");
    expect(mode(path.join(labDir, "age.key"))).toBe("600");
    expect(mode(path.join(labDir, "audit.jsonl"))).toBe("600");
    expect(mode(path.join(labDir, "wireguard-server.pub"))).toBe("644");
    const hash = sha256(file);
    const again = run("bash", [script], { env: env() });
    expect(again.status).toBe(0);
    expect(again.stderr).toContain("kept");
    expect(sha256(file)).toBe(hash);
    const records = auditLines().map((l) => JSON.parse(l) as Record<string, string>);
    expect(records.map((r) => [r.action, r.outcome])).toEqual([
      ["secrets-init", "succeeded"],
      ["secrets-init", "unchanged"],
    ]);
    saveEvidence(criterion, "lab-secrets-script.txt", `$ bash scripts/lab/secrets.sh\nexit ${first.status}\n${first.stdout}${first.stderr}\n$ bash scripts/lab/secrets.sh\nexit ${again.status}\n${again.stdout}${again.stderr}`);
  });

  it("--json on keys, check and recipients: one JSON document on stdout", () => {
    const keys = JSON.parse(secrets(["keys", "--json"], "json-keys").stdout) as Array<{ key: string; domains: string[] }>;
    // domains.yml's keys, in its order, each with the domain listing it.
    expect(keys.map((k) => k.key)).toEqual(["secret_wireguard_server_private_key", "secret_postgresql_app_password", "secret_k3s_token"]);
    expect(keys.map((k) => k.domains)).toEqual([["vpn"], ["postgresql"], ["k3s"]]);
    const check = secrets(["check", "lab", "--json"], "json-check");
    expect(check.status).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, requiredKeys: keys.map((k) => k.key) });
    const list = secrets(["recipients", "lab", "--json"], "json-recipients");
    expect(list.status).toBe(0);
    const labPub = run("age-keygen", ["-y", path.join(labDir, "age.key")]).stdout.trim();
    expect(JSON.parse(list.stdout)).toMatchObject({ recipients: [{ recipient: labPub, thisKey: true }] });
    const bad = secrets(["check", "lab", "--json"], "json-check-wrong-key", { SOPS_AGE_KEY_FILE: "/nonexistent/age.key" });
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, error: expect.stringContaining("missing age key") });
  });
});

describe("platform secrets on a prod-like stack (throwaway copy: .sops.yaml is the recipient list)", () => {
  let root = "";
  let home = "";
  let operator: { file: string; pub: string };
  let second: { file: string; pub: string };
  let secretsFile = "";
  const env = (extra: Record<string, string> = {}) =>
    baseEnv({ HOME: home, SOPS: path.join(sopsDir, "sops"), PLATFORM_AUDIT_LOG: path.join(home, "audit-prod.jsonl"), ...extra });
  const secrets = (args: string[], name: string, extra: Record<string, string> = {}) =>
    command(root, args, env(extra), `prod-${name}`);
  const rule = () => /^\s+age:\s*(.*)$/m.exec(fs.readFileSync(path.join(root, ".sops.yaml"), "utf8"))![1];

  beforeAll(() => {
    root = tmp("secrets-prod-root-");
    home = tmp("secrets-prod-home-");
    // What the command reads: its code (cli/, lib/, the toolchain scripts; node_modules linked), the
    // stacks, the pinned versions, the domain list, .sops.yaml.
    for (const d of ["cli", "lib", "scripts"]) fs.cpSync(path.join(repoRoot, d), path.join(root, d), { recursive: true });
    fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(root, "node_modules"));
    for (const f of ["Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.lab.yaml", "toolchain/versions.env", "infra/ansible/domains.yml", ".sops.yaml", "package.json", "tsconfig.json"]) {
      fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
      fs.copyFileSync(path.join(repoRoot, f), path.join(root, f));
    }
    fs.mkdirSync(path.join(home, ".config/sops/age"), { recursive: true });
    // Pulumi.prod.yaml's ageKeyFile: ~/.config/sops/age/platform-prod.txt.
    operator = ageKey(path.join(home, ".config/sops/age"), "platform-prod.txt");
    second = ageKey(home, "second.key");
    secretsFile = path.join(root, "secrets/prod.sops.yaml");
  });

  it("refuses while .sops.yaml holds the placeholder recipient, and writes nothing", () => {
    const placeholder = "age: REPLACE-ME-with-the-operators-age-public-key-age1...";
    const cfg = path.join(root, ".sops.yaml");
    fs.writeFileSync(cfg, fs.readFileSync(cfg, "utf8").replace(/^(\s+)age: .*$/m, `$1${placeholder}`));
    const before = sha256(cfg);
    const r = secrets(["init", "prod"], "init-placeholder");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: \.sops\.yaml's creation rule for secrets\/prod\.sops\.yaml has no valid age recipient .*put your age PUBLIC key there/);
    expect(fs.existsSync(secretsFile)).toBe(false);
    expect(sha256(cfg)).toBe(before);
  });

  it("init encrypts for .sops.yaml's recipients; add-recipient edits the rule and re-keys the file", () => {
    const cfg = path.join(root, ".sops.yaml");
    fs.writeFileSync(cfg, fs.readFileSync(cfg, "utf8").replace(/^(\s+)age: .*$/m, `$1age: ${operator.pub}`));
    const init = secrets(["init", "prod"], "init");
    expect(init.status).toBe(0);
    const values = decrypt(secretsFile, operator.file)!;
    expect(values).not.toBeNull();
    expect(secrets(["check", "prod"], "check-ok").status).toBe(0);

    const cfgBefore = fs.readFileSync(cfg, "utf8");
    const add = secrets(["add-recipient", "prod", second.pub], "add-recipient");
    expect(add.status).toBe(0);
    expect(rule().split(",").sort()).toEqual([operator.pub, second.pub].sort());
    // Only the rule's age: value changed; every other byte of .sops.yaml (comments too) is as it was.
    expect(fs.readFileSync(cfg, "utf8")).toBe(cfgBefore.replace(`age: ${operator.pub}`, `age: ${rule()}`));
    expect(changedKeys(values, decrypt(secretsFile, second.file)!)).toEqual([]);
    expect(secrets(["check", "prod"], "check-second", { SOPS_AGE_KEY_FILE: second.file }).status).toBe(0);
  });

  it("rotate --all leaves the K3s token alone outside the lab (it needs `k3s token rotate` first)", () => {
    const before = decrypt(secretsFile, operator.file)!;
    const r = secrets(["rotate", "prod", "--all"], "rotate-all");
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("skipped secret_k3s_token");
    expect(changedKeys(before, decrypt(secretsFile, operator.file)!)).toEqual(["secret_postgresql_app_password", "secret_wireguard_server_private_key"]);
    const k3s = secrets(["rotate", "prod", "secret_k3s_token"], "rotate-k3s");
    expect(k3s.status).toBe(0);
    expect(k3s.stdout).toContain("k3s token rotate");
  });

  it("remove-recipient (by the other operator) edits the rule; the removed key cannot decrypt the new file", () => {
    const r = secrets(["remove-recipient", "prod", operator.pub], "remove-recipient", { SOPS_AGE_KEY_FILE: second.file });
    expect(r.status).toBe(0);
    expect(rule()).toBe(second.pub);
    expect(decrypt(secretsFile, operator.file)).toBeNull();
    const check = secrets(["check", "prod"], "check-removed-key");
    expect(check.status).toBe(1);
    expect(check.stderr).toContain("error: wrong age key:");
  });

  it("check names recipients that differ from .sops.yaml's rule", () => {
    const cfg = path.join(root, ".sops.yaml");
    const saved = fs.readFileSync(cfg, "utf8");
    try {
      fs.writeFileSync(cfg, saved.replace(/^(\s+)age: .*$/m, `$1age: ${second.pub},${operator.pub}`));
      const r = secrets(["check", "prod"], "check-rule-differs", { SOPS_AGE_KEY_FILE: second.file });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/error: recipients differ: /);
    } finally {
      fs.writeFileSync(cfg, saved);
    }
  });
});
