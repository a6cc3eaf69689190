import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { installMocks, promiseOf } from "../support/pulumiMocks";

const registered = installMocks();
// The real AnsiblePlaybookRun serializes its provider's functions, which needs the V8 inspector
// that jest does not offer; here it is a plain custom resource with the same inputs. The real one
// runs under the real engine in tests/integration and tests/e2e.
jest.mock("../../components/ansiblePlaybookRun", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const p = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
  class AnsiblePlaybookRun extends p.CustomResource {
    public readonly contentHash!: import("@pulumi/pulumi").Output<string>;
    public readonly lastRun!: import("@pulumi/pulumi").Output<unknown>;
    public readonly hostInSync!: import("@pulumi/pulumi").Output<boolean>;
    constructor(name: string, args: Record<string, unknown>, opts?: import("@pulumi/pulumi").CustomResourceOptions) {
      super("platform:test:AnsiblePlaybookRun", name, { ...args, lastRun: undefined, hostInSync: undefined }, opts);
    }
  }
  return { AnsiblePlaybookRun };
});
// Imported after the mocks are installed, as the Pulumi docs require.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { AnsibleDomain, domainContentHash, domainInputs, isDomainInput } = require("../../components/ansibleDomain") as typeof import("../../components/ansibleDomain");

// A miniature project: two roles (one depending on the other), a playbook and an inventory.
const made: string[] = [];
afterAll(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function tree(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "platform-domain-"));
  made.push(root);
  const w = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
  w("infra/ansible/site.yml", "- hosts: all\n");
  w("infra/ansible/ansible.cfg", "[defaults]\n");
  w("infra/ansible/roles/ssh/templates/sshd.conf.j2", "PermitRootLogin prohibit-password\n");
  w("infra/ansible/roles/ssh/meta/main.yml", "dependencies: []\n");
  w("infra/ansible/roles/postgresql/tasks/main.yml", "- name: x\n");
  w("infra/ansible/roles/postgresql/meta/main.yml", "dependencies:\n  - role: pgcommon\n");
  w("infra/ansible/roles/pgcommon/tasks/main.yml", "- name: y\n");
  w("inv/hosts.yml", "platform:\n  hosts:\n    vps: {ansible_host: 10.0.0.5}\n");
  return root;
}

const hashOf = (root: string, domain: string, extra: Partial<{ host: string; hostAddress: string }> = {}) =>
  domainContentHash({ root, ansibleDir: "infra/ansible", playbook: "site.yml", inventory: "inv", domain, host: "vps", hostAddress: "10.0.0.5", ...extra });

describe("a domain's run trigger (content hash)", () => {
  it("is stable when nothing changed", () => {
    const root = tree();
    expect(hashOf(root, "ssh")).toBe(hashOf(root, "ssh"));
  });

  it("changes for the edited role only", () => {
    const root = tree();
    const [ssh, pg] = [hashOf(root, "ssh"), hashOf(root, "postgresql")];
    fs.appendFileSync(path.join(root, "infra/ansible/roles/ssh/templates/sshd.conf.j2"), "MaxAuthTries 3\n");
    expect(hashOf(root, "ssh")).not.toBe(ssh);
    expect(hashOf(root, "postgresql")).toBe(pg);
  });

  it("follows role dependencies declared in meta/main.yml", () => {
    const root = tree();
    const [ssh, pg] = [hashOf(root, "ssh"), hashOf(root, "postgresql")];
    fs.appendFileSync(path.join(root, "infra/ansible/roles/pgcommon/tasks/main.yml"), "- name: z\n");
    expect(hashOf(root, "postgresql")).not.toBe(pg);
    expect(hashOf(root, "ssh")).toBe(ssh);
  });

  it("changes for every domain when inventory variables or the playbook change", () => {
    const root = tree();
    const before = [hashOf(root, "ssh"), hashOf(root, "postgresql")];
    fs.mkdirSync(path.join(root, "inv/group_vars"));
    fs.writeFileSync(path.join(root, "inv/group_vars/all.yml"), "ssh_port: 22\n");
    const after = [hashOf(root, "ssh"), hashOf(root, "postgresql")];
    expect(after[0]).not.toBe(before[0]);
    expect(after[1]).not.toBe(before[1]);
  });

  it("ignores what Ansible never reads: a role's README.md, docs/ and molecule/, the inventory's notes", () => {
    const root = tree();
    const before = [hashOf(root, "ssh"), hashOf(root, "postgresql")];
    const w = (rel: string) => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), "documentation\n");
    };
    ["infra/ansible/roles/ssh/README.md", "infra/ansible/roles/ssh/docs/design.md", "infra/ansible/roles/ssh/molecule/default/converge.yml", "inv/README.md", "inv/group_vars/NOTES.txt"].forEach(w);
    expect([hashOf(root, "ssh"), hashOf(root, "postgresql")]).toEqual(before);
  });

  it("sees every file a run reads: templates, files/, ansible.cfg, the callback plugins", () => {
    const root = tree();
    for (const rel of ["infra/ansible/roles/ssh/files/banner.txt", "infra/ansible/roles/ssh/files/README.md", "infra/ansible/ansible.cfg", "infra/ansible/callback_plugins/evidence.py"]) {
      const before = hashOf(root, "ssh");
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.appendFileSync(path.join(root, rel), "# edited\n");
      expect(`${rel} ${hashOf(root, "ssh")}`).not.toBe(`${rel} ${before}`);
    }
  });

  it("covers the toolchain/versions.env pins the inventory looks up, and no other pin", () => {
    const root = tree();
    const versions = path.join(root, "versions.env");
    fs.writeFileSync(versions, "KUBERNETES_VERSION=1.36.3\nACTIONLINT_VERSION=1.7.12\n");
    fs.mkdirSync(path.join(root, "inv/group_vars"), { recursive: true });
    fs.writeFileSync(path.join(root, "inv/group_vars/all.yml"), "k8s: \"{{ lookup('ansible.builtin.ini', 'KUBERNETES_VERSION', file=f, type='properties') }}\"\n");
    const args = { root, ansibleDir: "infra/ansible", playbook: "site.yml", inventory: "inv", domain: "ssh", host: "vps", hostAddress: "10.0.0.5" };
    expect(domainInputs(args, versions).versions).toEqual({ KUBERNETES_VERSION: "1.36.3" });
    const before = domainContentHash(args, versions);
    fs.writeFileSync(versions, "KUBERNETES_VERSION=1.36.3\nACTIONLINT_VERSION=1.7.13\n");
    expect(domainContentHash(args, versions)).toBe(before);
    fs.writeFileSync(versions, "KUBERNETES_VERSION=1.36.4\nACTIONLINT_VERSION=1.7.13\n");
    expect(domainContentHash(args, versions)).not.toBe(before);
  });

  it("classifies paths, deleted ones too, as the run's inputs or not", () => {
    const root = tree();
    const args = { root, ansibleDir: "infra/ansible", playbook: "site.yml", inventory: "inv", domain: "postgresql" };
    expect(isDomainInput(args, "infra/ansible/roles/postgresql/templates/gone.j2")).toBe(true);
    expect(isDomainInput(args, "infra/ansible/roles/pgcommon/tasks/main.yml")).toBe(true);
    expect(isDomainInput(args, "infra/ansible/roles/postgresql/README.md")).toBe(false);
    expect(isDomainInput(args, "infra/ansible/roles/ssh/tasks/main.yml")).toBe(false);
    expect(isDomainInput(args, "infra/ansible/README.md")).toBe(false);
    expect(isDomainInput(args, "inv/hosts.yml")).toBe(true);
  });

  it("differs per target host and address", () => {
    const root = tree();
    expect(hashOf(root, "ssh", { hostAddress: "10.0.0.6" })).not.toBe(hashOf(root, "ssh"));
    expect(hashOf(root, "ssh", { host: "vps-2" })).not.toBe(hashOf(root, "ssh"));
  });
});

describe("AnsibleDomain component", () => {
  it("registers one Ansible run tagged with its domain, with paths relative to the project", async () => {
    const root = tree();
    const c = new AnsibleDomain("ssh", {
      domain: "ssh",
      root,
      inventory: path.join(root, "inv"),
      host: "vps",
      hostAddress: "10.0.0.5",
      sshPrivateKeyPath: path.join(root, "key"),
      secretsFile: path.join(root, "secrets.sops.yaml"),
      ageKeyFile: "/home/op/.config/sops/age/keys.txt",
      secretsHash: pulumi.secret("abc"),
    });
    await promiseOf(c.contentHash);
    const run = registered.find((r) => r.name === "ssh-run");
    expect(run).toBeDefined();
    expect(run!.inputs).toMatchObject({
      domain: "ssh",
      playbook: "infra/ansible/site.yml",
      ansibleConfig: "infra/ansible/ansible.cfg",
      inventory: "inv",
      host: "vps",
      sshPrivateKeyPath: "key",
      secretsFile: "secrets.sops.yaml",
      ageKeyFile: "/home/op/.config/sops/age/keys.txt",
      evidenceDir: "evidence",
    });
    // Derived from secret values, the trigger travels as a secret (the mocks show the wrapper).
    const trigger = run!.inputs.contentHash as { value?: string };
    expect(trigger.value).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(trigger)).toContain(pulumi.runtime.specialSigKey);
    expect((trigger as Record<string, unknown>)[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
  });

  it("refuses a domain that has no role", () => {
    const root = tree();
    expect(
      () =>
        new AnsibleDomain("dns", { domain: "dns", root, inventory: "inv", host: "vps", hostAddress: "10.0.0.5", sshPrivateKeyPath: "k", secretsFile: "s", ageKeyFile: "a" }),
    ).toThrow("domain 'dns': no role at infra/ansible/roles/dns");
  });
});
