// Decrypts the stack's SOPS file (age recipients) in the Pulumi program. Values never leave
// this process in clear: the program only derives per-domain hashes (so that rotating a
// secret re-runs exactly the domains that consume it) and wraps anything it passes on in
// pulumi.secret. Ansible reads the same file itself through community.sops.
//
// Two steps. The pinned `sops` binary (on PATH wherever the program runs: lib/pulumiEnv.ts;
// Ansible needs it too) first checks the whole file as Ansible will: a file edited without sops (a
// value changed or a key deleted by hand, ciphertext altered) fails its MAC or value check here, at
// preview, instead of passing the preview and failing the first run; sops's own messages can quote
// a value edited in clear, so they are classified, never echoed. The values are then decrypted in
// this process by the sops-age library, which does not check the MAC on its own.
import { execFile } from "child_process";
import * as fs from "fs";
import { decryptSops } from "sops-age";
import { ConfigError } from "./config";
import { hashValues } from "./contentHash";
import { classifySopsError } from "./sops";

export type Secrets = Record<string, string>;

/** sops's failure, as a ConfigError naming the key at fault; never quotes sops's output except fixed, value-free phrases. */
export function sopsFailure(secretsFile: string, ageKeyFile: string, code: number | string | null, stderr: string): ConfigError {
  if (code === "ENOENT") return new ConfigError("secretsFile", "cannot decrypt: `sops` is not on PATH (bash scripts/toolchain/ensure.sh sops)");
  switch (classifySopsError(stderr)) {
    case "mac":
      return new ConfigError("secretsFile", `${secretsFile} was edited without sops: MAC mismatch (its content is not what sops encrypted; restore it, or edit it with \`sops ${secretsFile}\`)`);
    case "format":
      return new ConfigError("secretsFile", `${secretsFile} was edited without sops: a value is not encrypted (restore the file, then edit it with \`sops ${secretsFile}\`)`);
    case "aead":
      return new ConfigError("secretsFile", `${secretsFile} was edited without sops: a value's ciphertext does not authenticate (restore the file)`);
    case "recipient":
      return new ConfigError("ageKeyFile", `cannot decrypt ${secretsFile} with the age key ${ageKeyFile}: the key is not one of the file's recipients`);
    default:
      return new ConfigError("secretsFile", `sops cannot decrypt ${secretsFile} (exit ${code})`);
  }
}

export async function readSecrets(secretsFile: string, ageKeyFile: string): Promise<Secrets> {
  const content = fs.readFileSync(secretsFile, "utf8");
  if (!/^sops:/m.test(content)) {
    throw new ConfigError("secretsFile", `${secretsFile} is not SOPS-encrypted (no sops metadata): encrypt it with sops, never commit it in clear`);
  }
  const hasKey = fs
    .readFileSync(ageKeyFile, "utf8")
    .split("\n")
    .some((l) => l.trim().startsWith("AGE-SECRET-KEY-"));
  if (!hasKey) throw new ConfigError("ageKeyFile", `${ageKeyFile} holds no AGE-SECRET-KEY line`);

  // 1. Integrity: the pinned sops binary decrypts the whole file and checks its MAC (a value changed
  //    or a key deleted by hand, altered ciphertext). Its output is discarded. Only this key file:
  //    no other age identity from the environment may decrypt in its place.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^SOPS_AGE_(KEY|KEY_CMD|SSH_PRIVATE_KEY_FILE|SSH_PRIVATE_KEY_CMD)$/.test(k)));
  await new Promise<void>((resolve, reject) => {
    execFile(
      "sops",
      ["--decrypt", "--output-type", "json", secretsFile],
      { env: { ...env, SOPS_AGE_KEY_FILE: ageKeyFile }, encoding: "utf8", timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, _stdout, stderr) => (err ? reject(sopsFailure(secretsFile, ageKeyFile, (err as NodeJS.ErrnoException).code ?? null, stderr ?? "")) : resolve()),
    );
  });
  // 2. Values: the sops-age library, in this process (it does not verify the MAC: step 1 did).
  const secretKey = fs
    .readFileSync(ageKeyFile, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l.startsWith("AGE-SECRET-KEY-"))!;
  let data: unknown;
  try {
    data = await decryptSops(content, { secretKey, fileType: "yaml" });
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0].slice(0, 200) : "unknown error";
    throw new ConfigError("ageKeyFile", `cannot decrypt ${secretsFile} with the age key ${ageKeyFile} (${why})`);
  }
  const out: Secrets = {};
  for (const [k, v] of Object.entries((data ?? {}) as Record<string, unknown>)) {
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = String(v);
  }
  return out;
}

/** A hash of the secret values of exactly these keys (a domain's, infra/ansible/domains.yml; stable key order). */
export function secretsHash(secrets: Secrets, keys: readonly string[]): string {
  const picked = Object.keys(secrets)
    .filter((k) => keys.includes(k))
    .sort()
    .map((k) => [k, secrets[k]]);
  return hashValues(picked);
}
