// Issue 4: the matching teardown leaves nothing behind. On an isolated second lab (its own
// PLATFORM_LAB_DIR, netns prefix, subnet and API relay port, so the operator's lab is untouched):
// bring it up, converge the k3s domain (control plane + Argo CD runtime running inside the VPS,
// relay and Git server on the host), then scripts/lab/down.sh; afterwards no process, mount,
// network namespace, veth, bridge or listening port of that lab may remain.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { saveEvidence } from "../support/evidence";
import { ansible } from "../support/lab";
import { repoRoot, run } from "../support/tools";

jest.setTimeout(20 * 60 * 1000);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plab-teardown-"));
const env: Record<string, string> = {
  PLATFORM_LAB_DIR: dir,
  LAB_BRIDGE: "pdown-br0",
  LAB_NETNS_PREFIX: "pdown-",
  LAB_VPS_NETNS: "pdown-vps",
  LAB_SUBNET: "10.213.9.0/24",
  LAB_HOST_ADDR: "10.213.9.1",
  LAB_VPS_ADDR: "10.213.9.10",
  LAB_PUBLIC_NETNS: "pdown-public",
  LAB_PUBLIC_ADDR: "10.213.9.20",
  LAB_API_PORT: "16449",
};
const lab = (script: string, args: string[] = []) =>
  run("bash", [path.join(repoRoot, "scripts/lab", script), ...args], { env: { ...process.env, ...env }, timeoutMs: 10 * 60 * 1000 });
const alive = (pid: number) => fs.existsSync(`/proc/${pid}`);
// PID files hold "PID STARTTIME" (scripts/lab/lib.sh lab_write_pidfile).
const readPid = (f: string) => (fs.existsSync(f) ? Number(fs.readFileSync(f, "utf8").trim().split(/\s+/)[0]) : undefined);
const listening = (port: number) => run("bash", ["-c", `ss -Hltn 'sport = :${port}' | grep -c .`]).stdout.trim() !== "0";

/** Processes whose root directory or working directory lies inside the lab directory (the VPS's rootfs). */
function processesInLab(): string[] {
  const real = fs.realpathSync(dir);
  const out: string[] = [];
  for (const p of fs.readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    for (const link of ["root", "cwd"]) {
      try {
        const target = fs.readlinkSync(`/proc/${p}/${link}`);
        if (target.startsWith(real + "/")) out.push(`${p} ${link}=${target}`);
      } catch {
        // gone meanwhile, or not ours to read
      }
    }
  }
  return out;
}

afterAll(() => {
  lab("down.sh", ["--purge"]);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("teardown: scripts/lab/down.sh leaves nothing of the lab behind", () => {
  it("removes every process, mount, namespace, veth, bridge and port of a lab that ran the cluster", async () => {
    const mainLabBefore = run("bash", ["scripts/lab/status.sh"]).status;
    const up = lab("up.sh");
    expect(up.status).toBe(0);
    // The control plane and Argo CD's runtime, running inside the VPS.
    const k3s = await ansible("teardown", ["--tags", "k3s", "-e", `ansible_host=${env.LAB_VPS_ADDR}`], env);
    expect(k3s.status).toBe(0);
    const kube = run("kubectl", ["--kubeconfig", path.join(dir, "kubeconfig"), "--request-timeout=20s", "get", "--raw", "/readyz"], {
      env: { ...process.env, PATH: `${run("bash", ["scripts/toolchain/ensure.sh", "kube"]).stdout.trim().split("\n").pop()}:${process.env.PATH}` },
    });
    expect(kube.stdout.trim()).toBe("ok"); // reached through this lab's relay on 127.0.0.1:16449

    const pids = {
      nspawn: readPid(path.join(dir, "run", "vps.pid")),
      init: readPid(path.join(dir, "run", "vps-init.pid")),
      relay: readPid(path.join(dir, "run", "api-tunnel.pid")),
      gitDaemon: readPid(path.join(dir, "run", "git-daemon.pid")),
    };
    const inNetns = run("ip", ["netns", "pids", env.LAB_VPS_NETNS]).stdout.trim().split("\n").filter(Boolean).map(Number);
    const before = { pids, inNetns: inNetns.length, inLab: processesInLab().length, relayListening: listening(16449) };
    expect(pids.relay && alive(pids.relay)).toBeTruthy();
    expect(pids.gitDaemon && alive(pids.gitDaemon)).toBeTruthy();
    expect(inNetns.length).toBeGreaterThan(10); // systemd, sshd, kine, kube-apiserver, containerd, Argo CD's pods, ...
    expect(before.relayListening).toBe(true);

    const t0 = Date.now();
    const down = lab("down.sh");
    const downMs = Date.now() - t0;
    expect(down.status).toBe(0);

    const real = fs.realpathSync(dir);
    const after = {
      alivePids: [...Object.values(pids), ...inNetns].filter((p): p is number => typeof p === "number" && alive(p)),
      processesInLab: processesInLab(),
      netns: run("ip", ["netns", "list"]).stdout.split("\n").filter((l) => l.startsWith(env.LAB_NETNS_PREFIX)),
      links: run("ip", ["-o", "link", "show"]).stdout.split("\n").filter((l) => l.includes(env.LAB_NETNS_PREFIX)),
      mounts: run("findmnt", ["-rn", "-o", "TARGET"]).stdout.split("\n").filter((m) => m.startsWith(real + "/")),
      relayListening: listening(16449),
      gitDaemonListening: run("bash", ["-c", `ss -Hltn 'src ${env.LAB_HOST_ADDR}' | grep -c .`]).stdout.trim() !== "0",
      rootfsLeft: fs.existsSync(path.join(dir, "rootfs")),
    };
    saveEvidence("teardown", "teardown.json", { before, after, downMs, downLog: down.stdout + down.stderr });
    expect(after).toEqual({ alivePids: [], processesInLab: [], netns: [], links: [], mounts: [], relayListening: false, gitDaemonListening: false, rootfsLeft: false });
    // The operator's own lab is as it was.
    expect(run("bash", ["scripts/lab/status.sh"]).status).toBe(mainLabBefore);
  });
});
