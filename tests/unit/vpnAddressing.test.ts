// VPN addressing is defined once per inventory (group_vars/all/main.yml: platform_vpn_subnet and
// platform_vpn_server_ip); the roles derive theirs from it and the one value outside Ansible that
// must equal it (the demo app's database host in gitops/, which Argo CD applies as is) is tied
// to it here.
import * as fs from "fs";
import * as path from "path";
import { parse, parseAllDocuments } from "yaml";

const root = path.resolve(__dirname, "..", "..");
const ansible = path.join(root, "infra/ansible");
const inventoryVars = (inv: string) => parse(fs.readFileSync(path.join(ansible, "inventories", inv, "group_vars/all/main.yml"), "utf8")) as Record<string, unknown>;
const ipv4 = (s: string) => s.split(".").reduce((n, o) => n * 256 + Number(o), 0);
const inSubnet = (ip: string, cidr: string) => {
  const [net, len] = cidr.split("/");
  const size = 2 ** (32 - Number(len));
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(net) / size);
};

describe("VPN addressing: once per inventory, derived everywhere else", () => {
  for (const inv of ["lab", "prod"]) {
    it(`${inv}: the server address lies in the subnet, and the roles' VPN values derive from them`, () => {
      const v = inventoryVars(inv);
      expect(String(v.platform_vpn_subnet)).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
      expect(inSubnet(String(v.platform_vpn_server_ip), String(v.platform_vpn_subnet))).toBe(true);
      expect(v.postgresql_hba_networks).toContain("{{ platform_vpn_subnet }}");
    });
  }

  it("no role, inventory var file or lab script repeats an address of the VPN subnet", () => {
    const subnet = String(inventoryVars("lab").platform_vpn_subnet);
    const files = ["roles", "inventories"].flatMap((d) => walk(path.join(ansible, d))).concat([path.join(root, "scripts/lab/lab.env")]);
    const hits: string[] = [];
    for (const f of files.filter((x) => /\.(ya?ml|j2|env)$/.test(x))) {
      for (const [i, line] of fs.readFileSync(f, "utf8").split("\n").entries()) {
        if (/^\s*platform_vpn_(subnet|server_ip):/.test(line)) continue;
        for (const m of line.matchAll(/\b(\d+\.\d+\.\d+\.\d+)\b/g)) if (inSubnet(m[1], subnet)) hits.push(`${path.relative(root, f)}:${i + 1}: ${line.trim()}`);
      }
    }
    expect(hits).toEqual([]);
  });

  it("the roles' defaults read the inventory's two values", () => {
    const defaults = (role: string) => parse(fs.readFileSync(path.join(ansible, "roles", role, "defaults/main.yml"), "utf8")) as Record<string, unknown>;
    expect(defaults("vpn").vpn_address).toBe("{{ platform_vpn_server_ip }}/{{ platform_vpn_subnet | split('/') | last }}");
    expect(defaults("firewall").firewall_vpn_subnet).toBe("{{ platform_vpn_subnet }}");
    expect(defaults("postgresql").postgresql_listen_addresses).toEqual(["localhost", "{{ platform_vpn_server_ip }}"]);
    expect(defaults("k3s").k3s_tls_san).toEqual(["{{ platform_vpn_server_ip }}"]);
  });

  it("gitops/ (one tree for every environment) names the server address of every inventory", () => {
    const docs = parseAllDocuments(fs.readFileSync(path.join(root, "gitops/apps/demo/manifests/config.yaml"), "utf8")).map((d) => d.toJS() as { data?: Record<string, string> });
    const dbHost = docs.map((d) => d?.data?.["db-host"]).find(Boolean);
    for (const inv of ["lab", "prod"]) expect({ inv, dbHost }).toEqual({ inv, dbHost: inventoryVars(inv).platform_vpn_server_ip });
  });
});

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}
