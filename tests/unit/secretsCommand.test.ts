// `platform secrets`'s pure logic (no process, no sops): the command line, the key list and its
// generators, age recipients, .sops.yaml's rule edit, what a file's clear text says about itself,
// (sops's failures: tests/unit/secrets.test.ts). The real thing with sops and age:
// tests/integration/secrets-command.test.ts. Every key here is made at run time; none is committed.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { helpFor, keysReport, parseSecretsArgs, sameSet } from "../../cli/commands/secrets";
import { UsageError } from "../../cli/args";
import { ALL_DOMAINS, DOMAINS } from "../../lib/domains";
import { generateSecret, isSecretKey, randomString, REQUIRED_SECRET_KEYS, secretDomains, wireguardPrivateKey, wireguardPublicKey } from "../../lib/secretKeys";
import { inspectSopsFile } from "../../lib/sops";
import { ageRecipientOf, isAgeRecipient, malformedRecipient, RuleError, ruleRecipients, setRuleRecipients } from "../../lib/sopsRule";

const root = path.resolve(__dirname, "..", "..");

// A public key age-keygen printed (its private half was never kept): the checksum check agrees
// with age's own encoder; the keys below are made by this module's encoder, at run time.
const PRINTED_BY_AGE = "age1u673cngr96f8g2py6n00hlyruxl5g70t25j50gl9k2damarlre4s93hwvc";
const newRecipient = () => ageRecipientOf(crypto.randomBytes(32));

describe("the command line", () => {
  const usage = (argv: string[]) => {
    try {
      parseSecretsArgs(argv);
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message;
    }
    throw new Error(`no usage error for ${argv.join(" ")}`);
  };

  it("parses each action into a request", () => {
    expect(parseSecretsArgs(["keys"])).toEqual({ action: "keys", json: false });
    expect(parseSecretsArgs(["keys", "--json"])).toEqual({ action: "keys", json: true });
    expect(parseSecretsArgs(["init", "prod"])).toEqual({ action: "init", stack: "prod", keep: false, json: false });
    expect(parseSecretsArgs(["init", "lab", "--keep"])).toMatchObject({ keep: true });
    expect(parseSecretsArgs(["rotate", "lab", "secret_k3s_token", "secret_k3s_token"])).toMatchObject({ keys: ["secret_k3s_token", "secret_k3s_token"], all: false });
    expect(parseSecretsArgs(["rotate", "lab", "--all"])).toMatchObject({ keys: [], all: true });
    expect(parseSecretsArgs(["check", "prod", "--json"])).toEqual({ action: "check", stack: "prod", json: true });
    expect(parseSecretsArgs(["remove-recipient", "prod", "age1x"])).toMatchObject({ action: "remove-recipient", recipient: "age1x" });
  });

  it("usage errors name what is wrong", () => {
    expect(usage([])).toContain("which action?");
    expect(usage(["frobnicate"])).toContain("unknown action 'frobnicate'");
    expect(usage(["check", "lab", "--all"])).toContain("unknown flag '--all'");
    expect(usage(["rotate", "lab", "--json"])).toContain("unknown flag '--json'");
    expect(usage(["keys", "extra"])).toContain("unexpected argument 'extra'");
    expect(usage(["init"])).toContain("needs a STACK");
    expect(usage(["rotate", "lab"])).toContain("needs KEY... or --all");
    expect(usage(["rotate", "lab", "--all", "secret_k3s_token"])).toContain("either KEY... or --all");
    expect(usage(["add-recipient", "lab"])).toContain("needs STACK AGE_PUBKEY");
    expect(usage(["check", "lab", "--keep"])).toContain("unknown flag '--keep'");
  });

  it("--help of one action shows that action's usage; of the command, all of them", () => {
    expect(helpFor(["rotate"])).toMatch(/^usage: platform secrets rotate STACK KEY\.\.\. \| --all/);
    expect(helpFor(["rotate"])).not.toContain("add-recipient");
    for (const a of ["init", "rotate", "recipients", "add-recipient", "remove-recipient", "check", "keys"]) expect(helpFor([])).toContain(`platform secrets ${a}`);
  });
});

describe("the key list (infra/ansible/domains.yml through lib/secretKeys.ts)", () => {
  it("every required key is domains.yml's, consumed by exactly the domain listing it", () => {
    for (const k of REQUIRED_SECRET_KEYS) {
      expect({ k, domains: secretDomains(k) }).toEqual({ k, domains: [expect.any(String)] });
      const [d] = secretDomains(k);
      expect(ALL_DOMAINS).toContain(d);
      expect(DOMAINS[d].secrets.map((s) => s.key)).toContain(k);
    }
    expect(keysReport().map((r) => [r.key, r.domains])).toEqual([
      ["secret_wireguard_server_private_key", ["vpn"]],
      ["secret_postgresql_app_password", ["postgresql"]],
      ["secret_k3s_token", ["k3s"]],
    ]);
    expect(secretDomains("secret_unclaimed_x")).toEqual([]);
    expect(isSecretKey("secret_k3s_token")).toBe(true);
    expect(isSecretKey("toString")).toBe(false);
  });

  it("generates fresh, quoting-free values of the right shape", () => {
    const pg = generateSecret("secret_postgresql_app_password");
    expect(pg).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(generateSecret("secret_k3s_token")).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(generateSecret("secret_wireguard_server_private_key"), "base64")).toHaveLength(32);
    expect(generateSecret("secret_postgresql_app_password")).not.toBe(pg);
    expect(randomString(1000, "ab").replace(/[ab]/g, "")).toBe("");
  });

  it("a WireGuard private key is clamped as wg genkey does, and its public key agrees with X25519", () => {
    const a = Buffer.from(wireguardPrivateKey(), "base64");
    expect(a[0] & 7).toBe(0);
    expect(a[31] & 0xc0).toBe(0x40);
    // Diffie-Hellman both ways through the derived public keys gives the same secret.
    const b = Buffer.from(wireguardPrivateKey(), "base64");
    const priv = (k: Buffer) => crypto.createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), k]), format: "der", type: "pkcs8" });
    const pub = (k: Buffer) => crypto.createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(wireguardPublicKey(k.toString("base64")), "base64").toString("base64url") }, format: "jwk" });
    expect(crypto.diffieHellman({ privateKey: priv(a), publicKey: pub(b) }).equals(crypto.diffieHellman({ privateKey: priv(b), publicKey: pub(a) }))).toBe(true);
    expect(() => wireguardPublicKey("c2hvcnQ=")).toThrow("not a WireGuard private key");
  });
});

describe("age recipients", () => {
  it("accepts a public key whose checksum holds, and nothing else", () => {
    expect(isAgeRecipient(PRINTED_BY_AGE)).toBe(true);
    const r = newRecipient();
    expect(r).toMatch(/^age1[a-z0-9]{58}$/);
    expect(isAgeRecipient(r)).toBe(true);
    const i = 10;
    const flipped = r.slice(0, i) + (r[i] === "q" ? "p" : "q") + r.slice(i + 1);
    expect(isAgeRecipient(flipped)).toBe(false);
    expect(isAgeRecipient(r.slice(0, -1))).toBe(false);
    expect(isAgeRecipient(ageRecipientOf(crypto.randomBytes(31)))).toBe(false);
    expect(malformedRecipient(r)).toBeUndefined();
    expect(malformedRecipient("age1notakey")).toMatch(/^malformed recipient: not an age public key/);
  });

  it("names a private key as such and never repeats it", () => {
    const fake = `AGE-SECRET-KEY-1${crypto.randomBytes(29).toString("hex").toUpperCase()}`;
    const msg = malformedRecipient(fake)!;
    expect(msg).toContain("that is an age PRIVATE key");
    expect(msg).not.toContain(fake.slice(16));
  });
});

describe(".sops.yaml's creation rule", () => {
  const committed = fs.readFileSync(path.join(root, ".sops.yaml"), "utf8");
  const rel = "secrets/prod.sops.yaml";

  it("reads the recipients of the first rule that matches the file (the repository's: the placeholder)", () => {
    expect(ruleRecipients(committed, rel)).toEqual(["REPLACE-ME-with-the-operators-age-public-key-age1..."]);
    const two = "creation_rules:\n  - path_regex: other\\.yaml$\n    age: x\n  - path_regex: (^|/)secrets/\n    age: ' a , b '\n";
    expect(ruleRecipients(two, rel)).toEqual(["a", "b"]);
    expect(ruleRecipients("creation_rules:\n  - age: c\n", rel)).toEqual(["c"]);
  });

  it("rewrites only the age value: every other byte, comments included, is kept", () => {
    const [a, b] = [newRecipient(), newRecipient()];
    const out = setRuleRecipients(committed, rel, [a, b]);
    expect(out).toBe(committed.replace("REPLACE-ME-with-the-operators-age-public-key-age1...", `${a},${b}`));
    expect(ruleRecipients(out, rel)).toEqual([a, b]);
    expect(setRuleRecipients(out, rel, [b])).toBe(committed.replace("REPLACE-ME-with-the-operators-age-public-key-age1...", b));
  });

  it("refuses what it cannot edit safely, naming the fix", () => {
    const r = newRecipient();
    expect(() => ruleRecipients("creation_rules:\n  - path_regex: secrets/\n    key_groups:\n      - age: [x]\n", rel)).toThrow(/key_groups or a block list\): edit it by hand/);
    expect(() => ruleRecipients("creation_rules:\n  - path_regex: secrets/\n    age:\n      - x\n", rel)).toThrow(RuleError);
    expect(() => ruleRecipients("creation_rules:\n  - path_regex: nothing-here\n    age: x\n", rel)).toThrow(`no creation rule of .sops.yaml matches ${rel}`);
    expect(() => ruleRecipients("stores: {}\n", rel)).toThrow(".sops.yaml has no creation_rules");
    expect(() => ruleRecipients("creation_rules: [\n", rel)).toThrow(/does not parse as YAML/);
    expect(() => setRuleRecipients(committed, rel, ["age1bad"])).toThrow("malformed recipient");
    expect(() => setRuleRecipients(committed, rel, [])).toThrow("without a recipient");
    expect(setRuleRecipients(committed, rel, [r])).toContain(`age: ${r}\n`);
  });
});

describe("a secrets file's clear text", () => {
  const recipient = newRecipient();
  const enc = (s: string) => `ENC[AES256_GCM,data:${s},iv:x,tag:y,type:str]`;
  const sopsBlock = `sops:\n  age:\n    - recipient: ${recipient}\n      enc: |\n        -----BEGIN AGE ENCRYPTED FILE-----\n        -----END AGE ENCRYPTED FILE-----\n  mac: ${enc("m")}\n  version: 3.13.2\n`;

  it("an encrypted file: its recipients, no clear value", () => {
    expect(inspectSopsFile(`a: ${enc("1")}\nb:\n  c: ${enc("2")}\n${sopsBlock}`)).toEqual({ encrypted: true, hasMetadata: true, clearKeys: [], recipients: [recipient] });
  });

  it("a clear value or no MAC is named, never parsed into a message", () => {
    expect(inspectSopsFile(`a: ${enc("1")}\nb: in-clear\n${sopsBlock}`).clearKeys).toEqual(["b"]);
    expect(inspectSopsFile("secret_x: in-clear\n")).toMatchObject({ encrypted: false, hasMetadata: false });
    expect(inspectSopsFile(`a: 1\nsops:\n  version: x\n`)).toMatchObject({ encrypted: false, hasMetadata: true });
    expect(inspectSopsFile("a: [unclosed\n")).toMatchObject({ encrypted: false, recipients: [] });
  });
});

describe("recipient lists", () => {
  it("compares recipient lists as sets", () => {
    expect(sameSet(["a", "b", "a"], ["b", "a"])).toBe(true);
    expect(sameSet(["a"], ["a", "b"])).toBe(false);
  });
});
