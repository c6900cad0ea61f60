#!/usr/bin/env -S node --max-semi-space-size=1 --no-parallel-scavenge
// The `qbg` command. Global options come before or after the subcommand; each subcommand parses its own.
// Exit codes: 0 success, 1 the operation failed (one line naming the field/cause on stderr), 2 usage error.
// Node flags (the first line): a 1 MB young generation keeps resident memory under its target, and its scavenges
// run on the main thread — handing a 1 MB scavenge to helper threads costs more than it saves, twice as much on a
// busy host (docs/benchmarks.md, 2026-12-02 16:00Z).
import { readFileSync } from 'node:fs';
import { isQbgError } from '../domain/errors.js';
import { DEFAULT_PORT } from '../config.js';
import { UsageError, type CliIo } from './io.js';
import { escapeControls } from '../domain/printable.js';
import { COMMANDS } from './commands.js';

const GLOBAL_HELP = `qbg — IEEE 802.1Qbg (VEPA/VDP) management service

Usage: qbg <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.usage.padEnd(58)} ${c.summary}`).join('\n')}

Global options:
  --json           machine-readable JSON on stdout (every command)
  --url URL        the running qbg (default: $QBG_URL or http://127.0.0.1:${DEFAULT_PORT})
  --token TOKEN    bearer token for the API (default: $QBG_TOKEN)
  --help, -h       this help; "qbg <command> --help" for one command
  --version        print the version

Exit codes: 0 success, 1 failed (the message names the field and the allowed range), 2 usage error.`;

/**
 * Terminal output: control characters and lone surrogates as visible \u escapes. Tab, newline and CRLF stay (tables,
 * multi-line descriptions, XML from a CRLF file); inside JSON these escapes are still valid JSON.
 */
export function terminalSafe(s: string): string {
  return escapeControls(s, { multiLine: true, crlf: true });
}

/** Split global options out of argv, wherever they stand. */
function takeGlobals(argv: string[]) {
  const rest: string[] = [];
  const g = { json: false, help: false, version: false, url: process.env.QBG_URL, token: process.env.QBG_TOKEN };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') g.json = true;
    else if (a === '--help' || a === '-h') g.help = true;
    // --version is qbg's own only before a subcommand: after it, it is the subcommand's (a VSI type version).
    else if (a === '--version' && rest.length === 0) g.version = true;
    else if (a === '--url' || a === '--token') {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      g[a === '--url' ? 'url' : 'token'] = argv[++i];
    } else if (a.startsWith('--url=')) g.url = a.slice(6);
    else if (a.startsWith('--token=')) g.token = a.slice(8);
    else rest.push(a);
  }
  return { g, rest };
}

/** Our package.json sits 2 levels up from src/cli (run by tsx) or 3 from dist/src/cli (built). */
function version(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'qbg') return pkg.version;
    } catch {
      /* try the next candidate */
    }
  }
  return 'unknown';
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function main(argv: string[], baseIo?: Partial<CliIo>): Promise<number> {
  const write = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');
  const writeErr = (s: string) => process.stderr.write(s.endsWith('\n') ? s : s + '\n');
  // Everything printed goes through terminalSafe: text stored before control characters were refused (or echoed
  // back in an error) must not drive the terminal.
  const io: Partial<CliIo> = {
    ...baseIo,
    out: ((o) => (s: string) => o(terminalSafe(s)))(baseIo?.out ?? write),
    err: ((o) => (s: string) => o(terminalSafe(s)))(baseIo?.err ?? writeErr),
  };
  let json = false;
  const out = io.out!;
  const err = io.err!;
  try {
    const { g, rest } = takeGlobals(argv);
    json = g.json;
    if (g.version) {
      out(json ? JSON.stringify({ version: version() }) : version());
      return 0;
    }
    const [name, ...args] = rest;
    const cmd = COMMANDS.find((c) => c.name === name);
    if (!name || (g.help && !cmd)) {
      out(GLOBAL_HELP);
      return name || g.help ? 0 : 2;
    }
    if (!cmd) throw new UsageError(`unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    if (g.help) {
      out(cmd.help);
      return 0;
    }
    const full: CliIo = {
      fetch: globalThis.fetch,
      readStdin,
      ...io,
      out,
      err,
      json,
      baseUrl: g.url ?? io.baseUrl ?? `http://127.0.0.1:${DEFAULT_PORT}`,
      token: g.token ?? io.token,
    };
    const run = await cmd.load();
    return await run(args, full);
  } catch (e) {
    // An error is one line: a newline echoed from the input (an uplink named "\n") is shown escaped, not obeyed.
    const line = (s: string) => escapeControls(s);
    if (e instanceof UsageError) {
      err(`qbg: ${line(e.message)} (see qbg --help)`);
      return 2;
    }
    if (isQbgError(e)) {
      if (json) out(JSON.stringify(e.toJSON()));
      err(`qbg: ${e.field ? `${line(e.field)}: ` : ''}${line(e.message)} [${e.code}]`);
      // a profile import lists every problem it found; the first is the line above
      if (!json) for (const p of alsoProblems(e)) err(`  also: ${line(p)}`);
      return 1;
    }
    err(`qbg: ${line((e as Error).message)}`);
    return 1;
  }
}

/** The problems after the first in an error's details.errors (profile files): "file:line: message". */
function alsoProblems(e: { details?: Record<string, unknown> }): string[] {
  const list = e.details?.errors;
  if (!Array.isArray(list)) return [];
  return list.slice(1).map((p: { file?: string; line?: number; message?: string }) => `${p.file ?? ''}${p.line ? `:${p.line}` : ''}: ${p.message ?? ''}`);
}

// Run when executed as the `qbg` binary (not when imported by tests).
const invoked = process.argv[1] ?? '';
if (/(?:^|[/\\])(?:main\.(?:ts|js)|qbg)$/.test(invoked)) {
  main(process.argv.slice(2)).then(
    (code) => {
      // serve keeps running: it sets its own exit on shutdown and returns -1
      if (code >= 0) process.exitCode = code;
    },
    (e) => {
      process.stderr.write(terminalSafe(`qbg: ${(e as Error).stack ?? e}\n`));
      process.exitCode = 1;
    },
  );
}
