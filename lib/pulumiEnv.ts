// A stack through the Pulumi Automation API, set up as scripts/lib/pulumi-env.sh sets up the CLI:
// the pinned toolchain first on PATH (CLI, our language host beside it, sops, the Ansible venv),
// no download ever, and for the lab the per-lab file backend, PULUMI_HOME and passphrase file,
// with the lab's copy of the stack config (scripts/lib/lab_stack_config.py rewrites it for an
// isolated lab; the salt comes from the lab's own copy). Every operator command that drives a
// stack from TypeScript opens it here (issue 14 builds on this module).
//
// Read-only by design: it never creates a stack, never writes the lab's config copy (it writes
// its own temporary copy), and never removes a stale stack; pulumi-env.sh (deploy) does those.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";

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

/** The lab directory (keys, state backend, kubeconfig): PLATFORM_LAB_DIR or <root>/.lab. */
export function labDirOf(root: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.PLATFORM_LAB_DIR ?? path.join(root, ".lab");
}

/** A stack is a Pulumi.<stack>.yaml beside Pulumi.yaml: a typo must never reach a backend. */
export function checkStackName(root: string, stack: string): void {
  if (stack === "lab") return;
  if (!/^[A-Za-z0-9_.-]+$/.test(stack) || !fs.existsSync(path.join(root, `Pulumi.${stack}.yaml`))) {
    const known = fs.readdirSync(root).filter((f) => /^Pulumi\..+\.yaml$/.test(f)).map((f) => f.slice(7, -5));
    throw new StackEnvError(`unknown stack '${stack}': no Pulumi.${stack}.yaml in ${root} (stacks: ${known.join(", ")})`);
  }
}

/** The last line a toolchain script prints: the PATH entries of the tools it ensured. */
function toolPath(root: string, script: string, args: string[]): string {
  try {
    const out = execFileSync("bash", [path.join(root, "scripts/toolchain", script), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60 * 60 * 1000 });
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
 * check pass), so a lab whose stack `deploy.sh` has not created yet is fine: the config copy
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
  };
  const temp: string[] = [];
  const unset: string[] = [];
  let configFile: string;
  if (stack === "lab") {
    const lab = labDirOf(root, env);
    const labCopy = path.join(lab, "Pulumi.lab.yaml");
    const salt = fs.existsSync(labCopy) ? fs.readFileSync(labCopy, "utf8").split("\n").find((l) => l.startsWith("encryptionsalt:")) : undefined;
    if (opts.engine !== false && (!salt || !fs.existsSync(path.join(lab, "pulumi-passphrase")))) {
      throw new StackEnvError(`the lab stack does not exist yet in ${lab} (no passphrase or salt): bash scripts/deploy.sh creates it`);
    }
    Object.assign(envVars, {
      PULUMI_HOME: path.join(lab, "pulumi-home"),
      PULUMI_BACKEND_URL: `file://${path.join(lab, "pulumi-state")}`,
      PULUMI_CONFIG_PASSPHRASE_FILE: path.join(lab, "pulumi-passphrase"),
    });
    // The lab's passphrase is its file's: an operator's PULUMI_CONFIG_PASSPHRASE must not win.
    unset.push("PULUMI_CONFIG_PASSPHRASE");
    // The same rewrite as the lab's own copy (one implementation: the Python the scripts use),
    // into a file of our own, so that nothing of the lab is written by a read-only command.
    const src = env.PLATFORM_STACK_CONFIG_FILE ?? path.join(root, "Pulumi.lab.yaml");
    const text = execFileSync("python3", [path.join(root, "scripts/lib/lab_stack_config.py"), src, lab, root], { encoding: "utf8", env: { ...env } });
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
  return { stack, root, configFile, envVars, unset, cleanup: () => temp.forEach((d) => fs.rmSync(d, { recursive: true, force: true })) };
}

/** Selects the (existing) stack with the pinned CLI; never creates one. */
export async function openStack(se: StackEnv): Promise<Stack> {
  // Loaded here, not at the top: `platform --help` must not pay for the SDK. (require: it is a
  // CommonJS directory module, which a dynamic import() under the CLI's launcher cannot resolve.)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const auto = require("@pulumi/pulumi/automation") as typeof import("@pulumi/pulumi/automation");
  // The CLI resolves from PATH: the pinned build that prepareStackEnv put first.
  const previous = process.env.PATH;
  process.env.PATH = se.envVars.PATH;
  for (const k of se.unset) delete process.env[k];
  try {
    const pulumiCommand = await auto.PulumiCommand.get({ skipVersionCheck: true });
    const ws: LocalWorkspace = await auto.LocalWorkspace.create({ workDir: se.root, pulumiCommand, envVars: se.envVars });
    return await auto.Stack.select(se.stack, ws);
  } finally {
    process.env.PATH = previous;
  }
}

/**
 * Runs `fn` (an engine operation through the Automation API) and puts the checkout's own
 * Pulumi.<stack>.yaml back byte for byte afterwards. Seen on the lab: the pinned CLI saves the
 * passphrase provider's encryptionsalt into the project's stack file even when the config comes
 * from --config-file; the next scripts/pulumi.sh then copied it next to the lab's own salt and the
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
