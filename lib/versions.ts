// Reads toolchain/versions.env, the single source of every pinned version, so TypeScript code
// never repeats a version literal.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const repoRoot = path.resolve(__dirname, "..");

export function readVersions(file = path.join(repoRoot, "toolchain", "versions.env")): Record<string, string> {
  return parseVersions(fs.readFileSync(file, "utf8"));
}

/** KEY=VALUE lines of a versions.env text (comments and blank lines skipped). */
export function parseVersions(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

export function pinnedVersion(name: string): string {
  const v = readVersions()[name];
  if (!v) throw new Error(`toolchain/versions.env has no ${name}`);
  return v;
}

/** The tool cache every pinned tool is built into (scripts/lib/common.sh's TOOLS_CACHE). */
export function toolsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.PLATFORM_TOOLS_CACHE ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "platform-tools");
}
