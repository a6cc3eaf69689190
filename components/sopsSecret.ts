// A Kubernetes Secret whose values the dynamic provider reads from the stack's SOPS file itself, at
// apply time (lib/appSecrets.ts, ADR 0011). The values never enter the engine: no input, output,
// state entry or engine event holds them (the Node SDK's debug events print resource outputs in
// clear, and `up --json` streams them); only their hash (a Pulumi secret) says when to re-apply.
import * as pulumi from "@pulumi/pulumi";

export interface SopsSecretInputs {
  /** kubeconfig of the cluster, relative to the project root or absolute. */
  kubeconfig: string;
  /** The stack's SOPS file and the age key that decrypts it (relative to the project root or absolute). */
  secretsFile: string;
  ageKeyFile: string;
  namespace: string;
  name: string;
  /** Secret data key -> SOPS key. */
  data: Record<string, string>;
  /** Hash of the values (computed by the program): a change is what makes an apply due. */
  valuesHash: string;
}

function kubectlSecret(inputs: SopsSecretInputs, verb: "apply" | "delete" | "get"): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const cp = require("child_process") as typeof import("child_process");
  const path = require("path") as typeof import("path");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const abs = (p: string) => path.resolve(process.cwd(), p);
  const base = ["--kubeconfig", abs(inputs.kubeconfig)];
  let args: string[];
  let input: string | undefined;
  if (verb === "apply") {
    const dec = cp.spawnSync("sops", ["--decrypt", "--output-type", "json", abs(inputs.secretsFile)], {
      env: { ...process.env, SOPS_AGE_KEY_FILE: abs(inputs.ageKeyFile) },
      encoding: "utf8",
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    // sops's messages may quote an edited value: never pass them on.
    if (dec.status !== 0) throw new Error(`sops cannot decrypt ${inputs.secretsFile} (exit ${dec.status}) for Secret ${inputs.namespace}/${inputs.name}`);
    const values = JSON.parse(dec.stdout) as Record<string, unknown>;
    const stringData: Record<string, string> = {};
    for (const [k, sopsKey] of Object.entries(inputs.data)) {
      if (values[sopsKey] === undefined) throw new Error(`${inputs.secretsFile} has no '${sopsKey}' (needed by Secret ${inputs.namespace}/${inputs.name})`);
      stringData[k] = String(values[sopsKey]);
    }
    input = JSON.stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: inputs.name, namespace: inputs.namespace, labels: { "app.kubernetes.io/managed-by": "pulumi", "platform.example/source": "sops" } },
      type: "Opaque",
      stringData,
    });
    args = [...base, "apply", "--server-side", "--field-manager=platform-pulumi", "--force-conflicts", "-f", "-"];
  } else if (verb === "delete") {
    args = [...base, "-n", inputs.namespace, "delete", "secret", inputs.name, "--ignore-not-found", "--wait=false"];
  } else {
    args = [...base, "-n", inputs.namespace, "get", "secret", inputs.name, "-o", "name"];
  }
  const r = cp.spawnSync("kubectl", args, { input, encoding: "utf8", timeout: 5 * 60 * 1000 });
  if (r.error) throw new Error(`kubectl ${verb} secret ${inputs.namespace}/${inputs.name}: ${r.error.message}`);
  // kubectl's own messages name the object, never its data.
  if (r.status !== 0) throw new Error(`kubectl ${verb} secret ${inputs.namespace}/${inputs.name} failed (exit ${r.status}): ${(r.stderr ?? "").trim().split("\n").slice(-3).join(" ")}`);
}

const sopsSecretProvider: pulumi.dynamic.ResourceProvider<SopsSecretInputs, SopsSecretInputs & { inSync: boolean }> = {
  async create(inputs) {
    kubectlSecret(inputs, "apply");
    return { id: `${inputs.namespace}/${inputs.name}`, outs: { ...inputs, inSync: true } };
  },
  async update(_id, _olds, news) {
    kubectlSecret(news, "apply");
    return { outs: { ...news, inSync: true } };
  },
  async read(id, props) {
    const p = props as SopsSecretInputs & { inSync: boolean };
    let present = true;
    try {
      kubectlSecret(p, "get");
    } catch {
      present = false;
    }
    return { id, props: { ...p, inSync: present } };
  },
  async diff(_id, olds, news) {
    const o = olds as SopsSecretInputs & { inSync: boolean };
    const changes = o.valuesHash !== news.valuesHash || o.kubeconfig !== news.kubeconfig || o.inSync === false || JSON.stringify(o.data) !== JSON.stringify(news.data);
    const replaces = o.namespace !== news.namespace || o.name !== news.name ? ["namespace", "name"] : [];
    return { changes: changes || replaces.length > 0, replaces, deleteBeforeReplace: true };
  },
  async delete(_id, props) {
    kubectlSecret(props as SopsSecretInputs, "delete");
  },
};

/** A Secret applied from the SOPS file by the provider itself (values never in the engine). */
export class SopsSecret extends pulumi.dynamic.Resource {
  public readonly inSync!: pulumi.Output<boolean>;

  constructor(name: string, args: { [K in keyof SopsSecretInputs]: pulumi.Input<SopsSecretInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(sopsSecretProvider as pulumi.dynamic.ResourceProvider, name, { ...args, inSync: undefined }, opts, "platform", "SopsSecret");
  }
}
