// TypeScript face of lldpad/lab.sh (the lab of network namespaces with real lldpads): used by `qbg lab` and by the
// lab tests. The script stays the one place that knows how a lab is built; this module only runs it with argv
// arrays (never a shell) and parses its JSON.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { qbgError } from '../domain/errors.js';

const execFileP = promisify(execFile);

export type LabNs = 'br' | `st${number}`;
export type LabSignal = 'TERM' | 'KILL' | 'INT';

export interface LabStation {
  name: string;
  netns: string;
  uplink: string;
  bridgePort: string;
  lldpadPid: number | null;
  mac: string;
  /** The station's own libvirt (labs brought up with libvirt: true), else null. */
  libvirt: LabLibvirt | null;
}

export interface LabLibvirt {
  /** Private root: run/, etc/ (hooks/, qemu.conf), lib/, log/, cache/ = libvirtd's /run, /etc/libvirt, /var/… */
  root: string;
  /** virsh -c URI from the root namespace (the daemon's private socket) */
  uri: string;
  libvirtdPid: number | null;
  /** libvirtd's own log (port profile requests and hooks at debug level) */
  log: string;
}

export interface LabInfo {
  id: string;
  stateDir: string;
  /** veth: s0 ↔ bK directly; vxlan: s0/bK a vxlan pair over a veth underlay (what libvirt needs) */
  uplinkKind: 'veth' | 'vxlan';
  bridge: { netns: string; mode: 'lldpad' | 'none'; lldpadPid: number | null; ports: string[] };
  stations: LabStation[];
}

export interface LabUpOptions {
  id?: string;
  stations?: number;
  bridge?: 'lldpad' | 'none';
  stationEvb?: boolean;
  uplink?: 'veth' | 'vxlan';
  /** Prepare a private libvirt root per station (implies uplink vxlan); start its libvirtd with labStartLibvirtd. */
  libvirt?: boolean;
}

const ID_RE = /^[a-z0-9]{1,8}$/;
const NS_RE = /^(br|st[1-8])$/;

/** lab.sh lives in <repo>/lldpad; find it from src/lab (tsx) or dist/src/lab (built), or QBG_LAB_SCRIPT. */
export function labScriptPath(): string {
  const env = process.env.QBG_LAB_SCRIPT;
  if (env) return env;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'lldpad', 'lab.sh');
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, '..');
  }
  throw qbgError('QBG_ERR_CONFIG', 'lab script', 'lldpad/lab.sh not found above ' + dirname(fileURLToPath(import.meta.url)) + ' (set QBG_LAB_SCRIPT)');
}

/** A random lab id: unique enough for parallel test files (lab.sh accepts 1-8 of a-z0-9). */
export function randomLabId(): string {
  return Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, '0');
}

function checkId(id: string): void {
  if (!ID_RE.test(id)) throw qbgError('QBG_ERR_BAD_REQUEST', `lab id must be 1-8 of a-z, 0-9, got ${JSON.stringify(id)}`);
}

function checkNs(ns: string): void {
  if (!NS_RE.test(ns)) throw qbgError('QBG_ERR_BAD_REQUEST', `lab namespace must be br or st1..st8, got ${JSON.stringify(ns)}`);
}

/** Run lab.sh with argv; its stderr explains failures (missing lldpad, not root), so carry it into the error. */
async function runScript(argv: string[], timeoutMs = 60_000): Promise<string> {
  try {
    const { stdout } = await execFileP('bash', [labScriptPath(), ...argv], { timeout: timeoutMs, maxBuffer: 4 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string; code?: unknown };
    const why = (err.stderr ?? '').trim() || err.message;
    const missing = /no lab with id (\S+)/.exec(why);
    if (missing) throw qbgError('QBG_ERR_NOT_FOUND', `lab ${missing[1]}`);
    throw qbgError('QBG_ERR_INTERNAL', `lab.sh ${argv[0]} failed: ${why}`);
  }
}

function parseInfo(stdout: string): LabInfo {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as LabInfo;
  } catch {
    throw qbgError('QBG_ERR_INTERNAL', `lab.sh printed no JSON: ${stdout.slice(0, 300)}`);
  }
}

export async function labUp(opts: LabUpOptions = {}): Promise<LabInfo> {
  const argv = ['up'];
  if (opts.id !== undefined) {
    checkId(opts.id);
    argv.push('--id', opts.id);
  }
  if (opts.stations !== undefined) {
    if (!Number.isInteger(opts.stations) || opts.stations < 1 || opts.stations > 8)
      throw qbgError('QBG_ERR_INTEGER_RANGE', 'stations', 1, 8, opts.stations);
    argv.push('--stations', String(opts.stations));
  }
  if (opts.bridge !== undefined) {
    if (opts.bridge !== 'lldpad' && opts.bridge !== 'none') throw qbgError('QBG_ERR_ENUM', 'bridge', 'lldpad, none', opts.bridge);
    argv.push('--bridge', opts.bridge);
  }
  if (opts.stationEvb) argv.push('--station-evb');
  if (opts.uplink !== undefined) {
    if (opts.uplink !== 'veth' && opts.uplink !== 'vxlan') throw qbgError('QBG_ERR_ENUM', 'uplink', 'veth, vxlan', opts.uplink);
    argv.push('--uplink', opts.uplink);
  }
  if (opts.libvirt) argv.push('--libvirt');
  return parseInfo(await runScript(argv));
}

export async function labStatus(id: string): Promise<LabInfo> {
  checkId(id);
  return parseInfo(await runScript(['status', '--id', id]));
}

export async function labDown(id: string): Promise<void> {
  checkId(id);
  await runScript(['down', '--id', id]);
}

/** Synchronous teardown for process 'exit' and signal handlers, where nothing asynchronous runs any more. */
export function labDownSync(id: string): void {
  checkId(id);
  execFileSync('bash', [labScriptPath(), 'down', '--id', id], { stdio: 'ignore', timeout: 30_000 });
}

/** Remove every lab on the machine, or with stateOnly only those recorded under $QBG_LAB_STATE. */
export async function labDownAll(opts: { stateOnly?: boolean } = {}): Promise<void> {
  await runScript(opts.stateOnly ? ['down-all', '--state-only'] : ['down-all'], 120_000);
}

export async function labStartLldpad(id: string, ns: string): Promise<LabInfo> {
  checkId(id);
  checkNs(ns);
  return parseInfo(await runScript(['start-lldpad', '--id', id, '--ns', ns]));
}

export async function labStopLldpad(id: string, ns: string, signal: LabSignal = 'TERM'): Promise<LabInfo> {
  checkId(id);
  checkNs(ns);
  if (!['TERM', 'KILL', 'INT'].includes(signal)) throw qbgError('QBG_ERR_ENUM', 'signal', 'TERM, KILL, INT', signal);
  return parseInfo(await runScript(['stop-lldpad', '--id', id, '--ns', ns, '--signal', signal]));
}

/** Start a station's libvirtd (lab up with libvirt: true); its qemu hook must be in place before. */
export async function labStartLibvirtd(id: string, ns: string): Promise<LabInfo> {
  checkId(id);
  checkNs(ns);
  return parseInfo(await runScript(['start-libvirtd', '--id', id, '--ns', ns], 90_000));
}

/** Stop a station's libvirtd; its guests keep running (libvirtd reconnects to them when it starts again). */
export async function labStopLibvirtd(id: string, ns: string, signal: LabSignal = 'TERM'): Promise<LabInfo> {
  checkId(id);
  checkNs(ns);
  if (!['TERM', 'KILL', 'INT'].includes(signal)) throw qbgError('QBG_ERR_ENUM', 'signal', 'TERM, KILL, INT', signal);
  return parseInfo(await runScript(['stop-libvirtd', '--id', id, '--ns', ns, '--signal', signal]));
}
