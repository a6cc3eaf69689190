// `platform gate`: what a PR branch would change on a stack, as Markdown (a PR comment or a job
// summary) and JSON, with a verdict the workflow can act on (docs/adr/0012-pr-gate.md):
//   Pulumi layer   a preview of this checkout's program against the stack (Automation API, engine
//                  events), each resource that would change and, for a domain's run, why (which of
//                  its input files changed between the base and the PR)
//   cluster layer  for each Argo CD app whose gitops/apps/<app>/ folder the PR touches: the PR's
//                  manifests against the live objects (created / changed fields / deleted), read-only
// Exit: 0 no change, 7 changes expected, 1 broken (the reason in one line), 2 usage.
import * as fs from "fs";
import * as path from "path";
import { domainInputs, isDomainInput } from "../../lib/domainInputs";
import { ConfigError, GITOPS_PATH, PlatformConfig, readPlatformConfig } from "../../lib/config";
import { appReport, touchedApps, Tree } from "../../lib/gate/clusterLayer";
import { previewChanges } from "../../lib/gate/pulumiLayer";
import { GateReport, renderMarkdown, verdictOf } from "../../lib/gate/report";
import { hashChanged, whyDomain } from "../../lib/gate/why";
import { changedFiles, filesAt, mergeBase, revParse, showAt } from "../../lib/git";
import { kubeReader } from "../../lib/kube";
import { keepingStackFile, openStack, prepareStackEnv, StackEnv } from "../../lib/pulumiEnv";
import { stackEvidenceRoot } from "../../lib/operator/stackCluster";
import { configSourceFromFile } from "../../lib/stackConfigFile";
import { listFiles } from "../../lib/contentHash";
import { parseVersions, repoRoot } from "../../lib/versions";
import { parseFlags, UsageError } from "../args";
import type { Command } from "../platform";

const HELP = `usage: platform gate [--stack lab|prod] [--base REF] [--out DIR] [--json] [--kubeconfig FILE]

What this checkout (a PR branch) would change on the stack, against the base it merges into.
Prints Markdown (or, with --json, the JSON report) and writes gate.md and gate.json to --out.

  --stack STACK       the target stack (default: lab)
  --base REF          the branch the PR merges into (default: $PLATFORM_GATE_BASE, else origin/main, else main)
  --out DIR           where gate.md and gate.json go (default: <evidence>/gate-<time>: $PLATFORM_EVIDENCE_DIR, else platform:evidenceDir)
  --json              print the JSON report instead of the Markdown
  --kubeconfig FILE   the cluster's kubeconfig (default: $PLATFORM_KUBECONFIG, else platform:kubeconfigPath)

Exit: 0 no change, 7 changes expected, 1 broken (the reason in one line), 2 usage.
Read-only: no stack state, host or cluster object is changed.
`;

const ANSIBLE_DIR = "infra/ansible";
const PLAYBOOK = "site.yml";

function defaultBase(root: string): string {
  if (process.env.PLATFORM_GATE_BASE) return process.env.PLATFORM_GATE_BASE;
  try {
    revParse(root, "origin/main");
    return "origin/main";
  } catch {
    return "main";
  }
}

const worktree = (root: string): Tree => ({
  list: (dir) => listFiles(path.join(root, dir)).map((f) => path.join(dir, f)),
  read: (file) => fs.readFileSync(path.join(root, file), "utf8"),
});
const commitTree = (root: string, rev: string): Tree => ({
  list: (dir) => filesAt(root, rev, dir),
  read: (file) => showAt(root, rev, file),
});

const progress = (line: string) => process.stderr.write(`platform gate: ${line}\n`);
const rel = (root: string, p: string) => (p.startsWith(root + path.sep) ? path.relative(root, p) : p);

/** Why each domain's run is due (mutates the changes in place). */
function explainDomains(report: GateReport, root: string, base: string, config: PlatformConfig, changed: string[]): void {
  const basePins = changed.includes("toolchain/versions.env") ? parseVersions(showAt(root, base, "toolchain/versions.env")) : undefined;
  for (const c of report.pulumi.changes) {
    if (!c.domain) continue;
    const args = { root, ansibleDir: ANSIBLE_DIR, playbook: PLAYBOOK, inventory: rel(root, config.inventory), domain: c.domain };
    const pins = basePins ? domainInputs(args).versions : {};
    c.why = whyDomain({
      diffs: c.diffs,
      changedFiles: changed,
      isInput: (f) => isDomainInput(args, f),
      secretsFile: rel(root, config.secretsFile),
      changedPins: Object.keys(pins).filter((k) => basePins && basePins[k] !== pins[k]),
    });
    // The hash itself is a secret input, masked in the events: its change is known from the reasons.
    if (hashChanged(c.why) && !c.diffs.includes("contentHash")) c.diffs = [...c.diffs, "contentHash"].sort();
  }
}

export async function runGate(opts: { stack: string; base: string; kubeconfig?: string; root: string }): Promise<GateReport> {
  const { root, stack } = opts;
  const head = revParse(root, "HEAD");
  const baseSha = revParse(root, opts.base);
  const mb = mergeBase(root, baseSha);
  const changed = changedFiles(root, baseSha);
  const report: GateReport = {
    stack,
    base: baseSha,
    head,
    verdict: "broken",
    exitCode: 1,
    pulumi: { checked: false, changes: [], unchanged: 0 },
    cluster: { checked: false, touchedApps: touchedApps(changed, GITOPS_PATH), apps: [] },
  };
  let se: StackEnv | undefined;
  try {
    let config: PlatformConfig;
    try {
      se = prepareStackEnv(stack, root);
      config = readPlatformConfig(configSourceFromFile(se.configFile), root);
    } catch (e) {
      const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
      report.pulumi.error = msg;
      if (!(e instanceof ConfigError)) report.cluster.error = "not checked: the stack could not be prepared";
      else report.cluster.error = "not checked: the stack config is invalid";
      return finish(report);
    }
    const gitops = GITOPS_PATH;
    const pulumiLayer = (async () => {
      try {
        const s = await openStack(se!);
        progress(`pulumi layer: previewing ${stack}`);
        const r = await keepingStackFile(se!, () => previewChanges(s, se!.configFile));
        report.pulumi = { checked: true, changes: r.changes, unchanged: r.unchanged };
        progress(`pulumi layer: ${r.changes.length} resource(s) would change, ${r.unchanged} unchanged`);
        explainDomains(report, root, mb, config, changed);
      } catch (e) {
        report.pulumi.error = (e instanceof Error ? e.message : String(e)).split("\n")[0];
      }
    })();
    const clusterLayer = (async () => {
      if (!config.argocd.enabled) {
        report.cluster.skipped = "Not checked: the stack has no Argo CD (platform:argocdEnabled is false).";
        return;
      }
      try {
        const kubeconfig = opts.kubeconfig ?? process.env.PLATFORM_KUBECONFIG ?? path.resolve(root, config.argocd.kubeconfigPath!);
        const reader = await kubeReader(kubeconfig);
        await reader.ping();
        const head = worktree(root);
        const base = commitTree(root, mb);
        for (const app of report.cluster.touchedApps) report.cluster.apps.push(await appReport(app, { gitopsPath: gitops, head, base, changedFiles: changed, reader }));
        report.cluster.checked = true;
        progress(`cluster layer: ${report.cluster.touchedApps.length} app(s) touched, ${report.cluster.apps.reduce((n, a) => n + a.changes.length, 0)} object change(s)`);
      } catch (e) {
        report.cluster.error = (e instanceof Error ? e.message : String(e)).split("\n")[0];
      }
    })();
    await Promise.all([pulumiLayer, clusterLayer]);
    return finish(report);
  } finally {
    se?.cleanup();
  }
}

function finish(report: GateReport): GateReport {
  return Object.assign(report, verdictOf(report));
}

export const gate: Command = {
  help: HELP,
  async run(argv) {
    const { flags, rest } = parseFlags("gate", argv, { stack: "string", base: "string", out: "string", json: "boolean", kubeconfig: "string" });
    if (rest.length) throw new UsageError(`gate: unexpected argument '${rest[0]}'`);
    const root = repoRoot;
    const stack = flags.stack ?? "lab";
    const t0 = Date.now();
    process.stderr.write(`platform gate: ${stack}, this checkout against ${flags.base ?? defaultBase(root)} (a preview takes a minute)\n`);
    const report = await runGate({ stack, base: flags.base ?? defaultBase(root), kubeconfig: flags.kubeconfig, root });
    const markdown = renderMarkdown(report);
    const out = flags.out ?? path.join(stackEvidenceRoot(stack, root), `gate-${new Date().toISOString().replace(/[:.]/g, "-")}`);
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, "gate.md"), markdown);
    fs.writeFileSync(path.join(out, "gate.json"), JSON.stringify(report, null, 2) + "\n");
    process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + "\n" : markdown);
    process.stderr.write(`platform gate: ${report.verdict}${report.reason ? `: ${report.reason}` : ""} (exit ${report.exitCode}, ${((Date.now() - t0) / 1000).toFixed(1)} s; ${out}/gate.{md,json})\n`);
    return report.exitCode;
  },
};
