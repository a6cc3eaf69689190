// The order of the end-to-end files on the one shared lab. Each file sets up what it needs, but the
// order still matters for what each proves: the first converge happens on the fresh VPS, the main
// command (platform deploy) runs before the GitOps tests, the teardown test runs on its own isolated lab,
// and the secret grep runs last, over the evidence every other file has written.
const Sequencer = require("@jest/test-sequencer").default;

const ORDER = [
  "idempotence-and-tags",
  "host-drift",
  "lab-cluster",
  "argocd-lab",
  "pulumi-lab",
  "workload",
  "cluster-dns",
  "drift-and-rollback",
  // Right after it: a commit whose manifests do not parse, reported per app, then rolled back.
  "drift-git-truth",
  "pr-gate",
  // After the stack is deployed: its three-layer case reads the stack refresh (Pulumi layer).
  "security-drift",
  "exposure",
  "faults",
  "bad-input",
  "teardown",
  "no-clear-secrets",
];

class E2eSequencer extends Sequencer {
  sort(tests) {
    const rank = (t) => {
      const name = require("path").basename(t.path).replace(/\.test\.ts$/, "");
      const i = ORDER.indexOf(name);
      return i === -1 ? ORDER.length - 1 : i; // a new file runs before the final secret grep
    };
    return [...tests].sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path));
  }
}

module.exports = E2eSequencer;
