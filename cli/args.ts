// Flags of a subcommand: `--name value`, `--name=value`, boolean `--name`. Anything unknown is a
// usage error naming it (exit 2), never silently ignored.
export class UsageError extends Error {}

export type FlagSpec = Record<string, "string" | "boolean">;
export type Flags<S extends FlagSpec> = { [K in keyof S]?: S[K] extends "string" ? string : boolean };

export function parseFlags<S extends FlagSpec>(command: string, argv: string[], spec: S): { flags: Flags<S>; rest: string[] } {
  const flags: Record<string, string | boolean> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) {
      rest.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
    const type = spec[name];
    if (!type) throw new UsageError(`${command}: unknown flag '--${name}' (see \`platform ${command} --help\`)`);
    if (type === "boolean") {
      if (inline !== undefined) throw new UsageError(`${command}: flag '--${name}' takes no value`);
      flags[name] = true;
    } else {
      const v = inline ?? argv[++i];
      if (v === undefined || (inline === undefined && v.startsWith("--"))) throw new UsageError(`${command}: flag '--${name}' needs a value`);
      flags[name] = v;
    }
  }
  return { flags: flags as Flags<S>, rest };
}
