// A small, strict argument parser for subcommands: unknown flags are usage errors, not silently ignored.
import { UsageError } from './io.js';

export interface FlagSpec {
  /** true: the flag takes a value (--name web); false: a switch (--force). */
  value: boolean;
  /** allowed more than once (values collected in order) */
  multiple?: boolean;
}

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | boolean | string[]>;
}

export function parseArgs(argv: string[], spec: Record<string, FlagSpec>): ParsedArgs {
  const positionals: string[] = [];
  const flags: ParsedArgs['flags'] = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '-') {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq === -1 ? undefined : eq);
    // own keys only: `--constructor` or `--toString` must not find Object.prototype's members
    const s = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!s) throw new UsageError(`unknown option --${name} (allowed: ${Object.keys(spec).map((k) => `--${k}`).join(', ') || 'none'})`);
    let value: string | boolean = true;
    if (s.value) {
      if (eq !== -1) value = a.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i];
      else throw new UsageError(`--${name} needs a value`);
    } else if (eq !== -1) {
      throw new UsageError(`--${name} takes no value`);
    }
    if (s.multiple) {
      const prev = flags[name];
      flags[name] = [...(Array.isArray(prev) ? prev : []), String(value)];
    } else {
      flags[name] = value;
    }
  }
  return { positionals, flags };
}

export function flagString(p: ParsedArgs, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** The flags of `names` that are missing or empty, as one usage error: "--mac is required", "--mac and --vlan are required". */
export function requireFlags(p: ParsedArgs, names: readonly string[]): void {
  const missing = names.filter((n) => {
    const v = p.flags[n];
    return v === undefined || v === '' || (Array.isArray(v) && v.length === 0);
  });
  if (missing.length === 0) return;
  const list = missing.map((n) => `--${n}`);
  const text = list.length === 1 ? list[0] : `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}`;
  throw new UsageError(`${text} ${list.length === 1 ? 'is' : 'are'} required`);
}

/** One flag's value, which must be given. */
export function requiredFlag(p: ParsedArgs, name: string): string {
  requireFlags(p, [name]);
  return flagString(p, name) ?? '';
}

export function flagList(p: ParsedArgs, name: string): string[] {
  const v = p.flags[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** A flag value for a numeric API field: digits become a number; anything else goes as text so the API refuses
 *  it naming the field and its range (JSON bodies are not type-coerced). */
export function numberOrText(v: string): number | string {
  return /^\d{1,10}$/.test(v.trim()) ? Number(v.trim()) : v;
}
