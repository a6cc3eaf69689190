// A dynamic resource whose lifecycle is an Ansible run against the VPS:
//   create/update -> converge the domain (ansible-playbook --tags <domain>)
//   read (refresh) -> the same run in check mode with diff: the host's drift becomes state
//   diff          -> a run is due when its content hash, target or tag changed, when this
//                    provider code changed since the last run (refresh runs the stored code), or when the
//                    last refresh found the host drifted (so `pulumi up` remediates it)
//   delete        -> nothing on the host: dropping a domain stops managing it, it does not
//                    un-configure the machine.
// Why not @pulumi/command: its Command has no read/diff, so refresh can never see host drift,
// and its provider plugin cannot be built here (docs/adr/0002-dynamic-provider-for-ansible.md).
//
// The provider functions are serialized into the stack state and run by the engine in a
// separate process (the project directory is its working directory), so they use require()
// inside and take every path relative to the project root.
import * as pulumi from "@pulumi/pulumi";
// The one correlation-id generator, captured by value into the serialized provider: the operator's
// id (PLATFORM_CORRELATION_ID, set by every `platform` command) or, for a run outside the command, a
// new one of the same format. The Ansible callback plugin receives it by env var and extra var.
import { correlationId as operatorCorrelationId } from "../lib/operator/correlation";
// `platform drift`'s one check pass over every domain: a read in that refresh waits for it and
// takes its verdict from the pass's record instead of running Ansible again (lib/drift/sharedCheck.ts).
import { awaitCheckPass, CHECK_LOG_NAME, CHECK_PASS_ENV, CHECK_PASS_OWNER_ENV, CheckRecord, domainVerdict } from "../lib/drift/sharedCheck";

export interface AnsiblePlaybookRunInputs {
  /** The domain: the tag passed to --tags, one role in site.yml. */
  domain: string;
  /** Playbook, relative to the project root (infra/ansible/site.yml). */
  playbook: string;
  /** ansible.cfg to use, relative to the project root. */
  ansibleConfig: string;
  /** Inventory directory, relative to the project root. */
  inventory: string;
  /** Inventory hostname to limit the run to. */
  host: string;
  /** Address of the host: Ansible connects there (passed as ansible_host); recorded, and part of the trigger. */
  hostAddress: string;
  sshPrivateKeyPath: string;
  secretsFile: string;
  ageKeyFile: string;
  evidenceDir: string;
  /** sha256 of everything the run depends on: a change here is what makes a run due. */
  contentHash: string;
}

export interface RunSummary {
  correlationId: string;
  checkMode: boolean;
  startedAt: string;
  durationMs: number;
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  /** "<role> : <task>" of every task that reported changed (in check mode: the drift). */
  changedTasks: string[];
  logFile: string;
  evidenceFile?: string;
}

export interface AnsiblePlaybookRunOutputs extends AnsiblePlaybookRunInputs {
  lastRun: RunSummary;
  /** false when the last refresh (check mode) found tasks that would change: the host drifted. */
  hostInSync: boolean;
}

/**
 * Runs ansible-playbook for one domain; throws with the output's tail when it fails. Asynchronous
 * (a child process, not spawnSync): the engine runs a refresh's reads side by side in this one
 * provider process, so the domains' check runs of a drift report overlap instead of queueing.
 */
async function runPlaybook(inputs: AnsiblePlaybookRunInputs, checkMode: boolean): Promise<RunSummary> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const cp = require("child_process") as typeof import("child_process");
  const fs = require("fs") as typeof import("fs");
  const path = require("path") as typeof import("path");
  /* eslint-enable @typescript-eslint/no-require-imports */

  const root = process.cwd();
  const abs = (p: string) => path.resolve(root, p);
  const correlationId = operatorCorrelationId(process.env);
  const evidenceDir = abs(inputs.evidenceDir);
  fs.mkdirSync(evidenceDir, { recursive: true });
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const logFile = path.join(evidenceDir, `ansible-${inputs.domain}-${checkMode ? "check" : "converge"}-${stamp}-${correlationId}.log`);

  const args = [
    "-i", abs(inputs.inventory),
    abs(inputs.playbook),
    "--tags", inputs.domain,
    "--limit", inputs.host,
    // The stack's address wins over the inventory's (lib/config.ts checks they agree unless
    // platform:hostAddressOverridesInventory): a second lab at another address is converged there.
    "-e", `ansible_host=${inputs.hostAddress}`,
    "--private-key", abs(inputs.sshPrivateKeyPath),
    "-e", `platform_secrets_file=${abs(inputs.secretsFile)}`,
    "-e", `platform_correlation_id=${correlationId}`,
  ];
  if (checkMode) args.push("--check", "--diff");
  const before = new Set(fs.readdirSync(evidenceDir));
  const res = await new Promise<{ status: number | null; error?: Error; output: string }>((resolve) => {
    const chunks: Buffer[] = [];
    const child = cp.spawn("ansible-playbook", args, {
      cwd: path.dirname(abs(inputs.ansibleConfig)),
      env: {
        ...process.env,
        ANSIBLE_CONFIG: abs(inputs.ansibleConfig),
        ANSIBLE_FORCE_COLOR: "0",
        SOPS_AGE_KEY_FILE: abs(inputs.ageKeyFile),
        PLATFORM_EVIDENCE_DIR: evidenceDir,
        PLATFORM_CORRELATION_ID: correlationId,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.stderr.on("data", (c: Buffer) => chunks.push(c));
    let error: Error | undefined;
    child.on("error", (e) => (error = e));
    child.on("close", (status) => resolve({ status, error, output: Buffer.concat(chunks).toString("utf8") }));
  });
  const output = res.output;
  fs.writeFileSync(logFile, output);
  if (res.error) {
    const missing = (res.error as NodeJS.ErrnoException).code === "ENOENT";
    throw new Error(missing ? "ansible-playbook is not on PATH: run scripts/toolchain/ensure-ansible.sh and put its bin directory on PATH" : res.error.message);
  }

  // The recap is Ansible's own verdict; sum it over hosts (the run is limited to one).
  const sum = { ok: 0, changed: 0, failed: 0, unreachable: 0 };
  for (const m of output.matchAll(/ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/g)) {
    sum.ok += Number(m[1]);
    sum.changed += Number(m[2]);
    sum.unreachable += Number(m[3]);
    sum.failed += Number(m[4]);
  }
  // The evidence callback (infra/ansible/callback_plugins) writes a JSON record per run and names
  // it in the run's output: that line is this run's own (runs of one id may overlap).
  const wrote = /^platform-evidence: wrote (.+\.json)$/m.exec(output)?.[1];
  const evidence = wrote && fs.existsSync(wrote) ? path.basename(wrote) : fs
    .readdirSync(evidenceDir)
    .filter((f) => !before.has(f) && f.endsWith(".json") && f.includes(correlationId))
    .sort()
    .pop();
  const changedTasks: string[] = [];
  if (evidence) {
    try {
      const record = JSON.parse(fs.readFileSync(path.join(evidenceDir, evidence), "utf8"));
      for (const t of record.tasks ?? []) {
        if (t.status === "changed") changedTasks.push(`${t.role ?? "-"} : ${t.task}`);
      }
    } catch {
      // The recap above still stands; a broken record is visible in the evidence folder.
    }
  }
  if (res.status !== 0) {
    const tail = output.trim().split("\n").slice(-25).join("\n");
    throw new Error(`ansible-playbook --tags ${inputs.domain}${checkMode ? " --check" : ""} failed (exit ${res.status}); log: ${logFile}\n${tail}`);
  }
  return {
    correlationId,
    checkMode,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    ...sum,
    changedTasks,
    logFile: path.relative(root, logFile),
    evidenceFile: evidence ? path.relative(root, path.join(evidenceDir, evidence)) : undefined,
  };
}

/**
 * The domain's check from the pass that `platform drift` runs beside this refresh (announced in
 * the file PLATFORM_CHECK_PASS names; the read waits for it), or undefined when there is none for
 * it: the read runs its own check. A pass that failed fails the read with its reason.
 */
export async function checkFromSharedPass(inputs: AnsiblePlaybookRunInputs): Promise<RunSummary | undefined> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const fs = require("fs") as typeof import("fs");
  const path = require("path") as typeof import("path");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const announced = process.env[CHECK_PASS_ENV];
  if (!announced) return undefined;
  const owner = Number(process.env[CHECK_PASS_OWNER_ENV]) || undefined;
  const outcome = await awaitCheckPass(announced, owner);
  if ("error" in outcome) throw new Error(`the host check pass failed: ${outcome.error}`);
  const correlationId = operatorCorrelationId(process.env);
  let record: CheckRecord;
  try {
    record = JSON.parse(fs.readFileSync(outcome.record, "utf8")) as CheckRecord;
  } catch (e) {
    throw new Error(`the check pass record ${outcome.record} cannot be read: ${(e as Error).message}`);
  }
  const verdict = domainVerdict(record, inputs.domain, inputs.host, correlationId);
  if (!verdict) return undefined;
  const root = process.cwd();
  const log = path.join(path.dirname(outcome.record), CHECK_LOG_NAME);
  return {
    correlationId,
    checkMode: true,
    ...verdict,
    logFile: path.relative(root, fs.existsSync(log) ? log : outcome.record),
    evidenceFile: path.relative(root, outcome.record),
  };
}

/** Where the Node.js dynamic provider host keeps a resource's serialized provider code. */
const PROVIDER_KEY = "__provider";

/** Fields whose change makes a run due; paths and evidence locations are how, not what. */
const TRIGGERS = ["domain", "contentHash", "host", "hostAddress"] as const;

export const ansibleProvider: pulumi.dynamic.ResourceProvider<AnsiblePlaybookRunInputs, AnsiblePlaybookRunOutputs> = {
  async create(inputs) {
    const lastRun = await runPlaybook(inputs, false);
    return { id: `${inputs.host}/${inputs.domain}`, outs: { ...inputs, lastRun, hostInSync: true } };
  },
  async update(_id, _olds, news) {
    const lastRun = await runPlaybook(news, false);
    return { outs: { ...news, lastRun, hostInSync: true } };
  },
  async read(id, props) {
    // Refresh: ask the host, in check mode, whether the domain would change anything.
    const p = props as AnsiblePlaybookRunOutputs;
    const check = (await checkFromSharedPass(p)) ?? (await runPlaybook(p, true));
    const hostInSync = check.changed === 0;
    return { id, props: { ...p, hostInSync, lastCheck: check } };
  },
  async diff(_id, olds, news) {
    const o = olds as AnsiblePlaybookRunOutputs;
    const changed: string[] = TRIGGERS.filter((k) => o[k] !== news[k]);
    if (o.hostInSync === false) changed.push("hostInSync");
    // A refresh runs the provider code of the last create or update (the engine passes the stored
    // outputs, __provider included): new code is due once, so that refresh and drift run it too.
    const oldCode = (olds as unknown as Record<string, unknown>)[PROVIDER_KEY];
    const newCode = (news as unknown as Record<string, unknown>)[PROVIDER_KEY];
    if (typeof oldCode === "string" && typeof newCode === "string" && oldCode !== newCode) changed.push(PROVIDER_KEY);
    const detailedDiff: Record<string, { kind: "update"; inputDiff: boolean }> = {};
    for (const k of changed) detailedDiff[k] = { kind: "update", inputDiff: k !== "hostInSync" };
    return { changes: changed.length > 0, replaces: [], deleteBeforeReplace: false, detailedDiff };
  },
  async delete() {
    // Intentionally nothing: see the header comment.
  },
};

/** One Ansible domain run, tracked in the stack. */
export class AnsiblePlaybookRun extends pulumi.dynamic.Resource {
  public readonly lastRun!: pulumi.Output<RunSummary>;
  public readonly hostInSync!: pulumi.Output<boolean>;
  public readonly contentHash!: pulumi.Output<string>;

  constructor(name: string, args: pulumi.Inputs & { [K in keyof AnsiblePlaybookRunInputs]: pulumi.Input<AnsiblePlaybookRunInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(ansibleProvider as pulumi.dynamic.ResourceProvider, name, { ...args, lastRun: undefined, hostInSync: undefined }, opts, "platform", "AnsiblePlaybookRun");
  }
}
