// A stack config file (Pulumi.<stack>.yaml, or the lab's copy) as the ConfigSource that
// lib/config.ts validates: the `platform:` keys of its `config:` map, as pulumi.Config.get returns
// them (strings; lists as JSON). Pulumi.yaml's defaults are lib/config.ts's own defaults. Secure
// values are refused: this project keeps secrets in SOPS, never in stack config.
import * as fs from "fs";
import { parse as parseYaml } from "yaml";
import { ConfigError, ConfigSource } from "./config";

export function configSourceFromFile(file: string, namespace = "platform"): ConfigSource {
  const doc = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const values = new Map<string, string>();
  for (const [k, v] of Object.entries(doc.config ?? {})) {
    if (!k.startsWith(`${namespace}:`)) continue;
    const key = k.slice(namespace.length + 1);
    if (v !== null && typeof v === "object" && !Array.isArray(v) && "secure" in v) {
      throw new ConfigError(key, `is a Pulumi secret in ${file}: this project keeps secrets in SOPS (docs/adr/0006)`);
    }
    values.set(key, typeof v === "string" ? v : JSON.stringify(v));
  }
  return { get: (key) => values.get(key) };
}
