// Content hashes that decide when a domain's Ansible run is due: the hash changes exactly when
// something the run depends on changes (its role's files, its inventory variables, the target,
// the tag, the secrets it consumes), so an unchanged repository previews as no change and an
// edit to one role previews as that one domain.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** Every regular file under `dir`, sorted, as paths relative to `base`. */
export function listFiles(dir: string, base = dir): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full, base));
    else if (entry.isFile()) out.push(path.relative(base, full));
  }
  return out.sort();
}

/** sha256 over the names and contents of files (directories expand to their files). */
export function hashPaths(root: string, relPaths: string[]): string {
  const h = crypto.createHash("sha256");
  const files = new Set<string>();
  for (const rel of relPaths) {
    const full = path.join(root, rel);
    if (!fs.existsSync(full)) continue;
    if (fs.statSync(full).isDirectory()) listFiles(full, root).forEach((f) => files.add(f));
    else files.add(rel);
  }
  for (const f of [...files].sort()) {
    h.update(f).update("\0").update(fs.readFileSync(path.join(root, f))).update("\0");
  }
  return h.digest("hex");
}

/** sha256 over the names and contents of exactly these files (relative to root; missing ones skipped). */
export function hashFiles(root: string, relFiles: string[]): string {
  const h = crypto.createHash("sha256");
  for (const f of [...new Set(relFiles)].sort()) {
    const full = path.join(root, f);
    if (fs.existsSync(full)) h.update(f).update("\0").update(fs.readFileSync(full)).update("\0");
  }
  return h.digest("hex");
}

export function hashValues(values: unknown): string {
  return crypto.createHash("sha256").update(JSON.stringify(values)).digest("hex");
}
