// `platform drift-issue-body`: the nightly job's command. Runs the three-layer drift report
// (scripts/drift.sh today; issue 14 moves it into this CLI), renders the issue body, and exits as
// the report does, so the workflow fails on drift and knows when to close the issue.
import { spawnSync } from "child_process";
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { DRIFT_EXIT, DriftReport, driftIssueBody as render } from "../../lib/driftIssue";
import { repoRoot } from "../../lib/versions";
import { parseFlags, UsageError } from "../args";
import type { Command } from "../platform";

const HELP = `usage: platform drift-issue-body [--stack lab|prod] [--report FILE] [--out FILE] [--run-url URL]

Runs the three-layer drift report (host, Pulumi, cluster: scripts/drift.sh STACK) and writes the
Markdown body of the drift issue to --out (default: stdout).

  --stack STACK     the stack (default: lab)
  --report FILE     render this drift report (evidence/drift-<id>.json) instead of running one
  --out FILE        where the body goes
  --run-url URL     a link to the CI run, put in the body

Exit: 0 clean, 3 drifted, 1 broken (as scripts/drift.sh), 2 usage.
`;

export const driftIssueBody: Command = {
  help: HELP,
  async run(argv) {
    const { flags, rest } = parseFlags("drift-issue-body", argv, { stack: "string", report: "string", out: "string", "run-url": "string" });
    if (rest.length) throw new UsageError(`drift-issue-body: unexpected argument '${rest[0]}'`);
    let file = flags.report;
    let driftRc: number | null = null;
    if (!file) {
      const stack = flags.stack ?? "lab";
      const cid = process.env.PLATFORM_CORRELATION_ID ?? `drift-${randomUUID()}`;
      process.stderr.write(`platform drift-issue-body: drift report on ${stack} (correlation id ${cid})\n`);
      // stdout is the operator's summary: keep it on stderr, the body is this command's output.
      const r = spawnSync("bash", [path.join(repoRoot, "scripts/drift.sh"), stack], { env: { ...process.env, PLATFORM_CORRELATION_ID: cid }, stdio: ["ignore", 2, 2], timeout: 60 * 60 * 1000 });
      driftRc = r.status;
      file = path.join(process.env.PLATFORM_EVIDENCE_DIR ?? path.join(repoRoot, "evidence"), `drift-${cid}.json`);
      if (!fs.existsSync(file)) throw new Error(`scripts/drift.sh ${stack} wrote no report (exit ${r.status})`);
    }
    const report = JSON.parse(fs.readFileSync(file, "utf8")) as DriftReport;
    const body = render(report, flags["run-url"]);
    if (flags.out) fs.writeFileSync(flags.out, body);
    else process.stdout.write(body);
    const code = DRIFT_EXIT[report.status] ?? 1;
    // The report and the script must agree; if they do not, that is broken, not clean.
    return driftRc !== null && driftRc !== code ? 1 : code;
  },
};
