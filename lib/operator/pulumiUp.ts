// `pulumi up` of a checkout's program on a stack through the Automation API (the pinned CLI),
// with the correlation id in the update message (`up <stack> [Correlation-Id: <id>]`, as
// scripts/pulumi.sh wrote it) and in the program's environment (the Ansible runs carry it).
// The output goes to a log file; secrets are never shown (the engine masks them, no --show-secrets).
import * as fs from "fs";
import { keepingStackFile, openStack, prepareStackEnv } from "../pulumiEnv";

export const updateMessage = (cmd: string, stack: string, cid: string) => `${cmd} ${stack} [Correlation-Id: ${cid}]`;

export async function pulumiUp(o: { stack: string; root: string; correlationId: string; log: string; env?: NodeJS.ProcessEnv }): Promise<void> {
  const se = prepareStackEnv(o.stack, o.root, o.env ?? process.env);
  se.envVars.PLATFORM_CORRELATION_ID = o.correlationId;
  const out = fs.openSync(o.log, "a");
  try {
    const s = await openStack(se);
    const write = (t: string) => fs.writeSync(out, t);
    try {
      // keepingStackFile: the engine would leave a passphrase salt in the checkout's stack file.
      await keepingStackFile(se, () => s.up({ configFile: se.configFile, message: updateMessage("up", o.stack, o.correlationId), color: "never", onOutput: write, onError: write }));
    } catch (e) {
      const lines = (e instanceof Error ? e.message : String(e)).split("\n").map((l) => l.trim());
      throw new Error(lines.find((l) => /^error: /.test(l))?.replace(/^error: /, "") ?? lines.find(Boolean) ?? "pulumi up failed");
    }
  } finally {
    fs.closeSync(out);
    se.cleanup();
  }
}
