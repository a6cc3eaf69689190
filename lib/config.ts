// Reads and validates the stack configuration. Every key is declared in Pulumi.yaml (type,
// description, default); this module enforces what a type cannot say (an address is an
// address, a path exists, a domain is known) and fails with an error that names the key,
// before any resource is registered, so bad input changes nothing.
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { ALL_DOMAINS, Domain, isDomain } from "./domains";
import { pinnedVersion, toolsCacheDir } from "./versions";

/** The subset of pulumi.Config this module needs (a plain object in unit tests). */
export interface ConfigSource {
  get(key: string): string | undefined;
}

export class ConfigError extends Error {
  constructor(
    public readonly key: string,
    message: string,
  ) {
    super(`platform:${key}: ${message}`);
    this.name = "ConfigError";
  }
}

export type Environment = "lab" | "prod";

export interface PlatformConfig {
  environment: Environment;
  /** Inventory directory (hosts.yml + group_vars), absolute. */
  inventory: string;
  /** Inventory hostname of the VPS. */
  host: string;
  /** Address of the VPS, what Ansible connects to; must equal the inventory's ansible_host unless hostAddressOverridesInventory. */
  hostAddress: string;
  /** hostAddress may differ from the inventory's ansible_host (an isolated second lab: docs/runbooks/lab.md). */
  hostAddressOverridesInventory: boolean;
  sshPrivateKeyPath: string;
  domains: Domain[];
  /** SOPS-encrypted secrets file given to Ansible (community.sops) and hashed per domain. */
  secretsFile: string;
  ageKeyFile: string;
  evidenceDir: string;
  argocd: ArgoCdConfig;
}

export interface ArgoCdConfig {
  enabled: boolean;
  /** "helm": the upstream chart through Helm (prod); "manifests": the release's install manifests from a local path (air-gapped, the lab). */
  mode: "helm" | "manifests";
  /** Admin kubeconfig: absolute, ~/..., or relative to the project root (kept relative). It may not exist yet at preview: the k3s domain writes it during the same `up`. */
  kubeconfigPath?: string;
  /** Directory with the Argo CD release's install manifests, core-install.yaml among them (mode "manifests"). */
  manifestsDir: string;
  /** Wait for Argo CD's workloads to be ready (the Kubernetes provider's await logic). Default true. */
  awaitReady: boolean;
  /**
   * argocd-cm's `timeout.reconciliation` and `timeout.reconciliation.jitter` (how often apps are
   * compared with Git, and the random delay added): unset keeps upstream's 180s and 60s. The lab
   * polls its local Git server every 10s (Pulumi.lab.yaml).
   */
  reconciliation: { timeout?: string; jitter?: string };
  gitopsRepoUrl?: string;
  gitopsRevision: string;
}

/**
 * The GitOps tree's directory in the repository. A constant, not a stack setting: each app's
 * application.jsonnet names its manifests by this path (gitops/apps/<app>/manifests), so moving
 * the tree is a commit to the tree, never a config change (tests/unit/config.test.ts ties them).
 */
export const GITOPS_PATH = "gitops";

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export function isAddressOrHostname(value: string): boolean {
  if (net.isIP(value)) return true;
  // A dotted string of digits that is not a valid IPv4 address is a typo, not a hostname.
  if (/^[0-9.]+$/.test(value)) return false;
  return HOSTNAME.test(value);
}

/** Parses and validates the stack config; `root` resolves relative paths (the project directory). */
export function readPlatformConfig(cfg: ConfigSource, root: string): PlatformConfig {
  const str = (key: string, def?: string): string => {
    // Pulumi.yaml declares optional keys with default "": empty means "use the default".
    const raw = cfg.get(key);
    const v = raw === undefined || raw.trim() === "" ? def : raw;
    if (v === undefined || v.trim() === "") throw new ConfigError(key, "is required (set it with `pulumi config set " + key + " ...`)");
    return v.trim();
  };
  const bool = (key: string, def: boolean): boolean => {
    const v = cfg.get(key);
    if (v === undefined) return def;
    if (v === "true" || v === "false") return v === "true";
    throw new ConfigError(key, `must be true or false, got '${v}'`);
  };
  // A Go duration as argocd-cm takes it ("10s", "3m", "1h"); "" or absent: upstream's default.
  const duration = (key: string): string | undefined => {
    const v = cfg.get(key)?.trim();
    if (!v) return undefined;
    if (!/^[0-9]+(s|m|h)$/.test(v)) throw new ConfigError(key, `must be a duration such as 10s, 3m or 1h, got '${v}'`);
    return v;
  };
  const existing = (key: string, kind: "file" | "directory", def?: string): string => {
    const rel = str(key, def);
    const abs = expandPath(rel, root);
    const st = fs.existsSync(abs) ? fs.statSync(abs) : undefined;
    if (!st) throw new ConfigError(key, `${kind} not found: ${rel}`);
    if (kind === "file" && !st.isFile()) throw new ConfigError(key, `not a file: ${rel}`);
    if (kind === "directory" && !st.isDirectory()) throw new ConfigError(key, `not a directory: ${rel}`);
    return abs;
  };

  const environment = str("environment", "lab");
  if (environment !== "lab" && environment !== "prod") {
    throw new ConfigError("environment", `must be 'lab' or 'prod', got '${environment}'`);
  }

  const hostAddress = str("hostAddress");
  if (!isAddressOrHostname(hostAddress)) {
    throw new ConfigError("hostAddress", `'${hostAddress}' is not an IPv4/IPv6 address or a DNS name`);
  }

  const domains = readDomains(cfg.get("domains"));
  const inventory = existing("inventory", "directory", "infra/ansible/inventories/lab");
  const host = str("host");
  const hostAddressOverridesInventory = bool("hostAddressOverridesInventory", false);
  checkInventoryHost(inventory, host, hostAddressOverridesInventory ? undefined : hostAddress);

  const argocdMode = str("argocdMode", "helm");
  if (argocdMode !== "helm" && argocdMode !== "manifests") {
    throw new ConfigError("argocdMode", `must be 'helm' or 'manifests', got '${argocdMode}'`);
  }
  const argocdEnabled = bool("argocdEnabled", false);
  if (cfg.get("gitopsPath") !== undefined) {
    throw new ConfigError("gitopsPath", `is not a setting: the GitOps tree is ${GITOPS_PATH}/ (its apps name their manifests by that path); remove the key`);
  }

  return {
    environment,
    inventory,
    host,
    hostAddress,
    hostAddressOverridesInventory,
    sshPrivateKeyPath: existing("sshPrivateKeyPath", "file"),
    domains,
    secretsFile: existing("secretsFile", "file"),
    ageKeyFile: existing("ageKeyFile", "file"),
    evidenceDir: readEvidenceDir(cfg, root),
    argocd: {
      enabled: argocdEnabled,
      mode: argocdMode,
      // Kept relative to the project root when given so (the program runs there): the path is stored
      // in the state, and two checkouts of the project must not look like a change of cluster.
      kubeconfigPath: argocdEnabled ? homePath(str("kubeconfigPath")) : undefined,
      manifestsDir: expandPath(str("argocdManifestsDir", defaultArgoCdManifests()), root),
      awaitReady: bool("argocdAwaitReady", true),
      reconciliation: { timeout: duration("argocdReconciliationTimeout"), jitter: duration("argocdReconciliationJitter") },
      gitopsRepoUrl: argocdEnabled ? str("gitopsRepoUrl") : cfg.get("gitopsRepoUrl"),
      gitopsRevision: str("gitopsRevision", "main"),
    },
  };
}

/**
 * Where a command writes its evidence (reports, work folders, Ansible records): the one rule every
 * command follows. $PLATFORM_EVIDENCE_DIR when set (a test or CI job names its own), else the
 * stack's platform:evidenceDir (`configured`, already resolved), else <root>/evidence.
 */
export function evidenceRoot(root: string, env: NodeJS.ProcessEnv = process.env, configured?: string | (() => string | undefined)): string {
  if (env.PLATFORM_EVIDENCE_DIR) return path.resolve(root, env.PLATFORM_EVIDENCE_DIR);
  // A function is only called when the environment does not decide (reading a stack takes time).
  return (typeof configured === "function" ? configured() : configured) ?? path.join(root, "evidence");
}

/** platform:evidenceDir alone, resolved against `root` (no other key checked: commands that need only it). */
export function readEvidenceDir(cfg: ConfigSource, root: string): string {
  const v = cfg.get("evidenceDir");
  return path.resolve(root, v === undefined || v.trim() === "" ? "evidence" : v.trim());
}

/** "~/" means the operator's home (keys and kubeconfigs live outside the repository); relative paths are relative to the project. */
function homePath(p: string): string {
  return p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : p;
}

/** A config path: `~/...` in the home directory, else relative to the project root. */
export function expandPath(p: string, root: string): string {
  return p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : path.resolve(root, p);
}

/** The install manifests that scripts/toolchain/ensure.sh extracts for the pinned Argo CD version. */
function defaultArgoCdManifests(): string {
  return path.join(toolsCacheDir(), `argocd-${pinnedVersion("ARGOCD_VERSION")}`, "manifests");
}

function readDomains(raw: string | undefined): Domain[] {
  // Unset or [] (Pulumi.yaml's default, which names no domain so that domains.yml stays the one list): every domain.
  if (raw === undefined || raw.trim() === "" || raw.trim() === "[]") return [...ALL_DOMAINS];
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    throw new ConfigError("domains", `must be a list of domains (YAML list or JSON array), got '${raw}'`);
  }
  if (!Array.isArray(list) || list.length === 0 || !list.every((d) => typeof d === "string")) {
    throw new ConfigError("domains", `must be a non-empty list of domain names, got '${raw}'`);
  }
  const seen = new Set<string>();
  for (const d of list as string[]) {
    if (!isDomain(d)) throw new ConfigError("domains", `unknown domain '${d}' (known: ${ALL_DOMAINS.join(", ")})`);
    if (seen.has(d)) throw new ConfigError("domains", `domain '${d}' is listed twice`);
    seen.add(d);
  }
  // Keep the platform's converge order whatever order the operator wrote.
  return ALL_DOMAINS.filter((d) => seen.has(d));
}

/**
 * The inventory must know the host, at the address the stack expects (a stack pointed at the wrong
 * inventory is caught here). Without `hostAddress` (platform:hostAddressOverridesInventory), only the
 * host is checked: Ansible is given the stack's hostAddress as ansible_host anyway.
 */
function checkInventoryHost(inventory: string, host: string, hostAddress: string | undefined): void {
  const file = ["hosts.yml", "hosts.yaml"].map((f) => path.join(inventory, f)).find((f) => fs.existsSync(f));
  if (!file) throw new ConfigError("inventory", `no hosts.yml in ${inventory}`);
  const hosts = new Map<string, Record<string, unknown>>();
  const walk = (group: unknown): void => {
    if (!group || typeof group !== "object") return;
    const g = group as { hosts?: Record<string, Record<string, unknown> | null>; children?: Record<string, unknown> };
    for (const [name, vars] of Object.entries(g.hosts ?? {})) hosts.set(name, { ...(hosts.get(name) ?? {}), ...(vars ?? {}) });
    for (const child of Object.values(g.children ?? {})) walk(child);
  };
  const doc = parseYaml(fs.readFileSync(file, "utf8")) as Record<string, unknown> | null;
  for (const group of Object.values(doc ?? {})) walk(group);
  const vars = hosts.get(host);
  if (!vars) throw new ConfigError("host", `'${host}' is not in ${path.relative(process.cwd(), file)} (hosts there: ${[...hosts.keys()].join(", ") || "none"})`);
  const invAddress = (vars["ansible_host"] as string | undefined) ?? host;
  if (hostAddress !== undefined && invAddress !== hostAddress) {
    throw new ConfigError(
      "hostAddress",
      `'${hostAddress}' differs from the inventory's ansible_host '${invAddress}' for ${host} (a second lab at another address sets platform:hostAddressOverridesInventory: docs/runbooks/lab.md)`,
    );
  }
}
