// Runs one of the lab's bash scripts (scripts/lab/<script>) with the terminal: they print their own
// progress lines. Used by `platform lab` and `platform deploy`; resolves to the script's exit code.
import { spawn } from "child_process";
import * as path from "path";

export function runLabScript(root: string, env: NodeJS.ProcessEnv, script: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn("bash", [path.join(root, "scripts/lab", script), ...args], { cwd: root, env, stdio: ["inherit", "inherit", "inherit"] });
    child.on("error", () => resolve(127));
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
