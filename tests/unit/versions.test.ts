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
