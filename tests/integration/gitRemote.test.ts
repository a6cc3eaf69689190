// The drift report's Git reader against a real repository: the apps' reports run in parallel and
// each may fetch a different commit into the one scratch repository; every fetch must succeed
// (concurrent shallow fetches once collided on shallow.lock and turned an app's report "broken").
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gitRemote } from "../../lib/drift/gitRemote";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "platform-gitremote-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function repoWithCommits(n: number): { url: string; shas: string[] } {
  const repo = path.join(work, "repo");
  const g = (...args: string[]) => execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@lab.invalid", ...args], { encoding: "utf8" }).trim();
  fs.mkdirSync(path.join(repo, "apps", "demo"), { recursive: true });
  execFileSync("git", ["init", "-q", "-b", "main", repo]);
  // Lets a client fetch any commit by its id (what Argo CD's compared revisions need).
  g("config", "uploadpack.allowAnySHA1InWant", "true");
  const shas: string[] = [];
  for (let i = 0; i < n; i++) {
    fs.writeFileSync(path.join(repo, "apps", "demo", "config.yaml"), `value: ${i}\n`);
    g("add", "-A");
    g("commit", "-qm", `commit ${i}`);
    shas.push(g("rev-parse", "HEAD"));
  }
  return { url: `file://${repo}`, shas };
}

describe("gitRemote", () => {
  it("fetches many commits at once into one scratch repository, each readable", async () => {
    const { url, shas } = repoWithCommits(8);
    const remote = gitRemote();
    try {
      expect(await remote.resolve(url, "main")).toBe(shas[7]);
      const contents = await Promise.all(shas.map(async (sha) => (await remote.snapshot(url, sha)).read("apps/demo/config.yaml")));
      expect(contents).toEqual(shas.map((_, i) => `value: ${i}\n`));
    } finally {
      remote.cleanup();
    }
  });
});
