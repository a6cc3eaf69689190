// The bad-input catalogue (issue 5, item 5): the one place that lists what an operator can get
// wrong in config, inventory, secrets, tags and commands. Each case asserts that
//   1. the command exits non-zero,
//   2. its error text names what is wrong,
//   3. nothing changed: on the host (every file under the managed configuration, the loaded
//      ruleset, the main process of every managed service) and in the lab stack's state (its
//      resources and their inputs/outputs, the number of updates).
// Config variants run `platform preview lab` on a modified copy of Pulumi.lab.yaml
// (PLATFORM_STACK_CONFIG_FILE, lib/pulumiEnv.ts): the config the engine merges, validated by
// lib/config.ts, and the SOPS file checked by lib/secrets.ts, before the engine runs the program;
// the error is ONE line naming the key or file (no nested wrapper, no stack trace). Works on the default lab and on an isolated one.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ALL_DOMAINS } from "../../lib/domains";
import { saveEvidence } from "../support/evidence";
import { ensureHostConverged, ensureStackInSync, fingerprintDiff, hostFingerprint, labAnsible, pulumiLab, StackState, stackState } from "../support/faults";
import { labDir, labEnv, recap, vpsAddress } from "../support/lab";
import { repoRoot, run, runAsync } from "../support/tools";

jest.setTimeout(30 * 60 * 1000);

const work = fs.mkdtempSync(path.join(os.tmpdir(), "platform-bad-input-"));
const file = (name: string, content: string) => {
  const f = path.join(work, name);
  fs.writeFileSync(f, content, { mode: 0o600 });
  return f;
};

/** A copy of the committed lab stack file with `platform:KEY` set to VALUE (added when absent). */
function configVariant(name: string, set: Record<string, string>): string {
  let yaml = fs.readFileSync(path.join(repoRoot, "Pulumi.lab.yaml"), "utf8");
  for (const [key, value] of Object.entries(set)) {
    const line = new RegExp(`^  platform:${key}:.*$`, "m");
    yaml = line.test(yaml) ? yaml.replace(line, `  platform:${key}: ${value}`) : yaml.replace(/^config:[ \t]*\n/m, `config:\n  platform:${key}: ${value}\n`);
  }
  return file(`Pulumi.${name}.yaml`, yaml);
}

/** The lab's secrets file, edited by hand (without sops). */
function secretsVariant(name: string, edit: (yaml: string) => string): string {
  return file(`${name}.sops.yaml`, edit(fs.readFileSync(path.join(labDir, "secrets.sops.yaml"), "utf8")));
}

const CLEAR_VALUE = `typed-in-clear-${process.pid}`;
const secretsFile = path.join(labDir, "secrets.sops.yaml");
const sha256 = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
let otherAgeKey = "";
let noHostInventory = "";
/** An address on the lab's own subnet where no host lives: traffic stays on this machine. */
const unreachableAddress = vpsAddress.replace(/\.\d+$/, ".99");

type Result = { status: number | null; output: string };
const preview = async (configFile: string): Promise<Result> => {
  const r = await pulumiLab(["preview"], { PLATFORM_STACK_CONFIG_FILE: configFile }, 10 * 60 * 1000);
  return { status: r.status, output: r.stdout + r.stderr };
};
const script = async (args: string[], env: Record<string, string> = {}): Promise<Result> => {
  const r = await runAsync("bash", args, { env: { ...process.env, ...env }, timeoutMs: 5 * 60 * 1000 });
  return { status: r.status, output: r.stdout + r.stderr };
};
/** The `platform` command (cli/platform.js), as an operator runs it. */
const platform = async (args: string[], env: Record<string, string> = {}): Promise<Result> => {
  const r = await runAsync(path.join(repoRoot, "cli/platform.js"), args, { env: { ...process.env, ...env }, timeoutMs: 5 * 60 * 1000 });
  return { status: r.status, output: r.stdout + r.stderr };
};
const playbook = async (args: string[], env: Record<string, string> = {}): Promise<Result> => {
  const r = await labAnsible("bad-input", args, env);
  return { status: r.status, output: r.output };
};

interface Case {
  /** What is wrong, as the operator would say it. */
  what: string;
  area: "config" | "inventory" | "secrets" | "tags" | "command";
  run: () => Promise<Result>;
  /** Texts the error must contain (it names what is wrong). */
  says: Array<string | RegExp>;
  /** Texts that must not appear (a secret value). */
  never?: string[];
}

// The ConfigError from lib/config.ts / lib/secrets.ts, as `platform preview` prints it: one line.
const configError = (key: string, text: string) => [new RegExp(`^platform preview: refused: platform:${key}: .*${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`, "m")];
/** What a one-line error never shows: the SDK's nested wrappers, a stack trace. */
const NOT_ONE_LINE = ["error serializing property", "    at ", "ConfigError:"];

const CASES: Case[] = [
  // --- config (the real engine, a modified stack file) -----------------------------------------
  { what: "a malformed host address", area: "config", run: () => preview(configVariant("bad-address", { hostAddress: "203.0.113.999" })), says: configError("hostAddress", "'203.0.113.999' is not an IPv4/IPv6 address or a DNS name") },
  {
    what: "a host address other than the inventory's",
    area: "config",
    run: () => preview(configVariant("wrong-address", { hostAddress: "203.0.113.10", hostAddressOverridesInventory: '"false"' })),
    says: configError("hostAddress", "'203.0.113.10' differs from the inventory's ansible_host"),
  },
  { what: "an unknown domain in platform:domains", area: "config", run: () => preview(configVariant("unknown-domain", { domains: "[base, dns]" })), says: configError("domains", `unknown domain 'dns' (known: ${ALL_DOMAINS.join(", ")})`) },
  { what: "a domain listed twice", area: "config", run: () => preview(configVariant("twice", { domains: "[base, ssh, base]" })), says: configError("domains", "domain 'base' is listed twice") },
  { what: "a missing SSH key", area: "config", run: () => preview(configVariant("no-ssh-key", { sshPrivateKeyPath: path.join(work, "no-such-key") })), says: configError("sshPrivateKeyPath", "file not found:") },
  { what: "an unknown Argo CD mode", area: "config", run: () => preview(configVariant("argocd-mode", { argocdMode: "kustomize" })), says: configError("argocdMode", "must be 'helm' or 'manifests', got 'kustomize'") },
  // --- inventory ---------------------------------------------------------------------------------
  { what: "an inventory without the host", area: "inventory", run: () => preview(configVariant("no-host", { inventory: noHostInventory })), says: configError("host", "'lab-vps' is not in") },
  {
    what: "a malformed port list (a port above 65535)",
    area: "inventory",
    run: () => playbook(["--tags", "firewall", "-e", '{"firewall_public_tcp_ports": [80, 99999]}']),
    says: ["Service out of range", "99999", "firewall : Write the nftables ruleset"],
  },
  {
    what: "an unreachable host",
    area: "inventory",
    run: () => playbook(["-e", `ansible_host=${unreachableAddress}`, "-e", "ansible_ssh_common_args='-o ConnectTimeout=3'"]),
    says: [/UNREACHABLE!/, unreachableAddress],
  },
  // --- secrets -----------------------------------------------------------------------------------
  { what: "a secrets file in clear text (engine)", area: "secrets", run: () => preview(configVariant("clear", { secretsFile: file("clear.sops.yaml", `secret_k3s_token: ${CLEAR_VALUE}\n`) })), says: configError("secretsFile", "is not SOPS-encrypted"), never: [CLEAR_VALUE] },
  {
    what: "a secret edited in clear inside the SOPS file (engine)",
    area: "secrets",
    run: () => preview(configVariant("edited", { secretsFile: secretsVariant("edited", (y) => y.replace(/^secret_k3s_token: .*$/m, `secret_k3s_token: ${CLEAR_VALUE}`)) })),
    says: configError("secretsFile", "was edited without sops: a value is not encrypted"),
    never: [CLEAR_VALUE],
  },
  {
    what: "a secret deleted by hand from the SOPS file: MAC mismatch (engine)",
    area: "secrets",
    run: () => preview(configVariant("dropped", { secretsFile: secretsVariant("dropped", (y) => y.replace(/^secret_k3s_token: .*\n/m, "")) })),
    says: configError("secretsFile", "was edited without sops: MAC mismatch"),
  },
  {
    what: "tampered ciphertext (engine)",
    area: "secrets",
    run: () => preview(configVariant("tampered", { secretsFile: secretsVariant("tampered", (y) => y.replace(/(secret_postgresql_app_password: ENC\[AES256_GCM,data:)(.)/, (_m, a: string, c: string) => a + (c === "A" ? "B" : "A"))) })),
    says: configError("secretsFile", "ciphertext does not authenticate"),
  },
  { what: "a missing secrets file (engine)", area: "secrets", run: () => preview(configVariant("no-secrets", { secretsFile: path.join(work, "no-such.sops.yaml") })), says: configError("secretsFile", "file not found:") },
  { what: "a wrong age key (engine)", area: "secrets", run: () => preview(configVariant("other-key", { ageKeyFile: otherAgeKey })), says: configError("ageKeyFile", "the key is not one of the file's recipients") },
  {
    what: "a missing age key file (Ansible)",
    area: "secrets",
    run: () => playbook(["-e", "platform_sops_age_key_file=/nonexistent/age.key"], { SOPS_AGE_KEY_FILE: "/nonexistent/age.key" }),
    says: ["cannot decrypt secrets", "'/nonexistent/age.key'", "Nothing was changed"],
  },
  { what: "a wrong age key (Ansible)", area: "secrets", run: () => playbook(["--tags", "base"], { SOPS_AGE_KEY_FILE: otherAgeKey }), says: ["Failed to get the data key required to decrypt the SOPS file"] },
  {
    what: "a missing secrets file (Ansible)",
    area: "secrets",
    run: () => playbook(["-e", "platform_secrets_file=/nonexistent/secrets.sops.yaml"]),
    says: ["cannot decrypt secrets", "now '/nonexistent/secrets.sops.yaml'", "Nothing was changed"],
  },
  {
    what: "a secret deleted by hand from the SOPS file: MAC mismatch (Ansible)",
    area: "secrets",
    run: () => playbook(["--tags", "base", "-e", `platform_secrets_file=${secretsVariant("dropped-ansible", (y) => y.replace(/^secret_k3s_token: .*\n/m, ""))}`]),
    says: ["MAC mismatch"],
  },
  // --- tags ----------------------------------------------------------------------------------------
  { what: "an unknown Ansible tag", area: "tags", run: () => playbook(["--tags", "postgresq"]), says: [`unknown tag postgresq; known domains: ${ALL_DOMAINS.join(", ")}`] },
  { what: "an unknown tag to skip", area: "tags", run: () => playbook(["--skip-tags", "k3", "--tags", "base"]), says: ["unknown tag k3; known domains"] },
  { what: "an unknown domain for platform drift", area: "tags", run: () => platform(["drift", "lab", "--layers", "host", "--domains", "dns"]), says: [`unknown domain 'dns' (known: ${ALL_DOMAINS.join(" ")})`] },
  // --- commands ------------------------------------------------------------------------------------
  { what: "an unknown stack for platform preview", area: "command", run: () => platform(["preview", "labb"]), says: ["unknown stack 'labb'", "(stacks: lab, prod)"] },
  { what: "an unknown stack for platform drift", area: "command", run: () => platform(["drift", "labb", "--layers", "host"]), says: ["unknown stack 'labb'"] },
  { what: "--show-secrets to platform history", area: "command", run: () => platform(["history", "lab", "--show-secrets"]), says: ["unknown flag '--show-secrets'"] },
  { what: "an unknown platform subcommand", area: "command", run: () => platform(["deplo"]), says: ["unknown command 'deplo'"] },
  { what: "a stack config file that does not exist", area: "command", run: () => platform(["preview", "lab"], { PLATFORM_STACK_CONFIG_FILE: path.join(work, "nope.yaml") }), says: ["stack config file not found:"] },
  { what: "an unknown command for a lab script", area: "command", run: () => script(["scripts/lab/git-server.sh", "restart-everything"]), says: ["usage: git-server.sh start|stop|status|push [REF]"] },
];

describe("bad input fails clearly and changes nothing", () => {
  let host: Record<string, string>;
  let stack: StackState;
  const untouched = { secrets: sha256(secretsFile), stackFile: sha256(path.join(repoRoot, "Pulumi.lab.yaml")) };

  beforeAll(async () => {
    await ensureHostConverged("bad-input");
    const key = run("age-keygen", ["-o", path.join(work, "other-age.key")]);
    if (key.status !== 0) throw new Error(`age-keygen: ${key.stderr}`);
    otherAgeKey = path.join(work, "other-age.key");
    fs.mkdirSync(path.join(work, "inventory"));
    noHostInventory = path.join(work, "inventory");
    fs.writeFileSync(path.join(noHostInventory, "hosts.yml"), `platform:\n  hosts:\n    other-vps:\n      ansible_host: ${labEnv.LAB_VPS_ADDR}\n`);
    host = hostFingerprint();
    stack = await stackState();
    saveEvidence("bad-input", "baseline.json", { host, stack });
  });

  afterAll(async () => {
    // Leave the host converged and the stack in sync whatever happened (and the lab's config copy back to the committed file).
    if (host && fingerprintDiff(host, hostFingerprint()).length > 0) await labAnsible("bad-input", []);
    await ensureStackInSync();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("has at least ten cases, across config, inventory, secrets, tags and commands", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(10);
    expect(new Set(CASES.map((c) => c.area))).toEqual(new Set(["config", "inventory", "secrets", "tags", "command"]));
    expect(new Set(CASES.map((c) => c.what)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c) => [`${c.area}: ${c.what}`, c] as const))("%s", async (_name, c) => {
    const r = await c.run();
    const hostAfter = hostFingerprint();
    const stackAfter = await stackState();
    const slug = `${c.area}-${c.what.replace(/[^a-z0-9]+/gi, "-").replace(/-+$/, "")}`.toLowerCase();
    const hostChanges = fingerprintDiff(host, hostAfter);
    saveEvidence("bad-input", `${slug}.txt`, `# ${c.what}\nexit: ${r.status}\nhost changes: ${JSON.stringify(hostChanges)}\nstack: ${JSON.stringify({ updates: stackAfter.updates, lastUpdate: stackAfter.lastUpdate })}\n\n${r.output}`);

    expect(r.status).not.toBe(0);
    expect(r.status).not.toBeNull();
    for (const s of c.says) {
      if (typeof s === "string") expect(r.output).toContain(s);
      else expect(r.output).toMatch(s);
    }
    for (const s of c.never ?? []) expect(r.output).not.toContain(s);
    if (c.area === "config" || c.what.endsWith("(engine)")) for (const s of NOT_ONE_LINE) expect(r.output).not.toContain(s);
    // An Ansible run that got as far as a recap changed nothing either, by its own account.
    if (recap(r.output).hosts > 0) expect(recap(r.output).changed).toBe(0);
    expect(hostChanges).toEqual([]);
    expect(stackAfter).toEqual(stack);
  });

  it("leaves the lab's secrets file and the committed stack file as they were", () => {
    expect(sha256(secretsFile)).toBe(untouched.secrets);
    expect(sha256(path.join(repoRoot, "Pulumi.lab.yaml"))).toBe(untouched.stackFile);
  });
});
