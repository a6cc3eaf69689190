// Three projects, from fast to slow:
//  unit        - Pulumi mocks and pure functions, no processes, seconds.
//  integration - the real Pulumi engine (built CLI + language host) on a throwaway file backend.
//  e2e         - the real engine, Ansible and the lab VPS (scripts/lab/up.sh must have run).
const ts = { "^.+\\.ts$": ["ts-jest", { diagnostics: { warnOnly: false } }] };
module.exports = {
  // The end-to-end files share one lab: a fixed order (tests/support/e2eSequencer.js).
  testSequencer: "<rootDir>/tests/support/e2eSequencer.js",
  projects: [
    { displayName: "unit", testMatch: ["<rootDir>/tests/unit/**/*.test.ts"], transform: ts, testEnvironment: "node" },
    {
      displayName: "integration",
      testMatch: ["<rootDir>/tests/integration/**/*.test.ts"],
      transform: ts,
      testEnvironment: "node",
    },
    { displayName: "e2e", testMatch: ["<rootDir>/tests/e2e/**/*.test.ts"], transform: ts, testEnvironment: "node" },
  ],
};
