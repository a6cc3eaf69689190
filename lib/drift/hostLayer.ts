// The drift report's host layer, per domain, from the evidence records of Ansible check runs
// (infra/ansible/callback_plugins/platform_evidence.py writes one JSON record per run). The
// records come from whichever check ran: the Pulumi refresh's own read of each domain
// (components/ansiblePlaybookRun.ts runs site.yml --check --diff --tags <domain>), so that a
// three-layer report runs Ansible once, or one site.yml --check pass over every domain when the
// host layer is asked for alone (checkPass below). The interpretation is pure.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { PlatformConfig } from "../config";
import { endRun, runMarkerEnv } from "../runMarker";
import { HostLayer, HostTask, oneLine } from "./report";
import { CHECK_LOG_NAME, CHECK_PASS_TIMEOUT_MS, CheckRecord } from "./sharedCheck";

/** The part of an evidence record the report reads: the provider's verdict's part, plus each task's items and diff. */
export interface EvidenceRecord extends CheckRecord {
  tasks: Array<CheckRecord["tasks"][number] & { items?: string[]; diff_summary?: HostTask["diff"] }>;
}

/**
 * The layer from the records of the runs that checked these domains (one record for all, or
 * one per domain). A domain no record covers cannot be called clean: the layer is broken.
 */
export function hostFromRecords(records: Array<{ file: string; record: EvidenceRecord }>, domains: string[], source: HostLayer["source"]): HostLayer {
  const covered = (d: string) => records.some(({ record }) => !record.tags?.length || record.tags.includes("all") || record.tags.includes(d));
  const layer: HostLayer = { status: "clean", domains: {}, source, evidenceFiles: records.map((r) => r.file) };
  const errors: string[] = [];
  for (const d of domains) {
    const tasks = records.flatMap(({ record }) => record.tasks.filter((t) => t.role === d && t.status === "changed"));
    layer.domains[d] = {
      drifted: tasks.length > 0,
      tasks: tasks.map((t) => ({ task: t.task, ...(t.items?.length ? { items: t.items } : {}), ...(t.diff_summary ? { diff: t.diff_summary } : {}) })),
    };
    if (!covered(d)) errors.push(`${d}: no check run covered this domain`);
  }
  for (const { record } of records) {
    for (const t of record.tasks.filter((x) => x.status === "failed" || x.status === "unreachable")) errors.push(`${t.host}: ${t.role || "preflight"} / ${t.task}: ${t.message ?? t.status}`);
    if (!record.ok && !record.tasks.some((x) => x.status === "failed" || x.status === "unreachable")) errors.push(`the check run ${record.tags?.join(",") ?? ""} did not finish ok`);
  }
  if (errors.length) {
    layer.status = "broken";
    layer.errors = [...new Set(errors)];
    layer.error = layer.errors[0];
  } else if (Object.values(layer.domains).some((v) => v.drifted)) layer.status = "drifted";
  return layer;
}

export function readRecord(file: string): EvidenceRecord {
  return JSON.parse(fs.readFileSync(file, "utf8")) as EvidenceRecord;
}

/**
 * One check pass over the domains (site.yml --check --diff --tags <domains>), as the stack's own
 * runs do it (same inventory, address, key, secrets), its log and record in `dir`. Returns the
 * record's path; throws one line (the log's tail is in the log) when no record was written.
 */
export async function checkPass(opts: { root: string; config: PlatformConfig; domains: string[]; cid: string; dir: string; envPath: string; timeoutMs?: number }): Promise<string> {
  const { root, config, cid, dir } = opts;
  fs.mkdirSync(dir, { recursive: true });
  const ansibleDir = path.join(root, "infra/ansible");
  const args = [
    "-i", config.inventory,
    "site.yml", "--check", "--diff",
    "--tags", opts.domains.join(","),
    "--limit", config.host,
    "-e", `ansible_host=${config.hostAddress}`,
    "--private-key", config.sshPrivateKeyPath,
    "-e", `platform_secrets_file=${config.secretsFile}`,
    "-e", `platform_correlation_id=${cid}`,
  ];
  const log = path.join(dir, CHECK_LOG_NAME);
  const out = fs.openSync(log, "w");
  const code = await new Promise<number | null>((resolve, reject) => {
    const p = spawn("ansible-playbook", args, {
      cwd: ansibleDir,
      env: { ...process.env, PATH: opts.envPath, ANSIBLE_CONFIG: path.join(ansibleDir, "ansible.cfg"), ANSIBLE_FORCE_COLOR: "0", PLATFORM_EVIDENCE_DIR: dir, PLATFORM_CORRELATION_ID: cid, SOPS_AGE_KEY_FILE: config.ageKeyFile, ...runMarkerEnv(cid) },
      stdio: ["ignore", out, out],
    });
    // Past the bound, every process of the run goes, Mitogen's controller (its own session) included.
    const timer = setTimeout(() => void endRun(cid), opts.timeoutMs ?? CHECK_PASS_TIMEOUT_MS);
    p.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error((e as NodeJS.ErrnoException).code === "ENOENT" ? "ansible-playbook is not on PATH (scripts/toolchain/ensure-ansible.sh)" : oneLine(e)));
    });
    p.on("close", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  fs.closeSync(out);
  const record = fs.readdirSync(dir).filter((f) => f.startsWith("ansible-") && f.endsWith(".json") && f.includes(cid)).sort().pop();
  if (!record) {
    const tail = fs.readFileSync(log, "utf8").trim().split("\n").filter(Boolean).slice(-5);
    const why = tail.find((l) => /error|fatal|unreachable|failed/i.test(l)) ?? tail.pop() ?? "no output";
    throw new Error(`the check run produced no evidence record (exit ${code}): ${why.trim()} (log: ${path.relative(root, log)})`);
  }
  return path.join(dir, record);
}
