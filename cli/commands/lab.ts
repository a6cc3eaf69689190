// `platform lab up|down|status|ssh`: the lab's plumbing (network namespaces, the systemd-nspawn
// VPS, the Git server, the API relay) stays in bash under scripts/lab/, as root-level system
// plumbing; this command is its one entry point. Each script prints its own progress lines.
import * as path from "path";
import { UsageError } from "../args";
import type { Command } from "../platform";
import { runLabScript } from "../labScript";

const ACTIONS: Record<string, { script: string; flags: string[]; usage: string }> = {
  up: { script: "up.sh", flags: [], usage: "up                 bring the lab VPS up (idempotent): bridge, netns, nspawn, SSH, Git server, API relay" },
  down: { script: "down.sh", flags: ["--purge"], usage: "down [--purge]     tear it down, leave nothing running (--purge: also its keys and secrets)" },
  status: { script: "status.sh", flags: [], usage: "status             exit 0 up, 3 down" },
  ssh: { script: "ssh.sh", flags: [], usage: "ssh [COMMAND...]   root on the lab VPS (the lab key, the pinned host key)" },
};

const HELP = `usage: platform lab up|down|status|ssh

The lab: a Debian 12 VPS in a network namespace (systemd-nspawn), the default target.
Its names and addresses: scripts/lab/lab.env (LAB_* in the environment win: an isolated lab,
docs/runbooks/lab.md); its directory: PLATFORM_LAB_DIR (default .lab).

${Object.values(ACTIONS)
  .map((a) => `  ${a.usage}`)
  .join("\n")}

Exit: the script's (status: 0 up, 3 down), 2 usage.
`;

export const lab: Command = {
  help: HELP,
  helpFor: (argv) => {
    const a = ACTIONS[argv[0]];
    return a ? `usage: platform lab ${a.usage}\n` : HELP;
  },
  async run(argv) {
    const [action, ...rest] = argv;
    const a = action !== undefined && Object.prototype.hasOwnProperty.call(ACTIONS, action) ? ACTIONS[action] : undefined;
    if (!a) throw new UsageError(action === undefined ? "lab: missing action (up, down, status, ssh)" : `lab: unknown action '${action}' (up, down, status, ssh)`);
    // ssh passes everything on (the remote command); the others take only their own flags.
    if (action !== "ssh") {
      const bad = rest.find((x) => !a.flags.includes(x));
      if (bad !== undefined) throw new UsageError(`lab ${action}: unknown ${bad.startsWith("-") ? "flag" : "argument"} '${bad}'`);
    }
    return runLabScript(path.resolve(__dirname, "../.."), process.env, a.script, rest);
  },
};
