// `pulumi up` of a checkout's program on a stack through the Automation API (the pinned CLI), for
// rollback (which runs it in a checkout of its own), with the correlation id in the update message
// (`up <stack> [Correlation-Id: <id>]`, lib/operator/stackRun.ts, as `platform up` writes it) and in
// the program's environment (the Ansible runs carry it). The output goes to a log file; secrets are
// never shown (the engine masks them, and showSecrets: false keeps the SDK from reading the
// history with --show-secrets afterwards).
import * as fs from "fs";
import { keepingStackFile, openStack, prepareStackEnv } from "../pulumiEnv";

import { dropRetiredResources } from "./retiredResources";
import { updateMessage } from "./stackRun";

export { updateMessage };

export async function pulumiUp(o: { stack: string; root: string; correlationId: string; log: string; env?: NodeJS.ProcessEnv }): Promise<void> {
  const se = prepareStackEnv(o.stack, o.root, o.env ?? process.env);
  se.envVars.PLATFORM_CORRELATION_ID = o.correlationId;
  const out = fs.openSync(o.log, "a");
  try {
    const s = await openStack(se);
    const write = (t: string) => fs.writeSync(out, t);
    try {
      const dropped = await dropRetiredResources(s);
      if (dropped.length) write(`dropped from the state before the update (retired dynamic resources, ADR 0015):\n${dropped.map((u) => `  ${u}\n`).join("")}`);
      // keepingStackFile: the engine would leave a passphrase salt in the checkout's stack file.
      await keepingStackFile(se, () => s.up({ configFile: se.configFile, message: updateMessage("up", o.stack, o.correlationId), color: "never", showSecrets: false, onOutput: write, onError: write }));
    } catch (e) {
      const lines = (e instanceof Error ? e.message : String(e)).split("\n").map((l) => l.trim());
      throw new Error(lines.find((l) => /^error: /.test(l))?.replace(/^error: /, "") ?? lines.find(Boolean) ?? "pulumi up failed");
    }
  } finally {
    fs.closeSync(out);
    se.cleanup();
  }
}
