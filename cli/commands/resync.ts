// `platform resync`: drifted Argo CD apps back to Git. Each app gets a sync of the revision its
// branch points at now (the Application's `operation`, correlation id in its info and initiator),
// a watch until it is Synced with every object Synced, and a field-by-field check of the live
// objects against Git. Nothing is edited by hand: Git is the only source. Orphans are left alone
// (docs/runbooks/drift-detected.md). Runbook: docs/runbooks/resync.md.
import * as fs from "fs";
import * as path from "path";
import { PlatformConfig } from "../../lib/config";
import { correlationId } from "../../lib/operator/correlation";
import { errorLine, OperatorDeps, OperatorFailure, realDeps, relToRoot, startAction } from "../../lib/operator/deps";
import { appSummary, needsResync, prefetchForVerify, requestSync, verifyApp, waitSynced } from "../../lib/operator/sync";
import { repoRoot } from "../../lib/versions";
import { parseFlags } from "../args";
import type { Command } from "../platform";

const HELP = `usage: platform resync [STACK] [APP...] [--json]

Brings drifted Argo CD apps back to Git: a sync of the revision each app's branch points at now,
a wait until it is Synced, and a check of the live objects against Git, field by field.

  STACK    a stack (Pulumi.<STACK>.yaml exists; default: lab); otherwise the first app
  APP...   the apps (default: every app that is not Synced or has an object OutOfSync)
  --json   print the result as JSON

Exit: 0 every app restored and verified (or nothing to do); 1 otherwise (the audit record says
which); 2 usage. Evidence: evidence/resync-<correlation id>/.
`;

const WAIT_MS = 120_000;

export interface ResyncResult {
  stack: string;
  correlationId: string;
  apps: Array<{ app: string; revision: string; restored: boolean; error?: string; mismatches?: Record<string, string[]> }>;
  outcome: "succeeded" | "failed";
  seconds: number;
  /** Seconds spent in each step (config, client, read, git, sync, wait, verify; wait and verify summed over the apps): where the time went. */
  steps: Record<string, number>;
  evidence: string;
  note?: string;
}

export async function runResync(opts: { stack: string; apps: string[]; correlationId: string; config?: () => PlatformConfig }, deps: OperatorDeps): Promise<ResyncResult> {
  const { stack, correlationId: cid } = opts;
  let apps = [...opts.apps];
  const steps: Record<string, number> = {};
  let mark = deps.clock();
  const step = (name: string) => {
    const now = deps.clock();
    steps[name] = Math.round((steps[name] ?? 0) * 1000 + now - mark) / 1000;
    mark = now;
  };
  const { config, configError, work } = startAction(deps, stack, `resync-${cid}`, opts.config);
  step("config");
  const save = (file: string, text: string) => fs.appendFileSync(path.join(work, file), text);
  const fail = (step: string, msg: string): never => {
    save(`${step}.err`, msg + "\n");
    deps.audit({ stack, action: "resync", outcome: "failed", correlationId: cid, fields: { error: msg, apps: apps.join(" ") } });
    throw new OperatorFailure(msg);
  };
  if (configError) fail("cluster-env", configError);
  let sc;
  try {
    sc = await deps.cluster(stack, config);
  } catch (e) {
    return fail("cluster-env", errorLine(e));
  }
  step("client");
  const { cluster } = sc;
  const before = [];
  try {
    for (const a of apps.length ? apps : (await cluster.apps()).map((x) => x.metadata.name)) {
      const app = await cluster.app(a);
      if (!app) fail("before", `no Argo CD Application '${a}' in namespace ${cluster.namespace}`);
      before.push({ app: app!, summary: appSummary(app!) });
    }
  } catch (e) {
    if (e instanceof OperatorFailure) throw e;
    fail("before", errorLine(e));
  }
  save("before.json", JSON.stringify({ apps: before.map((b) => b.summary), drifted: before.some((b) => b.summary.drifted) }, null, 2) + "\n");
  step("read");
  const result: ResyncResult = { stack, correlationId: cid, apps: [], outcome: "succeeded", seconds: 0, steps, evidence: relToRoot(deps.root, work) };
  if (!apps.length) {
    apps = before.filter((b) => needsResync(b.summary)).map((b) => b.summary.app);
    if (!apps.length) {
      deps.progress(`every app is Synced with Git: nothing to resync (correlation id ${cid})`);
      deps.audit({ stack, action: "resync", outcome: "succeeded", correlationId: cid, fields: { apps: "", note: "nothing to resync" } });
      return { ...result, note: "nothing to resync" };
    }
  }
  deps.progress(`resync ${apps.join(" ")} on ${stack} to Git (correlation id ${cid})`);
  const byName = new Map(before.map((b) => [b.summary.app, b.app]));

  // The revision each app's branch points at now, straight from the Git remote.
  const rev = new Map<string, string>();
  for (const name of apps) {
    const a = byName.get(name)!;
    const url = a.spec.source?.repoURL || sc.config.argocd.gitopsRepoUrl || "";
    const target = a.spec.source?.targetRevision ?? sc.config.argocd.gitopsRevision;
    let sha: string | undefined;
    try {
      sha = deps.git.lsRemote(url, target);
    } catch (e) {
      fail("ls-remote", `the Git remote ${url} does not answer: ${errorLine(e)}`);
    }
    if (!sha) fail("ls-remote", `no revision '${target}' at ${url}`);
    rev.set(name, sha!);
  }
  step("git");

  const t0 = deps.clock();
  for (const name of apps) {
    try {
      const req = await requestSync(cluster, name, rev.get(name)!, cid, "resync to Git", deps.progress);
      save("sync.jsonl", JSON.stringify(req) + "\n");
    } catch (e) {
      fail("sync", `${name}: ${errorLine(e).replace(new RegExp(`^${name}: `), "")}`);
    }
  }
  step("sync");
  // Git's files for the check below, fetched while Argo CD applies (its wait is then shorter).
  for (const name of apps) prefetchForVerify(deps.git, byName.get(name)!, rev.get(name)!);
  for (const name of apps) {
    const revision = rev.get(name)!;
    const entry: ResyncResult["apps"][number] = { app: name, revision, restored: false };
    result.apps.push(entry);
    try {
      deps.progress(`  ${name}: waiting for Synced to ${revision.slice(0, 12)} (at most ${WAIT_MS / 1000} s)`);
      save("wait.jsonl", JSON.stringify(await waitSynced(cluster, name, revision, cid, WAIT_MS)) + "\n");
    } catch (e) {
      entry.error = errorLine(e);
      save("wait.err", entry.error + "\n");
    }
    step("wait");
    if (!entry.error) {
      try {
        const v = await verifyApp(cluster, deps.git, (await cluster.app(name))!, revision);
        save(`verify-${name}.json`, JSON.stringify(v ?? { app: name, revision, note: "renders jsonnet: its children are verified one by one" }, null, 2) + "\n");
        if (v && Object.keys(v.mismatches).length) {
          entry.mismatches = v.mismatches;
          entry.error = `live objects differ from Git: ${Object.keys(v.mismatches).join(", ")}`;
        }
      } catch (e) {
        entry.error = errorLine(e);
        save("verify.err", entry.error + "\n");
      }
      step("verify");
    }
    entry.restored = !entry.error;
    deps.progress(entry.restored ? `  ${name}: Synced to ${revision.slice(0, 12)}, live objects equal Git` : `  ${name}: NOT restored (${entry.error})`);
  }
  result.seconds = Math.round((deps.clock() - t0) / 100) / 10;
  save("steps.json", JSON.stringify(steps) + "\n");
  try {
    save("after.json", JSON.stringify({ apps: await Promise.all(apps.map(async (n) => appSummary((await cluster.app(n))!))) }, null, 2) + "\n");
  } catch {
    // after.json is a convenience: the audit record and wait/verify files hold the outcome.
  }
  result.outcome = result.apps.every((a) => a.restored) ? "succeeded" : "failed";
  deps.audit({
    stack,
    action: "resync",
    outcome: result.outcome,
    correlationId: cid,
    fields: { apps: apps.join(" "), revisions: apps.map((a) => `${a}@${rev.get(a)!.slice(0, 12)} `).join(""), seconds: result.seconds.toFixed(1), evidence: result.evidence },
  });
  return result;
}

export const resync: Command = {
  help: HELP,
  async run(argv) {
    const { flags, rest } = parseFlags("resync", argv, { json: "boolean" });
    const root = repoRoot;
    let stack = "lab";
    if (rest.length && fs.existsSync(path.join(root, `Pulumi.${rest[0]}.yaml`))) stack = rest.shift()!;
    const cid = correlationId();
    const deps = realDeps("resync", root);
    try {
      const r = await runResync({ stack, apps: rest, correlationId: cid }, deps);
      if (flags.json) process.stdout.write(JSON.stringify(r, null, 2) + "\n");
      if (r.outcome === "failed") {
        process.stderr.write(`platform resync: error: resync failed for some apps (evidence: ${path.resolve(root, r.evidence)})\n`);
        return 1;
      }
      if (!r.note) deps.progress(`resync done in ${r.seconds}s (steps, s: ${Object.entries(r.steps).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")}; evidence: ${path.resolve(root, r.evidence)})`);
      return 0;
    } catch (e) {
      if (!(e instanceof OperatorFailure)) throw e;
      process.stderr.write(`platform resync: error: ${e.message}\n`);
      return 1;
    } finally {
      deps.cleanup();
    }
  },
};
