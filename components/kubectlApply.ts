// A dynamic resource that server-side applies Kubernetes manifests with kubectl, for the
// air-gapped path where no provider plugin can be installed (ADR 0002): the lab, and operators
// without access to chart registries.
//   create/update -> kubectl apply --server-side (field manager "platform-pulumi")
//   read (refresh) -> kubectl diff --server-side: live objects that drifted mark it out of sync
//   diff          -> due when the manifests' content hash or the cluster changed, or drifted
//   delete        -> kubectl delete --ignore-not-found (a root Application cascades through
//                    its finalizer)
// Manifests come either as files (big, e.g. Argo CD's install.yaml: only their hash goes into
// the state) or as inline YAML (small objects built by the program).
import * as pulumi from "@pulumi/pulumi";

export interface KubectlApplyInputs {
  /** kubeconfig of the target cluster, relative to the project root or absolute. */
  kubeconfig: string;
  /** Manifest files (relative to the project root or absolute). */
  files?: string[];
  /** Inline YAML manifests. */
  manifest?: string;
  /** Default namespace for namespaced objects that do not name one. */
  namespace?: string;
  /** sha256 of the files' content (computed by the program): a change is what makes an apply due. */
  contentHash: string;
  /**
   * Server-side apply field manager. Default: "platform-pulumi". Give a patch of an object that
   * another KubectlApply also applies (e.g. settings added to the release's argocd-cm) a manager of
   * its own: one manager applying both would drop the other's fields on every apply.
   */
  fieldManager?: string;
}

interface KubectlApplyOutputs extends KubectlApplyInputs {
  inSync: boolean;
  appliedAt: string;
}

function kubectl(inputs: KubectlApplyInputs, verb: "apply" | "diff" | "delete"): { status: number; output: string } {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const cp = require("child_process") as typeof import("child_process");
  const path = require("path") as typeof import("path");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const abs = (p: string) => path.resolve(process.cwd(), p);
  const args = ["--kubeconfig", abs(inputs.kubeconfig), verb];
  if (verb !== "delete") args.push("--server-side", `--field-manager=${inputs.fieldManager ?? "platform-pulumi"}`);
  if (verb === "apply") args.push("--force-conflicts");
  if (verb === "delete") args.push("--ignore-not-found", "--wait=false");
  if (inputs.namespace) args.push("--namespace", inputs.namespace);
  for (const f of inputs.files ?? []) args.push("-f", abs(f));
  if (inputs.manifest) args.push("-f", "-");
  const r = cp.spawnSync("kubectl", args, { input: inputs.manifest, encoding: "utf8", timeout: 5 * 60 * 1000, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`kubectl ${verb}: ${r.error.message}`);
  return { status: r.status ?? 1, output: `${r.stdout}${r.stderr}` };
}

function applyOrThrow(inputs: KubectlApplyInputs): KubectlApplyOutputs {
  const r = kubectl(inputs, "apply");
  if (r.status !== 0) throw new Error(`kubectl apply --server-side failed (exit ${r.status}):\n${r.output.trim().split("\n").slice(-20).join("\n")}`);
  return { ...inputs, inSync: true, appliedAt: new Date().toISOString() };
}

const kubectlProvider: pulumi.dynamic.ResourceProvider<KubectlApplyInputs, KubectlApplyOutputs> = {
  async create(inputs) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const id = (require("crypto") as typeof import("crypto")).randomUUID();
    return { id, outs: applyOrThrow(inputs) };
  },
  async update(_id, _olds, news) {
    return { outs: applyOrThrow(news) };
  },
  async read(id, props) {
    const p = props as KubectlApplyOutputs;
    // kubectl diff: exit 0 no difference, 1 differences, >1 error.
    const r = kubectl(p, "diff");
    if (r.status > 1) throw new Error(`kubectl diff failed (exit ${r.status}): ${r.output.trim().slice(-2000)}`);
    return { id, props: { ...p, inSync: r.status === 0 } };
  },
  async diff(_id, olds, news) {
    const o = olds as KubectlApplyOutputs;
    const changed: string[] = [];
    if (o.contentHash !== news.contentHash) changed.push("contentHash");
    if (o.kubeconfig !== news.kubeconfig) changed.push("kubeconfig");
    if (o.inSync === false) changed.push("inSync");
    return { changes: changed.length > 0, replaces: [], deleteBeforeReplace: false };
  },
  async delete(_id, props) {
    const r = kubectl(props as KubectlApplyInputs, "delete");
    if (r.status !== 0) throw new Error(`kubectl delete failed (exit ${r.status}): ${r.output.trim().slice(-2000)}`);
  },
};

/** Manifests applied to a cluster with kubectl (server-side apply). */
export class KubectlApply extends pulumi.dynamic.Resource {
  public readonly inSync!: pulumi.Output<boolean>;
  public readonly appliedAt!: pulumi.Output<string>;

  constructor(name: string, args: { [K in keyof KubectlApplyInputs]: pulumi.Input<KubectlApplyInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
    super(kubectlProvider as pulumi.dynamic.ResourceProvider, name, { ...args, inSync: undefined, appliedAt: undefined }, opts, "platform", "KubectlApply");
  }
}
