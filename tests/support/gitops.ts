// What Git says the cluster should hold (gitops/apps/<app>/manifests/*.yaml), read independently
// of Argo CD, and a comparison with the live objects: tests check Argo CD's work against Git
// itself, not against Argo CD's own opinion of it.
import * as fs from "fs";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import * as os from "os";
import { kubectl } from "./cluster";
import { labDir } from "./lab";
import { repoRoot, run } from "./tools";

export const appsDir = path.join(repoRoot, "gitops/apps");

/** An operator's checkout of this repository (HEAD) in a temporary directory, sharing node_modules and the lab. */
export function operatorCheckout(): string {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "platform-checkout-"));
  const r = run("git", ["clone", "-q", repoRoot, work]);
  if (r.status !== 0) throw new Error(`cannot clone ${repoRoot}: ${r.stderr}`);
  fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(work, "node_modules"));
  fs.symlinkSync(labDir, path.join(work, ".lab"));
  return work;
}

/** The child apps: one folder each under gitops/apps (the App-of-Apps layout). */
export function childApps(): string[] {
  return fs
    .readdirSync(appsDir)
    .filter((d) => fs.existsSync(path.join(appsDir, d, "application.jsonnet")))
    .sort();
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** The app's objects as committed at `ref` (a Git revision), or in the working tree when ref is undefined. */
export function gitObjects(app: string, ref?: string): K8sObject[] {
  const dir = `gitops/apps/${app}/manifests`;
  const files = ref
    ? run("git", ["ls-tree", "--name-only", `${ref}:${dir}`]).stdout.trim().split("\n").filter(Boolean)
    : fs.readdirSync(path.join(repoRoot, dir));
  const out: K8sObject[] = [];
  for (const f of files.filter((n) => /\.ya?ml$/.test(n)).sort()) {
    const text = ref ? run("git", ["show", `${ref}:${dir}/${f}`]).stdout : fs.readFileSync(path.join(repoRoot, dir, f), "utf8");
    for (const doc of parseAllDocuments(text)) {
      const obj = doc.toJS() as K8sObject | null;
      if (obj && obj.kind) out.push(obj);
    }
  }
  return out;
}

/** The live object, or undefined when it does not exist. */
export function liveObject(obj: K8sObject): K8sObject | undefined {
  const args = ["get", `${obj.kind}.${obj.apiVersion.includes("/") ? obj.apiVersion.split("/")[0] : ""}`.replace(/\.$/, ""), obj.metadata.name, "-o", "json"];
  if (obj.metadata.namespace) args.splice(1, 0, "-n", obj.metadata.namespace);
  const r = kubectl(args);
  return r.status === 0 ? (JSON.parse(r.stdout) as K8sObject) : undefined;
}

/**
 * Where `live` differs from what Git declares: every field Git sets must have that value live
 * (the API adds defaults and status; those are not differences). Returns the differing paths.
 */
export function mismatches(want: unknown, live: unknown, at = ""): string[] {
  if (Array.isArray(want)) {
    if (!Array.isArray(live) || live.length !== want.length) return [`${at}: want ${JSON.stringify(want)}, live ${JSON.stringify(live)}`];
    return want.flatMap((w, i) => mismatches(w, live[i], `${at}[${i}]`));
  }
  if (want !== null && typeof want === "object") {
    if (live === null || typeof live !== "object") return [`${at}: want an object, live ${JSON.stringify(live)}`];
    return Object.entries(want as Record<string, unknown>).flatMap(([k, v]) => mismatches(v, (live as Record<string, unknown>)[k], `${at}.${k}`));
  }
  // Kubernetes returns numbers in strings for some fields (e.g. quantities): compare as text.
  return String(want) === String(live) ? [] : [`${at}: want ${JSON.stringify(want)}, live ${JSON.stringify(live)}`];
}

/** Every object of `app` at `ref`, compared with the live cluster: {object: [differences]} (missing objects say so). */
export function compareAppWithGit(app: string, ref?: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const obj of gitObjects(app, ref)) {
    const id = `${obj.kind}/${obj.metadata.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata.name}`;
    const live = liveObject(obj);
    out[id] = live ? mismatches(obj, live) : ["missing in the cluster"];
  }
  return out;
}
