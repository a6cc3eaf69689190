#!/usr/bin/env node
// Launcher of the `platform` command (package.json "bin"): TypeScript through tsx's CommonJS
// hook (esbuild transpiles, no type check at run time: `npx tsc --noEmit` does that), so
// `platform --help` starts in a fraction of a second.
require("tsx/cjs");
require("./platform.ts")
  .main(process.argv.slice(2))
  .then((code) => {
    // The command is done once main returns: a client's idle keep-alive sockets (the Kubernetes
    // client's, the Automation API's) must not keep the operator waiting. Nothing is lost by
    // exiting now: stdout/stderr are synchronous on Linux pipes, files and terminals.
    process.exit(code);
  });
