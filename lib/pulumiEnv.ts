// A stack through the Pulumi Automation API: the pinned toolchain first on PATH (CLI, our language
// host beside it, sops, the Ansible venv), no download ever, and for the lab the per-lab file
// backend, PULUMI_HOME and passphrase file, with the lab's copy of the stack config
// (lib/labStackConfig.ts rewrites it for an isolated lab; the salt comes from the lab's own copy).
// Every operator command that drives a stack opens it here.
//
// prepareStackEnv and openStack are read-only: they never create a stack, never write the lab's
// config copy (they write a temporary copy of their own) and never remove a stale stack. Only
// ensureLabStack (`platform deploy` / `platform up` on the lab) does those.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as crypto from "crypto";
import type { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { labDirOf } from "./labEnv";
import { labStackConfigText } from "./labStackConfig";

export { labDirOf };

export interface StackEnv {
  stack: string;
  /** Project directory (Pulumi.yaml): the program runs there. */
  root: string;
  /** The stack config file given to every command (--config-file). */
  configFile: string;
  /** Environment for the CLI and the program it runs. */
  envVars: Record<string, string>;
  /** Variables of this process's environment the CLI must not see. */
  unset: string[];
  /** Removes the temporary files this module made. */
  cleanup(): void;
}

export class StackEnvError extends Error {}

/** A stack is a Pulumi.<stack>.yaml beside Pulumi.yaml: a typo must never reach a backend. */
export function checkStackName(root: string, stack: string): void {
  if (stack === "lab") return;
  if (!/^[A-Za-z0-9_.-]+$/.test(stack) || !fs.existsSync(path.join(root, `Pulumi.${stack}.yaml`))) {
    const known = fs.readdirSync(root).filter((f) => /^Pulumi\..+\.yaml$/.test(f)).map((f) => f.slice(7, -5));
    throw new StackEnvError(`unknown stack '${stack}': no Pulumi.${stack}.yaml in ${root} (stacks: ${known.join(", ")})`);
  }
}

/** The last line a toolchain script prints: the PATH entries of the tools it ensured. */
function toolPath(root: string, script: string, args: string[], env?: NodeJS.ProcessEnv): string {
  try {
    const out = execFileSync("bash", [path.join(root, "scripts/toolchain", script), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60 * 60 * 1000, env });
    return out.trim().split("\n").pop() ?? "";
  } catch (e) {
    const err = (e as { stderr?: string }).stderr ?? String(e);
    throw new StackEnvError(`the pinned toolchain is not ready (scripts/toolchain/${script} ${args.join(" ")}): ${err.trim().split("\n").pop()}`);
  }
}

/**
 * `opts.tools: false` skips the toolchain (about a second): for a command that only reads the
 * stack's config (resync, the cluster side of audit) and never runs the CLI.
 * `opts.engine: false`: the caller never runs the engine (drift's host layer alone: one Ansible
 * check pass), so a lab whose stack `platform deploy` has not created yet is fine: the config copy
 * then has no salt, which only the engine reads.
 */
export function prepareStackEnv(stack: string, root: string, env: NodeJS.ProcessEnv = process.env, opts: { tools?: boolean; engine?: boolean } = {}): StackEnv {
  checkStackName(root, stack);
  const tools = opts.tools === false ? "" : `${toolPath(root, "ensure.sh", ["pulumi", "langhost", "sops"])}:${toolPath(root, "ensure-ansible.sh", [])}:`;
  const envVars: Record<string, string> = {
    PATH: `${tools}${env.PATH ?? ""}`,
    // Never download anything: a missing plugin fails at once instead of hanging on the network.
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    // Pulumi's Kubernetes objects win server-side apply field conflicts (the provider's
    // `pulumi.com/patchForce` for all of them, ADR 0015): an `up` restores what the program
    // declares, whichever manager last wrote a field: a hand edit, or the field manager of the
    // retired manifest-apply dynamic resources the provider replaced (it takes their objects over).
    PULUMI_K8S_ENABLE_PATCH_FORCE: "true",
  };
  const temp: string[] = [];
  const unset: string[] = [];
  let configFile: string;
  if (stack === "lab") {
    const lab = labDirOf(root, env);
    const labCopy = path.join(lab, "Pulumi.lab.yaml");
    const salt = saltOf(labCopy);
    if (opts.engine !== false && (!salt || !fs.existsSync(path.join(lab, "pulumi-passphrase")))) {
      throw new StackEnvError(`the lab stack does not exist yet in ${lab} (no passphrase or salt): platform deploy lab creates it`);
    }
    keepEngineLogOffDisk(path.join(lab, "pulumi-home"));
    Object.assign(envVars, {
      PULUMI_HOME: path.join(lab, "pulumi-home"),
      PULUMI_BACKEND_URL: `file://${path.join(lab, "pulumi-state")}`,
      PULUMI_CONFIG_PASSPHRASE_FILE: path.join(lab, "pulumi-passphrase"),
    });
    // The lab's passphrase is its file's: an operator's PULUMI_CONFIG_PASSPHRASE must not win.
    unset.push("PULUMI_CONFIG_PASSPHRASE");
    // The same rewrite as the lab's own copy, into a file of our own, so that nothing of the lab
    // is written by a read-only command.
    const text = labStackConfigText(labConfigSource(root, env), root, env);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-stack-"));
    temp.push(dir);
    configFile = path.join(dir, "Pulumi.lab.yaml");
    fs.writeFileSync(configFile, salt ? `${text}${salt}\n` : text, { mode: 0o600 });
  } else {
    // prod (or any other stack): the operator's own backend and secrets provider, from the
    // environment (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE(_FILE), ...; in CI, the forge's secrets).
    configFile = env.PLATFORM_STACK_CONFIG_FILE ?? path.join(root, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(configFile)) throw new StackEnvError(`stack config file not found: ${configFile}`);
  }
  // The Kubernetes provider plugin, linked into the plugin cache of the PULUMI_HOME the engine will
  // use (the lab's, or the operator's): found there, never downloaded (docs/adr/0015). Linking it is
  // the one write this makes, into the tool-managed plugin cache, not into the stack or its config.
  if (opts.tools !== false) toolPath(root, "ensure.sh", ["kubernetes-provider"], { ...env, ...(envVars.PULUMI_HOME ? { PULUMI_HOME: envVars.PULUMI_HOME } : {}) });
  return { stack, root, configFile, envVars, unset, cleanup: () => temp.forEach((d) => fs.rmSync(d, { recursive: true, force: true })) };
}

/** The stack config file the lab's copy is made from: PLATFORM_STACK_CONFIG_FILE (a variant) or the committed one. */
function labConfigSource(root: string, env: NodeJS.ProcessEnv): string {
  const src = env.PLATFORM_STACK_CONFIG_FILE ?? path.join(root, "Pulumi.lab.yaml");
  if (!fs.existsSync(src)) throw new StackEnvError(`stack config file not found: ${src}`);
  return src;
}

// Loaded when used, not at the top: `platform --help` must not pay for the SDK. (require: it is a
// CommonJS directory module, which a dynamic import() under the CLI's launcher cannot resolve.)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const automation = () => require("@pulumi/pulumi/automation") as typeof import("@pulumi/pulumi/automation");

/** A workspace on the project directory with the pinned CLI (resolved from the PATH prepareStackEnv made). */
export async function openWorkspace(se: StackEnv, opts: { secretsProvider?: string } = {}): Promise<LocalWorkspace> {
  const auto = automation();
  const previous = process.env.PATH;
  process.env.PATH = se.envVars.PATH;
  for (const k of se.unset) delete process.env[k];
  try {
    const pulumiCommand = await auto.PulumiCommand.get({ skipVersionCheck: true });
    return await auto.LocalWorkspace.create({ workDir: se.root, pulumiCommand, envVars: se.envVars, ...opts });
  } finally {
    process.env.PATH = previous;
  }
}

/** Selects the (existing) stack with the pinned CLI; never creates one. */
export async function openStack(se: StackEnv): Promise<Stack> {
  return await automation().Stack.select(se.stack, await openWorkspace(se));
}

/**
 * The Pulumi CLI (3.259) writes every command's debug log, every resource's properties included,
 * gzip-compressed to <PULUMI_HOME>/logs, always: no flag or variable turns it off. With the Argo CD
 * CRDs in the state (ADR 0015) that was 42 % of the engine's CPU and half a lab preview (24 s -> 10 s
 * without it), and 0.5 GB of logs per lab in a day. A file where that directory would be makes the
 * CLI skip it ("automatic logging unavailable"); the operations' own logs stay in the evidence
 * folder. Only for the lab's PULUMI_HOME, which is ours; an operator's own home is left alone.
 */
export function keepEngineLogOffDisk(pulumiHome: string): void {
  // A lab whose stack does not exist yet has no home: `platform deploy` makes it (ensureLabStack).
  if (!fs.existsSync(pulumiHome)) return;
  const logs = path.join(pulumiHome, "logs");
  const st = fs.lstatSync(logs, { throwIfNoEntry: false });
  if (st?.isFile()) return;
  if (st) fs.rmSync(logs, { recursive: true, force: true });
  fs.writeFileSync(logs, "A file, not a directory, on purpose: see keepEngineLogOffDisk in lib/pulumiEnv.ts.\n");
}

const saltOf = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").find((l) => l.startsWith("encryptionsalt:")) : undefined);

/**
 * The lab stack, made ready for the engine (deploy and up): the lab's state backend, PULUMI_HOME
 * and passphrase (generated once, never committed), the lab's config copy with its salt, and the
 * stack itself, created when missing. The passphrase provider writes a per-lab `encryptionsalt`
 * into a stack config file: `stack init` has no --config-file, so it writes the project's
 * Pulumi.lab.yaml, from where the salt moves to the lab's copy and the committed file is put back
 * byte for byte. A VPS recreated from the image (new machine-id) is a new machine: its stack starts
 * over instead of claiming domains converged on the old one.
 */
export async function ensureLabStack(root: string, env: NodeJS.ProcessEnv = process.env, progress: (line: string) => void = () => {}): Promise<void> {
  const lab = labDirOf(root, env);
  for (const d of ["pulumi-state", "pulumi-home"]) fs.mkdirSync(path.join(lab, d), { recursive: true });
  keepEngineLogOffDisk(path.join(lab, "pulumi-home"));
  fs.chmodSync(lab, 0o700);
  const passphrase = path.join(lab, "pulumi-passphrase");
  if (!fs.existsSync(passphrase) || fs.statSync(passphrase).size === 0) fs.writeFileSync(passphrase, crypto.randomBytes(32).toString("base64") + "\n", { mode: 0o600 });
  const labCopy = path.join(lab, "Pulumi.lab.yaml");
  const src = labConfigSource(root, env);
  // Through a temporary file and a rename: two commands at once each write a whole copy.
  const writeCopy = (salt?: string) => {
    const tmp = `${labCopy}.tmp.${process.pid}`;
    const text = labStackConfigText(src, root, env);
    fs.writeFileSync(tmp, salt ? `${text}${salt}\n` : text, { mode: 0o600 });
    fs.renameSync(tmp, labCopy);
  };
  writeCopy(saltOf(labCopy));

  const se = prepareStackEnv("lab", root, env, { engine: false });
  try {
    const ws = await openWorkspace(se, { secretsProvider: "passphrase" });
    const isLab = (name: string) => name === "lab" || name.endsWith("/lab");
    let exists = (await ws.listStacks()).some((s) => isLab(s.name));
    const midNow = fs.existsSync(path.join(lab, "rootfs/etc/machine-id")) ? fs.readFileSync(path.join(lab, "rootfs/etc/machine-id"), "utf8").trim() : "";
    const midState = path.join(lab, "pulumi-state", ".vps-machine-id");
    const midThen = fs.existsSync(midState) ? fs.readFileSync(midState, "utf8").trim() : "";
    if (midNow && midThen && midNow !== midThen && exists) {
      progress(`the lab VPS was recreated (machine-id ${midThen.slice(0, 8)} -> ${midNow.slice(0, 8)}): the lab stack starts over`);
      await ws.removeStack("lab", { force: true, preserveConfig: true });
      writeCopy();
      exists = false;
    }
    if (midNow) fs.writeFileSync(midState, midNow + "\n");
    if (!exists) {
      progress(`creating the lab stack (file backend in ${path.join(lab, "pulumi-state")})`);
      const stackFile = path.join(root, "Pulumi.lab.yaml");
      const committed = fs.readFileSync(stackFile);
      try {
        await ws.createStack("lab");
        writeCopy(saltOf(stackFile));
      } finally {
        fs.writeFileSync(stackFile, committed);
      }
    }
  } finally {
    se.cleanup();
  }
}

/**
 * Runs `fn` (an engine operation through the Automation API) and puts the checkout's own
 * Pulumi.<stack>.yaml back byte for byte afterwards. Seen on the lab: the pinned CLI saves the
 * passphrase provider's encryptionsalt into the project's stack file even when the config comes
 * from --config-file; the next command then copied it next to the lab's own salt and the
 * stack config no longer parsed. Every operator command leaves the checkout as it found it.
 */
export async function keepingStackFile<T>(se: Pick<StackEnv, "root" | "stack">, fn: () => Promise<T>): Promise<T> {
  const stackFile = path.join(se.root, `Pulumi.${se.stack}.yaml`);
  const committed = fs.existsSync(stackFile) ? fs.readFileSync(stackFile) : undefined;
  try {
    return await fn();
  } finally {
    if (committed !== undefined && !committed.equals(fs.readFileSync(stackFile))) fs.writeFileSync(stackFile, committed);
  }
}
