// The cluster side of a stack for resync, rollback and audit: the stack's config read once and
// validated by lib/config.ts, its Argo CD settings, and a Kubernetes client that answers. Errors
// are one line naming the key or file and the fix.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { evidenceRoot, PlatformConfig, readEvidenceDir, readPlatformConfig } from "../config";
import { prepareStackEnv } from "../pulumiEnv";
import { configSourceFromFile } from "../stackConfigFile";
import { argoCluster, ArgoCluster } from "./argocd";

export interface StackCluster {
  config: PlatformConfig;
  cluster: ArgoCluster;
  kubeconfig: string;
}

/** The stack's validated config, without the toolchain (nothing here runs the Pulumi CLI). */
export function stackConfig(stack: string, root: string, env: NodeJS.ProcessEnv = process.env): PlatformConfig {
  const se = prepareStackEnv(stack, root, env, { tools: false });
  try {
    return readPlatformConfig(configSourceFromFile(se.configFile), root);
  } finally {
    se.cleanup();
  }
}

/** The stack's evidence root (lib/config.ts evidenceRoot), reading only platform:evidenceDir; <root>/evidence when the stack cannot be read. */
export function stackEvidenceRoot(stack: string, root: string, env: NodeJS.ProcessEnv = process.env): string {
  return evidenceRoot(root, env, () => {
    try {
      const se = prepareStackEnv(stack, root, env, { tools: false });
      try {
        return readEvidenceDir(configSourceFromFile(se.configFile), root);
      } finally {
        se.cleanup();
      }
    } catch {
      return undefined;
    }
  });
}

export async function stackCluster(stack: string, root: string, env: NodeJS.ProcessEnv = process.env, config?: PlatformConfig): Promise<StackCluster> {
  config ??= stackConfig(stack, root, env);
  if (!config.argocd.enabled) throw new Error(`stack '${stack}' has no Argo CD (platform:argocdEnabled is not true)`);
  const kubeconfig = path.resolve(root, config.argocd.kubeconfigPath!);
  if (!fs.existsSync(kubeconfig) || fs.statSync(kubeconfig).size === 0) {
    throw new Error(`no kubeconfig at ${kubeconfig} (platform:kubeconfigPath): converge the k3s domain first (it writes it)`);
  }
  const cluster = await argoCluster(kubeconfig);
  try {
    await cluster.ping();
  } catch (e) {
    if (stack !== "lab") throw e;
    // The lab's API relay may be down (a rebooted workstation): its own script starts it.
    try {
      execFileSync("bash", [path.join(root, "scripts/lab/api-tunnel.sh"), "start"], { stdio: "ignore", timeout: 60_000, env });
    } catch {
      throw e;
    }
    await cluster.ping();
  }
  return { config, cluster, kubeconfig };
}
