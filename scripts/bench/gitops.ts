// Benchmark of the GitOps operator actions on the lab (Argo CD installed, the lab stack deployed):
// the median of SAMPLES runs each of
//   detect    a manual change to a managed object -> Argo CD reports the app OutOfSync
//   resync    `platform resync lab demo` of that change -> Synced and verified against Git
//   push      a gitops-only commit pushed to the lab Git server -> the app Synced to it (polling)
//   rollback  `platform rollback` of that commit -> the previous state restored and verified
//   drift     `platform drift lab` wall time (three layers; DRIFT_SAMPLES runs, default SAMPLES)
//   npx tsx scripts/bench/gitops.ts [SAMPLES]        (default 5)
// The cluster through the typed clients (lib/operator/argocd.ts: Applications watched, not polled
// by a kubectl process; the ConfigMap through @kubernetes/client-node); the operator's actions
// through the command an operator types (`node cli/platform.js`, what `npx platform` runs).
// Figures are printed and saved in <evidence>/bench/gitops.json; nothing here fails on timing.
// Leaves the lab as found: HEAD published on the lab Git server, every app Synced.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { evidenceRoot } from "../../lib/config";
import type { Application } from "../../lib/operator/argocd";
import { stackCluster } from "../../lib/operator/stackCluster";
import { labDirOf } from "../../lib/pulumiEnv";
import { repoRoot } from "../../lib/versions";

const APP = "demo";
const CONFIGMAP = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "demo-config", namespace: "demo" } };
const MANIFEST = "gitops/apps/demo/manifests/config.yaml";
const STABLE_GREETING = "hello from git";

const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const die = (msg: string): never => {
  log(`error: ${msg}`);
  process.exit(1);
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(((s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2) * 100) / 100 : NaN;
};
const seconds = (t0: number) => Math.round((performance.now() - t0) / 10) / 100;

/** The operator's command of this checkout; its output goes to a log file (the last run's is kept). */
function platform(args: string[], logFile: string): number {
  const r = spawnSync(process.execPath, [path.join(repoRoot, "cli/platform.js"), ...args], { encoding: "utf8", timeout: 10 * 60 * 1000 });
  fs.writeFileSync(logFile, `$ platform ${args.join(" ")}\n${r.stdout ?? ""}${r.stderr ?? ""}(exit ${r.status})\n`);
  return r.status ?? 1;
}

const git = (cwd: string, args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8", timeout: 60_000 }).trim();

async function main(): Promise<void> {
  const samples = Number(process.argv[2] ?? "5");
  if (!Number.isInteger(samples) || samples < 1) die(`SAMPLES must be a positive integer, got '${process.argv[2]}'`);
  const driftSamples = Number(process.env.DRIFT_SAMPLES ?? samples);
  if (!Number.isInteger(driftSamples) || driftSamples < 0) die(`DRIFT_SAMPLES must be a non-negative integer, got '${process.env.DRIFT_SAMPLES}'`);

  const { cluster, kubeconfig, config } = await stackCluster("lab", repoRoot).catch((e: Error) => die(`the lab cluster is not reachable (deploy the lab stack first): ${e.message}`));
  const out = path.join(evidenceRoot(repoRoot, process.env, config.evidenceDir), "bench");
  fs.mkdirSync(out, { recursive: true });
  // The commands' own evidence goes beside the figures, not among the tests'.
  process.env.PLATFORM_EVIDENCE_DIR = path.join(out, "runs");
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const greeting = async () => ((await objects.read(CONFIGMAP)) as unknown as { data?: Record<string, string> }).data?.greeting;
  const patchGreeting = (value: string) => objects.patch({ ...CONFIGMAP, data: { greeting: value } }, undefined, undefined, "platform-bench", undefined, k8s.PatchStrategy.MergePatch);
  /** Watches the app until `cond` holds (bounded); dies naming what it waited for. */
  const waitApp = (what: string, timeoutMs: number, cond: (a: Application) => boolean) =>
    cluster.watchApp(APP, (a) => (cond(a) ? true : undefined), { timeoutMs, onTimeout: (last) => `${what}: not within ${timeoutMs / 1000} s (last: ${last?.status?.sync?.status} ${last?.status?.sync?.revision?.slice(0, 12)})` }).catch((e: Error) => die(e.message));
  const syncedTo = (rev: string) => (a: Application) => a.status?.sync?.status === "Synced" && a.status.sync.revision === rev;

  execFileSync("bash", [path.join(repoRoot, "scripts/lab/git-server.sh"), "push", "HEAD"], { stdio: "ignore", timeout: 120_000 });
  const head = git(repoRoot, ["rev-parse", "HEAD"]);
  await waitApp(`${APP} Synced to HEAD ${head.slice(0, 12)}`, 180_000, syncedTo(head));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "bench-gitops-"));
  const cleanup = () => {
    fs.rmSync(work, { recursive: true, force: true });
    spawnSync("bash", [path.join(repoRoot, "scripts/lab/git-server.sh"), "push", "HEAD"], { stdio: "ignore", timeout: 120_000 });
  };
  process.on("exit", cleanup);
  const repo = path.join(work, "repo");
  git(work, ["clone", "-q", path.join(labDirOf(repoRoot), "git", "platform.git"), repo]);

  const runs: Record<"detect" | "resync" | "push" | "rollback" | "drift", number[]> = { detect: [], resync: [], push: [], rollback: [], drift: [] };
  for (let i = 1; i <= samples; i++) {
    log(`sample ${i}/${samples}`);
    // detect + resync
    let t0 = performance.now();
    await patchGreeting(`bench ${i}`);
    await waitApp("OutOfSync after a manual change", 60_000, (a) => a.status?.sync?.status === "OutOfSync");
    runs.detect.push(seconds(t0));
    t0 = performance.now();
    if (platform(["resync", "lab", APP], path.join(out, "last-resync.log")) !== 0) die(`resync failed: ${path.join(out, "last-resync.log")}`);
    runs.resync.push(seconds(t0));
    if ((await greeting()) !== STABLE_GREETING) die("resync did not restore the greeting");
    log(`  manual change -> OutOfSync ${runs.detect.at(-1)}s; platform resync ${runs.resync.at(-1)}s`);
    // a gitops-only commit: pushed -> Synced by polling -> rolled back
    const file = path.join(repo, MANIFEST);
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/^ {2}greeting: .*$/m, `  greeting: bench commit ${i}`));
    git(repo, ["-c", "user.name=bench", "-c", "user.email=bench@lab.invalid", "commit", "-qam", `bench: greeting ${i}`]);
    const bad = git(repo, ["rev-parse", "HEAD"]);
    t0 = performance.now();
    git(repo, ["push", "-q", "origin", "HEAD:refs/heads/main"]);
    await waitApp(`${APP} Synced to the pushed commit`, 300_000, syncedTo(bad));
    runs.push.push(seconds(t0));
    t0 = performance.now();
    if (platform(["rollback", "--repo", repo, bad], path.join(out, "last-rollback.log")) !== 0) die(`rollback failed: ${path.join(out, "last-rollback.log")}`);
    runs.rollback.push(seconds(t0));
    if ((await greeting()) !== STABLE_GREETING) die("rollback did not restore the greeting");
    git(repo, ["pull", "-q", "--ff-only"]);
    log(`  push -> Synced (polling) ${runs.push.at(-1)}s; platform rollback -> restored, verified ${runs.rollback.at(-1)}s`);
  }
  for (let i = 1; i <= driftSamples; i++) {
    const t0 = performance.now();
    const rc = platform(["drift", "lab"], path.join(out, "last-drift.log"));
    if (rc === 1 || rc === 2) die(`platform drift broke (exit ${rc}): ${path.join(out, "last-drift.log")}`);
    runs.drift.push(seconds(t0));
    log(`  platform drift ${runs.drift.at(-1)}s (exit ${rc})`);
  }

  const med = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)])) as Record<keyof typeof runs, number>;
  const doc = { medianSeconds: med, runs, ratioPushToRollback: Math.round((med.push / med.rollback) * 100) / 100 };
  fs.writeFileSync(path.join(out, "gitops.json"), JSON.stringify(doc, null, 2) + "\n");
  const line = (what: string, k: keyof typeof runs, target = "") => `${what.padEnd(42)}: median ${med[k].toFixed(2).padStart(7)}s ${target.padEnd(16)} runs ${JSON.stringify(runs[k])}`;
  console.log(line("manual change -> OutOfSync detected", "detect", "(target <= 5 s)"));
  console.log(line("platform resync -> Synced, verified", "resync", "(target <= 3 s)"));
  console.log(line("git push -> Synced (polling only)", "push"));
  console.log(line("platform rollback -> restored, verified", "rollback", "(target <= 6 s)"));
  console.log(runs.drift.length ? line("platform drift (3 layers) wall time", "drift") : `${"platform drift (3 layers) wall time".padEnd(42)}: not run (DRIFT_SAMPLES=0)`);
  console.log(`ratio push(polling) / rollback             : ${doc.ratioPushToRollback}`);
  console.log(`saved: ${path.join(out, "gitops.json")}`);
}

main().then(
  () => process.exit(0),
  (e: Error) => die(e.message),
);
