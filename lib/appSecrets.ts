// Which SOPS values reach the cluster, as which Kubernetes Secret (docs/adr/0011). gitops/ holds
// manifests only and never a secret: a Deployment there names the Secret, and the Pulumi program
// creates it from the stack's SOPS file (components/appSecrets.ts), so the value lives encrypted in
// Git (SOPS), encrypted in the stack state (a Pulumi secret), and in clear only in the cluster.
// Adding one: a line here, the key in the stack's SOPS file (platform secrets keys), and the
// secretKeyRef in the app's manifests.

export interface AppSecretSpec {
  /** Namespace of the app (the Secret is created there; the namespace too, if missing). */
  namespace: string;
  /** Name of the Kubernetes Secret the app's manifests reference. */
  name: string;
  /** Secret data key -> SOPS key in the stack's secrets file. */
  data: Record<string, string>;
}

export const APP_SECRETS: AppSecretSpec[] = [
  // The demo workload (gitops/apps/demo) logs in to PostgreSQL as the `app` role.
  { namespace: "demo", name: "demo-credentials", data: { PGPASSWORD: "secret_postgresql_app_password" } },
];

/** The SOPS keys the cluster consumes (a rotation of one re-applies its Secret). */
export function appSecretKeys(specs: AppSecretSpec[] = APP_SECRETS): string[] {
  return [...new Set(specs.flatMap((s) => Object.values(s.data)))].sort();
}

/** The Secret (and its namespace) as Kubernetes objects; throws naming a key the SOPS file lacks. */
export function appSecretObjects(spec: AppSecretSpec, secrets: Record<string, string>): object[] {
  const stringData: Record<string, string> = {};
  for (const [k, sopsKey] of Object.entries(spec.data)) {
    const v = secrets[sopsKey];
    if (v === undefined) throw new Error(`the stack's secrets file has no '${sopsKey}' (needed by Secret ${spec.namespace}/${spec.name}): add it: platform secrets rotate STACK ${sopsKey} (a fresh value; list it in lib/secretKeys.ts first)`);
    stringData[k] = v;
  }
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: spec.namespace } },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: spec.name, namespace: spec.namespace, labels: { "app.kubernetes.io/managed-by": "pulumi", "platform.example/source": "sops" } },
      type: "Opaque",
      stringData,
    },
  ];
}
