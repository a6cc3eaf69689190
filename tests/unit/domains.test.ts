// The domain list and each domain's secret keys live in one file, infra/ansible/domains.yml. These
// tests prove that file drives both readers: the program and CLI (lib/domains.ts,
// lib/secretKeys.ts) and Ansible (site.yml loads it and loops over it, naming no domain itself).
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { ALL_DOMAINS, DOMAINS, DOMAINS_FILE, parseDomains } from "../../lib/domains";
import { isDomainInput } from "../../lib/domainInputs";
import { GENERATORS, REQUIRED_SECRET_KEYS, secretKeysOf } from "../../lib/secretKeys";

const root = path.resolve(__dirname, "..", "..");
const ansibleDir = path.join(root, "infra/ansible");
type Play = { name: string; vars_files?: string[]; vars?: Record<string, unknown>; tasks?: Array<Record<string, unknown>>; roles?: unknown[] };
const site = parse(fs.readFileSync(path.join(ansibleDir, "site.yml"), "utf8")) as Play[];

/** Every string value in a YAML document (comments are not values). */
const strings = (v: unknown): string[] => (typeof v === "string" ? [v] : Array.isArray(v) ? v.flatMap(strings) : v && typeof v === "object" ? Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)]) : []);

describe("the domain list: infra/ansible/domains.yml, read by the program and by Ansible", () => {
  it("lib/domains.ts is domains.yml's list, in its order, with its hosts and secret keys", () => {
    const file = parse(fs.readFileSync(DOMAINS_FILE, "utf8")) as { platform_domains: Array<{ name: string; hosts: string; secrets: Array<{ key: string }> }> };
    expect(ALL_DOMAINS).toEqual(file.platform_domains.map((d) => d.name));
    for (const d of file.platform_domains) expect([DOMAINS[d.name].hosts, DOMAINS[d.name].secrets.map((s) => s.key)]).toEqual([d.hosts, d.secrets.map((s) => s.key)]);
    expect(REQUIRED_SECRET_KEYS).toEqual(file.platform_domains.flatMap((d) => d.secrets.map((s) => s.key)));
  });

  it("a domain added to the file is a domain of the program, with its keys (same parser, no second list)", () => {
    const text = fs.readFileSync(DOMAINS_FILE, "utf8") + "  - name: dns\n    hosts: platform\n    secrets:\n      - key: secret_dns_tsig\n        what: TSIG key\n        generator: hex_64\n";
    const specs = parseDomains(text);
    expect(specs.map((d) => d.name)).toEqual([...ALL_DOMAINS, "dns"]);
    expect(secretKeysOf(specs).secret_dns_tsig.domain).toBe("dns");
  });

  it("site.yml loads domains.yml, loops over it, and names no domain itself", () => {
    for (const p of site) expect({ play: p.name, vars_files: p.vars_files }).toEqual({ play: p.name, vars_files: ["domains.yml"] });
    expect(site.every((p) => !p.roles)).toBe(true);
    const loops = site.flatMap((p) => p.tasks ?? []).filter((t) => t.loop === "{{ platform_domains }}");
    expect(loops).toHaveLength(1);
    const texts = [...strings(site), ...strings(parse(fs.readFileSync(path.join(ansibleDir, "converge-domain.yml"), "utf8")))];
    for (const d of ALL_DOMAINS) expect({ d, named: texts.filter((s) => new RegExp(`\\b${d}\\b`).test(s)) }).toEqual({ d, named: [] });
  });

  it("every domain has its role, and every domain's run reads domains.yml (a change to it is a change to each)", () => {
    for (const d of ALL_DOMAINS) {
      expect(fs.existsSync(path.join(ansibleDir, "roles", DOMAINS[d].role, "tasks/main.yml"))).toBe(true);
      expect(isDomainInput({ root, ansibleDir: "infra/ansible", playbook: "site.yml", inventory: "infra/ansible/inventories/lab", domain: d }, "infra/ansible/domains.yml")).toBe(true);
    }
  });

  it("Pulumi.yaml does not repeat the list (platform:domains defaults to [], every domain)", () => {
    const project = parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { config: Record<string, { default?: unknown; description?: string }> };
    expect(project.config["platform:domains"].default).toEqual([]);
    for (const d of ALL_DOMAINS) expect(project.config["platform:domains"].description).not.toMatch(new RegExp(`\\b${d}\\b`));
  });

  it("a bad entry is one line naming the file and the entry", () => {
    expect(() => parseDomains("platform_domains: []\n", "/x/domains.yml")).toThrow(/domains\.yml: platform_domains must be a non-empty list/);
    expect(() => parseDomains("platform_domains:\n  - {name: a, hosts: g}\n  - {name: a, hosts: g}\n", "/x/domains.yml")).toThrow("domain 'a' is listed twice");
    expect(() => parseDomains("platform_domains:\n  - {name: A-b, hosts: g}\n", "/x/domains.yml")).toThrow('platform_domains[0].name must be a lower-case word, got "A-b"');
    expect(() => secretKeysOf(parseDomains("platform_domains:\n  - {name: a, hosts: g, secrets: [{key: secret_a, what: x, generator: nope}]}\n", "/x/domains.yml"))).toThrow(
      `secret_a.generator 'nope' is not one of lib/secretKeys.ts's (${Object.keys(GENERATORS).join(", ")})`,
    );
  });
});
