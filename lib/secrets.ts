// Decrypts the stack's SOPS file (age recipients) in the Pulumi program. Values never leave
// this process in clear: the program only derives per-domain hashes (so that rotating a
// secret re-runs exactly the domains that consume it) and wraps anything it passes on in
// pulumi.secret. Ansible reads the same file itself through community.sops.
import * as fs from "fs";
import { decryptSops } from "sops-age";
import { ConfigError } from "./config";
import { hashValues } from "./contentHash";

export type Secrets = Record<string, string>;

export async function readSecrets(secretsFile: string, ageKeyFile: string): Promise<Secrets> {
  const content = fs.readFileSync(secretsFile, "utf8");
  if (!/^sops:/m.test(content)) {
    throw new ConfigError("secretsFile", `${secretsFile} is not SOPS-encrypted (no sops metadata): encrypt it with sops, never commit it in clear`);
  }
  const secretKey = fs
    .readFileSync(ageKeyFile, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l.startsWith("AGE-SECRET-KEY-"));
  if (!secretKey) throw new ConfigError("ageKeyFile", `${ageKeyFile} holds no AGE-SECRET-KEY line`);
  let data: unknown;
  try {
    data = await decryptSops(content, { secretKey, fileType: "yaml" });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ConfigError("ageKeyFile", `cannot decrypt ${secretsFile} with this age key (${why}); is the key one of the file's recipients?`);
  }
  const out: Secrets = {};
  for (const [k, v] of Object.entries((data ?? {}) as Record<string, unknown>)) {
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = String(v);
  }
  return out;
}

/** A hash of the secret values whose keys start with one of `prefixes` (stable key order). */
export function secretsHash(secrets: Secrets, prefixes: string[]): string {
  const picked = Object.keys(secrets)
    .filter((k) => prefixes.some((p) => k.startsWith(p)))
    .sort()
    .map((k) => [k, secrets[k]]);
  return hashValues(picked);
}
