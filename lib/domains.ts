// The platform's domains: one Ansible role (and tag) each, converged in this order.
// Adding a domain = a role under infra/ansible/roles/, a line here, and a line in site.yml.

export interface DomainSpec {
  /** Role directory under infra/ansible/roles/ and the tag that selects it in site.yml. */
  role: string;
  /** Prefixes of the SOPS secret keys this domain consumes: rotating one re-runs only it. */
  secretPrefixes: string[];
}

export const DOMAINS = {
  base: { role: "base", secretPrefixes: [] },
  ssh: { role: "ssh", secretPrefixes: [] },
  firewall: { role: "firewall", secretPrefixes: [] },
  vpn: { role: "vpn", secretPrefixes: ["secret_wireguard_"] },
  postgresql: { role: "postgresql", secretPrefixes: ["secret_postgresql_"] },
  k3s: { role: "k3s", secretPrefixes: ["secret_k3s_"] },
} satisfies Record<string, DomainSpec>;

export type Domain = keyof typeof DOMAINS;
export const ALL_DOMAINS = Object.keys(DOMAINS) as Domain[];

export function isDomain(name: string): name is Domain {
  return Object.prototype.hasOwnProperty.call(DOMAINS, name);
}
