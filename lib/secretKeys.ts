// The platform's SOPS secrets: the keys every stack's secrets file must hold, which domain consumes
// each, and how a fresh value of each is made. The keys, their domains and descriptions are
// infra/ansible/domains.yml's (through lib/domains.ts; site.yml's preflight checks the same keys);
// this module adds the generators, by the name domains.yml gives them. The program hashes per
// domain the values of that domain's keys, so rotating one value re-runs exactly that domain.
// Used by the program (index.ts) and by `platform secrets` (cli/commands/secrets.ts).
// A generated value lives in memory only, on its way into sops: never in a file, never printed.
import * as crypto from "crypto";
import { Domain, DOMAIN_SPECS, DOMAINS_FILE } from "./domains";

export interface SecretKeySpec {
  /** What the value is (runbook table, `platform secrets keys --json`). */
  what: string;
  /** A fresh random value (at least 32 characters, no character that needs quoting). */
  generate(): string;
}

/** `n` characters drawn uniformly from `alphabet` (rejection sampling: no modulo bias). */
export function randomString(n: number, alphabet: string): string {
  const limit = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < n) {
    for (const b of crypto.randomBytes(n * 2)) {
      if (b < limit && out.length < n) out += alphabet[b % alphabet.length];
    }
  }
  return out;
}

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A WireGuard private key as `wg genkey` makes it: 32 random bytes, clamped for Curve25519, base64. */
export function wireguardPrivateKey(): string {
  const b = crypto.randomBytes(32);
  b[0] &= 248;
  b[31] = (b[31] & 127) | 64;
  return b.toString("base64");
}

/** The public half of a WireGuard private key (what `wg pubkey` prints); not secret. */
export function wireguardPublicKey(privateKey: string): string {
  const raw = Buffer.from(privateKey.trim(), "base64");
  if (raw.length !== 32) throw new Error("not a WireGuard private key (32 bytes, base64)");
  // PKCS#8 wrapping of a raw X25519 private key (RFC 8410).
  const der = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), raw]);
  const jwk = crypto.createPublicKey(crypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({ format: "jwk" });
  return Buffer.from(String(jwk.x), "base64url").toString("base64");
}

/** The generators domains.yml may name: each makes a fresh value (at least 32 characters, nothing that needs quoting). */
export const GENERATORS: Record<string, () => string> = {
  // Alphanumeric only, so the value needs no quoting anywhere (YAML, libpq, shell).
  alphanumeric_32: () => randomString(32, ALNUM),
  wireguard_private_key: wireguardPrivateKey,
  // K3s's "short" token format: any random string; hex keeps it quoting-free.
  hex_64: () => crypto.randomBytes(32).toString("hex"),
};

/** The required keys from the domain list, in the order files list them; throws naming a generator that does not exist. */
export function secretKeysOf(domains: readonly { name: string; secrets: Array<{ key: string; what: string; generator: string }> }[]): Record<string, SecretKeySpec & { domain: Domain }> {
  const out: Record<string, SecretKeySpec & { domain: Domain }> = {};
  for (const d of domains) {
    for (const s of d.secrets) {
      const generate = Object.prototype.hasOwnProperty.call(GENERATORS, s.generator) ? GENERATORS[s.generator] : undefined;
      if (!generate) throw new Error(`${DOMAINS_FILE}: ${s.key}.generator '${s.generator}' is not one of lib/secretKeys.ts's (${Object.keys(GENERATORS).join(", ")})`);
      out[s.key] = { what: s.what, generate, domain: d.name };
    }
  }
  return out;
}

export const SECRET_KEYS = secretKeysOf(DOMAIN_SPECS);

export type SecretKey = string;
export const REQUIRED_SECRET_KEYS: readonly SecretKey[] = Object.keys(SECRET_KEYS);

export function isSecretKey(name: string): name is SecretKey {
  return Object.prototype.hasOwnProperty.call(SECRET_KEYS, name);
}

/** A fresh value for `key`; throws if the generator gave something too short (never shows it). */
export function generateSecret(key: SecretKey): string {
  const v = SECRET_KEYS[key].generate();
  if (v.length < 32) throw new Error(`generating ${key} gave a value that is too short`);
  return v;
}

/** The domains that consume `key` (empty: no domain does, nothing re-runs). */
export function secretDomains(key: string): Domain[] {
  return DOMAIN_SPECS.filter((d) => d.secrets.some((s) => s.key === key)).map((d) => d.name);
}
