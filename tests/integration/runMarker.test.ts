// lib/runMarker.ts on this machine's real /proc: a marked child that left the caller's process
// group and session (setsid, as Mitogen's controller does: docs/adr/0013) is found and ended.
import { spawn } from "child_process";
import { endRun, processesOfRun, runMarkerEnv } from "../../lib/runMarker";

describe("finding and ending the processes of one Ansible run, on this machine", () => {
  it("a marked child that left the caller's process group and session is found and ended", async () => {
    // setsid, as Mitogen's controller does: a group kill would not reach it.
    const child = spawn("setsid", ["sleep", "30"], { env: { ...process.env, ...runMarkerEnv(`unit-${process.pid}`) }, stdio: "ignore" });
    const id = `unit-${process.pid}`;
    const t0 = Date.now();
    while (processesOfRun(id).length === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(processesOfRun(id).length).toBeGreaterThan(0);
    const r = await endRun(id, { timeoutMs: 5000 });
    expect(r.left).toEqual([]);
    expect(processesOfRun(id)).toEqual([]);
    child.unref();
  });
});
