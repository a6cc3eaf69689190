import * as fs from "fs";
import * as path from "path";
import { readVersions, repoRoot } from "../../lib/versions";

describe("pinned versions", () => {
  const versions = readVersions();
  const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8"));
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8"));

  it("builds the Pulumi CLI at the version of @pulumi/pulumi in the lockfile", () => {
    expect(lock.packages["node_modules/@pulumi/pulumi"].version).toBe(versions.PULUMI_VERSION);
  });

  it("builds the Kubernetes provider plugin at the version of @pulumi/kubernetes in the lockfile, from the pinned module", () => {
    // The engine loads the plugin whose version the SDK asks for (resource-kubernetes-v<that>): the
    // SDK's generated types and the plugin's schema are then the same release (ADR 0015).
    expect(lock.packages["node_modules/@pulumi/kubernetes"].version).toBe(versions.KUBERNETES_PROVIDER_VERSION);
    expect(pkg.dependencies["@pulumi/kubernetes"]).toBe(versions.KUBERNETES_PROVIDER_VERSION);
    const gomod = fs.readFileSync(path.join(repoRoot, "toolchain/kubernetes-provider/go.mod"), "utf8");
    expect(gomod).toMatch(new RegExp(`^require github\\.com/pulumi/pulumi-kubernetes/provider/v4 ${versions.KUBERNETES_PROVIDER_MODULE_VERSION}$`, "m"));
  });

  it("pins every npm dependency to an exact version", () => {
    for (const deps of [pkg.dependencies, pkg.devDependencies]) {
      for (const [name, spec] of Object.entries(deps as Record<string, string>)) {
        expect(`${name}@${spec}`).toMatch(/@\d+\.\d+\.\d+$/);
      }
    }
  });

  it("gives the k3s role the platform's pinned K3s version as its default", () => {
    const defaults = fs.readFileSync(path.join(repoRoot, "infra/ansible/roles/k3s/defaults/main.yml"), "utf8");
    expect(/^k3s_version:\s*"?([^"\s]+)"?/m.exec(defaults)?.[1]).toBe(versions.K3S_VERSION);
  });

  it("declares the K3s and Argo CD versions the platform runs", () => {
    expect(versions.K3S_VERSION).toMatch(/^v\d+\.\d+\.\d+\+k3s\d+$/);
    expect(versions.ARGOCD_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    expect(versions.ARGOCD_CHART_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
