// Age public keys and the .sops.yaml creation rule that lists a stack's recipients (prod and any
// stack but the lab): read it, and rewrite its `age:` value in place. The rule is the first one
// whose path_regex matches the file's path relative to .sops.yaml's directory, as sops picks it.
// Only the layout this repository uses is handled: per rule a `path_regex:` and a comma-separated
// `age:` scalar; key_groups or a block list are refused (edit by hand). Everything else in the
// file, comments included, is kept byte for byte: the new value is spliced in at the scalar's
// source range. Pure functions (text in, text out): unit-tested in tests/unit/secretsCommand.test.ts.
import { isMap, isScalar, isSeq, parseDocument, Scalar, YAMLMap } from "yaml";

// --- age public keys --------------------------------------------------------------------------
const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const AGE_RECIPIENT = /^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/;

function polymod(values: number[]): number {
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= gen[i];
  }
  return chk >>> 0;
}

function hrpExpand(hrp: string): number[] {
  const h = [...hrp].map((c) => c.charCodeAt(0));
  return [...h.map((c) => c >> 5), 0, ...h.map((c) => c & 31)];
}

/** An age X25519 public key: `age1` and 58 bech32 characters whose checksum holds, 32 bytes of key. */
export function isAgeRecipient(s: string): boolean {
  if (!AGE_RECIPIENT.test(s)) return false;
  const data = [...s.slice(4)].map((c) => BECH32.indexOf(c));
  if (polymod([...hrpExpand("age"), ...data]) !== 1) return false;
  // 52 five-bit groups = 260 bits: 32 bytes and 4 padding bits, which must be zero.
  return (data[data.length - 7] & 0b1111) === 0;
}

/** The age recipient of 32 key bytes (bech32, HRP "age"): what `age-keygen -y` prints for them. */
export function ageRecipientOf(key: Buffer): string {
  const data: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of key) {
    acc = ((acc << 8) | b) & 0xfff;
    bits += 8;
    for (; bits >= 5; bits -= 5) data.push((acc >> (bits - 5)) & 31);
  }
  if (bits > 0) data.push((acc << (5 - bits)) & 31);
  const pm = polymod([...hrpExpand("age"), ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
  return `age1${[...data, ...[0, 1, 2, 3, 4, 5].map((i) => (pm >>> (5 * (5 - i))) & 31)].map((d) => BECH32[d]).join("")}`;
}

export const isAgePrivateKey = (s: string) => s.startsWith("AGE-SECRET-KEY-");

/** Why `s` is not a recipient, in words that never repeat it (it may be a private key). */
export function malformedRecipient(s: string): string | undefined {
  if (isAgeRecipient(s)) return undefined;
  if (isAgePrivateKey(s)) return "malformed recipient: that is an age PRIVATE key; never pass it around. Give the public key (`age-keygen -y KEYFILE` prints it: age1...)";
  return "malformed recipient: not an age public key (age1 followed by 58 characters, checksum valid; `age-keygen -y KEYFILE` prints it)";
}

// --- the creation rule ------------------------------------------------------------------------
export class RuleError extends Error {}

interface FoundRule {
  value: string;
  node: Scalar;
}

function findRule(text: string, rel: string): FoundRule {
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length > 0) throw new RuleError(`.sops.yaml does not parse as YAML (line ${doc.errors[0].linePos?.[0].line ?? "?"}): fix it`);
  const rules = isMap(doc.contents) ? doc.contents.get("creation_rules", true) : undefined;
  if (!isSeq(rules)) throw new RuleError(".sops.yaml has no creation_rules");
  for (const item of rules.items) {
    if (!isMap(item)) continue;
    const rule = item as YAMLMap;
    const regex = rule.get("path_regex");
    if (typeof regex === "string" && regex !== "" && !new RegExp(regex).test(rel)) continue;
    const age = rule.get("age", true);
    if (rule.has("key_groups") || !isScalar(age) || typeof age.value !== "string" || age.value.trim() === "") {
      throw new RuleError(`.sops.yaml's creation rule for ${rel} has no \`age: <recipients>\` line this command can read (key_groups or a block list): edit it by hand, then run \`sops updatekeys\` on the file`);
    }
    return { value: age.value, node: age };
  }
  throw new RuleError(`no creation rule of .sops.yaml matches ${rel}: add one for it (docs/runbooks/rotate-secrets.md)`);
}

/** The recipients of the rule for `rel` (as written: the caller checks each one). */
export function ruleRecipients(text: string, rel: string): string[] {
  return findRule(text, rel)
    .value.split(",")
    .map((r) => r.trim())
    .filter(Boolean);
}

/** `text` with the rule's `age:` value replaced by `recipients` (comma-separated); nothing else changes. */
export function setRuleRecipients(text: string, rel: string, recipients: string[]): string {
  for (const r of recipients) if (!isAgeRecipient(r)) throw new RuleError("refusing to write a malformed recipient into .sops.yaml");
  if (recipients.length === 0) throw new RuleError("refusing to leave .sops.yaml's rule without a recipient");
  const { node } = findRule(text, rel);
  const [start, end] = node.range!;
  const out = text.slice(0, start) + recipients.join(",") + text.slice(end);
  const back = ruleRecipients(out, rel);
  if (back.join(",") !== recipients.join(",")) throw new RuleError(`could not edit .sops.yaml's rule for ${rel} (it would list: ${back.join(" ")}): edit it by hand`);
  return out;
}
