// The platform's domains: one Ansible role (and tag) each, converged in this order.
// Adding a domain = a role under infra/ansible/roles/, a line here, and a line in site.yml.
// The secret keys a domain consumes are lib/secretKeys.ts's (SECRET_PREFIXES), with the keys
// themselves and their generators.
import { secretPrefixesOf } from "./secretKeys";

export interface DomainSpec {
  /** Role directory under infra/ansible/roles/ and the tag that selects it in site.yml. */
  role: string;
  /** Prefixes of the SOPS secret keys this domain consumes: rotating one re-runs only it. */
  secretPrefixes: string[];
}

export const DOMAINS = {
  base: { role: "base", secretPrefixes: secretPrefixesOf("base") },
  ssh: { role: "ssh", secretPrefixes: secretPrefixesOf("ssh") },
  firewall: { role: "firewall", secretPrefixes: secretPrefixesOf("firewall") },
  vpn: { role: "vpn", secretPrefixes: secretPrefixesOf("vpn") },
  postgresql: { role: "postgresql", secretPrefixes: secretPrefixesOf("postgresql") },
  k3s: { role: "k3s", secretPrefixes: secretPrefixesOf("k3s") },
} satisfies Record<string, DomainSpec>;

export type Domain = keyof typeof DOMAINS;
export const ALL_DOMAINS = Object.keys(DOMAINS) as Domain[];

export function isDomain(name: string): name is Domain {
  return Object.prototype.hasOwnProperty.call(DOMAINS, name);
}
