// The one correlation-id generator of the operator layer. One id per operator action, taken from
// PLATFORM_CORRELATION_ID when the caller already has one; it is carried into Git trailers, Pulumi
// update messages, Argo CD sync info, Ansible runs, evidence file names and the audit log.
// Format: 20261201T192102Z-1a2b3c4d. Used by the CLI and by the Ansible runs of the program
// (components/ansiblePlaybookRun.ts, which hands it to the callback plugin by env var).
import * as crypto from "crypto";

export function newCorrelationId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
  return `${stamp}-${crypto.randomBytes(4).toString("hex")}`;
}

/** The caller's id (PLATFORM_CORRELATION_ID) or a new one. */
export function correlationId(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.PLATFORM_CORRELATION_ID?.trim();
  return given ? given : newCorrelationId();
}
