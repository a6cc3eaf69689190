import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { appendAudit, auditLine, auditLogPath, makeAuditRecord, readAudit } from "../../lib/operator/audit";
import { correlationId, newCorrelationId } from "../../lib/operator/correlation";

describe("correlation ids", () => {
  it("have the scripts' format: UTC stamp and 8 hex digits", () => {
    expect(newCorrelationId(new Date("2026-12-01T19:21:02.123Z"))).toMatch(/^20261201T192102Z-[0-9a-f]{8}$/);
  });
  it("keep the caller's id and make a new one otherwise", () => {
    expect(correlationId({ PLATFORM_CORRELATION_ID: "given-1" })).toBe("given-1");
    expect(correlationId({})).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{8}$/);
  });
});

describe("the audit log", () => {
  it("lives with the lab for the lab stack and in the state directory for others", () => {
    expect(auditLogPath("lab", "/repo", {})).toBe("/repo/.lab/audit.jsonl");
    expect(auditLogPath("lab", "/repo", { PLATFORM_LAB_DIR: "/tmp/l2" })).toBe("/tmp/l2/audit.jsonl");
    expect(auditLogPath("prod", "/repo", { PLATFORM_AUDIT_LOG: "/var/a.jsonl" })).toBe("/var/a.jsonl");
    expect(auditLogPath("prod", "/repo", { XDG_STATE_HOME: "/s" })).toBe("/s/platform/audit-prod.jsonl");
  });
  it("records the action with its fields, and appends one sorted JSON line per action", () => {
    const rec = makeAuditRecord(
      { stack: "lab", action: "resync", outcome: "ok", correlationId: "c1", fields: { app: "demo" } },
      { now: new Date("2026-12-01T10:00:00.000Z"), who: "op@ws", gitRevision: "abc" },
    );
    expect(rec).toEqual({ time: "2026-12-01T10:00:00+00:00", correlationId: "c1", stack: "lab", action: "resync", outcome: "ok", who: "op@ws", gitRevision: "abc", app: "demo" });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "audit-"));
    try {
      appendAudit(dir, { stack: "lab", action: "drift", outcome: "clean", correlationId: "c2" }, { PLATFORM_LAB_DIR: dir });
      appendAudit(dir, { stack: "lab", action: "drift", outcome: "drifted", correlationId: "c3" }, { PLATFORM_LAB_DIR: dir });
      fs.appendFileSync(path.join(dir, "audit.jsonl"), "not json\n");
      const lines = fs.readFileSync(path.join(dir, "audit.jsonl"), "utf8").trim().split("\n");
      expect(Object.keys(JSON.parse(lines[0]))).toEqual([...Object.keys(JSON.parse(lines[0]))].sort());
      // The bash writer's text (json.dumps, sort_keys): readers grep '"correlationId": "<id>"'.
      expect(lines[0]).toMatch(/^\{"action": "drift", "correlationId": "c2", "gitRevision": (null|"[0-9a-f]+"), "outcome": "clean", "stack": "lab", "time": "[^"]+", "who": "[^"]+"\}$/);
      const { records, unreadable } = readAudit(path.join(dir, "audit.jsonl"));
      expect(records.map((r) => [r.correlationId, r.outcome])).toEqual([["c2", "clean"], ["c3", "drifted"]]);
      expect(unreadable).toBe(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  it("escapes non-ASCII as Python's json.dumps does", () => {
    expect(auditLine({ time: "t", correlationId: "c", stack: "lab", action: "a", outcome: "o", who: "w", gitRevision: null, note: "caf\u00e9" })).toBe(
      '{"action": "a", "correlationId": "c", "gitRevision": null, "note": "caf\\u00e9", "outcome": "o", "stack": "lab", "time": "t", "who": "w"}',
    );
  });
});
