// `platform secrets`: a stack's SOPS secrets file and its age recipients. Never prints a value.
// Where: platform:secretsFile and platform:ageKeyFile of Pulumi.STACK.yaml (`~` expanded; the lab's
// `.lab/` paths follow PLATFORM_LAB_DIR). SOPS_AGE_KEY_FILE, when set, is the key used instead, and
// only that key is ever tried (lib/sops.ts). Recipients: the lab's file is encrypted for the lab's
// own key (kept in the file's metadata, no .sops.yaml); any other stack's recipients are .sops.yaml's
// creation rule for its file, which add-recipient / remove-recipient edit (lib/sopsRule.ts).
// The keys, their generators and their domains: lib/secretKeys.ts. Every action on a stack appends
// one audit record (lib/operator/audit.ts: names, never values). The work happens on copies in a
// temporary directory; the file (and .sops.yaml) is replaced by a rename only once the copy
// decrypts and holds the expected values and recipients, so a refusal or failure changes nothing.
// Exit: 0 done, 1 refused or failed (one line says what; nothing was changed), 2 usage.
// Runbook: docs/runbooks/rotate-secrets.md.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expandPath } from "../../lib/config";
import { appendAudit } from "../../lib/operator/audit";
import { correlationId } from "../../lib/operator/correlation";
import { labDirOf, prepareStackEnv } from "../../lib/pulumiEnv";
import { generateSecret, isSecretKey, REQUIRED_SECRET_KEYS, SECRET_KEYS, SecretKey, secretDomains, wireguardPublicKey } from "../../lib/secretKeys";
import { inspectSopsFile, locateSops, Sops, sopsPhrase } from "../../lib/sops";
import { isAgePrivateKey, isAgeRecipient, malformedRecipient, RuleError, ruleRecipients, setRuleRecipients } from "../../lib/sopsRule";
import { configSourceFromFile } from "../../lib/stackConfigFile";
import { repoRoot } from "../../lib/versions";
import { FlagSpec, parseFlags, UsageError } from "../args";
import type { Command } from "../platform";

export const ACTIONS = ["init", "rotate", "recipients", "add-recipient", "remove-recipient", "check", "keys"] as const;
export type Action = (typeof ACTIONS)[number];

const USAGE: Record<Action, string> = {
  keys: "platform secrets keys [--json]                              the required keys, and the domain each one re-runs",
  init: "platform secrets init STACK [--keep]                        create the encrypted file, fresh random values (never overwrites)",
  rotate: "platform secrets rotate STACK KEY... | --all              fresh values for these keys; the others are left as they are",
  recipients: "platform secrets recipients STACK [--json]                the age recipients the file is encrypted for",
  "add-recipient": "platform secrets add-recipient STACK AGE_PUBKEY          one more recipient (the data key is rotated too)",
  "remove-recipient": "platform secrets remove-recipient STACK AGE_PUBKEY       one recipient less (the data key is rotated too)",
  check: "platform secrets check STACK [--json]                     exists, encrypted, decrypts with the key, every required key present",
};

const DETAILS: Partial<Record<Action, string>> = {
  init: `The lab makes its own throwaway age key when it has none; any other stack encrypts for
.sops.yaml's creation rule, which must list your key. --keep (what lab up runs): an existing file is
kept and checked instead of refused.`,
  rotate: `Only the named values change (the decrypted files are compared before the old one is replaced).
Outside the lab, --all skips secret_k3s_token: it needs \`k3s token rotate\` on the server first; name it.`,
  "add-recipient": "The lab's list is in the file itself; another stack's is .sops.yaml's rule (commit both files together).",
  "remove-recipient": "You cannot remove the key you decrypt with, nor the last recipient. Rotate the values afterwards.",
  check: "Outside the lab, the file's recipients must also be .sops.yaml's rule's.",
};

const FOOTER = `
Where: platform:secretsFile and platform:ageKeyFile of Pulumi.STACK.yaml (the lab's .lab/ follows
PLATFORM_LAB_DIR); SOPS_AGE_KEY_FILE, when set, is the key used instead (no other key is tried).
Never prints a value; every action on a stack leaves an audit record (names, never values).
Exit: 0 done, 1 refused or failed (nothing was changed), 2 usage. Runbook: docs/runbooks/rotate-secrets.md
`;

export const HELP = `usage: ${Object.values(USAGE).join("\n       ")}\n${FOOTER}`;

export function helpFor(argv: string[]): string {
  const action = argv.find((a) => !a.startsWith("-"));
  if (action && (ACTIONS as readonly string[]).includes(action)) {
    const a = action as Action;
    return `usage: ${USAGE[a]}\n${DETAILS[a] ? `\n${DETAILS[a]}\n` : ""}${FOOTER}`;
  }
  return HELP;
}

export type Request =
  | { action: "keys"; json: boolean }
  | { action: "init"; stack: string; keep: boolean; json: false }
  | { action: "rotate"; stack: string; keys: string[]; all: boolean; json: false }
  | { action: "recipients" | "check"; stack: string; json: boolean }
  | { action: "add-recipient" | "remove-recipient"; stack: string; recipient: string; json: false };

/** The command line as a request; a usage error (exit 2) names what is wrong. Pure. */
export function parseSecretsArgs(argv: string[]): Request {
  const [action, ...args] = argv;
  if (action === undefined) throw new UsageError("secrets: which action? (init, rotate, recipients, add-recipient, remove-recipient, check, keys; see `platform secrets --help`)");
  if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`secrets: unknown action '${action}' (init, rotate, recipients, add-recipient, remove-recipient, check, keys)`);
  const a = action as Action;
  const cmd = `secrets ${a}`;
  const spec: FlagSpec = a === "rotate" ? { all: "boolean" } : a === "init" ? { keep: "boolean" } : a === "keys" || a === "recipients" || a === "check" ? { json: "boolean" } : {};
  const { flags, rest } = parseFlags(cmd, args, spec);
  const f = flags as { all?: boolean; keep?: boolean; json?: boolean };
  const only = (n: number, what: string) => {
    if (rest.length !== n) throw new UsageError(`${cmd}: ${rest.length < n ? `needs ${what}` : `unexpected argument '${rest[n]}' (usage: ${USAGE[a].split(/\s{3,}/)[0]})`}`);
  };
  switch (a) {
    case "keys":
      only(0, "");
      return { action: a, json: !!f.json };
    case "init":
      only(1, "a STACK");
      return { action: a, stack: rest[0], keep: !!f.keep, json: false };
    case "rotate":
      if (rest.length === 0) throw new UsageError(`${cmd}: needs a STACK and KEY... or --all`);
      if (rest.length === 1 && !f.all) throw new UsageError(`${cmd}: needs KEY... or --all`);
      if (rest.length > 1 && f.all) throw new UsageError(`${cmd}: takes either KEY... or --all`);
      return { action: a, stack: rest[0], keys: rest.slice(1), all: !!f.all, json: false };
    case "recipients":
    case "check":
      only(1, "a STACK");
      return { action: a, stack: rest[0], json: !!f.json };
    case "add-recipient":
    case "remove-recipient":
      only(2, "STACK AGE_PUBKEY");
      return { action: a, stack: rest[0], recipient: rest[1], json: false };
  }
}

/** `keys`: each required key with the domains that consume it. */
export function keysReport(): Array<{ key: SecretKey; domains: string[]; what: string }> {
  return REQUIRED_SECRET_KEYS.map((key) => ({ key, domains: secretDomains(key), what: SECRET_KEYS[key].what }));
}

export const sameSet = (a: string[], b: string[]) => {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

/** A refusal: nothing was changed; the message is the one line the operator reads. */
class Refusal extends Error {}
const fail = (message: string): never => {
  throw new Refusal(message);
};

interface Io {
  out(line: string): void;
  log(line: string): void;
}

/** The stack's secrets file and age key paths, from its stack file (the lab's copy for the lab). */
export function stackSecretsPaths(stack: string, root: string, env: NodeJS.ProcessEnv): { secretsFile: string; ageKeyFile: string } {
  const se = prepareStackEnv(stack, root, env, { tools: false, engine: false });
  try {
    const src = configSourceFromFile(se.configFile);
    const get = (key: string) => {
      const v = src.get(key)?.trim();
      if (!v) fail(`Pulumi.${stack}.yaml: platform:${key} is not set in the stack configuration (set it: pulumi config set ${key} ...)`);
      return expandPath(v!, root);
    };
    return { secretsFile: get("secretsFile"), ageKeyFile: get("ageKeyFile") };
  } finally {
    se.cleanup();
  }
}

export async function runSecrets(req: Request, root: string, env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  if (req.action === "keys") {
    const rows = keysReport();
    if (req.json) io.out(JSON.stringify(rows, null, 2));
    else for (const r of rows) io.out(`${r.key}\t${r.domains.join(" ") || "(no domain)"}`);
    return 0;
  }
  const { stack } = req;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(stack) || !fs.existsSync(path.join(root, `Pulumi.${stack}.yaml`))) {
    const known = fs
      .readdirSync(root)
      .filter((f) => /^Pulumi\..+\.yaml$/.test(f))
      .map((f) => f.slice(7, -5))
      .sort();
    io.log(`error: unknown stack '${stack}' (no Pulumi.${stack}.yaml; known: ${known.join(", ")})`);
    return 1;
  }

  // --- one audit record per action, whatever its outcome --------------------------------------
  const cid = correlationId(env);
  const fields: Record<string, string> = {};
  let outcome: string | undefined;
  let exitCode = 0;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "platform-secrets-"));
  const previousUmask = process.umask(0o077);
  try {
    exitCode = await act(req, { root, env, io, cid, fields, work, setOutcome: (o) => (outcome = o) });
  } catch (e) {
    exitCode = 1;
    const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    outcome = e instanceof Refusal ? "refused" : "failed";
    fields.reason = msg;
    if (req.json) io.out(JSON.stringify({ ok: false, error: msg }, null, 2));
    io.log(`error: ${msg}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    try {
      appendAudit(root, { stack, action: `secrets-${req.action}`, outcome: outcome ?? (exitCode === 0 ? "succeeded" : "failed"), correlationId: cid, fields: { ...fields, exitCode: String(exitCode) } }, env);
    } catch {
      io.log("warning: could not write the audit record");
    }
    process.umask(previousUmask);
  }
  return exitCode;
}

interface Ctx {
  root: string;
  env: NodeJS.ProcessEnv;
  io: Io;
  cid: string;
  fields: Record<string, string>;
  work: string;
  setOutcome(o: string): void;
}

async function act(req: Exclude<Request, { action: "keys" }>, c: Ctx): Promise<number> {
  const { root, env, io, fields, work } = c;
  const { stack } = req;
  const lab = stack === "lab";
  const show = (p: string) => (p.startsWith(root + path.sep) ? path.relative(root, p) : p);
  const say = io.out;

  // --- where the stack's file and key are ------------------------------------------------------
  const { secretsFile, ageKeyFile } = stackSecretsPaths(stack, root, env);
  const keyFile = env.SOPS_AGE_KEY_FILE || ageKeyFile;
  const keySource = env.SOPS_AGE_KEY_FILE ? "SOPS_AGE_KEY_FILE" : `platform:ageKeyFile in Pulumi.${stack}.yaml`;
  fields.file = show(secretsFile);
  io.log(`secrets ${req.action} on ${stack}: ${show(secretsFile)} (correlation id ${c.cid})`);

  let binary = "";
  try {
    binary = locateSops(root, env, io.log);
  } catch (e) {
    fail((e as Error).message);
  }
  if (spawnSync("age-keygen", ["--version"], { stdio: "ignore" }).error) fail("age-keygen is needed (apt-get install age)");
  fs.mkdirSync(path.join(work, "home"));
  const sops = new Sops(binary, keyFile, path.join(work, "home"), env);

  // The lab's file is not governed by the repository's .sops.yaml (an empty config: its recipients
  // live in the file's metadata). Any other stack's file is, by its path relative to the repository.
  let sopsConfig = path.join(root, ".sops.yaml");
  let rel = "";
  if (lab) {
    sopsConfig = path.join(work, "sops-empty.yaml");
    fs.writeFileSync(sopsConfig, "");
  } else {
    if (!secretsFile.startsWith(root + path.sep)) fail(`${secretsFile} is outside the repository: .sops.yaml's creation rules apply by path inside it (platform:secretsFile in Pulumi.${stack}.yaml)`);
    rel = path.relative(root, secretsFile);
  }

  // --- the key -------------------------------------------------------------------------------
  let myPubs: string[] = [];
  const readPubs = () => {
    const r = spawnSync("age-keygen", ["-y", keyFile], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return r.status === 0 ? r.stdout.split("\n").map((l) => l.trim()).filter(isAgeRecipient) : [];
  };
  const requireKey = () => {
    if (!fs.existsSync(keyFile)) fail(`missing age key: ${keyFile} does not exist (${keySource})`);
    let text = "";
    try {
      text = fs.readFileSync(keyFile, "utf8");
    } catch {
      fail(`missing age key: ${keyFile} cannot be read (${keySource})`);
    }
    if (!/^AGE-SECRET-KEY-[1]/m.test(text)) fail(`missing age key: ${keyFile} holds no age private key (a line AGE-SECRET-KEY-…; ${keySource})`);
    myPubs = readPubs();
    if (myPubs.length === 0) fail(`missing age key: ${keyFile} cannot be read as an age key file (${keySource})`);
  };
  const isMine = (r: string) => myPubs.includes(r);

  // --- .sops.yaml's rule (not the lab) ----------------------------------------------------------
  const ruleOf = (config: string): string[] => {
    let listed: string[] = [];
    try {
      listed = ruleRecipients(fs.readFileSync(config, "utf8"), rel);
    } catch (e) {
      fail(e instanceof RuleError ? e.message : `cannot read ${show(config)}: ${(e as Error).message.split("\n")[0]}`);
    }
    // A private key pasted there by mistake is named as such, never repeated.
    const bad = listed.filter((r) => !isAgeRecipient(r)).map((r) => (isAgePrivateKey(r) ? "<an age PRIVATE key: remove it from .sops.yaml now>" : r));
    if (bad.length > 0 || listed.length === 0) {
      fail(`.sops.yaml's creation rule for ${rel} has no valid age recipient (found: ${bad.join(" ") || "nothing"}): put your age PUBLIC key there in place of the placeholder (\`age-keygen -y YOUR_KEY_FILE\` prints it; several operators: comma-separated), then run this again`);
    }
    return listed;
  };

  // --- the file -----------------------------------------------------------------------------------
  const missingKeys = (values: Record<string, unknown>) => REQUIRED_SECRET_KEYS.filter((k) => values[k] === undefined || values[k] === null || String(values[k]).trim() === "");
  const decryptOrFail = (file: string, what: string): Record<string, unknown> => {
    const d = sops.decrypt(sopsConfig, file);
    if ("error" in d) return fail(`${what}: ${d.error}`);
    return d.values;
  };
  /** Exists, encrypted, our key is a recipient and decrypts it; with `all`, every required key is there. */
  const requireHealthy = (all: boolean): { values: Record<string, unknown>; recipients: string[] } => {
    if (!fs.existsSync(secretsFile)) fail(`missing file: ${show(secretsFile)} does not exist (create it: platform secrets init ${stack})`);
    const info = inspectSopsFile(fs.readFileSync(secretsFile, "utf8"));
    if (!info.encrypted) fail(`not SOPS-encrypted: ${show(secretsFile)} is clear text (no sops metadata with a MAC); never keep secrets in clear: move the values out of it and encrypt it with sops`);
    if (info.clearKeys.length > 0) fail(`not SOPS-encrypted: ${show(secretsFile)} holds clear-text values under: ${info.clearKeys.join(", ")}`);
    requireKey();
    if (!myPubs.some((p) => info.recipients.includes(p))) {
      fail(`wrong age key: ${keyFile} (${keySource}; public key ${myPubs[0]}) is not a recipient of ${show(secretsFile)} (recipients: ${info.recipients.join(" ") || "none"})`);
    }
    const values = decryptOrFail(secretsFile, `cannot decrypt ${show(secretsFile)} with ${keyFile}`);
    const missing = missingKeys(values);
    if (all && missing.length > 0) fail(`missing required key(s) in ${show(secretsFile)}: ${missing.join(" ")} (add them with fresh values: platform secrets rotate ${stack} ${missing.join(" ")})`);
    return { values, recipients: info.recipients };
  };

  /** TARGET replaced by CONTENT atomically: a temp file beside it (same mode), then rename. */
  const replaceFile = (content: string, target: string) => {
    const tmp = `${target}.new-${process.pid}`;
    const mode = fs.existsSync(target) ? fs.statSync(target).mode & 0o7777 : 0o600;
    try {
      fs.writeFileSync(tmp, content, { mode, flag: "wx" });
      fs.chmodSync(tmp, mode);
      fs.renameSync(tmp, target);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
  };

  // The WireGuard server's public half is not secret: operators configure their peers with it, and
  // the lab keeps it beside its secrets for the tests that act as WireGuard clients.
  const publishWgPublicKey = (values: Record<string, unknown>) => {
    let pub: string;
    try {
      pub = wireguardPublicKey(String(values.secret_wireguard_server_private_key ?? ""));
    } catch {
      io.log("secret_wireguard_server_private_key is not a WireGuard key: its public key was not derived");
      return;
    }
    if (lab) {
      const file = path.join(labDirOf(root, env), "wireguard-server.pub");
      fs.writeFileSync(file, `${pub}\n`);
      fs.chmodSync(file, 0o644);
      say(`WireGuard server public key (also in ${show(file)}): ${pub}`);
    } else {
      say(`WireGuard server public key (give it to every VPN peer, docs/runbooks/add-vpn-operator.md): ${pub}`);
    }
  };

  const domainNote = (key: string) => {
    const d = secretDomains(key);
    return d.length ? `the ${d.join(" ")} domain re-runs on the next "npx platform up ${stack}" (preview: that domain only)` : "no domain consumes it (lib/secretKeys.ts): nothing re-runs";
  };

  switch (req.action) {
    case "init": {
      if (fs.existsSync(secretsFile)) {
        if (!req.keep) fail(`${show(secretsFile)} already exists: init never overwrites (fresh values: platform secrets rotate ${stack} --all; check it: platform secrets check ${stack})`);
        requireHealthy(true);
        c.setOutcome("unchanged");
        fields.reason = "kept (--keep)";
        io.log(`kept ${show(secretsFile)}: it decrypts with ${keyFile} and holds all ${REQUIRED_SECRET_KEYS.length} required keys`);
        return 0;
      }
      let expected: string[];
      let encArgs: string[];
      if (lab) {
        // The lab makes its own throwaway key; no other stack ever gets a key invented here: an
        // operator's key is theirs.
        if (!fs.existsSync(keyFile) && keySource !== "SOPS_AGE_KEY_FILE") {
          fs.mkdirSync(path.dirname(keyFile), { recursive: true });
          const r = spawnSync("age-keygen", ["-o", `${keyFile}.tmp`], { stdio: "ignore" });
          if (r.status !== 0) fail(`age-keygen could not write ${keyFile}.tmp`);
          fs.renameSync(`${keyFile}.tmp`, keyFile);
          io.log(`lab age key generated: ${keyFile}`);
        }
        requireKey();
        expected = [myPubs[0]];
        encArgs = ["--age", myPubs[0], "--filename-override", secretsFile];
      } else {
        const rule = ruleOf(sopsConfig);
        requireKey();
        if (!rule.some(isMine)) fail(`your key ${keyFile} (${keySource}; public key ${myPubs[0]}) is not among .sops.yaml's recipients for ${rel}: you could not decrypt the file you are creating (add it there first)`);
        expected = rule;
        // .sops.yaml's rules match the file's path: tell sops which path the stdin document is for.
        encArgs = ["--filename-override", secretsFile];
      }
      // Plain text only in memory and sops's stdin: generated values -> sops -> ciphertext. (No
      // /dev/stdin argument: Node's stdin for a child is a socket, which /dev/stdin cannot open.)
      const plain = REQUIRED_SECRET_KEYS.map((k) => `${k}: "${generateSecret(k)}"`).join("\n") + "\n";
      const enc = sops.run(sopsConfig, ["encrypt", ...encArgs, "--input-type", "yaml", "--output-type", "yaml"], plain);
      if (enc.status !== 0) fail(`sops could not encrypt: ${sopsPhrase(enc.stderr)}`);
      if (!sameSet(inspectSopsFile(enc.stdout).recipients, expected)) fail(`sops encrypted for other recipients than expected (${expected.join(" ")}): not written`);
      const draft = path.join(work, "new.yaml");
      fs.writeFileSync(draft, enc.stdout);
      const values = decryptOrFail(draft, `the new file does not decrypt with ${keyFile}`);
      const missing = missingKeys(values);
      if (missing.length > 0) fail(`the new file lacks ${missing.join(" ")}: not written`);
      fs.mkdirSync(path.dirname(secretsFile), { recursive: true });
      // A hard link never clobbers a file that appeared meanwhile (EEXIST).
      const tmp = `${secretsFile}.new-${process.pid}`;
      fs.writeFileSync(tmp, enc.stdout, { mode: 0o600, flag: "wx" });
      try {
        fs.linkSync(tmp, secretsFile);
      } catch {
        fail(`${show(secretsFile)} appeared meanwhile: not overwritten`);
      } finally {
        fs.rmSync(tmp, { force: true });
      }
      fields.keys = REQUIRED_SECRET_KEYS.join(",");
      fields.recipients = expected.join(",");
      say(`created ${show(secretsFile)}: ${REQUIRED_SECRET_KEYS.length} fresh values (${REQUIRED_SECRET_KEYS.join(" ")}), encrypted for: ${expected.join(" ")}`);
      publishWgPublicKey(values);
      if (!lab) say(`next: commit ${show(secretsFile)} (ciphertext only), then npx platform preview ${stack} --diff`);
      return 0;
    }

    case "rotate": {
      const keys: SecretKey[] = [];
      if (req.all) {
        for (const k of REQUIRED_SECRET_KEYS) {
          // K3s encrypts its datastore's bootstrap data with the server token: on a running cluster
          // a new token must first go through `k3s token rotate` on the server, so --all never takes
          // it outside the lab; name it explicitly once you are ready (runbook: rotate-secrets.md).
          if (k === "secret_k3s_token" && !lab) {
            io.log("skipped secret_k3s_token: outside the lab it needs `k3s token rotate` on the server first; rotate it by name (docs/runbooks/rotate-secrets.md)");
            continue;
          }
          keys.push(k);
        }
      } else {
        for (const k of req.keys) {
          if (!isSecretKey(k)) fail(`unknown key '${k}' (known: ${REQUIRED_SECRET_KEYS.join(" ")}; or --all)`);
          if (!keys.includes(k as SecretKey)) keys.push(k as SecretKey);
        }
      }
      fields.keys = keys.join(",");
      const { values: before } = requireHealthy(false);
      const draft = path.join(work, "secrets.yaml");
      fs.copyFileSync(secretsFile, draft);
      for (const k of keys) {
        // --value-stdin keeps the value out of the process list (an argument is visible in /proc).
        const r = sops.run(sopsConfig, ["set", "--input-type", "yaml", "--output-type", "yaml", "--value-stdin", draft, JSON.stringify([k])], JSON.stringify(generateSecret(k)));
        if (r.status !== 0) fail(`sops could not set ${k}: ${sopsPhrase(r.stderr)}`);
      }
      // Before replacing anything: exactly the named keys changed, every other value is as it was.
      const after = decryptOrFail(draft, "the rotated file does not decrypt: not written");
      const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== "sops" && JSON.stringify(before[k]) !== JSON.stringify(after[k])).sort();
      if (!sameSet(changed, keys)) fail(`the rotated file changed [${changed.join(" ")}] instead of [${keys.join(" ")}]: not written`);
      replaceFile(fs.readFileSync(draft, "utf8"), secretsFile);
      const domains: string[] = [];
      for (const k of keys) {
        say(`rotated ${k}: ${domainNote(k)}`);
        for (const d of secretDomains(k)) if (!domains.includes(d)) domains.push(d);
      }
      fields.domains = domains.join(",");
      if (keys.includes("secret_wireguard_server_private_key")) publishWgPublicKey(after);
      if (keys.includes("secret_k3s_token") && !lab) {
        say('secret_k3s_token: BEFORE `pulumi up`, on the server: k3s token rotate --token "$(cat /etc/rancher/k3s/token)" --new-token <the new value> (docs/runbooks/rotate-secrets.md); otherwise k3s will not start with the new token');
      }
      say(`next: npx platform preview ${stack} --diff   (expect: ${domains.join(" ") || "no change"})`);
      if (!lab) say(`      then commit ${show(secretsFile)} and run npx platform up ${stack}`);
      return 0;
    }

    case "recipients": {
      const rule = lab ? [] : ruleOf(sopsConfig);
      if (!fs.existsSync(secretsFile)) fail(`missing file: ${show(secretsFile)} does not exist (create it: platform secrets init ${stack})`);
      const info = inspectSopsFile(fs.readFileSync(secretsFile, "utf8"));
      if (!info.hasMetadata) fail(`not SOPS-encrypted: ${show(secretsFile)} is clear text (no sops metadata)`);
      if (fs.existsSync(keyFile)) myPubs = readPubs();
      const differs = !lab && !sameSet(info.recipients, rule);
      if (req.json) {
        say(JSON.stringify({ file: show(secretsFile), recipients: info.recipients.map((r) => ({ recipient: r, thisKey: isMine(r) })), ...(lab ? {} : { rule, matchesRule: !differs }) }, null, 2));
      } else {
        io.log(`${show(secretsFile)} is encrypted for ${info.recipients.length} age recipient(s):`);
        for (const r of info.recipients) say(isMine(r) ? `${r}\t(this key: ${keyFile})` : r);
      }
      if (differs) io.log(`warning: .sops.yaml's rule for ${rel} lists: ${rule.join(" ")}; bring the file in line with: platform secrets add-recipient/remove-recipient ${stack} ... (or sops updatekeys)`);
      return 0;
    }

    case "add-recipient":
    case "remove-recipient": {
      const r = req.recipient;
      // Never echo the argument: an operator who pasted a private key must not see it logged.
      const bad = malformedRecipient(r);
      if (bad) fail(bad);
      fields.recipient = r;
      const { values: before, recipients } = requireHealthy(false);
      const current = lab ? recipients : ruleOf(sopsConfig);
      const inCurrent = current.includes(r);
      let next: string[];
      if (req.action === "add-recipient") {
        if (inCurrent && sameSet(recipients, current)) {
          c.setOutcome("unchanged");
          say(`${r} is already a recipient of ${show(secretsFile)}: nothing changed`);
          return 0;
        }
        next = inCurrent ? [...current] : [...current, r];
      } else {
        if (!inCurrent) fail(`${r} is not a recipient of ${show(secretsFile)}${rel ? " in .sops.yaml" : ""}: nothing to remove`);
        if (isMine(r)) fail(`${r} is the key this command decrypts with (${keyFile}): removing it would lock you out; another recipient removes it`);
        next = current.filter((p) => p !== r);
        if (next.length === 0) fail(`${r} is the only recipient: nobody could decrypt the file any more`);
      }
      let draft: string;
      let newRule: string | undefined;
      if (lab) {
        draft = path.join(work, "secrets.yaml");
        fs.copyFileSync(secretsFile, draft);
        // rotate = a new data key, then the values re-encrypted with it, for the new recipient list.
        const rot = sops.run(sopsConfig, ["rotate", "--input-type", "yaml", "--output-type", "yaml", "--in-place", req.action === "add-recipient" ? "--add-age" : "--rm-age", r, draft]);
        if (rot.status !== 0) fail(`sops rotate failed: ${sopsPhrase(rot.stderr)}`);
      } else {
        // .sops.yaml is the list; sops updatekeys makes the file follow it (matching the rule by the
        // file's path relative to the config, hence the same layout in the work tree), then rotate
        // gives it a new data key (updatekeys alone re-wraps the old one).
        const tree = path.join(work, "tree");
        draft = path.join(tree, rel);
        fs.mkdirSync(path.dirname(draft), { recursive: true });
        try {
          newRule = setRuleRecipients(fs.readFileSync(sopsConfig, "utf8"), rel, next);
        } catch (e) {
          fail(e instanceof RuleError ? e.message : String(e));
        }
        const treeConfig = path.join(tree, ".sops.yaml");
        fs.writeFileSync(treeConfig, newRule!);
        if (!sameSet(ruleOf(treeConfig), next)) fail(`could not edit .sops.yaml's rule for ${rel}: edit it by hand`);
        fs.copyFileSync(secretsFile, draft);
        const up = sops.run(treeConfig, ["updatekeys", "--yes", draft]);
        if (up.status !== 0) fail(`sops updatekeys failed: ${sopsPhrase(up.stderr)}`);
        const rot = sops.run(treeConfig, ["rotate", "--input-type", "yaml", "--output-type", "yaml", "--in-place", draft]);
        if (rot.status !== 0) fail(`sops rotate failed: ${sopsPhrase(rot.stderr)}`);
      }
      const text = fs.readFileSync(draft, "utf8");
      if (!sameSet(inspectSopsFile(text).recipients, next)) fail(`the re-encrypted file is not for the expected recipients (${next.join(" ")}): not written`);
      const after = decryptOrFail(draft, `the re-encrypted file does not decrypt with ${keyFile}; not written`);
      const lost = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== "sops" && JSON.stringify(before[k]) !== JSON.stringify(after[k]));
      if (lost.length > 0) fail(`the re-encrypted file differs in ${lost.join(" ")}: not written`);
      replaceFile(text, secretsFile);
      if (newRule !== undefined) replaceFile(newRule, sopsConfig);
      fields.recipients = next.join(",");
      if (req.action === "add-recipient") {
        say(`added ${r}: ${show(secretsFile)} is now encrypted for ${next.length} recipient(s) (new data key)`);
      } else {
        say(`removed ${r}: ${show(secretsFile)} has a new data key, so that key cannot decrypt this version or any later one`);
        say(`it could read the earlier versions (Git history, backups), so the values it saw are known to it: rotate them too: platform secrets rotate ${stack} --all`);
      }
      if (!lab) say(`next: commit .sops.yaml and ${show(secretsFile)} together`);
      return 0;
    }

    case "check": {
      const { recipients } = requireHealthy(true);
      if (!lab) {
        const rule = ruleOf(sopsConfig);
        if (!sameSet(recipients, rule)) fail(`recipients differ: ${show(secretsFile)} is encrypted for ${recipients.join(" ")}, .sops.yaml's rule for ${rel} lists ${rule.join(" ")} (platform secrets add-recipient/remove-recipient ${stack} ...)`);
      }
      if (req.json) {
        say(JSON.stringify({ ok: true, file: show(secretsFile), recipients, keyFile, keySource, requiredKeys: REQUIRED_SECRET_KEYS }, null, 2));
      } else {
        say(`ok: ${show(secretsFile)} is SOPS-encrypted for ${recipients.length} age recipient(s), decrypts with ${keyFile} (${keySource}), and holds all ${REQUIRED_SECRET_KEYS.length} required keys`);
      }
      return 0;
    }
  }
}

export const secrets: Command = {
  help: HELP,
  helpFor,
  async run(argv) {
    const req = parseSecretsArgs(argv);
    return runSecrets(req, repoRoot, process.env, {
      out: (line) => process.stdout.write(`${line}\n`),
      log: (line) => process.stderr.write(`${line.startsWith("error: ") || line.startsWith("warning: ") ? "platform secrets: " : "[" + new Date().toTimeString().slice(0, 8) + "] "}${line}\n`),
    });
  },
};
