// One platform domain (one of infra/ansible/domains.yml): an Ansible run of its role,
// tracked in the stack with a trigger that is a content hash of everything the run depends on.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { hashValues } from "../lib/contentHash";
import { domainContentHash } from "../lib/domainInputs";
import { AnsiblePlaybookRun, RunSummary } from "./ansiblePlaybookRun";

// The hash and its inputs live in lib/domainInputs.ts; re-exported for the component's users.
export { domainContentHash, domainInputs, isDomainInput, roleClosure } from "../lib/domainInputs";

export interface AnsibleDomainArgs {
  /** The domain: its role under `<ansibleDir>/roles/` and its tag in site.yml. */
  domain: string;
  /** Project root that every other path is relative to. Default: the current directory (the Pulumi project). */
  root?: string;
  /** Ansible directory, relative to root. Default: "infra/ansible". */
  ansibleDir?: string;
  /** Playbook inside the Ansible directory. Default: "site.yml". */
  playbook?: string;
  /** Inventory directory, relative to root (its hosts file and group_vars/host_vars count in the trigger). */
  inventory: string;
  /** Inventory hostname to converge. */
  host: string;
  /** The host's address (part of the trigger: a new machine is a new run). */
  hostAddress: string;
  /** SSH private key, relative to root or absolute. */
  sshPrivateKeyPath: string;
  /** SOPS secrets file handed to Ansible, relative to root or absolute. */
  secretsFile: string;
  /** age private key able to decrypt the secrets file. */
  ageKeyFile: string;
  /** Hash of the secret values this domain consumes (rotating them re-runs the domain). Default: none. */
  secretsHash?: pulumi.Input<string>;
  /** Where run logs and evidence records go, relative to root. Default: "evidence". */
  evidenceDir?: string;
}

export class AnsibleDomain extends pulumi.ComponentResource {
  /** The run record of the last converge (or check, after a refresh). */
  public readonly lastRun: pulumi.Output<RunSummary>;
  /** false when the last refresh found the host drifted from this domain's desired state. */
  public readonly hostInSync: pulumi.Output<boolean>;
  public readonly contentHash: pulumi.Output<string>;

  constructor(name: string, args: AnsibleDomainArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:index:AnsibleDomain", name, {}, opts);
    const root = args.root ?? process.cwd();
    const ansibleDir = args.ansibleDir ?? "infra/ansible";
    const playbook = args.playbook ?? "site.yml";
    const rel = (p: string) => (path.isAbsolute(p) && p.startsWith(root + path.sep) ? path.relative(root, p) : p);
    const roleDir = path.join(root, ansibleDir, "roles", args.domain);
    if (!fs.existsSync(roleDir)) throw new Error(`domain '${args.domain}': no role at ${path.relative(root, roleDir)}`);

    const filesHash = domainContentHash({ root, ansibleDir, playbook, inventory: rel(args.inventory), domain: args.domain, host: args.host, hostAddress: args.hostAddress });
    const contentHash = pulumi.output(args.secretsHash ?? "").apply((s) => hashValues([filesHash, s]));

    const run = new AnsiblePlaybookRun(
      `${name}-run`,
      {
        domain: args.domain,
        playbook: path.join(ansibleDir, playbook),
        ansibleConfig: path.join(ansibleDir, "ansible.cfg"),
        inventory: rel(args.inventory),
        host: args.host,
        hostAddress: args.hostAddress,
        sshPrivateKeyPath: rel(args.sshPrivateKeyPath),
        secretsFile: rel(args.secretsFile),
        ageKeyFile: rel(args.ageKeyFile),
        evidenceDir: rel(args.evidenceDir ?? "evidence"),
        contentHash,
      },
      { parent: this },
    );
    this.lastRun = run.lastRun;
    this.hostInSync = run.hostInSync;
    this.contentHash = run.contentHash;
    this.registerOutputs({ lastRun: this.lastRun, hostInSync: this.hostInSync, contentHash: this.contentHash });
  }
}
