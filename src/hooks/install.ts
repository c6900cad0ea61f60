// Writing the hook scripts: small CommonJS files that load qbg's hook entry and run it. Written with fs calls
// (never a shell), made executable, and never over a foreign script unless asked (libvirt has ONE qemu hook
// file; since libvirt 6.5 a drop-in directory qemu.d/ runs several).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { qbgError } from '../domain/errors.js';
import { VDSM_HOOKS } from './plan.js';

/** Present in every script we write: lets install recognise its own files. */
export const HOOK_MARKER = 'qbg-hook-script v1';

export interface InstallOptions {
  libvirt: boolean;
  vdsm: boolean;
  /** libvirt hooks dir (default /etc/libvirt/hooks). With dropIn the script goes to <dir>/qemu.d/50-qbg. */
  libvirtDir: string;
  dropIn: boolean;
  /** vdsm hooks root (default /usr/libexec/vdsm/hooks): scripts go to <dir>/<hook>/50_qbg. */
  vdsmDir: string;
  configPath: string;
  /** Replace an existing qemu hook that qbg did not write. */
  force: boolean;
  /** The node binary for the #! line; default the one running now. */
  nodePath?: string;
  /** The hook entry module; default src/hooks/entry.(js|ts) next to this file. */
  entryPath?: string;
}

export interface InstalledScript {
  path: string;
  kind: 'libvirt-qemu' | 'vdsm';
  hook?: string;
  replaced: boolean;
}

/** entry.js next to this module when built, entry.ts when run from source (tsx). */
export function defaultEntryPath(): string {
  const js = fileURLToPath(new URL('./entry.js', import.meta.url));
  if (existsSync(js)) return js;
  return fileURLToPath(new URL('./entry.ts', import.meta.url));
}

/** Running from TypeScript sources: the script registers tsx before loading the entry. */
function tsxApiPath(entry: string): string | null {
  if (!entry.endsWith('.ts')) return null;
  return fileURLToPath(import.meta.resolve('tsx/esm/api'));
}

export function hookScript(kind: InstalledScript['kind'], hook: string | undefined, o: { nodePath: string; entryPath: string; configPath: string }): string {
  const call = kind === 'libvirt-qemu' ? `{ kind: 'libvirt-qemu' }` : `{ kind: 'vdsm', hook: ${JSON.stringify(hook)} }`;
  const failCode = kind === 'vdsm' ? 2 : 1;
  return `#!${o.nodePath}
// ${HOOK_MARKER}: ${kind === 'libvirt-qemu' ? 'libvirt qemu hook' : `vdsm ${hook} hook`} of qbg (802.1Qbg VSI associations).
// Written by "qbg hook install"; settings live in ${o.configPath}. See docs/hooks.md.
'use strict';
const { pathToFileURL } = require('node:url');
const ENTRY = ${JSON.stringify(o.entryPath)};
const CONFIG = ${JSON.stringify(o.configPath)};
const TSX = ${JSON.stringify(tsxApiPath(o.entryPath))};
(async () => {
  if (TSX) (await import(pathToFileURL(TSX).href)).register();
  const hooks = await import(pathToFileURL(ENTRY).href);
  await hooks.runInstalledHook(${call}, CONFIG);
})().catch((e) => {
  process.stderr.write('qbg hook: cannot run qbg from ' + ENTRY + ': ' + (e && e.message) + '\\n');
  process.exit(${failCode});
});
`;
}

function isOurs(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').includes(HOOK_MARKER);
  } catch {
    return false;
  }
}

function writeExecutable(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.qbg-tmp`;
  writeFileSync(tmp, text, { mode: 0o755 });
  chmodSync(tmp, 0o755);
  renameSync(tmp, path); // atomic: libvirt never runs a half-written hook
}

export function installHooks(o: InstallOptions): InstalledScript[] {
  const nodePath = o.nodePath ?? process.execPath;
  const entryPath = o.entryPath ?? defaultEntryPath();
  if (!existsSync(entryPath)) throw qbgError('QBG_ERR_CONFIG', 'hook entry', `${entryPath} does not exist`);
  const plan: Array<{ path: string; kind: InstalledScript['kind']; hook?: string }> = [];
  if (o.libvirt) plan.push({ path: o.dropIn ? join(o.libvirtDir, 'qemu.d', '50-qbg') : join(o.libvirtDir, 'qemu'), kind: 'libvirt-qemu' });
  if (o.vdsm) for (const hook of VDSM_HOOKS) plan.push({ path: join(o.vdsmDir, hook, '50_qbg'), kind: 'vdsm', hook });
  // check everything before writing anything
  for (const p of plan) {
    if (existsSync(p.path) && !isOurs(p.path) && !o.force) {
      throw qbgError(
        'QBG_ERR_CONFIG',
        p.path,
        'exists and was not written by qbg; use --drop-in (libvirt ≥ 6.5 runs every script in qemu.d/) or --force to replace it',
      );
    }
  }
  return plan.map((p) => {
    const replaced = existsSync(p.path);
    writeExecutable(p.path, hookScript(p.kind, p.hook, { nodePath, entryPath, configPath: o.configPath }));
    return { path: p.path, kind: p.kind, ...(p.hook ? { hook: p.hook } : {}), replaced };
  });
}

/** The hook config file (mode 0600: it may carry a token). Existing keys not given are kept. */
export function writeHookConfig(path: string, values: Record<string, unknown>): Record<string, unknown> {
  let current: Record<string, unknown> = {};
  if (existsSync(path)) {
    try {
      current = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw qbgError('QBG_ERR_CONFIG', path, `is not valid JSON (${(e as Error).message}); fix or remove it`);
    }
  }
  const next = { ...current, ...Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) };
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.qbg-tmp`;
  writeFileSync(tmp, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return next;
}
