// The platform program: read and validate the stack config, decrypt the stack's secrets,
// then converge the VPS domain by domain (each an Ansible run tracked in the stack), and,
// where enabled, install Argo CD with the App-of-Apps root pointing at gitops/.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AnsibleDomain } from "./components/ansibleDomain";
import { AppSecrets } from "./components/appSecrets";
import { ARGOCD_NAMESPACE, ArgoCd } from "./components/argocd";
import { APP_SECRETS } from "./lib/appSecrets";
import { GITOPS_PATH, readPlatformConfig } from "./lib/config";
import { DOMAINS } from "./lib/domains";
import { readSecrets, secretsHash } from "./lib/secrets";
import { pinnedVersion } from "./lib/versions";

const root = process.cwd();
const config = readPlatformConfig(new pulumi.Config("platform"), root);
const secrets = pulumi.output(readSecrets(config.secretsFile, config.ageKeyFile));

// Domains run one after another, in the platform's order: concurrent Ansible runs on one
// host would fight over apt and systemd.
const domains: Record<string, AnsibleDomain> = {};
let previous: AnsibleDomain | undefined;
for (const domain of config.domains) {
  const spec = DOMAINS[domain];
  previous = domains[domain] = new AnsibleDomain(
    domain,
    {
      domain,
      root,
      inventory: config.inventory,
      host: config.host,
      hostAddress: config.hostAddress,
      sshPrivateKeyPath: config.sshPrivateKeyPath,
      secretsFile: config.secretsFile,
      ageKeyFile: config.ageKeyFile,
      evidenceDir: config.evidenceDir,
      secretsHash: pulumi.secret(secrets.apply((s) => secretsHash(s, spec.secrets.map((k) => k.key)))),
    },
    { dependsOn: previous ? [previous] : [] },
  );
}

if (config.argocd.enabled) {
  const a = config.argocd;
  // One provider for Argo CD and the app Secrets. Its kubeconfig is the k3s domain's copy, which
  // that domain (re)writes during the same `up`: the path is handed over only once the last domain
  // has run, so the provider is configured (and reads the file) after it, never before. Its default
  // namespace is Argo CD's: the release's install manifests leave namespaced objects without one.
  // The path as configured: relative to the project (the engine starts the provider there), so
  // every checkout of the repository gives the provider the same input and previews no change.
  const kubeconfig = a.kubeconfigPath!;
  const provider = new k8s.Provider("cluster", {
    kubeconfig: previous ? previous.lastRun.apply(() => kubeconfig) : kubeconfig,
    namespace: ARGOCD_NAMESPACE,
  });
  const common = { provider, gitopsRepoUrl: a.gitopsRepoUrl!, gitopsRevision: a.gitopsRevision, gitopsAppsPath: `${GITOPS_PATH}/apps`, awaitReady: a.awaitReady, reconciliation: a.reconciliation };
  new ArgoCd(
    "argocd",
    a.mode === "helm"
      ? { ...common, mode: "helm", chartVersion: pinnedVersion("ARGOCD_CHART_VERSION") }
      : { ...common, mode: "manifests", manifestsDir: a.manifestsDir },
    // After the host domains: the k3s domain brings the API up and fetches its kubeconfig.
    { dependsOn: previous ? [previous] : [] },
  );
  // The workloads' Secrets, from SOPS (gitops/ only names them), through the same provider.
  new AppSecrets("app-secrets", { provider, specs: APP_SECRETS, secrets: pulumi.secret(secrets) }, { dependsOn: previous ? [previous] : [] });
}

export const environment = config.environment;
export const target = { host: config.host, address: config.hostAddress };
export const managedDomains = config.domains;
export const domainRuns = Object.fromEntries(
  Object.entries(domains).map(([d, c]) => [d, { hostInSync: c.hostInSync, changed: c.lastRun.changed, correlationId: c.lastRun.correlationId }]),
);
