// `platform rollback`: a bad commit undone through Git. `git revert` it (a new commit with a
// Correlation-Id: trailer), push that to the GitOps remote, sync the affected Argo CD apps at the
// revert now (no waiting for polling), watch until they are Synced to it, verify the live objects
// against Git, and, when the commit touched what the Pulumi program deploys, `pulumi up` the stack
// (Automation API) with the same correlation id in the update message. Every refusal happens
// before anything changes; every outcome is audited. Runbook: docs/runbooks/rollback.md.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { git } from "../../lib/git";
import { correlationId } from "../../lib/operator/correlation";
import { errorLine, OperatorDeps, OperatorFailure, realDeps, relToRoot, startAction } from "../../lib/operator/deps";
import { affectedApps, gitTimed, touchesProgram } from "../../lib/operator/gitops";
import { pulumiUp } from "../../lib/operator/pulumiUp";
import { GITOPS_PATH, PlatformConfig } from "../../lib/config";
import { appSummary, prefetchForVerify, requestSync, verifyApp, waitSynced } from "../../lib/operator/sync";
import { labDirOf } from "../../lib/pulumiEnv";
import { repoRoot } from "../../lib/versions";
import { parseFlags, UsageError } from "../args";
import type { Command } from "../platform";

const HELP = `usage: platform rollback [--stack STACK] [--repo DIR] [--remote URL] [--no-pulumi] [--json] COMMIT

Reverts COMMIT (a new commit with a Correlation-Id: trailer), pushes it to the branch Argo CD
tracks, syncs the affected apps now, waits until they are Synced to the revert and checks the live
objects against Git; when the commit touched the Pulumi program (infra/, components/, lib/,
index.ts, Pulumi*.yaml, toolchain/, package*.json), runs \`pulumi up\` under the same id.

  --stack STACK   the stack (default: lab)
  --repo DIR      the Git checkout to revert in (default: this repository); must be clean
  --remote URL    where to push (default: the lab's Git server for the lab, origin otherwise)
  --no-pulumi     skip the Pulumi part
  --json          print the result as JSON

Exit: 0 rolled back and verified; 1 refused (nothing changed, nothing pushed) or failed after the
push (the message says what is left); 2 usage. Evidence: evidence/rollback-<correlation id>/.
`;

const WAIT_MS = 180_000;

export interface RollbackDeps extends OperatorDeps {
  /** The stack's secrets are usable (the Pulumi part needs them): undefined when they are, else the reason. */
  secretsCheck(repo: string, stack: string, evidenceFile: string): string | undefined;
  pulumiUp(o: { stack: string; root: string; correlationId: string; log: string }): Promise<void>;
}

export interface RollbackResult {
  stack: string;
  correlationId: string;
  commit: string;
  revert: string;
  revisionBefore: string;
  apps: Array<{ app: string; restored: boolean; error?: string }>;
  pulumi: "succeeded" | "failed" | "skipped";
  outcome: "succeeded" | "failed";
  argocdSeconds: number;
  seconds: number;
  evidence: string;
}

export async function runRollback(
  o: { stack: string; repo: string; remote?: string; pulumi: boolean; commit: string; correlationId: string; config?: () => PlatformConfig },
  deps: RollbackDeps,
): Promise<RollbackResult> {
  const { stack, repo, commit, correlationId: cid } = o;
  const { config, configError, work } = startAction(deps, stack, `rollback-${cid}`, o.config);
  const evidence = relToRoot(deps.root, work);
  const save = (file: string, text: string) => fs.appendFileSync(path.join(work, file), text);
  const g = (args: string[]) => git(repo, args);
  let before = "";
  const fail = (msg: string, fields: Record<string, string> = {}): never => {
    deps.audit({ stack, action: "rollback", outcome: "failed", correlationId: cid, fields: { commit, error: msg, revisionBefore: before, evidence, ...fields } });
    throw new OperatorFailure(msg);
  };

  // --- refuse bad input before changing anything ---------------------------------------------
  try {
    g(["rev-parse", "--git-dir"]);
  } catch {
    fail(`${repo} is not a Git checkout`);
  }
  let sha = "";
  try {
    sha = g(["rev-parse", "-q", "--verify", `${commit}^{commit}`]).trim();
  } catch {
    fail(`unknown commit '${commit}' in ${repo}`);
  }
  before = g(["rev-parse", "HEAD"]).trim();
  if (g(["status", "--porcelain", "--untracked-files=no"]).trim()) fail(`${repo} has uncommitted changes: commit or stash them first (a rollback commits only the revert)`);
  try {
    g(["merge-base", "--is-ancestor", sha, "HEAD"]);
  } catch {
    fail(`commit ${sha.slice(0, 12)} is not in the history of HEAD in ${repo}`);
  }
  if (g(["rev-list", "--no-walk", "--count", "--min-parents=2", sha]).trim() !== "0") {
    fail(`commit ${sha.slice(0, 12)} is a merge: revert it by hand choosing the mainline (git revert -m 1), then push`);
  }
  const remote = o.remote ?? (stack === "lab" ? path.join(labDirOf(deps.root, deps.env), "git", "platform.git") : "origin");
  if (configError) {
    save("cluster-env.err", configError + "\n");
    fail(configError);
  }
  let sc;
  try {
    sc = await deps.cluster(stack, config);
  } catch (e) {
    save("cluster-env.err", errorLine(e) + "\n");
    return fail(errorLine(e));
  }
  const { cluster } = sc;
  const branch = sc.config.argocd.gitopsRevision;
  let remoteBefore = "";
  try {
    const out = gitTimed(["-C", repo, "ls-remote", remote, `refs/heads/${branch}`], 30_000);
    save("remote-before.txt", out);
    remoteBefore = out.split("\t")[0].trim();
  } catch (e) {
    save("ls-remote.err", errorLine(e) + "\n");
    fail(`the Git remote ${remote} does not answer: ${errorLine(e)}`);
  }
  const subject = g(["log", "-1", "--format=%s", sha]).trim();
  const files = g(["show", "--name-only", "--format=", sha]).split("\n").filter(Boolean);
  const apps = affectedApps(files, GITOPS_PATH);
  const pulumiPart = touchesProgram(files) && o.pulumi;
  // The Pulumi part will need the stack's secrets: check them now, before anything is reverted.
  if (pulumiPart) {
    const bad = deps.secretsCheck(repo, stack, path.join(work, "secrets-check.txt"));
    if (bad !== undefined) fail(`the stack's secrets are not usable, so the Pulumi layer could not run: ${bad}`);
  }
  deps.progress(`rollback of ${sha.slice(0, 12)} "${subject}" on ${stack} (correlation id ${cid}); apps: ${apps.join(" ") || "none"}; Pulumi layer: ${pulumiPart ? "yes" : "no"}`);
  try {
    save("before.json", JSON.stringify({ apps: await Promise.all(apps.map(async (n) => { const a = await cluster.app(n); return a ? appSummary(a) : { app: n, missing: true }; })) }, null, 2) + "\n");
  } catch {
    // before.json is a convenience (the old state of the apps); the rollback does not depend on it.
  }

  // --- the revert commit ------------------------------------------------------------------------
  const t0 = deps.clock();
  try {
    save("revert.txt", g(["revert", "--no-edit", "--no-commit", sha]));
  } catch (e) {
    save("revert.txt", errorLine(e) + "\n");
    const conflicts = g(["diff", "--name-only", "--diff-filter=U"]).split("\n").filter(Boolean).join(" ");
    try {
      g(["revert", "--abort"]);
    } catch {
      g(["reset", "-q", "--hard", before]);
    }
    fail(`commit ${sha.slice(0, 12)} does not revert cleanly (conflicts: ${conflicts ? conflicts + " " : `see ${path.join(work, "revert.txt")}`}); later commits changed the same lines: revert those first, or fix forward`);
  }
  const cfg = (k: string) => {
    try {
      return g(["config", k]).trim();
    } catch {
      return "";
    }
  };
  try {
    g([
      "-c", `user.name=${deps.env.GIT_AUTHOR_NAME || cfg("user.name") || "platform-operator"}`,
      "-c", `user.email=${deps.env.GIT_AUTHOR_EMAIL || cfg("user.email") || "platform-operator@localhost"}`,
      "commit", "-q", "-m", `Revert "${subject}"`, "-m", `This reverts commit ${sha}.`, "--trailer", `Correlation-Id: ${cid}`,
    ]);
  } catch {
    g(["reset", "-q", "--hard", before]);
    fail("git commit of the revert failed");
  }
  const revert = g(["rev-parse", "HEAD"]).trim();
  try {
    deps.progress(`  pushing the revert ${revert.slice(0, 12)} to ${remote} (${branch})`);
    save("push.txt", gitTimed(["-C", repo, "push", "-q", remote, `HEAD:refs/heads/${branch}`], 60_000));
  } catch (e) {
    save("push.txt", errorLine(e) + "\n");
    g(["reset", "-q", "--hard", before]); // nothing pushed: leave the checkout as it was
    fail(`push to ${remote} failed: ${errorLine(e)}`);
  }
  deps.progress(`  revert ${revert.slice(0, 12)} pushed to ${remote} (${branch})`);

  // --- Argo CD: sync now, wait, verify ---------------------------------------------------------
  const results: RollbackResult["apps"] = apps.map((app) => ({ app, restored: false }));
  for (const r of results) {
    try {
      save("sync.jsonl", JSON.stringify(await requestSync(cluster, r.app, revert, cid, `rollback of ${sha}`, deps.progress)) + "\n");
    } catch (e) {
      r.error = `sync request failed: ${errorLine(e)}`;
      save("sync.err", errorLine(e) + "\n");
      deps.progress(`  ${r.app}: ${r.error}`);
    }
  }
  // Git's files for the check below, fetched while Argo CD applies.
  for (const r of results.filter((x) => !x.error)) {
    const a = await cluster.app(r.app).catch(() => undefined);
    if (a) prefetchForVerify(deps.git, a, revert);
  }
  for (const r of results.filter((x) => !x.error)) {
    try {
      deps.progress(`  ${r.app}: waiting for Synced to ${revert.slice(0, 12)} (at most ${WAIT_MS / 1000} s)`);
      save("wait.jsonl", JSON.stringify(await waitSynced(cluster, r.app, revert, cid, WAIT_MS)) + "\n");
      const v = await verifyApp(cluster, deps.git, (await cluster.app(r.app))!, revert);
      save(`verify-${r.app}.json`, JSON.stringify(v ?? { app: r.app, revision: revert, note: "renders jsonnet: its children are verified one by one" }, null, 2) + "\n");
      if (v && Object.keys(v.mismatches).length) r.error = `live objects differ from Git: ${Object.keys(v.mismatches).join(", ")}`;
    } catch (e) {
      r.error = errorLine(e);
      save("wait.err", r.error + "\n");
    }
    r.restored = !r.error;
    deps.progress(r.restored ? `  ${r.app}: Synced to ${revert.slice(0, 12)}, live objects equal Git` : `  ${r.app}: NOT restored (${r.error}; see ${work})`);
  }
  const argocdSeconds = Math.round((deps.clock() - t0) / 100) / 10;
  try {
    save("after.json", JSON.stringify({ apps: await Promise.all(apps.map(async (n) => { const a = await cluster.app(n); return a ? appSummary(a) : { app: n, missing: true }; })) }, null, 2) + "\n");
  } catch {
    // as before.json
  }

  // --- Pulumi layer -----------------------------------------------------------------------------
  let pulumi: RollbackResult["pulumi"] = "skipped";
  if (pulumiPart) {
    const log = path.join(work, "pulumi-up.txt");
    deps.progress(`  pulumi up of ${stack} from ${repo} (minutes: every domain the revert touches runs; log ${log})`);
    const pt0 = deps.clock();
    try {
      await deps.pulumiUp({ stack, root: repo, correlationId: cid, log });
      pulumi = "succeeded";
      deps.progress(`  pulumi up: done (stack history carries Correlation-Id: ${cid})`);
    } catch (e) {
      pulumi = "failed";
      save("pulumi-up.txt", `\nerror: ${errorLine(e)}\n`);
      deps.progress(`  pulumi up FAILED: ${errorLine(e)} (see ${log})`);
    }
    // The record `platform up` leaves for an up (the stack's history of operator actions).
    deps.audit({ stack, action: "pulumi-up", outcome: pulumi, correlationId: cid, fields: { exitCode: pulumi === "succeeded" ? "0" : "1", log: relToRoot(deps.root, log), seconds: ((deps.clock() - pt0) / 1000).toFixed(1) } });
  }
  const seconds = Math.round((deps.clock() - t0) / 100) / 10;
  const outcome = results.every((r) => r.restored) && pulumi !== "failed" ? "succeeded" : "failed";
  deps.audit({
    stack,
    action: "rollback",
    outcome,
    correlationId: cid,
    fields: { commit: sha, revert, revisionBefore: remoteBefore, revisionAfter: revert, apps: apps.join(" "), pulumi, argocdSeconds: argocdSeconds.toFixed(1), seconds: seconds.toFixed(1), evidence },
  });
  return { stack, correlationId: cid, commit: sha, revert, revisionBefore: remoteBefore, apps: results, pulumi, outcome, argocdSeconds, seconds, evidence };
}

/** `platform secrets check` of the checkout (its own command: the checkout's code and key list). */
function secretsCheck(repo: string, stack: string, file: string): string | undefined {
  try {
    fs.writeFileSync(file, execFileSync(process.execPath, [path.join(repo, "cli/platform.js"), "secrets", "check", stack], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 }));
    return undefined;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    const out = `${err.stdout ?? ""}${err.stderr ?? String(e)}`;
    fs.writeFileSync(file, out);
    return (out.split("\n").find((l) => /error/.test(l)) ?? out.trim().split("\n").pop() ?? "").replace(/^(platform secrets: )?error: /, "");
  }
}

export const rollback: Command = {
  help: HELP,
  async run(argv) {
    const { flags, rest } = parseFlags("rollback", argv, { stack: "string", repo: "string", remote: "string", "no-pulumi": "boolean", json: "boolean" });
    if (rest.length === 0) throw new UsageError("rollback: which commit? (usage: platform rollback [--stack S] [--repo DIR] [--remote URL] [--no-pulumi] COMMIT)");
    if (rest.length > 1) throw new UsageError(`rollback: one commit at a time (got '${rest[0]}' and '${rest[1]}')`);
    const root = repoRoot;
    const deps = { ...realDeps("rollback", root), secretsCheck, pulumiUp };
    const repo = path.resolve(flags.repo ?? root);
    try {
      const r = await runRollback({ stack: flags.stack ?? "lab", repo, remote: flags.remote, pulumi: !flags["no-pulumi"], commit: rest[0], correlationId: correlationId() }, deps);
      if (flags.json) process.stdout.write(JSON.stringify(r, null, 2) + "\n");
      if (r.outcome === "failed") {
        process.stderr.write(`platform rollback: error: rollback of ${r.commit.slice(0, 12)} did not complete (evidence: ${path.resolve(root, r.evidence)}); the revert ${r.revert.slice(0, 12)} is pushed\n`);
        return 1;
      }
      deps.progress(`rollback of ${r.commit.slice(0, 12)} done in ${r.seconds}s: revert ${r.revert.slice(0, 12)} (correlation id ${r.correlationId})`);
      return 0;
    } catch (e) {
      if (!(e instanceof OperatorFailure)) throw e;
      process.stderr.write(`platform rollback: error: ${e.message}\n`);
      return 1;
    } finally {
      deps.cleanup();
    }
  },
};
