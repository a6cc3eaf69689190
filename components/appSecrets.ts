// The app Secrets the cluster's workloads read, made from the stack's SOPS file (lib/appSecrets.ts
// declares which value goes where; docs/adr/0011 says why this path): the Kubernetes provider's own
// Secret, its values a Pulumi secret (decrypted by lib/secrets.ts; encrypted in the state, masked in
// previews). Its namespace is applied beside it as a NamespacePatch (Argo CD's app applies the same
// Namespace from Git: two field managers, no conflicting field) and is never deleted from here
// (retainOnDelete): the app that lives in it is Argo CD's.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppSecretSpec, appSecretObjects } from "../lib/appSecrets";

export interface AppSecretsArgs {
  /** Kubernetes provider for the target cluster (the same one Argo CD is installed with). */
  provider: k8s.Provider;
  /** The Secrets to create (default: lib/appSecrets.ts APP_SECRETS, passed by index.ts). */
  specs: AppSecretSpec[];
  /** The stack's decrypted SOPS values (a secret Output). */
  secrets: pulumi.Output<Record<string, string>>;
}

export class AppSecrets extends pulumi.ComponentResource {
  constructor(name: string, args: AppSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:index:AppSecrets", name, {}, opts);
    const childOpts = { parent: this, provider: args.provider };
    for (const spec of args.specs) {
      const objects = args.secrets.apply((s) => appSecretObjects(spec, s));
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
    }
    this.registerOutputs({});
  }
}
