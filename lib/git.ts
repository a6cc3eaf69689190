// The few Git facts the operator commands need, through the git CLI (plumbing, whose output
// formats are stable by contract).
import { execFileSync } from "child_process";

export function git(root: string, args: string[]): string {
  try {
    return execFileSync("git", ["-C", root, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const err = ((e as { stderr?: string }).stderr ?? String(e)).trim().split("\n").pop();
    throw new Error(`git ${args.join(" ")}: ${err}`);
  }
}

export const revParse = (root: string, ref: string) => git(root, ["rev-parse", "--verify", `${ref}^{commit}`]).trim();

/** Files changed between the merge base of `base` and HEAD, and HEAD (`git diff base...HEAD`). */
export function changedFiles(root: string, base: string): string[] {
  return git(root, ["diff", "--name-only", "--no-renames", `${base}...HEAD`]).split("\n").filter(Boolean).sort();
}

export const mergeBase = (root: string, base: string) => git(root, ["merge-base", base, "HEAD"]).trim();

/** File names under `dir` at `rev` (recursive), or [] when the directory does not exist there. */
export function filesAt(root: string, rev: string, dir: string): string[] {
  try {
    return git(root, ["ls-tree", "-r", "--name-only", rev, "--", dir + "/"]).split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

export const showAt = (root: string, rev: string, file: string) => git(root, ["show", `${rev}:${file}`]);
