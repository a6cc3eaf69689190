import { sopsFailure, secretsHash } from "../../lib/secrets";
import { classifySopsError, sopsPhrase } from "../../lib/sops";

// sops's own messages (v3.13) for each way a secrets file goes wrong. One of them quotes a value
// edited in clear: the program's error must name the problem, never repeat that value.
describe("sops failures name the key at fault and quote no value", () => {
  // stderr, the program's key at fault and its message, the class and `platform secrets`'s phrase.
  it.each([
    ["MAC mismatch. File has 2B4E, computed 4197", "secretsFile", "edited without sops: MAC mismatch", "mac", "MAC mismatch"],
    ["Error decrypting tree: Error walking tree: Could not decrypt value: Input string hunter2 does not match sops' data format", "secretsFile", "a value is not encrypted", "format", "not a sops envelope"],
    ["Error decrypting tree: Error walking tree: Could not decrypt value: Could not decrypt with AES_GCM: cipher: message authentication failed", "secretsFile", "ciphertext does not authenticate", "aead", "does not authenticate"],
    ["Failed to get the data key required to decrypt the SOPS file.\n\nGroup 0: FAILED\n  age1xyz: FAILED", "ageKeyFile", "not one of the file's recipients", "recipient", "not one of the file's recipients"],
    ["error: no matching creation rules found", "secretsFile", "sops cannot decrypt s.yaml (exit 2)", "rules", "no creation rule"],
    ["error loading config: yaml: line 3", "secretsFile", "sops cannot decrypt s.yaml (exit 2)", "config", "cannot load its configuration"],
    ["something new hunter2", "secretsFile", "sops cannot decrypt s.yaml (exit 2)", "other", "its message is not repeated here"],
  ])("%s", (stderr, key, text, kind, phrase) => {
    const e = sopsFailure("s.yaml", "k.key", 2, stderr);
    expect(e.key).toBe(key);
    expect(e.message).toContain(`platform:${key}:`);
    expect(e.message).toContain(text);
    expect(e.message).not.toContain("hunter2");
    expect(classifySopsError(stderr)).toBe(kind);
    expect(sopsPhrase(stderr)).toContain(phrase);
    expect(sopsPhrase(stderr)).not.toContain("hunter2");
  });

  it("says when sops is missing", () => {
    expect(sopsFailure("s.yaml", "k.key", "ENOENT", "").message).toContain("`sops` is not on PATH");
  });

  it("hashes only the values a domain consumes", () => {
    const s = { secret_a_1: "x", secret_b_1: "y" };
    expect(secretsHash(s, ["secret_a_1"])).toBe(secretsHash({ ...s, secret_b_1: "z", secret_a_10: "y" }, ["secret_a_1"]));
    expect(secretsHash(s, ["secret_a_1"])).not.toBe(secretsHash({ ...s, secret_a_1: "z" }, ["secret_a_1"]));
  });
});
