// Issue 4 acceptance: the main command (`bash scripts/bootstrap.sh deploy`: set-up, then `platform
// deploy`) brings the lab up and its `up`
// installs Argo CD and the App-of-Apps on the lab's API; Argo CD (real controllers on the lab VPS)
// syncs every child app from the lab's Git server; the stack is then a no-op; and a commit pushed
// to the lab remote is applied by Argo CD with no manual step. Argo CD runs as pods in the lab's
// cluster, as in prod (issue 12): the release's core install, its images built locally and pulled
// through the node's registry mirror. Objects are checked against Git itself
// (tests/support/gitops.ts), not against Argo CD's opinion.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ARGOCD_WORKLOADS, appStatus, argocdPods, kubectl, kubectlJson, waitForApp } from "../support/cluster";
import { saveEvidence } from "../support/evidence";
import { childApps, compareAppWithGit } from "../support/gitops";
import { labDir, onVps } from "../support/lab";
import { pinnedVersion } from "../../lib/versions";
import { repoRoot, run, runAsync } from "../support/tools";

jest.setTimeout(30 * 60 * 1000);

const labRemote = path.join(labDir, "git", "platform.git");
/** `platform COMMAND lab ARGS...` */
const pulumiLab = ([command, ...args]: string[]) => runAsync(path.join(repoRoot, "cli/platform.js"), [command, "lab", ...args], { cwd: repoRoot, timeoutMs: 20 * 60 * 1000 });
const git = (args: string[], cwd = repoRoot) => run("git", args, { cwd, timeoutMs: 60_000 });
const remoteMain = () => git(["--git-dir", labRemote, "rev-parse", "refs/heads/main"]).stdout.trim();

describe("Argo CD on the lab, installed by `pulumi up` (the main command)", () => {
  let head: string;

  beforeAll(async () => {
    // The README's main command, as an operator types it (setup and lab up are no-ops when done).
    const t0 = Date.now();
    const r = await runAsync("bash", [path.join(repoRoot, "scripts/bootstrap.sh"), "deploy"], { timeoutMs: 25 * 60 * 1000 });
    saveEvidence("argocd-lab", "deploy.log", `${r.stdout}\n--- stderr ---\n${r.stderr}\n(exit ${r.status}, ${Date.now() - t0} ms)`);
    if (r.status !== 0) throw new Error(`bootstrap.sh deploy failed (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
    head = git(["rev-parse", "HEAD"]).stdout.trim();
  });

  it("publishes this checkout's HEAD on the lab's Git server", () => {
    expect(remoteMain()).toBe(head);
  });

  it("lists the root app and every child app Synced and Healthy (the lab node runs the workloads' pods)", async () => {
    const want = ["root", ...childApps()];
    const statuses: Record<string, unknown> = {};
    // Healthy means ready pods for an app with a Deployment (lib/argocdHealth.ts).
    for (const app of want) statuses[app] = await waitForApp(app, { sync: "Synced", health: "Healthy", revision: head }, { timeoutMs: 240_000 });
    const listed = kubectl(["get", "applications.argoproj.io", "-n", "argocd"]);
    saveEvidence("argocd-lab", "applications.txt", `$ kubectl get applications -n argocd\n${listed.stdout}${listed.stderr}\n${JSON.stringify(statuses, null, 2)}`);
    expect(listed.status).toBe(0);
    const names = kubectlJson<{ items: { metadata: { name: string } }[] }>(["get", "applications.argoproj.io", "-n", "argocd"]).items.map((a) => a.metadata.name).sort();
    expect(names).toEqual([...want].sort());
    for (const app of want) expect(`${app} ${appStatus(app)?.sync} ${appStatus(app)?.health}`).toBe(`${app} Synced Healthy`);
  });

  it("runs Argo CD as pods in the argocd namespace, Running and Ready, from the manifests' own images; nothing of Argo CD runs on the VPS outside a pod", () => {
    const pods = Object.fromEntries(ARGOCD_WORKLOADS.map((w) => [w, argocdPods(w)]));
    // Every process on the VPS whose command line names Argo CD or redis, with its cgroup: a pod's
    // processes live under the kubelet's kubepods hierarchy, anything else would be a host process.
    const procs = onVps(`for p in $(pgrep -f '[a]rgocd|[r]edis-server'); do printf '%s %s %s\\n' "$p" "$(grep -m1 -o 'kubepods[^ ]*' /proc/$p/cgroup || echo HOST)" "$(tr '\\0' ' ' < /proc/$p/cmdline | cut -c1-80)"; done`).stdout.trim().split("\n").filter(Boolean);
    const listed = kubectl(["-n", "argocd", "get", "pods", "-o", "wide"]);
    saveEvidence("argocd-lab", "argocd-pods.txt", `$ kubectl -n argocd get pods -o wide\n${listed.stdout}${listed.stderr}\n${JSON.stringify(pods, null, 2)}\n\n# processes on the VPS (pid, cgroup, command)\n${procs.join("\n")}\n`);
    for (const w of ARGOCD_WORKLOADS) {
      expect(`${w}: ${pods[w].length} pod(s)`).toBe(`${w}: 1 pod(s)`);
      expect(`${w} ${pods[w][0].phase} ready=${pods[w][0].ready}`).toBe(`${w} Running ready=true`);
    }
    expect(pods["argocd-application-controller"][0].images).toEqual([pinnedVersion("ARGOCD_IMAGE")]);
    expect(pods["argocd-redis"][0].images).toEqual([pinnedVersion("ARGOCD_REDIS_IMAGE")]);
    expect(procs.length).toBeGreaterThanOrEqual(ARGOCD_WORKLOADS.length);
    expect(procs.filter((p) => p.split(" ")[1] === "HOST")).toEqual([]);
  });

  it("holds each child app's objects in the API with the content from Git", async () => {
    const report: Record<string, Record<string, string[]>> = {};
    for (const app of childApps()) {
      await waitForApp(app, { sync: "Synced", revision: head }, { timeoutMs: 180_000 });
      report[app] = compareAppWithGit(app, head);
    }
    saveEvidence("argocd-lab", "objects-vs-git.json", report);
    for (const [app, objects] of Object.entries(report)) {
      expect(Object.keys(objects).length).toBeGreaterThan(0);
      for (const [obj, diffs] of Object.entries(objects)) expect(`${app} ${obj}: ${diffs.join("; ")}`).toBe(`${app} ${obj}: `);
    }
  });

  it("previews no change right after up, and a second up is a no-op", async () => {
    const preview = await pulumiLab(["preview", "--expect-no-changes"]);
    const up = await pulumiLab(["up", "--json"]);
    saveEvidence("argocd-lab", "no-op.txt", `$ platform preview lab --expect-no-changes (exit ${preview.status})\n${preview.stdout}${preview.stderr}\n$ platform up lab --json (exit ${up.status})\n${up.stdout}${up.stderr}`);
    expect(preview.status).toBe(0);
    expect(up.status).toBe(0);
    const report = JSON.parse(up.stdout) as { changed: number; resourceChanges: Record<string, number> };
    expect(report.changed).toBe(0);
    expect(Object.keys(report.resourceChanges)).toEqual(["same"]);
  });

  it("applies a commit pushed to the lab remote without any manual step", async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "platform-gitops-"));
    const value = `changed by a commit at ${new Date().toISOString()}`;
    try {
      expect(git(["clone", "-q", labRemote, work]).status).toBe(0);
      const file = path.join(work, "gitops/apps/demo/manifests/config.yaml");
      fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/greeting: .*/, `greeting: ${value}`));
      const commit = ["-c", "user.name=platform-test", "-c", "user.email=platform-test@lab.invalid", "commit", "-qam", "demo: change the greeting (test)"];
      expect(git(commit, work).status).toBe(0);
      const sha = git(["rev-parse", "HEAD"], work).stdout.trim();
      const t0 = Date.now();
      expect(git(["push", "-q", "origin", "HEAD:refs/heads/main"], work).status).toBe(0);
      const status = await waitForApp("demo", { sync: "Synced", revision: sha }, { timeoutMs: 180_000, intervalMs: 1000 });
      const live = kubectlJson<{ data: Record<string, string> }>(["-n", "demo", "get", "configmap", "demo-config"]);
      const appliedMs = Date.now() - t0;
      saveEvidence("argocd-lab", "git-change.json", { commit: sha, value, status, liveData: live.data, pushToSyncedMs: appliedMs });
      expect(live.data.greeting).toBe(value);
    } finally {
      // Back to this checkout's HEAD (force-push), and wait until Argo CD has applied it again.
      run("bash", [path.join(repoRoot, "scripts/lab/git-server.sh"), "push", "HEAD"]);
      fs.rmSync(work, { recursive: true, force: true });
    }
    await waitForApp("demo", { sync: "Synced", revision: head }, { timeoutMs: 180_000 });
    expect(compareAppWithGit("demo", head)).toEqual(Object.fromEntries(Object.keys(compareAppWithGit("demo", head)).map((k) => [k, []])));
  });

  it("an install setting change (upgrade drill): the preview lists exactly the objects that change; up rolls those pods, keeps every app's sync state and history; and back", async () => {
    // The drill: the release's manifests with a pod-template annotation on the application-controller
    // and the repo-server (what a version bump or an install setting does to their templates), given
    // to the stack as platform:argocdManifestsDir through a variant of its config file.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "platform-argocd-upgrade-"));
    const manifests = path.join(tmp, "manifests");
    const cacheManifests = run("bash", ["-c", `. "${repoRoot}/scripts/lib/common.sh" && echo "$(tool_dir argocd "$ARGOCD_VERSION")/manifests"`]).stdout.trim();
    fs.cpSync(cacheManifests, manifests, { recursive: true });
    const file = path.join(manifests, "core-install.yaml");
    const rolled = ["argocd-application-controller", "argocd-repo-server"];
    const docs = fs.readFileSync(file, "utf8").split("\n---\n").map((d) =>
      /^kind: (StatefulSet|Deployment)$/m.test(d) && rolled.some((n) => new RegExp(`^  name: ${n}$`, "m").test(d))
        ? d.replace("\n  template:\n    metadata:\n", '\n  template:\n    metadata:\n      annotations:\n        platform.example/install-revision: "2"\n')
        : d,
    );
    fs.writeFileSync(file, docs.join("\n---\n"));
    const variant = path.join(tmp, "Pulumi.lab.yaml");
    fs.writeFileSync(variant, fs.readFileSync(path.join(repoRoot, "Pulumi.lab.yaml"), "utf8").replace(/^( {2}platform:argocdMode: manifests)$/m, `$1\n  platform:argocdManifestsDir: ${manifests}`));
    const withVariant = (args: string[]) => runAsync(path.join(repoRoot, "cli/platform.js"), args, { cwd: repoRoot, env: { ...process.env, PLATFORM_STACK_CONFIG_FILE: variant }, timeoutMs: 20 * 60 * 1000 });
    const uids = () => Object.fromEntries(ARGOCD_WORKLOADS.map((w) => [w, argocdPods(w).map((p) => p.uid)]));
    const histories = () => Object.fromEntries(["root", ...childApps()].map((app) => [app, kubectlJson<{ status: { history?: unknown[] } }>(["-n", "argocd", "get", "applications.argoproj.io", app]).status.history ?? []]));
    type Preview = { outcome: string; steps: { name: string; op: string; diffs: string[] }[] };
    const before = { uids: uids(), histories: histories() };
    try {
      const preview = await withVariant(["preview", "lab", "--expect-no-changes", "--json"]);
      const report = JSON.parse(preview.stdout) as Preview;
      const t0 = Date.now();
      const up = await withVariant(["up", "lab", "--json"]);
      const upMs = Date.now() - t0;
      const after = { uids: uids(), histories: histories() };
      const apps: Record<string, unknown> = {};
      for (const app of ["root", ...childApps()]) apps[app] = await waitForApp(app, { sync: "Synced", health: "Healthy", revision: head }, { timeoutMs: 180_000 });
      const annotation = kubectlJson<{ metadata: { annotations?: Record<string, string> } }>(["-n", "argocd", "get", "pod", "argocd-application-controller-0"]).metadata.annotations?.["platform.example/install-revision"];
      saveEvidence("argocd-upgrade", "drill.json", { preview: report, upStatus: up.status, upMs, before, after, apps, annotation });
      expect(preview.status).toBe(7);
      // Exactly the two changed objects, plus the config key that pointed the stack at the new files.
      expect(report.steps.map((s) => `${s.op} ${s.name} [${s.diffs.join(", ")}]`).sort()).toEqual([
        "update argocd-install:argocd/argocd-application-controller [spec, spec.template.metadata.annotations]",
        "update argocd-install:argocd/argocd-repo-server [spec, spec.template.metadata.annotations]",
        "update default [platform:argocdManifestsDir]",
      ]);
      expect(up.status).toBe(0);
      expect(annotation).toBe("2");
      // The two rolled (new pods, awaited by the provider), the others did not; no app lost an entry of its history.
      for (const w of ARGOCD_WORKLOADS) {
        const same = after.uids[w].join() === before.uids[w].join();
        expect(`${w} rolled=${!same}`).toBe(`${w} rolled=${rolled.includes(w)}`);
      }
      for (const app of Object.keys(before.histories)) expect(after.histories[app].slice(0, before.histories[app].length)).toEqual(before.histories[app]);
    } finally {
      // Back to the pinned manifests: the same two objects roll back, and the stack is clean again.
      const back = await pulumiLab(["up"]);
      fs.rmSync(tmp, { recursive: true, force: true });
      expect(back.status).toBe(0);
    }
    expect((await pulumiLab(["preview", "--expect-no-changes"])).status).toBe(0);
    for (const app of ["root", ...childApps()]) await waitForApp(app, { sync: "Synced", health: "Healthy", revision: head }, { timeoutMs: 180_000 });
  });
});
