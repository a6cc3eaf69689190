// Evidence of test runs, kept in evidence/tests/<acceptance criterion>/ (not committed).
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "./tools";

export function evidenceDir(criterion: string): string {
  const dir = path.join(process.env.PLATFORM_EVIDENCE_DIR ?? path.join(repoRoot, "evidence"), "tests", criterion);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export function saveEvidence(criterion: string, name: string, content: string | object): string {
  const file = path.join(evidenceDir(criterion), name);
  fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  return file;
}
