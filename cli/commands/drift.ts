// `platform drift`: the drift report, three layers, read-only (nothing is changed anywhere):
//   host     the VPS, per domain: Ansible check mode with diff
//   pulumi   the stack: a refresh preview through the Automation API (no state written)
//   cluster  each Argo CD app: sync/health, drifted objects with a field diff against Git,
//            orphans, and its compared revision against the head of the branch it tracks
// Ansible runs once per report: one site.yml --check pass over the domains gives the host layer,
// and with the Pulumi layer the refresh, started beside it, reads the domains from that same pass
// (lib/drift/sharedCheck.ts). The cluster layer runs beside both.
// Exit: 0 clean, 3 drifted, 1 broken (a layer could not be checked), 2 usage.
import * as fs from "fs";
import * as path from "path";
import { ConfigError, evidenceRoot, PlatformConfig, readPlatformConfig } from "../../lib/config";
import { clusterLayer } from "../../lib/drift/clusterLayer";
import { gitRemote } from "../../lib/drift/gitRemote";
import { checkPass, EvidenceRecord, hostFromRecords, readRecord } from "../../lib/drift/hostLayer";
import { refreshFromEvents, refreshPreview } from "../../lib/drift/pulumiLayer";
import { announceCheckPass, CHECK_PASS_ENV, CHECK_PASS_FILE, CHECK_PASS_OWNER_ENV, CheckPassOutcome } from "../../lib/drift/sharedCheck";
import { DriftReport, EXIT, LayerName, LAYERS, oneLine, overall, PulumiLayer, renderSummary } from "../../lib/drift/report";
import { ALL_DOMAINS, isDomain } from "../../lib/domains";
import { driftCluster } from "../../lib/kube";
import { appendAudit } from "../../lib/operator/audit";
import { correlationId } from "../../lib/operator/correlation";
import { checkStackName, keepingStackFile, openStack, prepareStackEnv, StackEnv } from "../../lib/pulumiEnv";
import { configSourceFromFile } from "../../lib/stackConfigFile";
import { repoRoot } from "../../lib/versions";
import { parseFlags, UsageError } from "../args";
import type { Command } from "../platform";

const HELP = `usage: platform drift [STACK] [--layers host,pulumi,cluster] [--domains D1,D2] [--json] [--kubeconfig FILE]

The drift report of a stack (default: lab), read-only, in three layers:
  host     the VPS, per domain: Ansible check mode with diff
  pulumi   the stack: a refresh preview (Automation API, no state written)
  cluster  each Argo CD app: sync/health, drifted objects with a field diff against Git, orphans,
           and its compared revision against the branch head in Git (a head that does not
           render names the app, the revision, the file and the parser's message)
Ansible runs once: one check pass, whose verdicts the pulumi layer's refresh reads too.

  --layers LIST       the layers to check (default: host,pulumi,cluster)
  --domains LIST      the host layer's domains (default: every domain; ${ALL_DOMAINS.join(", ")})
  --json              print the JSON report instead of the summary
  --kubeconfig FILE   the cluster's kubeconfig (default: $PLATFORM_KUBECONFIG, else platform:kubeconfigPath)

Writes the JSON report to <evidence>/drift-<correlation id>.json ($PLATFORM_EVIDENCE_DIR, else
platform:evidenceDir) and one audit record (action drift).
Exit: 0 clean, 3 drifted, 1 broken (a layer could not be checked), 2 usage.
`;

const progress = (line: string) => process.stderr.write(`platform drift: ${line}\n`);
const rel = (root: string, p: string) => (p.startsWith(root + path.sep) ? path.relative(root, p) : p);

export interface DriftOptions {
  stack: string;
  layers: LayerName[];
  domains: string[];
  cid: string;
  root: string;
  kubeconfig?: string;
}

/** The report (without its wall time); `evidence` is where the layers' work files go. */
export async function runDrift(opts: DriftOptions, se: StackEnv, config: PlatformConfig, evidence: string): Promise<DriftReport["layers"]> {
  const { root, cid } = opts;
  const want = (l: LayerName) => opts.layers.includes(l);
  const layers: DriftReport["layers"] = {};
  const work = path.join(evidence, `drift-${cid}`);
  const readRecords = (files: string[]) => files.map((f) => ({ file: rel(root, f), record: readRecord(f) as EvidenceRecord }));

  const pulumiAndHost = (async () => {
    // One check pass: over the stack's domains when the refresh reads them from it (each of its
    // runs is a domain of the stack), else over the host layer's.
    const passDomains = want("pulumi") ? config.domains : opts.domains;
    const announced = path.join(work, CHECK_PASS_FILE);
    const pass = (async (): Promise<CheckPassOutcome> => {
      let outcome: CheckPassOutcome;
      try {
        progress(`host check: one check pass over ${passDomains.join(", ")} on ${config.host} (${config.hostAddress})`);
        outcome = { record: await checkPass({ root, config, domains: passDomains, cid, dir: work, envPath: se.envVars.PATH }) };
      } catch (e) {
        outcome = { error: oneLine(e) };
      }
      // The refresh's reads wait for this file.
      if (want("pulumi")) announceCheckPass(announced, outcome);
      return outcome;
    })();
    // The refresh starts beside the pass: its start-up and its other reads overlap the pass.
    const refresh = want("pulumi")
      ? (async () => {
          try {
            // The provider's reads take the id and where the pass is announced from the environment.
            const s = await openStack({ ...se, envVars: { ...se.envVars, PLATFORM_CORRELATION_ID: cid, [CHECK_PASS_ENV]: announced, [CHECK_PASS_OWNER_ENV]: String(process.pid) } });
            progress(`pulumi layer: refresh preview of ${opts.stack} (its reads of the domains wait for the check pass's verdicts)`);
            return refreshFromEvents(await keepingStackFile(se, () => refreshPreview(s, se.configFile)));
          } catch (e) {
            return { error: oneLine(e) };
          }
        })()
      : undefined;

    const outcome = await pass;
    if (want("host")) {
      if ("record" in outcome) {
        layers.host = hostFromRecords(readRecords([outcome.record]), opts.domains, "check");
        const missing = opts.domains.filter((d) => !passDomains.includes(d));
        if (missing.length) Object.assign(layers.host, { status: "broken", error: `the stack has no run for: ${missing.join(", ")} (platform:domains)` });
      } else layers.host = { status: "broken", domains: {}, source: "check", error: outcome.error };
      progress(`host layer: ${layers.host.status}`);
    }
    if (!refresh) return;
    const r = await refresh;
    if ("error" in outcome) {
      // Its reads of the domains are that pass: the refresh could not succeed (one reason, not two).
      layers.pulumi = brokenPulumi(`not refreshed: the host check pass failed (${outcome.error})`);
    } else if ("error" in r) {
      layers.pulumi = brokenPulumi(r.error);
    } else {
      layers.pulumi = r.layer;
      // A stack last updated before the shared pass stores a provider that checks by itself.
      const own = r.checks.filter((c) => c.evidenceFile && path.resolve(root, c.evidenceFile) !== outcome.record).map((c) => c.domain);
      if (own.length) progress(`note: the stack's provider ran its own checks of ${own.join(", ")} (it predates the shared pass; \`platform up\` updates it)`);
    }
    progress(`pulumi layer: ${layers.pulumi.status}${layers.pulumi.resources.length ? ` (${layers.pulumi.resources.join(", ")})` : ""}`);
  })();

  const cluster = (async () => {
    if (!want("cluster")) return;
    if (!config.argocd.enabled) {
      layers.cluster = { status: "broken", apps: [], error: `stack '${opts.stack}' has no Argo CD (platform:argocdEnabled is not true)` };
      return;
    }
    const git = gitRemote();
    try {
      const kubeconfig = opts.kubeconfig ?? process.env.PLATFORM_KUBECONFIG ?? path.resolve(root, config.argocd.kubeconfigPath!);
      progress("cluster layer: Argo CD apps against the cluster and Git");
      layers.cluster = await clusterLayer({ cluster: await driftCluster(kubeconfig), git });
    } catch (e) {
      layers.cluster = { status: "broken", apps: [], error: oneLine(e) };
    } finally {
      git.cleanup();
    }
    progress(`cluster layer: ${layers.cluster!.status} (${layers.cluster!.apps.length} app(s))`);
  })();

  await Promise.all([pulumiAndHost, cluster]);
  // The layers in their usual order, whichever finished first.
  return Object.fromEntries(LAYERS.filter((l) => layers[l]).map((l) => [l, layers[l]])) as DriftReport["layers"];
}

/** The Pulumi layer when it could not be read. */
const brokenPulumi = (error: string): PulumiLayer => ({ status: "broken", resources: [], hostInSyncFalse: false, error });

/** Every asked layer broken with the same reason: the stack itself could not be prepared. */
function allBroken(layers: LayerName[], reason: string): DriftReport["layers"] {
  const out: DriftReport["layers"] = {};
  for (const l of layers) {
    if (l === "host") out.host = { status: "broken", domains: {}, error: reason };
    if (l === "pulumi") out.pulumi = brokenPulumi(reason);
    if (l === "cluster") out.cluster = { status: "broken", apps: [], error: reason };
  }
  return out;
}

function listFlag(name: string, value: string | undefined, known: readonly string[], def: string[]): string[] {
  if (value === undefined) return def;
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new UsageError(`drift: --${name} needs a list`);
  for (const i of items) if (!known.includes(i)) throw new UsageError(`drift: unknown ${name.replace(/s$/, "")} '${i}' (known: ${known.join(name === "domains" ? " " : ", ")})`);
  return [...new Set(items)];
}

/** One report, start to end: the JSON file, the audit record; returns it with its file. */
export async function driftReport(opts: { stack: string; layers: LayerName[]; domains: string[]; kubeconfig?: string; root?: string }): Promise<{ report: DriftReport; file: string }> {
  const { stack, layers, domains } = opts;
  const root = opts.root ?? repoRoot;
  // A typo must not reach a backend, nor write a report or an audit record (exit 1, one line).
  checkStackName(root, stack);
  const cid = correlationId();
  const t0 = Date.now();
  progress(`drift report for ${stack} (${layers.join(",")}), correlation id ${cid}`);

  let evidence = evidenceRoot(root);
  let result: DriftReport["layers"];
  let se: StackEnv | undefined;
  try {
    // The host layer alone runs no engine: it works before `platform deploy` has created the lab stack.
    se = prepareStackEnv(stack, root, process.env, { engine: layers.includes("pulumi") });
    const config = readPlatformConfig(configSourceFromFile(se.configFile), root);
    // platform:evidenceDir, unless the caller's environment names another place.
    evidence = evidenceRoot(root, process.env, config.evidenceDir);
    result = await runDrift({ stack, layers, domains, cid, root, kubeconfig: opts.kubeconfig }, se, config, evidence);
  } catch (e) {
    result = allBroken(layers, e instanceof ConfigError ? `the stack config is invalid: ${e.message}` : oneLine(e));
  } finally {
    se?.cleanup();
  }
  const report: DriftReport = { stack, correlationId: cid, wallSeconds: Math.round((Date.now() - t0) / 100) / 10, status: overall(result), layers: result };
  fs.mkdirSync(evidence, { recursive: true });
  const file = path.join(evidence, `drift-${cid}.json`);
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + "\n");
  appendAudit(root, { stack, action: "drift", outcome: report.status, correlationId: cid, fields: { layers: layers.join(","), report: rel(root, file), wallSeconds: String(report.wallSeconds) } });
  progress(`${report.status} (exit ${EXIT[report.status]}, ${report.wallSeconds} s; ${rel(root, file)})`);
  return { report, file };
}

export const drift: Command = {
  help: HELP,
  async run(argv) {
    const { flags, rest } = parseFlags("drift", argv, { layers: "string", domains: "string", json: "boolean", kubeconfig: "string" });
    if (rest.length > 1) throw new UsageError(`drift: unexpected argument '${rest[1]}'`);
    const layers = listFlag("layers", flags.layers, LAYERS, [...LAYERS]) as LayerName[];
    const domains = listFlag("domains", flags.domains, ALL_DOMAINS, [...ALL_DOMAINS]).filter(isDomain);
    const { report, file } = await driftReport({ stack: rest[0] ?? "lab", layers, domains, kubeconfig: flags.kubeconfig });
    process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + "\n" : renderSummary(report, rel(repoRoot, file)));
    return EXIT[report.status];
  },
};
