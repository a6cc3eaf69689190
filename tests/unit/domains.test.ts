// The list of domains lives in two places that must agree: lib/domains.ts (the program and
// `platform drift`) and infra/ansible/site.yml (platform_domains, the tag guard, one play per
// domain). This pins them together.
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { ALL_DOMAINS, DOMAINS } from "../../lib/domains";

const root = path.resolve(__dirname, "..", "..");
type Role = string | { role: string; tags?: string[] };
const site = parse(fs.readFileSync(path.join(root, "infra/ansible/site.yml"), "utf8")) as Array<{ name: string; roles?: Role[]; vars?: Record<string, unknown> }>;

describe("the domain list", () => {
  it("site.yml's platform_domains is lib/domains.ts's list, in order", () => {
    const declared = site.map((p) => p.vars?.platform_domains).find(Boolean);
    expect(declared).toEqual(ALL_DOMAINS);
  });

  it("site.yml runs each domain's role in its own play, tagged with the domain, in the same order", () => {
    const tagged = site.flatMap((p) => (p.roles ?? []).filter((r): r is { role: string; tags: string[] } => typeof r !== "string" && !!r.tags));
    expect(tagged.map((r) => r.tags)).toEqual(ALL_DOMAINS.map((d) => [d]));
    expect(tagged.map((r) => r.role)).toEqual(ALL_DOMAINS.map((d) => DOMAINS[d].role));
    for (const d of ALL_DOMAINS) expect(fs.existsSync(path.join(root, "infra/ansible/roles", DOMAINS[d].role, "tasks/main.yml"))).toBe(true);
  });
});
