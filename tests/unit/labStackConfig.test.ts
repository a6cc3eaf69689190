// The lab stack's config copy (lib/labStackConfig.ts, written by lib/pulumiEnv.ts) follows the
// lab it runs against: the default lab gets the committed Pulumi.lab.yaml byte for
// byte, an isolated second lab (PLATFORM_LAB_DIR and LAB_* in the environment) its own paths and
// addresses, and the flag that lets its hostAddress differ from the lab inventory's ansible_host.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { committedLabEnv } from "../../lib/labEnv";
import { labStackConfigText } from "../../lib/labStackConfig";

const repoRoot = path.resolve(__dirname, "../..");
const VPS = committedLabEnv(repoRoot).LAB_VPS_ADDR;
const HOST = committedLabEnv(repoRoot).LAB_HOST_ADDR;

/** The environment without any lab override (whatever the shell running jest exported). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LAB_") && k !== "PLATFORM_LAB_DIR"));
  return { ...env, ...extra };
}

function copyOf(source: string, labDir: string, env: NodeJS.ProcessEnv): string {
  return labStackConfigText(source, repoRoot, { ...env, PLATFORM_LAB_DIR: labDir });
}

const isolated = { LAB_VPS_ADDR: "10.213.7.10", LAB_HOST_ADDR: "10.213.7.1" };

describe("the lab stack's config copy", () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "platform-labcfg-"));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  const fixture = path.join(work, "Pulumi.lab.yaml");
  fs.writeFileSync(
    fixture,
    [
      "# the VPS at " + VPS + ", the host side at " + HOST,
      "config:",
      "  platform:inventory: infra/ansible/inventories/lab",
      "  platform:hostAddress: " + VPS,
      "  platform:sshPrivateKeyPath: .lab/ssh/id_ed25519",
      '  platform:ageKeyFile: ".lab/age.key"',
      "  platform:kubeconfigPath: .lab/kubeconfig",
      "  platform:evidenceDir: evidence/.lab-like",
      "  platform:argocdManifestsDir: ~/.lab/manifests",
      `  platform:gitopsRepoUrl: git://${HOST}:9418/platform.git`,
      "",
    ].join("\n"),
  );

  it("is the committed file byte for byte for the default lab", () => {
    const committed = path.join(repoRoot, "Pulumi.lab.yaml");
    expect(copyOf(committed, path.join(repoRoot, ".lab"), cleanEnv())).toBe(fs.readFileSync(committed, "utf8"));
    expect(copyOf(fixture, path.join(repoRoot, ".lab"), cleanEnv({ LAB_VPS_ADDR: VPS }))).toBe(fs.readFileSync(fixture, "utf8"));
  });

  it("keeps the committed values for a project copy whose .lab links to the default lab (the e2e's scratch checkouts)", () => {
    const copy = fs.mkdtempSync(path.join(work, "copy-"));
    const lab = fs.mkdtempSync(path.join(work, "lab-"));
    fs.symlinkSync(lab, path.join(copy, ".lab"));
    fs.mkdirSync(path.join(copy, "scripts/lab"), { recursive: true });
    fs.copyFileSync(path.join(repoRoot, "scripts/lab/lab.env"), path.join(copy, "scripts/lab/lab.env"));
    expect(labStackConfigText(fixture, copy, { ...cleanEnv(), PLATFORM_LAB_DIR: lab })).toBe(fs.readFileSync(fixture, "utf8"));
    // A lab elsewhere is still followed.
    expect(labStackConfigText(fixture, copy, { ...cleanEnv(), PLATFORM_LAB_DIR: path.join(work, "other-lab") })).toContain(`sshPrivateKeyPath: ${path.join(work, "other-lab")}/ssh/id_ed25519`);
  });

  it("follows an isolated lab: its directory, its VPS and host addresses, and the override flag", () => {
    const out = copyOf(fixture, "/tmp/plab-x", cleanEnv({ ...isolated, PLATFORM_LAB_DIR: "/tmp/plab-x" }));
    const cfg = (parseYaml(out) as { config: Record<string, string> }).config;
    expect(cfg).toEqual({
      "platform:hostAddressOverridesInventory": "true",
      "platform:inventory": "infra/ansible/inventories/lab",
      "platform:hostAddress": "10.213.7.10",
      "platform:sshPrivateKeyPath": "/tmp/plab-x/ssh/id_ed25519",
      "platform:ageKeyFile": "/tmp/plab-x/age.key",
      "platform:kubeconfigPath": "/tmp/plab-x/kubeconfig",
      "platform:evidenceDir": "evidence/.lab-like",
      "platform:argocdManifestsDir": "~/.lab/manifests",
      "platform:gitopsRepoUrl": "git://10.213.7.1:9418/platform.git",
    });
    // Whole addresses only: the host's address is not rewritten inside the VPS's.
    expect(out.split("\n")[0]).toBe("# the VPS at 10.213.7.10, the host side at 10.213.7.1");
  });

  it("moves only the directory when only PLATFORM_LAB_DIR differs (no override flag)", () => {
    const out = copyOf(fixture, "/tmp/plab-y", cleanEnv({ PLATFORM_LAB_DIR: "/tmp/plab-y" }));
    expect(out).toContain("platform:sshPrivateKeyPath: /tmp/plab-y/ssh/id_ed25519");
    expect(out).toContain(`platform:hostAddress: ${VPS}\n`);
    expect(out).not.toContain("hostAddressOverridesInventory");
  });

  it("moves git:// URLs to LAB_GIT_PORT", () => {
    const out = copyOf(fixture, path.join(repoRoot, ".lab"), cleanEnv({ LAB_GIT_PORT: "9511" }));
    expect(out).toContain(`platform:gitopsRepoUrl: git://${HOST}:9511/platform.git`);
  });

  it("leaves no default-lab path or address in the committed file's isolated copy", () => {
    const out = copyOf(path.join(repoRoot, "Pulumi.lab.yaml"), "/tmp/plab-z", cleanEnv({ ...isolated, PLATFORM_LAB_DIR: "/tmp/plab-z" }));
    const cfg = (parseYaml(out) as { config: Record<string, unknown> }).config;
    const values = Object.values(cfg).map(String);
    expect(values.filter((v) => v.startsWith(".lab"))).toEqual([]);
    expect(values.filter((v) => v.includes(VPS) || new RegExp(`${HOST.replace(/\./g, "\\.")}(?![0-9])`).test(v))).toEqual([]);
    expect(cfg["platform:hostAddress"]).toBe("10.213.7.10");
    expect(cfg["platform:hostAddressOverridesInventory"]).toBe("true");
  });
});
