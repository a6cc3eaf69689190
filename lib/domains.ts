// The platform's domains: one Ansible role (and tag) each, converged in this order, with the SOPS
// secret keys each consumes. The list lives in one file, infra/ansible/domains.yml, which
// site.yml loads too (vars_files): this module only reads and checks it, so the program, the
// operator CLI and Ansible cannot disagree about which domains exist.
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { repoRoot } from "./versions";

/** The one list of domains, read by site.yml and by this module. */
export const DOMAINS_FILE = path.join(repoRoot, "infra", "ansible", "domains.yml");

export interface DomainSecret {
  /** The key in the stack's SOPS file. */
  key: string;
  /** What the value is (runbook table, `platform secrets keys --json`). */
  what: string;
  /** lib/secretKeys.ts's GENERATORS entry that makes a fresh value. */
  generator: string;
}

export interface DomainSpec {
  /** The domain's name: its role under infra/ansible/roles/ and its tag (`--tags`, platform:domains). */
  name: string;
  /** Role directory under infra/ansible/roles/ (the domain's name). */
  role: string;
  /** Inventory group the domain's role runs on. */
  hosts: string;
  /** The SOPS secret keys this domain consumes: rotating one re-runs only the domains listing it. */
  secrets: DomainSecret[];
}

/** Domain names, keys and groups: lower-case words, as Ansible tags and variable names allow. */
const NAME = /^[a-z][a-z0-9_]*$/;

/** Parses and checks domains.yml's text; throws one line naming the file and the entry. */
export function parseDomains(text: string, file = DOMAINS_FILE): DomainSpec[] {
  const where = path.relative(process.cwd(), file) || file;
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    return fail(`does not parse: ${(e as Error).message.split("\n")[0]}`);
  }
  const list = (doc as { platform_domains?: unknown } | null)?.platform_domains;
  if (!Array.isArray(list) || list.length === 0) return fail("platform_domains must be a non-empty list");
  const names = new Set<string>();
  const keys = new Set<string>();
  return list.map((entry: unknown, i) => {
    const e = (entry ?? {}) as { name?: unknown; hosts?: unknown; secrets?: unknown };
    if (typeof e.name !== "string" || !NAME.test(e.name)) return fail(`platform_domains[${i}].name must be a lower-case word, got ${JSON.stringify(e.name)}`);
    if (names.has(e.name)) fail(`domain '${e.name}' is listed twice`);
    names.add(e.name);
    if (typeof e.hosts !== "string" || !NAME.test(e.hosts)) fail(`${e.name}.hosts must name an inventory group, got ${JSON.stringify(e.hosts)}`);
    if (!Array.isArray(e.secrets ?? [])) fail(`${e.name}.secrets must be a list`);
    const secrets = ((e.secrets ?? []) as unknown[]).map((s, j) => {
      const v = (s ?? {}) as Partial<DomainSecret>;
      if (typeof v.key !== "string" || !/^secret_[a-z0-9_]+$/.test(v.key)) return fail(`${e.name}.secrets[${j}].key must be secret_<word>, got ${JSON.stringify(v.key)}`);
      if (keys.has(v.key)) fail(`secret key '${v.key}' is listed twice (one domain per key)`);
      keys.add(v.key);
      if (typeof v.what !== "string" || !v.what.trim()) fail(`${v.key}.what must say what the value is`);
      if (typeof v.generator !== "string" || !v.generator.trim()) fail(`${v.key}.generator must name a generator (lib/secretKeys.ts)`);
      return { key: v.key, what: v.what!.trim(), generator: v.generator! };
    });
    return { name: e.name, role: e.name, hosts: e.hosts as string, secrets };
  });
}

export function readDomains(file = DOMAINS_FILE): DomainSpec[] {
  return parseDomains(fs.readFileSync(file, "utf8"), file);
}

/** The domains, in converge order. */
export const DOMAIN_SPECS: readonly DomainSpec[] = readDomains();

/** A domain's name (one of ALL_DOMAINS: check with isDomain). */
export type Domain = string;
export const ALL_DOMAINS: readonly Domain[] = DOMAIN_SPECS.map((d) => d.name);
export const DOMAINS: Readonly<Record<Domain, DomainSpec>> = Object.fromEntries(DOMAIN_SPECS.map((d) => [d.name, d]));

export function isDomain(name: string): name is Domain {
  return Object.prototype.hasOwnProperty.call(DOMAINS, name);
}
