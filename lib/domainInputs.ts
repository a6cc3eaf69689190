// What a domain's Ansible run reads, and the content hash over it that decides whether the run
// is due (components/ansibleDomain.ts uses it as the trigger; the gate, cli/commands/gate.ts,
// explains a change from the same list). No Pulumi here: the operator CLI loads this quickly.
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { hashFiles, hashValues, listFiles } from "./contentHash";
import { readVersions, repoRoot } from "./versions";

/** Files of the role and of the roles it depends on (meta/main.yml dependencies), relative to the Ansible dir. */
export function roleClosure(ansibleDir: string, role: string, seen = new Set<string>()): string[] {
  if (seen.has(role)) return [];
  seen.add(role);
  const out = [path.join("roles", role)];
  const meta = path.join(ansibleDir, "roles", role, "meta", "main.yml");
  if (fs.existsSync(meta)) {
    const doc = parseYaml(fs.readFileSync(meta, "utf8")) as { dependencies?: Array<string | { role?: string; name?: string }> } | null;
    for (const dep of doc?.dependencies ?? []) {
      const name = typeof dep === "string" ? dep : (dep.role ?? dep.name);
      if (name) out.push(...roleClosure(ansibleDir, name, seen));
    }
  }
  return out;
}

/**
 * What a domain's run reads, relative to the project root: the one list its content hash covers
 * and the gate (cli/commands/gate.ts) explains a change from. Exactly what Ansible reads:
 *  - of each role in the closure, only the directories Ansible loads (ROLE_DIRS_READ): a role's
 *    README.md, docs/, molecule/ or tests/ are never read by a run and change nothing;
 *  - the playbook, the files it loads beside it (PLAYBOOK_FILES: the domain list and the per-domain
 *    tasks), ansible.cfg and the callback plugins it enables;
 *  - the inventory directory, minus the documentation extensions Ansible's inventory loader
 *    ignores (INVENTORY_IGNORED);
 *  - the entries of toolchain/versions.env the inventory looks up by name (the lab inventory reads
 *    KUBERNETES_VERSION and others with an ini lookup): a pin it reads is an input, others are not.
 */
export interface DomainInputs {
  files: string[];
  /** toolchain/versions.env keys the inventory reads, with their values. */
  versions: Record<string, string>;
}

/** Role subdirectories that ansible-playbook loads; nothing else in a role is read by a run. */
export const ROLE_DIRS_READ = ["tasks", "handlers", "defaults", "vars", "meta", "templates", "files", "library", "module_utils", "action_plugins", "filter_plugins", "lookup_plugins", "test_plugins"];
/** Files beside the playbook that site.yml loads for every domain (vars_files, include_tasks). */
export const PLAYBOOK_FILES = ["domains.yml", "converge-domain.yml"];
/** Extensions Ansible's inventory loader skips (its default inventory_ignore_extensions; group_vars load only YAML/JSON). */
const INVENTORY_IGNORED = /\.(md|txt|rst)$/;

export interface DomainInputArgs {
  root: string;
  ansibleDir: string;
  playbook: string;
  inventory: string;
  domain: string;
}

/** Whether a project-relative path is something this domain's run reads (also for paths that no longer exist: a deleted input). */
export function isDomainInput(args: DomainInputArgs, rel: string): boolean {
  const ansibleAbs = path.resolve(args.root, args.ansibleDir);
  const inventoryRel = path.relative(args.root, path.resolve(args.root, args.inventory));
  const under = (dir: string) => rel.startsWith(dir + "/");
  for (const role of roleClosure(ansibleAbs, args.domain)) {
    const roleRel = path.join(args.ansibleDir, role);
    if (under(roleRel) && ROLE_DIRS_READ.includes(rel.slice(roleRel.length + 1).split("/")[0]) && rel.slice(roleRel.length + 1).includes("/")) return true;
  }
  if ([args.playbook, "ansible.cfg", ...PLAYBOOK_FILES].some((f) => rel === path.join(args.ansibleDir, f))) return true;
  if (under(path.join(args.ansibleDir, "callback_plugins")) && rel.endsWith(".py")) return true;
  return under(inventoryRel) && !INVENTORY_IGNORED.test(rel);
}

export function domainInputs(args: DomainInputArgs, versionsFile = path.join(repoRoot, "toolchain", "versions.env")): DomainInputs {
  const ansibleAbs = path.resolve(args.root, args.ansibleDir);
  const inventoryRel = path.relative(args.root, path.resolve(args.root, args.inventory));
  const candidates = [
    ...roleClosure(ansibleAbs, args.domain).map((r) => path.join(args.ansibleDir, r)),
    path.join(args.ansibleDir, args.playbook),
    path.join(args.ansibleDir, "ansible.cfg"),
    ...PLAYBOOK_FILES.map((f) => path.join(args.ansibleDir, f)),
    path.join(args.ansibleDir, "callback_plugins"),
    inventoryRel,
  ];
  const files = new Set<string>();
  for (const c of candidates) {
    const abs = path.join(args.root, c);
    if (!fs.existsSync(abs)) continue;
    const list = fs.statSync(abs).isDirectory() ? listFiles(abs, args.root) : [c];
    for (const f of list) if (isDomainInput(args, f)) files.add(f);
  }
  const sorted = [...files].sort();
  const pins = fs.existsSync(versionsFile) ? readVersions(versionsFile) : {};
  const inventoryText = sorted.filter((f) => f.startsWith(inventoryRel + "/")).map((f) => fs.readFileSync(path.join(args.root, f), "utf8")).join("\n");
  const versions: Record<string, string> = {};
  for (const key of Object.keys(pins).sort()) if (inventoryText.includes(`'${key}'`) || inventoryText.includes(`"${key}"`)) versions[key] = pins[key];
  return { files: sorted, versions };
}

/** The content hash that decides whether a domain's run is due. */
export function domainContentHash(args: DomainInputArgs & { host: string; hostAddress: string }, versionsFile?: string): string {
  const inputs = domainInputs(args, versionsFile);
  return hashValues({ files: hashFiles(args.root, inputs.files), versions: inputs.versions, domain: args.domain, host: args.host, hostAddress: args.hostAddress });
}
