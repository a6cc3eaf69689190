// `platform drift-issue-body`: the nightly job's command. Runs the three-layer drift report
// (`platform drift`, in this process), renders the issue body, and exits as the report does, so
// the workflow fails on drift and knows when to close the issue.
import * as fs from "fs";
import { DRIFT_EXIT, DriftReport, driftIssueBody as render } from "../../lib/driftIssue";
import { LAYERS } from "../../lib/drift/report";
import { ALL_DOMAINS } from "../../lib/domains";
import { parseFlags, UsageError } from "../args";
import type { Command } from "../platform";
import { driftReport } from "./drift";

const HELP = `usage: platform drift-issue-body [--stack lab|prod] [--report FILE] [--out FILE] [--run-url URL]

Runs the three-layer drift report (host, Pulumi, cluster: platform drift STACK) and writes the
Markdown body of the drift issue to --out (default: stdout).

  --stack STACK     the stack (default: lab)
  --report FILE     render this drift report (evidence/drift-<id>.json) instead of running one
  --out FILE        where the body goes
  --run-url URL     a link to the CI run, put in the body

Exit: 0 clean, 3 drifted, 1 broken (as platform drift), 2 usage.
`;

export const driftIssueBody: Command = {
  help: HELP,
  async run(argv) {
    const { flags, rest } = parseFlags("drift-issue-body", argv, { stack: "string", report: "string", out: "string", "run-url": "string" });
    if (rest.length) throw new UsageError(`drift-issue-body: unexpected argument '${rest[0]}'`);
    let report: DriftReport;
    if (flags.report) report = JSON.parse(fs.readFileSync(flags.report, "utf8")) as DriftReport;
    else {
      // The report's progress goes to stderr; stdout is the body (when no --out).
      const r = await driftReport({ stack: flags.stack ?? "lab", layers: [...LAYERS], domains: [...ALL_DOMAINS] });
      report = r.report;
      process.stderr.write(`platform drift-issue-body: report ${r.file}\n`);
    }
    const body = render(report, flags["run-url"]);
    if (flags.out) fs.writeFileSync(flags.out, body);
    else process.stdout.write(body);
    return DRIFT_EXIT[report.status] ?? 1;
  },
};
