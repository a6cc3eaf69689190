// The real Pulumi engine (the CLI built by scripts/toolchain/ensure.sh, our language host and the
// SDK's dynamic provider) previews and deploys a small program on a throwaway file backend.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { saveEvidence } from "../support/evidence";
import { offlineEnv, repoRoot, run } from "../support/tools";

const fixture = path.join(repoRoot, "tests/fixtures/engine-smoke");
jest.setTimeout(15 * 60 * 1000);

describe("the real Pulumi engine, offline", () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "platform-engine-"));
  const env = offlineEnv({
    PULUMI_HOME: path.join(work, "home"),
    PULUMI_BACKEND_URL: `file://${path.join(work, "state")}`,
    PULUMI_CONFIG_PASSPHRASE: "integration-test-only",
  });
  const stackFile = path.join(fixture, "Pulumi.it.yaml");
  const pulumi = (...args: string[]) => run("pulumi", [...args, "--non-interactive"], { cwd: fixture, env });

  beforeAll(() => {
    fs.mkdirSync(path.join(work, "state"), { recursive: true });
    expect(pulumi("stack", "init", "it").status).toBe(0);
    expect(pulumi("config", "set", "outputFile", path.join(work, "greeting.txt")).status).toBe(0);
  });
  afterAll(() => {
    pulumi("destroy", "--yes", "--skip-preview");
    pulumi("stack", "rm", "--yes", "it");
    fs.rmSync(stackFile, { force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("is the CLI version pinned by the @pulumi/pulumi lockfile entry", () => {
    const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8"));
    const v = pulumi("version");
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toBe(`v${lock.packages["node_modules/@pulumi/pulumi"].version}`);
  });

  it("previews the program's resources as creates, in JSON", () => {
    const r = pulumi("preview", "--json");
    saveEvidence("engine-preview", "preview.json", r.stdout);
    expect(r.status).toBe(0);
    const plan = JSON.parse(r.stdout) as { steps: Array<{ op: string; urn: string }> };
    const creates = plan.steps.filter((s) => s.op === "create").map((s) => s.urn.split("::").pop());
    expect(creates).toEqual(expect.arrayContaining(["engine-smoke-it", "token", "greeting"]));
  });

  it("previews with no network at all (a fresh network namespace with only loopback)", () => {
    const r = run("unshare", ["-n", "sh", "-c", 'ip link set lo up && exec pulumi preview --json --non-interactive'], { cwd: fixture, env });
    saveEvidence("engine-preview", "preview-no-network.json", r.stdout + r.stderr);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).steps.length).toBeGreaterThan(0);
  });

  it("deploys, then previews as no change (exit 0), then flags a config change (exit 7)", () => {
    const up = pulumi("up", "--yes", "--skip-preview");
    saveEvidence("engine-preview", "up.txt", up.stdout + up.stderr);
    expect(up.status).toBe(0);
    expect(fs.readFileSync(path.join(work, "greeting.txt"), "utf8")).toBe("hello");

    const same = pulumi("preview", "--expect-no-changes");
    saveEvidence("engine-preview", "preview-after-up.txt", same.stdout + same.stderr);
    expect(same.status).toBe(0);

    expect(pulumi("config", "set", "greeting", "bonjour").status).toBe(0);
    const changed = pulumi("preview", "--expect-no-changes");
    expect(changed.status).toBe(7);
    expect(pulumi("config", "set", "greeting", "hello").status).toBe(0);
  });

  it("tells a broken program (non-zero, not 7) from a changed one", () => {
    expect(pulumi("config", "rm", "outputFile").status).toBe(0);
    const broken = pulumi("preview", "--expect-no-changes");
    expect(broken.status).not.toBe(0);
    expect(broken.status).not.toBe(7);
    expect(broken.stdout + broken.stderr).toContain("Missing required configuration variable 'engine-smoke:outputFile'");
    expect(pulumi("config", "set", "outputFile", path.join(work, "greeting.txt")).status).toBe(0);
  });
});
