// `pulumi up` of a checkout's program on a stack through the Automation API (the pinned CLI),
// with the correlation id in the update message (`up <stack> [Correlation-Id: <id>]`, as
// scripts/pulumi.sh wrote it) and in the program's environment (the Ansible runs carry it).
// The output goes to a log file; secrets are never shown (the engine masks them, no --show-secrets).
import * as fs from "fs";
import * as path from "path";
import { openStack, prepareStackEnv } from "../pulumiEnv";

export const updateMessage = (cmd: string, stack: string, cid: string) => `${cmd} ${stack} [Correlation-Id: ${cid}]`;

export async function pulumiUp(o: { stack: string; root: string; correlationId: string; log: string; env?: NodeJS.ProcessEnv }): Promise<void> {
  const se = prepareStackEnv(o.stack, o.root, o.env ?? process.env);
  // The engine writes the passphrase provider's encryptionsalt into the checkout's own
  // Pulumi.<stack>.yaml (seen on the lab: the next scripts/pulumi.sh copied it next to the lab's
  // salt, and the stack config no longer parsed). Put that file back byte for byte afterwards.
  const stackFile = path.join(o.root, `Pulumi.${o.stack}.yaml`);
  const committed = fs.existsSync(stackFile) ? fs.readFileSync(stackFile) : undefined;
  se.envVars.PLATFORM_CORRELATION_ID = o.correlationId;
  const out = fs.openSync(o.log, "a");
  try {
    const s = await openStack(se);
    const write = (t: string) => fs.writeSync(out, t);
    try {
      await s.up({ configFile: se.configFile, message: updateMessage("up", o.stack, o.correlationId), color: "never", onOutput: write, onError: write });
    } catch (e) {
      const lines = (e instanceof Error ? e.message : String(e)).split("\n").map((l) => l.trim());
      throw new Error(lines.find((l) => /^error: /.test(l))?.replace(/^error: /, "") ?? lines.find(Boolean) ?? "pulumi up failed");
    }
  } finally {
    fs.closeSync(out);
    if (committed !== undefined && !committed.equals(fs.readFileSync(stackFile))) fs.writeFileSync(stackFile, committed);
    se.cleanup();
  }
}
