// Exposure of the lab VPS under its real nftables rules, seen from the network:
//  - from a "public" host (netns plab-public), only what the firewall role lists as public
//    (firewall_public_tcp_ports, SSH while firewall_ssh_public) answers on TCP; PostgreSQL, the
//    Kubernetes API, Argo CD (firewall_vpn_only_tcp_ports) and every unlisted port are dropped;
//  - a VPN peer (netns plab-peer, its own key pair, userspace wireguard-go) added through the vpn
//    role's `vpn_peers` completes a WireGuard handshake over public UDP 51820 and reaches
//    PostgreSQL at 10.214.0.1:5432 through the tunnel, and not at 10.213.0.10:5432 outside it;
//  - without the firewall's rules (its table deleted) a listener on a VPN-only port (a throwaway
//    one on a free VPN-only port, and any real service bound to all addresses, such as the lab's
//    kube-apiserver on 6443) answers publicly, i.e. this test fails without the firewall;
//    `--tags firewall` restores the drop.
// The allowed sets are read from the role defaults and the lab inventory (the one place they are
// defined), never repeated here. Probe matrix: evidence/tests/exposure/probe-matrix.json.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { saveEvidence } from "../support/evidence";
import { ansible, AnsibleResult, labDir, labEnv, onVps, recap, vpsAddress, waitFor } from "../support/lab";
import { repoRoot, run, toolchainPath } from "../support/tools";

jest.setTimeout(20 * 60 * 1000);

const CRITERION = "exposure";
const PUBLIC_NETNS = labEnv.LAB_PUBLIC_NETNS; // plab-public, 10.213.0.20
const PUBLIC_ADDR = labEnv.LAB_PUBLIC_ADDR;
const PEER_NETNS = `${labEnv.LAB_NETNS_PREFIX}peer`; // plab-peer
const PEER_ADDR = vpsAddress.replace(/\.\d+$/, ".30"); // 10.213.0.30 (the lab's subnet: an isolated lab has its own)
const PEER_WG_IF = "plab-wg";
const probeScript = path.join(repoRoot, "scripts/security/probe.py");
// Ports every run probes besides the role's own lists: the usual suspects of this platform.
const ALWAYS_PROBED_TCP = [22, 80, 443, 5432, 6443, 8080, 30443];

// --- the policy, from the one place it is defined ------------------------------------------------
interface FirewallPolicy {
  publicTcp: number[];
  publicUdp: number[];
  vpnOnlyTcp: number[];
  sshPublic: boolean;
  sshPort: number;
  vpnSubnet: string;
  sources: string[];
}
/** Role defaults, overridden by the lab inventory's group_vars (Ansible's precedence for these files). */
function firewallPolicy(): FirewallPolicy {
  const files = [
    path.join(repoRoot, "infra/ansible/roles/firewall/defaults/main.yml"),
    ...fs
      .readdirSync(path.join(repoRoot, "infra/ansible/inventories/lab/group_vars/all"))
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .map((f) => path.join(repoRoot, "infra/ansible/inventories/lab/group_vars/all", f)),
  ];
  const vars: Record<string, unknown> = {};
  for (const f of files) Object.assign(vars, parseYaml(fs.readFileSync(f, "utf8")) ?? {});
  const get = (k: string) => {
    const v = vars[k];
    if (typeof v === "string" && v.includes("{{")) throw new Error(`${k} is templated (${v}): this test reads literal values only`);
    if (v === undefined) throw new Error(`${k} is not defined in ${files.join(", ")}`);
    return v;
  };
  const ports = (k: string) => (get(k) as Array<number | string>).map(Number);
  return {
    publicTcp: ports("firewall_public_tcp_ports"),
    publicUdp: ports("firewall_public_udp_ports"),
    vpnOnlyTcp: ports("firewall_vpn_only_tcp_ports"),
    sshPublic: Boolean(get("firewall_ssh_public")),
    sshPort: Number(get("firewall_ssh_port")),
    vpnSubnet: String(get("platform_vpn_subnet")),
    sources: files.map((f) => path.relative(repoRoot, f)),
  };
}
const policy = firewallPolicy();
const publicTcpSet = [...new Set([...policy.publicTcp, ...(policy.sshPublic ? [policy.sshPort] : [])])].sort((a, b) => a - b);
const vpnOnlyTcpSet = [...new Set([...policy.vpnOnlyTcp, ...(policy.sshPublic ? [] : [policy.sshPort])])].sort((a, b) => a - b);
const probedTcp = [...new Set([...ALWAYS_PROBED_TCP, ...publicTcpSet, ...vpnOnlyTcpSet])].sort((a, b) => a - b);
const vpnRole = parseYaml(fs.readFileSync(path.join(repoRoot, "infra/ansible/roles/vpn/defaults/main.yml"), "utf8")) as Record<string, unknown>;
// The inventory's VPN addressing (the one place; the vpn role's vpn_address derives from it).
const labVars = parseYaml(fs.readFileSync(path.join(repoRoot, "infra/ansible/inventories/lab/group_vars/all/main.yml"), "utf8")) as Record<string, unknown>;
const vpnServerAddr = String(labVars.platform_vpn_server_ip); // 10.214.0.1
const vpnListenPort = Number(vpnRole.vpn_listen_port); // 51820
const PEER_VPN_ADDR = vpnServerAddr.replace(/\.\d+$/, ".2"); // 10.214.0.2

// --- probes ------------------------------------------------------------------------------------
type Matrix = Record<string, string>;
/** One bounded round of probes from a lab netns (scripts/security/probe.py: open/refused/filtered). */
function probe(netns: string, addr: string, targets: string[], timeoutS = 2): Matrix {
  const r = run("ip", ["netns", "exec", netns, "python3", probeScript, "--timeout", String(timeoutS), addr, ...targets], { timeoutMs: (timeoutS + 10) * 1000 });
  if (r.status !== 0) throw new Error(`probe from ${netns} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Matrix;
}
const tcpTargets = (ports: number[]) => ports.map((p) => `tcp:${p}`);
/** The host's TCP stack answered (a listener accepted, or a RST said nothing listens): not dropped. */
const answers = (state: string) => state === "open" || state === "refused";
/** Public TCP probes that disagree with the policy: answered but not public, or public but dropped. */
function publicViolations(m: Matrix): string[] {
  return probedTcp
    .filter((p) => answers(m[`tcp:${p}`]) !== publicTcpSet.includes(p))
    .map((p) => `tcp:${p} ${m[`tcp:${p}`]} (${publicTcpSet.includes(p) ? "public: should answer" : "not public: should be dropped"})`);
}

function labShell(script: string, ...args: string[]) {
  return run("bash", ["-c", `. scripts/lab/lib.sh && ${script}`, "lab-shell", ...args], { timeoutMs: 120_000 });
}
function mustRun(cmd: string, args: string[]) {
  const r = run(cmd, args, { timeoutMs: 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}
/** The lab's secrets, decrypted in memory (never written or printed). */
function labSecrets(): Record<string, string> {
  const r = run("sops", ["--decrypt", "--output-type", "json", path.join(labDir, "secrets.sops.yaml")], {
    env: { ...process.env, PATH: toolchainPath(), SOPS_AGE_KEY_FILE: path.join(labDir, "age.key") },
  });
  if (r.status !== 0) throw new Error(`sops --decrypt failed (exit ${r.status})`);
  return JSON.parse(r.stdout) as Record<string, string>;
}
const ansibleSummary = (r: AnsibleResult) => ({ status: r.status, recap: recap(r.output), durationMs: r.durationMs });

// --- state shared by the tests and the clean-up ------------------------------------------------
const evidence: Record<string, unknown> = { policy: { ...policy, publicTcpSet, vpnOnlyTcpSet, probedTcp } };
let wgGo: ChildProcess | undefined;
let peerKeyDir: string | undefined;
let peerAdded = false;
let firewallFlushed = false;
let listenerPid: string | undefined;

async function stopProcess(child: ChildProcess | undefined, what: string) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = new Promise<string>((resolve) => setTimeout(() => resolve("timeout"), 10_000));
  if ((await Promise.race([exited.then(() => "exited"), timer])) === "timeout") {
    child.kill("SIGKILL");
    await exited;
  }
  evidence[`${what}Stopped`] = { pid: child.pid, exitCode: child.exitCode, signal: child.signalCode };
}

describe("exposure of the lab VPS (real nftables rules, WireGuard peer, PostgreSQL)", () => {
  beforeAll(async () => {
    const st = run("bash", ["scripts/lab/status.sh"]);
    if (st.status !== 0) throw new Error(`the lab is not up (run scripts/lab/up.sh): ${st.stdout}${st.stderr}`);
    const tools = run("bash", ["scripts/security/ensure-probe-tools.sh"], { timeoutMs: 15 * 60 * 1000 });
    if (tools.status !== 0) throw new Error(`probe tools missing: ${tools.stderr}`);
    // The rules and services under test are the converged ones: if the firewall, the VPN or
    // PostgreSQL is not in place (a fresh lab, or a stopped service left by another test),
    // converge those three domains first.
    const inPlace = "nft list table inet platform >/dev/null && systemctl is-active -q wg-quick@wg0 postgresql@15-main";
    if (onVps(inPlace).status !== 0) {
      const r = await ansible(CRITERION, ["--tags", "firewall,vpn,postgresql"]);
      evidence.preConverge = ansibleSummary(r);
      if (r.status !== 0) throw new Error(`converging firewall, vpn and postgresql failed:\n${r.output.slice(-3000)}`);
      if (onVps(inPlace).status !== 0) throw new Error("firewall, VPN or PostgreSQL still not in place after converging them");
    }
    const c = labShell(`lab_netns_create "$1" "$2"`, PUBLIC_NETNS, PUBLIC_ADDR);
    if (c.status !== 0) throw new Error(`cannot create ${PUBLIC_NETNS}: ${c.stderr}`);
  });

  afterAll(async () => {
    const cleanup: string[] = [];
    if (listenerPid) {
      onVps(`kill ${listenerPid} 2>/dev/null; for i in $(seq 1 20); do kill -0 ${listenerPid} 2>/dev/null || exit 0; sleep 0.25; done; kill -9 ${listenerPid}`);
      cleanup.push(`listener pid ${listenerPid} stopped`);
    }
    await stopProcess(wgGo, "wireguardGo");
    if (peerKeyDir) fs.rmSync(peerKeyDir, { recursive: true, force: true });
    for (const ns of [PEER_NETNS, PUBLIC_NETNS]) {
      const d = labShell(`lab_netns_delete "$1"`, ns);
      cleanup.push(`netns ${ns} deleted: exit ${d.status}`);
    }
    // Back to the converged state: the peer leaves wg0.conf, the ruleset is the role's.
    const tags = [...(peerAdded ? ["vpn"] : []), ...(firewallFlushed ? ["firewall"] : [])];
    if (tags.length) {
      const r = await ansible(CRITERION, ["--tags", tags.join(",")]);
      cleanup.push(`ansible --tags ${tags.join(",")}: exit ${r.status}`);
    }
    evidence.cleanup = cleanup;
    saveEvidence(CRITERION, "probe-matrix.json", evidence);
  });

  it("the loaded ruleset holds exactly the role's public and VPN-only sets", () => {
    const set = (name: string) => {
      const r = onVps(`nft -j list set inet platform ${name}`);
      if (r.status !== 0) return [];
      const json = JSON.parse(r.stdout) as { nftables: Array<{ set?: { elem?: number[] } }> };
      return (json.nftables.find((e) => e.set)?.set?.elem ?? []).map(Number).sort((a, b) => a - b);
    };
    const loaded = { public_tcp: set("public_tcp"), public_udp: set("public_udp"), vpn_only_tcp: set("vpn_only_tcp") };
    evidence.loadedSets = loaded;
    expect(loaded).toEqual({ public_tcp: publicTcpSet, public_udp: [...policy.publicUdp].sort((a, b) => a - b), vpn_only_tcp: vpnOnlyTcpSet });
    expect(policy.publicUdp).toContain(vpnListenPort);
    // 5432 (PostgreSQL) and 6443 (Kubernetes API) must be VPN-only, never public.
    expect(vpnOnlyTcpSet).toEqual(expect.arrayContaining([5432, 6443]));
    expect(publicTcpSet).not.toEqual(expect.arrayContaining([5432]));
    expect(publicTcpSet).not.toEqual(expect.arrayContaining([6443]));
  });

  it("from a public host, only the public TCP ports answer; PostgreSQL, Kubernetes API, Argo CD and unlisted ports are dropped", () => {
    const m = probe(PUBLIC_NETNS, vpsAddress, [...tcpTargets(probedTcp), `udp:${vpnListenPort}`]);
    evidence.fromPublic = { from: `${PUBLIC_NETNS} ${PUBLIC_ADDR}`, to: vpsAddress, result: m };
    expect(publicViolations(m)).toEqual([]);
    for (const p of vpnOnlyTcpSet) expect(`tcp:${p} ${m[`tcp:${p}`]}`).toBe(`tcp:${p} filtered`);
    // SSH really is the SSH daemon (open), not just an unfiltered port.
    if (policy.sshPublic) expect(m[`tcp:${policy.sshPort}`]).toBe("open");
  });

  it("a VPN peer added through vpn_peers handshakes over public UDP and reaches PostgreSQL only through the tunnel", async () => {
    const serverPub = fs.readFileSync(path.join(labDir, "wireguard-server.pub"), "utf8").trim();
    expect(serverPub).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    // The peer's own key pair, made on the host; the private key stays in a 0700 temp dir.
    peerKeyDir = fs.mkdtempSync(path.join(os.tmpdir(), "plab-peer-"));
    const keyFile = path.join(peerKeyDir, "private.key");
    fs.writeFileSync(keyFile, mustRun("wg", ["genkey"]), { mode: 0o600 });
    const peerPub = run("wg", ["pubkey"], { input: fs.readFileSync(keyFile, "utf8") }).stdout.trim();
    expect(peerPub).toMatch(/^[A-Za-z0-9+/]{43}=$/);

    const c = labShell(`lab_netns_create "$1" "$2"`, PEER_NETNS, PEER_ADDR);
    expect(c.status).toBe(0);
    // Userspace WireGuard in the peer's netns, in the foreground: we stop it by its PID.
    wgGo = spawn("ip", ["netns", "exec", PEER_NETNS, "wireguard-go", "-f", PEER_WG_IF], {
      stdio: "ignore",
      env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1" },
    });
    evidence.wireguardGoPid = wgGo.pid;
    await waitFor(() => run("ip", ["-n", PEER_NETNS, "link", "show", PEER_WG_IF]).status === 0, `${PEER_WG_IF} in ${PEER_NETNS}`, 15_000, 250);
    mustRun("ip", ["netns", "exec", PEER_NETNS, "wg", "set", PEER_WG_IF, "private-key", keyFile, "peer", serverPub,
      "endpoint", `${vpsAddress}:${vpnListenPort}`, "allowed-ips", policy.vpnSubnet, "persistent-keepalive", "5"]);
    mustRun("ip", ["-n", PEER_NETNS, "addr", "add", `${PEER_VPN_ADDR}/${policy.vpnSubnet.split("/")[1]}`, "dev", PEER_WG_IF]);
    mustRun("ip", ["-n", PEER_NETNS, "link", "set", PEER_WG_IF, "up"]);
    const handshake = () => Number(run("ip", ["netns", "exec", PEER_NETNS, "wg", "show", PEER_WG_IF, "latest-handshakes"]).stdout.trim().split(/\s+/)[1] ?? 0);

    // Not yet a peer of the server: WireGuard ignores unknown keys, nothing gets through.
    const before = probe(PEER_NETNS, vpnServerAddr, ["tcp:5432"], 3);
    evidence.peerBeforeJoining = { handshake: handshake(), result: before };
    expect(before["tcp:5432"]).toBe("filtered");
    expect(handshake()).toBe(0);

    // Join it the way an operator does: the vpn role's vpn_peers input (docs/runbooks/add-vpn-operator.md).
    const peers = [{ name: "plab-peer (exposure test)", public_key: peerPub, allowed_ips: [`${PEER_VPN_ADDR}/32`] }];
    peerAdded = true;
    const join = await ansible(CRITERION, ["--tags", "vpn", "-e", JSON.stringify({ vpn_peers: peers })]);
    evidence.joinPeer = ansibleSummary(join);
    expect(join.status).toBe(0);
    expect(onVps(`wg show wg0 allowed-ips`).stdout).toContain(`${peerPub}\t${PEER_VPN_ADDR}/32`);

    // The handshake goes over public UDP 51820 from an outside address: the VPN port answers.
    const t0 = Date.now();
    await waitFor(() => {
      probe(PEER_NETNS, vpnServerAddr, ["tcp:5432"], 1); // traffic into the tunnel triggers a handshake
      return handshake() > 0;
    }, "a WireGuard handshake with the VPS", 40_000, 1000);
    evidence.handshake = { latestHandshake: handshake(), afterMs: Date.now() - t0, endpoint: `${vpsAddress}:${vpnListenPort}/udp`, from: PEER_ADDR };
    const serverSide = onVps(`wg show wg0 endpoints`).stdout;
    expect(serverSide).toContain(`${peerPub}\t${PEER_ADDR}:`);

    // Through the tunnel: PostgreSQL answers, for real (protocol and login), and the other VPN-only ports pass the firewall.
    const ready = run("ip", ["netns", "exec", PEER_NETNS, "pg_isready", "-h", vpnServerAddr, "-p", "5432", "-t", "5"], { timeoutMs: 15_000 });
    const password = labSecrets().secret_postgresql_app_password;
    const login = run("ip", ["netns", "exec", PEER_NETNS, "psql", "-h", vpnServerAddr, "-U", "app", "-d", "app", "-tAc", "select current_user || ' ' || host(inet_server_addr())"], {
      env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "5" },
      timeoutMs: 15_000,
    });
    const viaVpn = probe(PEER_NETNS, vpnServerAddr, tcpTargets(probedTcp));
    // Outside the tunnel, the same peer is just another public host.
    const outside = probe(PEER_NETNS, vpsAddress, tcpTargets(probedTcp));
    evidence.peerThroughVpn = { from: `${PEER_NETNS} ${PEER_VPN_ADDR}`, to: vpnServerAddr, result: viaVpn, pgIsReady: ready.stdout.trim(), psql: login.stdout.trim(), psqlExit: login.status };
    evidence.peerOutsideVpn = { from: `${PEER_NETNS} ${PEER_ADDR}`, to: vpsAddress, result: outside };

    expect(ready.stdout.trim()).toBe(`${vpnServerAddr}:5432 - accepting connections`);
    expect(ready.status).toBe(0);
    expect(login.status).toBe(0);
    expect(login.stdout.trim()).toBe(`app ${vpnServerAddr}`);
    expect(viaVpn["tcp:5432"]).toBe("open");
    for (const p of vpnOnlyTcpSet) expect(`tcp:${p} ${answers(viaVpn[`tcp:${p}`])}`).toBe(`tcp:${p} true`);
    expect(outside["tcp:5432"]).toBe("filtered");
    expect(publicViolations(outside)).toEqual([]);
  });

  it("without the firewall's rules a VPN-only port answers publicly (the exposure check fails); --tags firewall restores the drop", async () => {
    // What listens on the VPN-only ports now ("*:6443" is the lab's kube-apiserver when the lab
    // control plane runs): those on a wildcard address are exposed as soon as the rules go.
    const listeners = Object.fromEntries(vpnOnlyTcpSet.map((p) => [p, onVps(`ss -Hltn 'sport = :${p}'`).stdout.trim().split("\n").filter(Boolean).map((l) => l.split(/\s+/)[3])]));
    const wildcard = vpnOnlyTcpSet.filter((p) => listeners[p].some((a) => /^(\*|0\.0\.0\.0|\[::\]):/.test(a)));
    // A throwaway listener on all addresses, on the first VPN-only port where nothing listens (6443 in a bare lab).
    const port = vpnOnlyTcpSet.find((p) => listeners[p].length === 0);
    if (port === undefined) throw new Error(`every VPN-only port has a listener already: ${JSON.stringify(listeners)}`);
    evidence.vpnOnlyListeners = { before: listeners, wildcard, throwawayPort: port };
    const start = onVps(`setsid nohup python3 -m http.server ${port} --bind 0.0.0.0 </dev/null >/dev/null 2>&1 & echo $!`);
    listenerPid = start.stdout.trim();
    expect(listenerPid).toMatch(/^\d+$/);
    await waitFor(() => onVps(`ss -Hltn 'sport = :${port}'`).stdout.includes(`:${port}`), `the listener on ${port}`, 20_000, 500);

    const withRules = probe(PUBLIC_NETNS, vpsAddress, tcpTargets(probedTcp));
    // Remove exactly the firewall domain's rules (its one table); other tables (K3s's own) stay.
    const tablesBefore = onVps("nft list tables").stdout.trim().split("\n");
    firewallFlushed = true;
    expect(onVps("nft delete table inet platform").status).toBe(0);
    const withoutRules = probe(PUBLIC_NETNS, vpsAddress, tcpTargets(probedTcp));
    const restore = await ansible(CRITERION, ["--tags", "firewall"]);
    firewallFlushed = restore.status !== 0;
    const restored = probe(PUBLIC_NETNS, vpsAddress, tcpTargets(probedTcp));
    onVps(`kill ${listenerPid}`);
    await waitFor(() => onVps(`kill -0 ${listenerPid} 2>/dev/null`).status !== 0, `listener pid ${listenerPid} to exit`, 10_000, 250);
    listenerPid = undefined;

    const tablesAfter = onVps("nft list tables").stdout.trim().split("\n");
    evidence.firewallFault = {
      removed: "nft delete table inet platform",
      tables: { before: tablesBefore, afterRestore: tablesAfter },
      listener: `python3 -m http.server ${port} --bind 0.0.0.0 on the VPS`,
      withRules: { result: withRules, violations: publicViolations(withRules) },
      withoutRules: { result: withoutRules, violations: publicViolations(withoutRules) },
      restore: ansibleSummary(restore),
      restored: { result: restored, violations: publicViolations(restored) },
    };
    expect(withRules[`tcp:${port}`]).toBe("filtered");
    expect(publicViolations(withRules)).toEqual([]);
    // The fault: the listener is reachable from the internet, and the exposure check says so.
    expect(withoutRules[`tcp:${port}`]).toBe("open");
    expect(publicViolations(withoutRules)).toContain(`tcp:${port} open (not public: should be dropped)`);
    for (const p of wildcard) expect(`tcp:${p} ${withoutRules[`tcp:${p}`]}`).toBe(`tcp:${p} open`);
    // The firewall domain notices the missing table and reloads it.
    expect(restore.status).toBe(0);
    expect(restore.record?.tasks.filter((t) => t.status === "changed").map((t) => t.task)).toContain("Compare the loaded ruleset with the rendered one");
    expect(tablesAfter.sort()).toEqual(tablesBefore.sort());
    expect(restored[`tcp:${port}`]).toBe("filtered");
    expect(publicViolations(restored)).toEqual([]);
  });
});
