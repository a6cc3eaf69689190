// `platform`: the operator's command. Each subcommand is a module in
// cli/commands/, loaded only when run, so that `--help` stays fast. Exit codes: a subcommand's
// own (gate and preview --expect-no-changes: 0 / 7 / 1), 2 for a usage error.
import { UsageError } from "./args";

export interface Command {
  /** Full usage text (`platform <cmd> --help`). */
  help: string;
  /** Usage of one action (`platform <cmd> <action> --help`), when the command has actions. */
  helpFor?(argv: string[]): string;
  run(argv: string[]): Promise<number>;
}

/** Subcommands, with the one line `platform --help` shows (kept here so help loads no module). */
// (require, not import(): the launcher's TypeScript hook serves require; a dynamic import() of a
// .ts file would go to Node's own ES module loader.)
/* eslint-disable @typescript-eslint/no-require-imports */
const stack = () => require("./commands/stack") as typeof import("./commands/stack");
const COMMANDS: Record<string, { summary: string; load: () => Command }> = {
  deploy: { summary: "the main job: lab up (on the lab), then up: exit 0 deployed, 1 failed", load: () => stack().deploy },
  up: { summary: "converge the stack (Automation API) under one correlation id: exit 0 / 1", load: () => stack().up },
  preview: { summary: "what up would change (--expect-no-changes: exit 0 no change, 7 changes, 1 broken)", load: () => stack().preview },
  refresh: { summary: "read the real state into the stack (--preview-only: host drift, read-only; exit 0 / 7 / 1)", load: () => stack().refresh },
  history: { summary: "the stack's updates with their correlation ids (never --show-secrets)", load: () => stack().historyCommand },
  cancel: { summary: "end the stack's update in progress (a dead up's lock)", load: () => stack().cancelCommand },
  destroy: { summary: "remove every resource from the stack's state (--yes required)", load: () => stack().destroy },
  lab: { summary: "up | down | status | ssh: the lab VPS (scripts/lab/*.sh)", load: () => (require("./commands/lab") as typeof import("./commands/lab")).lab },
  gate: { summary: "what a PR changes on a stack (Pulumi layer + cluster layer): exit 0 no change, 7 changes, 1 broken", load: () => (require("./commands/gate") as typeof import("./commands/gate")).gate },
  drift: { summary: "the drift report (host, Pulumi, cluster layers), read-only: exit 0 clean, 3 drifted, 1 broken", load: () => (require("./commands/drift") as typeof import("./commands/drift")).drift },
  resync: { summary: "drifted Argo CD apps back to Git: sync now, wait, verify: exit 0 restored, 1 not", load: () => (require("./commands/resync") as typeof import("./commands/resync")).resync },
  rollback: {
    summary: "revert a bad commit through Git, sync now, verify; pulumi up if it touched the program: exit 0 done, 1 refused/failed",
    load: () => (require("./commands/rollback") as typeof import("./commands/rollback")).rollback,
  },
  audit: { summary: "recent | show ID: what happened, by correlation id (audit log, Git, stack history, Argo CD, evidence)", load: () => (require("./commands/audit") as typeof import("./commands/audit")).audit },
  secrets: {
    summary: "init | rotate | recipients | add-recipient | remove-recipient | check | keys: the stack's SOPS file and its age recipients (never a value)",
    load: () => (require("./commands/secrets") as typeof import("./commands/secrets")).secrets,
  },
  "drift-issue-body": {
    summary: "the nightly drift report as an issue body (runs platform drift): exit 0 clean, 3 drifted, 1 broken",
    load: () => (require("./commands/driftIssueBody") as typeof import("./commands/driftIssueBody")).driftIssueBody,
  },
};
/* eslint-enable @typescript-eslint/no-require-imports */

const USAGE = `usage: platform <command> [flags]   (platform <command> --help for its flags)

commands:
${Object.entries(COMMANDS)
  .map(([n, c]) => `  ${n.padEnd(18)} ${c.summary}`)
  .join("\n")}
`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  const entry = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    process.stderr.write(`platform: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  const cmd = entry.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(cmd.helpFor?.(rest) ?? cmd.help);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`platform ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`platform ${name}: error: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}\n`);
    return 1;
  }
}
