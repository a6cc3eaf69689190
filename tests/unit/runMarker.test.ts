// lib/runMarker.ts against a fake process table: a run's processes are found by the marker in
// their environment, whatever their group or session (Mitogen's controller: docs/adr/0013), and
// only those are ended, by PID.
import { endRun, processesOfRun, ProcTable, RUN_MARKER, runMarkerEnv } from "../../lib/runMarker";

function fakeProcs(table: Record<number, { env: Record<string, string>; cmd: string; dies?: boolean }>): ProcTable & { killed: number[] } {
  const alive = new Set(Object.keys(table).map(Number));
  const killed: number[] = [];
  return {
    killed,
    pids: () => [...alive],
    environ: (pid) => (alive.has(pid) ? Object.entries(table[pid].env).map(([k, v]) => `${k}=${v}`).join("\0") + "\0" : undefined),
    cmdline: (pid) => table[pid].cmd,
    kill: (pid) => {
      killed.push(pid);
      if (table[pid].dies !== false) alive.delete(pid);
    },
  };
}

describe("finding and ending the processes of one Ansible run", () => {
  it("finds the run's processes by PLATFORM_ANSIBLE_RUN=<id> only (not another run's, not a prefix)", () => {
    const procs = fakeProcs({
      10: { env: { [RUN_MARKER]: "run-1", PATH: "/bin" }, cmd: "ansible-playbook site.yml" },
      11: { env: { [RUN_MARKER]: "run-1" }, cmd: "ansible-playbook site.yml (mitogen controller, own session)" },
      12: { env: { [RUN_MARKER]: "run-10" }, cmd: "another run" },
      13: { env: { OTHER: `${RUN_MARKER}=run-1` }, cmd: "not marked" },
      14: { env: {}, cmd: "sshd" },
    });
    expect(processesOfRun("run-1", procs)).toEqual([
      { pid: 10, cmd: "ansible-playbook site.yml" },
      { pid: 11, cmd: "ansible-playbook site.yml (mitogen controller, own session)" },
    ]);
    expect(runMarkerEnv("run-1")).toEqual({ [RUN_MARKER]: "run-1" });
  });

  it("ends them by PID and reports none left; a process that will not die is reported, within the bound", async () => {
    const procs = fakeProcs({ 20: { env: { [RUN_MARKER]: "r" }, cmd: "a" }, 21: { env: { [RUN_MARKER]: "x" }, cmd: "b" } });
    expect(await endRun("r", { procs, timeoutMs: 50 })).toEqual({ ended: [{ pid: 20, cmd: "a" }], left: [] });
    expect(procs.killed).toEqual([20]);
    const stuck = fakeProcs({ 30: { env: { [RUN_MARKER]: "s" }, cmd: "stuck", dies: false } });
    expect((await endRun("s", { procs: stuck, timeoutMs: 200 })).left).toEqual([{ pid: 30, cmd: "stuck" }]);
  });
});
