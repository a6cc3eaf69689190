// The pinned sops binary, typed: located in the tool cache (or $SOPS), spawned with an argument
// list (no shell), decrypting with exactly the age key we name, its failures classified into fixed
// phrases (sops's own messages can quote file content, so they are never repeated), and a secrets
// file's clear-text metadata read as YAML, never scraped. Used by `platform secrets` and, for the
// classification, by lib/secrets.ts.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { pinnedVersion, toolsCacheDir } from "./versions";

/** $SOPS, else the pinned build in the tool cache, else what scripts/toolchain/ensure.sh sops provides. */
export function locateSops(root: string, env: NodeJS.ProcessEnv = process.env, progress: (line: string) => void = () => {}): string {
  if (env.SOPS) return env.SOPS;
  const cached = path.join(toolsCacheDir(env), `sops-${pinnedVersion("SOPS_VERSION")}`, "sops");
  if (isExecutable(cached)) return cached;
  // A cold tool cache builds sops from the Go module proxy: minutes (the README's set-up).
  progress(`sops ${pinnedVersion("SOPS_VERSION")} is not in the tool cache: building it (bash scripts/toolchain/ensure.sh sops; minutes on a cold cache)`);
  let entries: string;
  try {
    entries = execFileSync("bash", [path.join(root, "scripts/toolchain/ensure.sh"), "sops"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], env, timeout: 60 * 60 * 1000 }).trim().split("\n").pop() ?? "";
  } catch {
    throw new Error("no sops: the pinned build is not in the tool cache (bash scripts/toolchain/ensure.sh sops)");
  }
  const found = [...entries.split(":"), ...(env.PATH ?? "").split(":")].map((d) => path.join(d, "sops")).find(isExecutable);
  if (!found) throw new Error("no sops after scripts/toolchain/ensure.sh sops");
  return found;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export interface SopsResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * sops with exactly one age key (keyFile): SOPS_AGE_KEY, its _CMD and SSH variants are removed and
 * HOME points at an empty directory, so ~/.config/sops/age/keys.txt and ~/.ssh/id_ed25519 cannot
 * answer either. A check that passes thanks to some other key on this machine would prove nothing.
 */
export class Sops {
  constructor(
    readonly binary: string,
    private readonly keyFile: string,
    /** An empty directory of the caller's (HOME and XDG_CONFIG_HOME of every sops run). */
    private readonly home: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  run(config: string, args: string[], input?: string): SopsResult {
    const env: NodeJS.ProcessEnv = { ...this.env, HOME: this.home, XDG_CONFIG_HOME: path.join(this.home, ".config"), SOPS_AGE_KEY_FILE: this.keyFile };
    for (const k of ["SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_CMD"]) delete env[k];
    const r = spawnSync(this.binary, ["--config", config, ...args], { env, input, encoding: "utf8", timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    if (r.error) return { status: null, stdout: "", stderr: (r.error as NodeJS.ErrnoException).code === "ENOENT" ? "ENOENT" : "" };
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  /** The decrypted document (in memory only), or the failure's fixed phrase. */
  decrypt(config: string, file: string): { values: Record<string, unknown> } | { error: string } {
    const r = this.run(config, ["decrypt", "--input-type", "yaml", "--output-type", "json", file]);
    if (r.status !== 0) return { error: sopsPhrase(r.stderr) };
    try {
      return { values: JSON.parse(r.stdout) as Record<string, unknown> };
    } catch {
      return { error: "sops's output is not JSON" };
    }
  }
}

export type SopsFailureKind = "mac" | "format" | "aead" | "recipient" | "rules" | "config" | "missing-binary" | "other";

/** What went wrong in a sops run, from its stderr (the one place these patterns live). */
export function classifySopsError(stderr: string): SopsFailureKind {
  if (/MAC mismatch/.test(stderr)) return "mac";
  if (/does not match sops' data format/.test(stderr)) return "format";
  if (/Could not decrypt with AES_GCM|message authentication failed/.test(stderr)) return "aead";
  if (/Failed to get the data key|no master key was able to decrypt|did not match any of the recipients/.test(stderr)) return "recipient";
  if (/no matching creation rules/.test(stderr)) return "rules";
  if (/error loading config/.test(stderr)) return "config";
  if (stderr === "ENOENT") return "missing-binary";
  return "other";
}

/** The failure as a fixed phrase for the operator (never sops's own words). */
export function sopsPhrase(stderr: string): string {
  return {
    mac: "the file was edited without sops: MAC mismatch (a value or key changed or deleted by hand; restore it)",
    format: "the file was edited without sops: a value is not a sops envelope (restore it)",
    aead: "the file was edited without sops: a value's ciphertext does not authenticate (restore it)",
    recipient: "the key is not one of the file's recipients",
    rules: "no creation rule of .sops.yaml matches the file",
    config: "sops cannot load its configuration (.sops.yaml)",
    "missing-binary": "the sops binary is not there (bash scripts/toolchain/ensure.sh sops)",
    other: "sops failed (its message is not repeated here: it can quote file content)",
  }[classifySopsError(stderr)];
}

/** What a secrets file's clear text says about itself (sops metadata), read as YAML. */
export interface SopsFileInfo {
  /** A `sops:` block with a MAC: encrypted by sops. */
  encrypted: boolean;
  /** Is there a `sops:` block at all. */
  hasMetadata: boolean;
  /** Top-level keys whose value is not an ENC[...] envelope (clear text where a secret should be). */
  clearKeys: string[];
  /** The age recipients in the metadata, sorted, unique. */
  recipients: string[];
}

export function inspectSopsFile(text: string): SopsFileInfo {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    // Not YAML at all: no metadata can be trusted. (The parser's message can quote content.)
    return { encrypted: false, hasMetadata: /^sops:/m.test(text), clearKeys: [], recipients: [] };
  }
  const map = doc !== null && typeof doc === "object" && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
  const meta = map.sops !== null && typeof map.sops === "object" ? (map.sops as Record<string, unknown>) : undefined;
  const envelope = (v: unknown): boolean => {
    if (typeof v === "string") return v.startsWith("ENC[");
    if (Array.isArray(v)) return v.every(envelope);
    if (v !== null && typeof v === "object") return Object.values(v).every(envelope);
    return false;
  };
  const clearKeys = Object.entries(map)
    .filter(([k, v]) => k !== "sops" && v !== null && !envelope(v))
    .map(([k]) => k);
  const age = Array.isArray(meta?.age) ? (meta!.age as Array<{ recipient?: unknown }>) : [];
  const recipients = [...new Set(age.map((a) => a?.recipient).filter((r): r is string => typeof r === "string"))].sort();
  return { encrypted: !!meta && typeof meta.mac === "string" && meta.mac.startsWith("ENC["), hasMetadata: !!meta, clearKeys, recipients };
}
