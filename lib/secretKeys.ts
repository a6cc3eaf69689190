// The platform's SOPS secrets, in one place: the keys every stack's secrets file must hold, how a
// fresh value of each is made, and which domain consumes each (by key prefix: lib/domains.ts takes
// its domains' secretPrefixes from here, and the program hashes per domain the values whose key
// starts with one of them, so rotating one value re-runs exactly that domain).
// Used by the program (lib/domains.ts) and by `platform secrets` (cli/commands/secrets.ts).
// A generated value lives in memory only, on its way into sops: never in a file, never printed.
import * as crypto from "crypto";
import type { Domain } from "./domains";

/** Per domain, the prefixes of the secret keys it consumes (a domain absent here consumes none). */
export const SECRET_PREFIXES = {
  vpn: ["secret_wireguard_"],
  postgresql: ["secret_postgresql_"],
  k3s: ["secret_k3s_"],
} satisfies Partial<Record<Domain, string[]>>;

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

/** The required keys, in the order files list them; each with its generator. */
export const SECRET_KEYS = {
  // Alphanumeric only, so the value needs no quoting anywhere (YAML, libpq, shell).
  secret_postgresql_app_password: { what: "PostgreSQL password of the `app` login role (32 alphanumerics)", generate: () => randomString(32, ALNUM) },
  secret_wireguard_server_private_key: { what: "the VPS's WireGuard private key (as `wg genkey` makes it)", generate: wireguardPrivateKey },
  // K3s's "short" token format: any random string; hex keeps it quoting-free.
  secret_k3s_token: { what: "K3s server token (64 hex digits)", generate: () => crypto.randomBytes(32).toString("hex") },
} satisfies Record<string, SecretKeySpec>;

export type SecretKey = keyof typeof SECRET_KEYS;
export const REQUIRED_SECRET_KEYS = Object.keys(SECRET_KEYS) as SecretKey[];

export function isSecretKey(name: string): name is SecretKey {
  return Object.prototype.hasOwnProperty.call(SECRET_KEYS, name);
}

/** A fresh value for `key`; throws if the generator gave something too short (never shows it). */
export function generateSecret(key: SecretKey): string {
  const v = SECRET_KEYS[key].generate();
  if (v.length < 32) throw new Error(`generating ${key} gave a value that is too short`);
  return v;
}

/** The domains whose prefixes claim `key` (empty: no domain consumes it, nothing re-runs). */
export function secretDomains(key: string): Domain[] {
  return (Object.entries(SECRET_PREFIXES) as [Domain, string[]][]).filter(([, ps]) => ps.some((p) => key.startsWith(p))).map(([d]) => d);
}

/** The prefixes of `domain` (lib/domains.ts's secretPrefixes; a string here: lib/domains.ts derives Domain). */
export function secretPrefixesOf(domain: string): string[] {
  return Object.prototype.hasOwnProperty.call(SECRET_PREFIXES, domain) ? [...(SECRET_PREFIXES as Record<string, string[]>)[domain]] : [];
}
