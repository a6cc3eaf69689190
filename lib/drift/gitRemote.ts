// The Git side of the cluster layer, through the git CLI's plumbing (ls-remote, fetch, ls-tree,
// cat-file: output formats stable by contract): what a branch points at in the app's repository,
// and its files at a commit. One temporary bare repository per report; each commit is fetched
// once (depth 1), every call bounded in time.
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GitRemote, GitSnapshot } from "./clusterLayer";

const TIMEOUT_MS = 60_000;

function git(args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("git", args, { cwd, encoding: "utf8", timeout: TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const why = (stderr || err.message).trim().split("\n").filter(Boolean).pop() ?? "failed";
      reject(new Error(err.killed ? `git ${args[0]}: no answer within ${TIMEOUT_MS / 1000}s` : `git ${args[0]}: ${why.replace(/^fatal: /, "")}`));
    });
  });
}

export function gitRemote(): GitRemote & { cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-drift-git-"));
  const init = git(["init", "-q", "--bare", dir]);
  const fetched = new Map<string, Promise<void>>();
  // Fetches into the one repository run one after another: two shallow fetches at once collide on
  // its shallow.lock ("remove the file manually to continue"), which the apps' parallel reports hit.
  let queue: Promise<unknown> = init;
  const fetch = (url: string, sha: string) => {
    const key = `${url} ${sha}`;
    if (!fetched.has(key)) {
      const run = queue.then(() => git(["--git-dir", dir, "fetch", "-q", "--depth", "1", url, sha])).then(() => undefined);
      queue = run.catch(() => undefined);
      fetched.set(key, run);
    }
    return fetched.get(key)!;
  };
  return {
    async resolve(url, ref) {
      if (/^[0-9a-f]{40}$/.test(ref)) return ref;
      const refs = ref === "HEAD" ? ["HEAD"] : [`refs/heads/${ref}`, `refs/tags/${ref}^{}`, `refs/tags/${ref}`];
      const out = await git(["ls-remote", url, ...refs]);
      // "<sha>\t<ref>" per line; a branch wins over a tag of the same name, a peeled tag over its object.
      const lines = out.split("\n").filter(Boolean).map((l) => l.split("\t"));
      for (const r of refs) {
        const hit = lines.find(([, name]) => name === r);
        if (hit) return hit[0];
      }
      throw new Error(`no branch or tag '${ref}' in ${url}`);
    },
    async snapshot(url, sha): Promise<GitSnapshot> {
      await fetch(url, sha);
      return {
        async files(sub) {
          let out: string;
          try {
            out = await git(["--git-dir", dir, "ls-tree", "-r", sha, "--", `${sub}/`]);
          } catch {
            return [];
          }
          // "<mode> blob <id>\t<path>"
          return out
            .split("\n")
            .filter(Boolean)
            .map((l) => {
              const [meta, file] = l.split("\t");
              return { meta: meta.split(" "), file };
            })
            .filter(({ meta }) => meta[1] === "blob")
            .map(({ meta, file }) => ({ file, blob: meta[2] }));
        },
        read: (file) => git(["--git-dir", dir, "cat-file", "blob", `${sha}:${file}`]),
      };
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
