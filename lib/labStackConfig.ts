// The lab stack's config, made to follow the lab it runs against. The committed Pulumi.lab.yaml
// describes the default lab: paths under `.lab/`, the VPS at lab.env's LAB_VPS_ADDR, the host side
// of the lab bridge at LAB_HOST_ADDR (the Git server's URL), git's port 9418. An isolated second
// lab (other PLATFORM_LAB_DIR and LAB_* values: docs/runbooks/lab.md) gets a copy with
//   - values `.lab` / `.lab/...` -> <lab dir> / <lab dir>/...   (only when the lab dir is not <root>/.lab)
//   - lab.env's LAB_VPS_ADDR and LAB_HOST_ADDR -> the environment's (whole addresses only:
//     10.213.0.1 is not rewritten inside 10.213.0.10)
//   - the Git server's port 9418 in git:// URLs -> LAB_GIT_PORT
//   - when the VPS address moved: `platform:hostAddressOverridesInventory: "true"`, so that the
//     program accepts a hostAddress other than the lab inventory's ansible_host (lib/config.ts).
// For the default lab the copy is the source byte for byte. A text rewrite, not a YAML round trip,
// so comments and layout survive and the default lab's copy stays identical.
import * as fs from "fs";
import * as path from "path";
import { committedLabEnv, labDirOf, labEnv, labGitPort } from "./labEnv";

/** The real path when it exists (symlinks followed), else the resolved one. */
const realOrResolved = (p: string) => {
  try {
    return fs.realpathSync(path.resolve(p));
  } catch {
    return path.resolve(p);
  }
};

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export function labStackConfigText(source: string, root: string, env: NodeJS.ProcessEnv = process.env): string {
  let text = fs.readFileSync(source, "utf8");
  const committed = committedLabEnv(root);
  const effective = labEnv(root, env);
  const labDir = labDirOf(root, env);

  const moves = new Map<string, string>();
  for (const key of ["LAB_VPS_ADDR", "LAB_HOST_ADDR"]) {
    if (effective[key] !== committed[key]) moves.set(committed[key], effective[key]);
  }
  if (moves.size > 0) {
    // One pass, longest address first: a replacement is never rewritten again.
    const alternatives = [...moves.keys()].sort((a, b) => b.length - a.length).map(escapeRe);
    text = text.replace(new RegExp(`(?<![0-9.])(${alternatives.join("|")})(?![0-9])`, "g"), (a) => moves.get(a)!);
  }

  // The Git server's port (git-server.sh listens on LAB_GIT_PORT): without this an isolated lab's
  // Argo CD would pull from the default port, where no daemon of its own listens.
  const gitPort = labGitPort(effective);
  if (gitPort !== "9418") text = text.replace(/(git:\/\/[^/\s:]+):9418\//g, `$1:${gitPort}/`);

  // Compared through symlinks: a project copy whose `.lab` links to the default lab (the e2e's
  // scratch checkouts) runs against that same lab and keeps the committed relative values.
  if (realOrResolved(labDir) !== realOrResolved(path.join(root, ".lab"))) {
    // `platform:key: .lab/...` (plain or quoted): the default lab's directory, relative to the project.
    const dir = labDir.replace(/\/+$/, "");
    text = text.replace(/^([ \t]*[\w-]+:[\w-]+:[ \t]*["']?)\.lab(?=[/"'\s]|$)/gm, (_m, head: string) => head + dir);
  }

  if (moves.has(committed.LAB_VPS_ADDR) && !text.includes("hostAddressOverridesInventory")) {
    const header = /^config:[ \t]*\n/m;
    if (!header.test(text)) throw new Error(`${source}: no top-level 'config:' section to add platform:hostAddressOverridesInventory to`);
    text = text.replace(header, 'config:\n  # Added for this isolated lab (lib/labStackConfig.ts): the VPS is at LAB_VPS_ADDR.\n  platform:hostAddressOverridesInventory: "true"\n');
  }
  return text;
}
