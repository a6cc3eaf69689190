import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigError, evidenceRoot, GITOPS_PATH, isAddressOrHostname, readEvidenceDir, readPlatformConfig } from "../../lib/config";
import { ALL_DOMAINS } from "../../lib/domains";

// A throwaway project directory with the files a valid lab config points at.
const made: string[] = [];
afterAll(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function project(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-config-"));
  made.push(dir);
  fs.mkdirSync(path.join(dir, "inv"));
  fs.writeFileSync(path.join(dir, "inv", "hosts.yml"), "platform:\n  hosts:\n    vps:\n      ansible_host: 10.0.0.5\ndatabase:\n  hosts:\n    vps: {}\n");
  for (const f of ["key", "secrets.sops.yaml", "age.key"]) fs.writeFileSync(path.join(dir, f), "x");
  return dir;
}

const valid: Record<string, string> = {
  inventory: "inv",
  host: "vps",
  hostAddress: "10.0.0.5",
  sshPrivateKeyPath: "key",
  secretsFile: "secrets.sops.yaml",
  ageKeyFile: "age.key",
};

function read(overrides: Record<string, string | undefined>) {
  const values = { ...valid, ...overrides };
  return readPlatformConfig({ get: (k) => values[k] }, project());
}

function errorOf(overrides: Record<string, string | undefined>): ConfigError {
  try {
    read(overrides);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("stack configuration", () => {
  it("accepts a valid lab configuration and applies documented defaults", () => {
    const c = read({});
    expect(c.environment).toBe("lab");
    expect(c.domains).toEqual(ALL_DOMAINS);
    expect(path.basename(c.evidenceDir)).toBe("evidence");
    expect(c.argocd.enabled).toBe(false);
  });

  it("treats an empty value (Pulumi.yaml's default for optional keys) as the documented default", () => {
    const c = read({ evidenceDir: "", argocdManifestsDir: "", argocdMode: "" });
    expect(path.basename(c.evidenceDir)).toBe("evidence");
    expect(c.argocd.mode).toBe("helm");
    expect(c.argocd.manifestsDir).toMatch(/argocd-\d+\.\d+\.\d+\/manifests$/);
    // Unset reconciliation keys keep upstream's defaults: argocd-cm gets no key for them.
    expect(read({ argocdReconciliationTimeout: "", argocdReconciliationJitter: undefined }).argocd.reconciliation).toEqual({ timeout: undefined, jitter: undefined });
    expect(read({ argocdReconciliationTimeout: "10s", argocdReconciliationJitter: "2s" }).argocd.reconciliation).toEqual({ timeout: "10s", jitter: "2s" });
  });

  it("an empty domain list (Pulumi.yaml's default) means every domain of domains.yml", () => {
    expect(read({ domains: "[]" }).domains).toEqual(ALL_DOMAINS);
  });

  it("keeps the platform's converge order whatever order domains are listed in", () => {
    expect(read({ domains: '["postgresql","base"]' }).domains).toEqual(["base", "postgresql"]);
  });

  it.each([
    [{ hostAddress: "10.0.0.999" }, "hostAddress", "not an IPv4/IPv6 address"],
    [{ hostAddress: "bad host!" }, "hostAddress", "not an IPv4/IPv6 address"],
    [{ hostAddress: "10.0.0.6" }, "hostAddress", "differs from the inventory's ansible_host '10.0.0.5'"],
    [{ domains: '["base","dns"]' }, "domains", `unknown domain 'dns' (known: ${ALL_DOMAINS.join(", ")})`],
    [{ domains: '["base","base"]' }, "domains", "listed twice"],
    [{ domains: "base" }, "domains", "must be a list"],
    [{ sshPrivateKeyPath: "missing-key" }, "sshPrivateKeyPath", "file not found: missing-key"],
    [{ ageKeyFile: "nope.key" }, "ageKeyFile", "file not found"],
    [{ secretsFile: undefined }, "secretsFile", "is required"],
    [{ host: "other" }, "host", "'other' is not in"],
    [{ inventory: "no-such-dir" }, "inventory", "directory not found"],
    [{ environment: "staging" }, "environment", "must be 'lab' or 'prod'"],
    [{ argocdEnabled: "yes" }, "argocdEnabled", "must be true or false"],
    [{ argocdMode: "kustomize" }, "argocdMode", "must be 'helm' or 'manifests'"],
    [{ argocdEnabled: "true" }, "kubeconfigPath", "is required"],
    [{ gitopsPath: "deploy" }, "gitopsPath", "is not a setting: the GitOps tree is gitops/"],
    [{ argocdReconciliationTimeout: "10" }, "argocdReconciliationTimeout", "must be a duration such as 10s"],
    [{ argocdReconciliationJitter: "2 s" }, "argocdReconciliationJitter", "got '2 s'"],
  ])("rejects %j with an error naming platform:%s", (overrides, key, text) => {
    const e = errorOf(overrides);
    expect(e.key).toBe(key);
    expect(e.message).toContain(`platform:${key}:`);
    expect(e.message).toContain(text);
  });

  it("accepts a hostAddress other than the inventory's with hostAddressOverridesInventory (an isolated lab), still checking the host", () => {
    const c = read({ hostAddress: "10.0.0.6", hostAddressOverridesInventory: "true" });
    expect(c.hostAddress).toBe("10.0.0.6");
    expect(c.hostAddressOverridesInventory).toBe(true);
    expect(read({}).hostAddressOverridesInventory).toBe(false);
    expect(errorOf({ hostAddress: "10.0.0.6", hostAddressOverridesInventory: "true", host: "other" }).key).toBe("host");
    expect(errorOf({ hostAddressOverridesInventory: "maybe" }).key).toBe("hostAddressOverridesInventory");
  });

  it("recognises addresses and DNS names", () => {
    expect(isAddressOrHostname("203.0.113.10")).toBe(true);
    expect(isAddressOrHostname("2001:db8::1")).toBe(true);
    expect(isAddressOrHostname("vps-1.example.org")).toBe(true);
    expect(isAddressOrHostname("256.1.1.1")).toBe(false);
    expect(isAddressOrHostname("-bad.example")).toBe(false);
  });

  it("the GitOps tree's path is one constant, the one every app's application.jsonnet names its manifests by", () => {
    const apps = fs.readdirSync(path.join(__dirname, "..", "..", GITOPS_PATH, "apps"));
    expect(apps.length).toBeGreaterThan(0);
    for (const app of apps) {
      const jsonnet = fs.readFileSync(path.join(__dirname, "..", "..", GITOPS_PATH, "apps", app, "application.jsonnet"), "utf8");
      expect({ app, path: /path: '([^']+)'/.exec(jsonnet)?.[1] }).toEqual({ app, path: `${GITOPS_PATH}/apps/${app}/manifests` });
    }
  });

  it("evidence goes to $PLATFORM_EVIDENCE_DIR, else platform:evidenceDir, else <root>/evidence: one rule", () => {
    expect(evidenceRoot("/r", { PLATFORM_EVIDENCE_DIR: "/tmp/ev" }, "/r/custom")).toBe("/tmp/ev");
    expect(evidenceRoot("/r", { PLATFORM_EVIDENCE_DIR: "rel" }, "/r/custom")).toBe("/r/rel");
    expect(evidenceRoot("/r", {}, readEvidenceDir({ get: () => "out/ev" }, "/r"))).toBe("/r/out/ev");
    expect(evidenceRoot("/r", { PLATFORM_EVIDENCE_DIR: "" }, readEvidenceDir({ get: () => "" }, "/r"))).toBe("/r/evidence");
    expect(evidenceRoot("/r", {})).toBe("/r/evidence");
    expect(evidenceRoot("/r", { PLATFORM_EVIDENCE_DIR: "/e" }, () => { throw new Error("the stack is not read when the environment decides"); })).toBe("/e");
    expect(evidenceRoot("/r", {}, () => undefined)).toBe("/r/evidence");
  });

  it("no command reads $PLATFORM_EVIDENCE_DIR or builds <root>/evidence itself (they all go through evidenceRoot)", () => {
    const root = path.join(__dirname, "..", "..");
    const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith(".ts") ? [path.join(d, e.name)] : []));
    const offenders = [...walk(path.join(root, "cli")), ...walk(path.join(root, "lib"))]
      .filter((f) => !f.endsWith(path.join("lib", "config.ts")))
      .flatMap((f) => fs.readFileSync(f, "utf8").split("\n").map((l, i) => [f, i, l] as const))
      .filter(([, , l]) => /env\.PLATFORM_EVIDENCE_DIR\s*(\?\?|\|\||\)|,|;)|["']evidence["']\)/.test(l))
      .map(([f, i, l]) => `${path.relative(root, f)}:${i + 1}: ${l.trim()}`);
    expect(offenders).toEqual([]);
  });
});
