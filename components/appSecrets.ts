// The app Secrets the cluster's workloads read, made from the stack's SOPS file (lib/appSecrets.ts
// declares which value goes where; docs/adr/0011 says why this path). On the kubectl path each
// Secret is a SopsSecret whose provider reads the values from the SOPS file at apply time (the engine
// only sees a secret hash of them); on the Helm path the provider's own Secret. Its namespace is applied beside it (Argo CD's app applies the same Namespace from Git:
// two field managers, no conflicting field) and is never deleted from here (retainOnDelete): the
// app that lives in it is Argo CD's.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { stringify as toYaml } from "yaml";
import { AppSecretSpec, appSecretObjects } from "../lib/appSecrets";
import { hashValues } from "../lib/contentHash";
import { KubectlApply } from "./kubectlApply";
import { SopsSecret } from "./sopsSecret";

export interface AppSecretsArgs {
  /** Admin kubeconfig of the cluster for the air-gapped path (kubectl server-side apply; ArgoCd mode "manifests"). */
  kubeconfig?: string;
  /** Or a Kubernetes provider (ArgoCd mode "helm"): the provider's own Secret and NamespacePatch. */
  provider?: k8s.Provider;
  /** The Secrets to create (default: lib/appSecrets.ts APP_SECRETS, passed by index.ts). */
  specs: AppSecretSpec[];
  /** The stack's decrypted SOPS values (a secret Output): only hashed on the kubectl path. */
  secrets: pulumi.Output<Record<string, string>>;
  /** The stack's SOPS file and age key: the kubectl path's provider decrypts them itself at apply time. */
  secretsFile?: string;
  ageKeyFile?: string;
}

export class AppSecrets extends pulumi.ComponentResource {
  constructor(name: string, args: AppSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:index:AppSecrets", name, {}, opts);
    if (!args.kubeconfig === !args.provider) throw new Error("AppSecrets needs exactly one of kubeconfig or provider");
    if (args.kubeconfig && (!args.secretsFile || !args.ageKeyFile)) throw new Error("AppSecrets on the kubectl path needs secretsFile and ageKeyFile");
    for (const spec of args.specs) {
      const objects = args.secrets.apply((s) => appSecretObjects(spec, s));
      if (args.provider) {
        const childOpts = { parent: this, provider: args.provider };
        const ns = new k8s.core.v1.NamespacePatch(`${name}-ns-${spec.namespace}`, { metadata: { name: spec.namespace } }, { ...childOpts, retainOnDelete: true });
        new k8s.core.v1.Secret(
          `${name}-${spec.namespace}-${spec.name}`,
          {
            metadata: { name: spec.name, namespace: spec.namespace, labels: { "app.kubernetes.io/managed-by": "pulumi", "platform.example/source": "sops" } },
            type: "Opaque",
            stringData: pulumi.secret(objects.apply((o) => (o[1] as { stringData: Record<string, string> }).stringData)),
          },
          { ...childOpts, dependsOn: [ns] },
        );
        continue;
      }
      const kubeconfig = args.kubeconfig!;
      const nsYaml = toYaml({ apiVersion: "v1", kind: "Namespace", metadata: { name: spec.namespace } });
      const ns = new KubectlApply(
        `${name}-ns-${spec.namespace}`,
        { kubeconfig, manifest: nsYaml, contentHash: sha256(nsYaml) },
        { parent: this, retainOnDelete: true },
      );
      // The values stay out of the engine (its debug events print outputs in clear): the provider
      // reads them from the SOPS file; the engine sees their hash only, as a secret.
      const valuesHash = pulumi.secret(objects.apply((o) => hashValues((o[1] as { stringData: Record<string, string> }).stringData)));
      new SopsSecret(
        `${name}-${spec.namespace}-${spec.name}`,
        { kubeconfig, secretsFile: args.secretsFile!, ageKeyFile: args.ageKeyFile!, namespace: spec.namespace, name: spec.name, data: spec.data, valuesHash },
        { parent: this, dependsOn: [ns], additionalSecretOutputs: ["valuesHash"] },
      );
    }
    this.registerOutputs({});
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
