// The Git side of resync and rollback: what a branch points at on a remote, the manifests an app's
// source holds at a revision (fetched into a bare repository of our own), and the apps a commit
// touches. Git through its CLI (plumbing, stable output), every network call bounded in time.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GITOPS_PATH } from "../config";
import { git, showAt } from "../git";
import { Tree } from "../gate/clusterLayer";

/** What the operator commands need from Git (a fake in unit tests). */
export interface GitSource {
  /** The commit `ref` (branch or tag) points at on `url`, or undefined when there is none; throws when the remote does not answer. */
  lsRemote(url: string, ref: string): string | undefined;
  /** The files of `revision` of `url` (fetched once per run), and the commit it resolved to. */
  tree(url: string, revision: string): { sha: string; tree: Tree };
}

/** Runs git with a time limit; the error is git's last line. */
export function gitTimed(args: string[], timeoutMs: number, cwd?: string): string {
  try {
    return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const err = e as { stderr?: string; signal?: string };
    if (err.signal === "SIGTERM") throw new Error(`no answer within ${timeoutMs / 1000}s`);
    throw new Error((err.stderr ?? String(e)).trim().split("\n").pop() ?? "git failed");
  }
}

export function gitSource(): GitSource & { cleanup(): void } {
  const fetched = new Map<string, { sha: string; tree: Tree }>();
  const dirs: string[] = [];
  return {
    lsRemote(url, ref) {
      const out = gitTimed(["ls-remote", url, `refs/heads/${ref}`, `refs/tags/${ref}`], 30_000);
      const sha = out.split("\n")[0]?.split("\t")[0];
      if (sha) return sha;
      return /^[0-9a-f]{40}$/.test(ref) ? ref : undefined;
    },
    tree(url, revision) {
      const key = `${url} ${revision}`;
      const hit = fetched.get(key);
      if (hit) return hit;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-gitops-"));
      dirs.push(dir);
      gitTimed(["init", "-q", "--bare", dir], 10_000);
      const refs = /^[0-9a-f]{40}$/.test(revision) ? [revision] : [`refs/heads/${revision}`, `refs/tags/${revision}`];
      let last = "";
      for (const ref of refs) {
        try {
          gitTimed(["-C", dir, "fetch", "-q", "--depth", "1", url, ref], 60_000);
          const sha = git(dir, ["rev-parse", "FETCH_HEAD"]).trim();
          const tree: Tree = {
            list: (d) => git(dir, ["ls-tree", "-r", "--name-only", sha, "--", d.replace(/\/$/, "") + "/"]).split("\n").filter(Boolean),
            read: (f) => showAt(dir, sha, f),
          };
          fetched.set(key, { sha, tree });
          return { sha, tree };
        } catch (e) {
          last = e instanceof Error ? e.message : String(e);
        }
      }
      throw new Error(`cannot fetch ${revision} from ${url}: ${last}`);
    },
    cleanup: () => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })),
  };
}

/** The apps a commit's files touch: <gitopsPath>/apps/<app>/..., and `root` when an Application definition changed. */
export function affectedApps(files: string[], gitopsPath = GITOPS_PATH): string[] {
  const prefix = gitopsPath.replace(/\/$/, "").split("/");
  const names = new Set<string>();
  for (const f of files) {
    const parts = f.split("/");
    const rest = parts.slice(prefix.length);
    if (parts.slice(0, prefix.length).join("/") !== prefix.join("/") || rest.length < 3 || rest[0] !== "apps") continue;
    names.add(rest[1]);
    if (parts[parts.length - 1] === "application.jsonnet") names.add("root");
  }
  return [...names].sort();
}

/** Whether a commit's files touch what the Pulumi program deploys (its rollback then runs `up`). */
export const touchesProgram = (files: string[]) => files.some((f) => /^(infra\/|components\/|lib\/|index\.ts$|Pulumi[^/]*\.yaml$|toolchain\/|package(-lock)?\.json$)/.test(f));
