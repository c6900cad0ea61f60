// Shared lab helper for lab tests: brings a lab up with a random id (tap runs two test files at once), tears it down
// on t.teardown AND on process exit/SIGINT/SIGTERM, and offers the few operations every lab test needs.
// Missing root or lldpad is a FAILURE with a clear message, never a skip: a lab test that does not run proves nothing.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import {
  labDown,
  labDownSync,
  labStartLldpad,
  labStatus,
  labStopLldpad,
  labUp,
  randomLabId,
  type LabInfo,
  type LabSignal,
  type LabStation,
  type LabUpOptions,
} from '../../src/lab/lab.js';
import { parseEvbTlvText, type EvbTlv } from '../../src/lldpad/evb-tlv-text.js';

const execFileP = promisify(execFile);

export type { LabInfo, LabStation };

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface EvbExchange {
  /** milliseconds waitForEvb polled until the exchange was complete */
  waitedMs: number;
  /** the station's own TLV as it now sends it (carries the bridge status it received) */
  local: EvbTlv;
  /** the bridge's TLV as the station received it */
  peer: EvbTlv;
}

export interface Lab extends LabInfo {
  /** Run argv inside a network namespace (full name like qbg-ID-st1, or the short br / st1). Never throws on exit code. */
  exec(ns: string, argv: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  lldptool(ns: string, args: string[]): Promise<ExecResult>;
  vdptool(ns: string, args: string[]): Promise<ExecResult>;
  /**
   * Poll until the station's lldpad has received and processed the bridge's EVB TLV, the bridge has received the
   * station's, and a requested reflective relay has been granted by a capable bridge. Default timeout 20 s.
   */
  waitForEvb(station?: string, opts?: { timeoutMs?: number }): Promise<EvbExchange>;
  /**
   * Poll until the station's lldpad has started its VDP22 module on the uplink. lldpad answers pings and lldptool
   * at once after a start, but starts ECP/VDP22 per port only on the port's first LLDP timer tick (~0.5–1 s later,
   * openlldp lldp_evb22.c evb22_timer); until then a VDP request falls through to the old VDP 0.2 code and fails
   * with ENXIO, and vdptool says "Device not found or inactive". Default timeout 10 s.
   */
  waitForVdp22(station?: string, opts?: { timeoutMs?: number }): Promise<number>;
  killLldpad(ns: string, signal?: LabSignal): Promise<LabInfo>;
  startLldpad(ns: string): Promise<LabInfo>;
  /** Fresh JSON from lab.sh status (pids change after kill/start). */
  status(): Promise<LabInfo>;
  station(name?: string): LabStation;
  /** Full namespace name for br / stN. */
  netns(ns: string): string;
  /** Tear down now (also happens automatically at teardown). */
  down(): Promise<void>;
}

/** The part of tap's Test we use: keeps the helper usable from any subtest. */
export interface TeardownHost {
  teardown(fn: () => unknown): void;
}

// One set of process hooks for all labs of this process: 'exit' runs synchronously, so teardown is sync there.
const liveLabs = new Set<string>();
let hooksInstalled = false;

function downAllLiveSync(): void {
  for (const id of liveLabs) {
    try {
      labDownSync(id);
    } catch {
      /* best effort while exiting */
    }
  }
  liveLabs.clear();
}

function installProcessHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', downAllLiveSync);
  for (const [sig, num] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
  ] as const) {
    const handler = (): void => {
      downAllLiveSync();
      // We replaced the default action; if nobody else handles the signal, exit as the signal would have.
      if (process.listenerCount(sig) <= 1) process.exit(128 + num);
    };
    process.on(sig, handler);
  }
}

/** Fail (not skip) with a message that says what to do when the machine cannot run a lab. */
export function assertLabPrerequisites(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('lab tests need root (network namespaces, veth, lldpad): run them as root, e.g. in the dev container');
  }
  for (const [bin, pkg] of [
    ['lldpad', 'lldpad'],
    ['lldptool', 'lldpad'],
    ['vdptool', 'lldpad'],
    ['ip', 'iproute2'],
  ]) {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', bin], { stdio: 'pipe' });
    } catch {
      throw new Error(`lab tests need ${bin}: apt-get install -y ${pkg}`);
    }
  }
}

export async function startLab(t: TeardownHost, opts: LabUpOptions = {}): Promise<Lab> {
  assertLabPrerequisites();
  installProcessHooks();
  const id = opts.id ?? randomLabId();
  liveLabs.add(id); // before up: an interrupted up leaves namespaces that down removes
  let info: LabInfo;
  try {
    info = await labUp({ ...opts, id });
  } catch (e) {
    liveLabs.delete(id);
    try {
      await labDown(id);
    } catch {
      /* nothing to remove */
    }
    throw e;
  }
  let isDown = false;
  const down = async (): Promise<void> => {
    if (isDown) return;
    isDown = true;
    await labDown(id);
    liveLabs.delete(id);
  };
  t.teardown(down);

  const netns = (ns: string): string => (ns.startsWith('qbg-') ? ns : `qbg-${id}-${ns}`);
  const exec = async (ns: string, argv: string[], eopts: { timeoutMs?: number } = {}): Promise<ExecResult> => {
    try {
      const { stdout, stderr } = await execFileP('ip', ['netns', 'exec', netns(ns), ...argv], {
        timeout: eopts.timeoutMs ?? 30_000,
        maxBuffer: 16 << 20,
      });
      return { stdout, stderr, code: 0 };
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; code?: number | string; message: string };
      return { stdout: err.stdout ?? '', stderr: err.stderr ?? err.message, code: typeof err.code === 'number' ? err.code : -1 };
    }
  };
  const station = (name = 'st1'): LabStation => {
    const s = info.stations.find((x) => x.name === name);
    if (!s) throw new Error(`lab ${id} has no station ${name} (has ${info.stations.map((x) => x.name).join(', ')})`);
    return s;
  };

  const waitForEvb = async (name = 'st1', wopts: { timeoutMs?: number } = {}): Promise<EvbExchange> => {
    const st = station(name);
    const timeoutMs = wopts.timeoutMs ?? 20_000;
    const started = Date.now();
    let last = '';
    for (;;) {
      // Local TLV: lldpad copies the bridge status it received into the TLV it sends, and RRSTAT stays 3
      // ("unknown") until a bridge TLV has been processed (openlldp lldp_evb22.c station_tlv).
      const local = parseEvbTlvText((await exec(st.netns, ['lldptool', '-t', '-i', st.uplink, '-g', 'ncb', '-V', 'evb'])).stdout);
      const peer = parseEvbTlvText((await exec(st.netns, ['lldptool', '-n', '-t', '-i', st.uplink, '-g', 'ncb', '-V', 'evb'])).stdout);
      let bridgeSawStation = true;
      if (info.bridge.mode === 'lldpad') {
        const b = await exec(info.bridge.netns, ['lldptool', '-n', '-t', '-i', st.bridgePort, '-g', 'ncb', '-V', 'evb']);
        bridgeSawStation = parseEvbTlvText(b.stdout) !== undefined;
      }
      // Settled, not just started: when we request reflective relay from a capable bridge, the grant (RRCTR → our
      // RRSTAT yes) arrives one LLDPDU after the bridge heard the request; wait for it so callers see final values.
      // Only with the lab's lldpad bridge: a simulated bridge may advertise RRCAP and never grant it.
      const rrPending =
        info.bridge.mode === 'lldpad' && !!local && !!peer && local.station.rrreq && peer.bridge.rrcap && local.station.rrstat !== 'yes';
      if (local && peer && local.station.rrstat !== 'unknown' && bridgeSawStation && !rrPending) {
        return { waitedMs: Date.now() - started, local, peer };
      }
      last = `station TLV ${local ? `sent (rrstat ${local.station.rrstat})` : 'not sent (EVB enableTx off or adminStatus lacks tx?)'}, bridge TLV ${peer ? 'received' : 'not received'}, bridge ${bridgeSawStation ? 'saw' : 'did not see'} the station's TLV${rrPending ? ', reflective relay requested but not yet granted' : ''}`;
      if (Date.now() - started > timeoutMs) {
        throw new Error(`EVB exchange on ${st.netns}/${st.uplink} not complete after ${timeoutMs} ms: ${last}; logs in ${info.stateDir}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const waitForVdp22 = async (name = 'st1', wopts: { timeoutMs?: number } = {}): Promise<number> => {
    const st = station(name);
    const timeoutMs = wopts.timeoutMs ?? 10_000;
    const started = Date.now();
    for (;;) {
      const r = await exec(st.netns, ['vdptool', '-i', st.uplink, '-t', '-V', 'assoc']);
      if (r.code === 0 && !/not found|inactive/i.test(r.stdout + r.stderr)) return Date.now() - started;
      if (Date.now() - started > timeoutMs) {
        throw new Error(`VDP22 not started on ${st.netns}/${st.uplink} after ${timeoutMs} ms: vdptool says ${(r.stdout + r.stderr).trim()}; logs in ${info.stateDir}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  // Getters, not a copy: pids change after killLldpad/startLldpad and tests should see the fresh ones.
  const lab: Lab = {
    get id() {
      return info.id;
    },
    get stateDir() {
      return info.stateDir;
    },
    get uplinkKind() {
      return info.uplinkKind;
    },
    get bridge() {
      return info.bridge;
    },
    get stations() {
      return info.stations;
    },
    exec,
    lldptool: (ns, args) => exec(ns, ['lldptool', ...args]),
    vdptool: (ns, args) => exec(ns, ['vdptool', ...args]),
    waitForEvb,
    waitForVdp22,
    killLldpad: async (ns, signal = 'KILL') => (info = await labStopLldpad(id, ns, signal)),
    startLldpad: async (ns) => (info = await labStartLldpad(id, ns)),
    status: async () => (info = await labStatus(id)),
    station,
    netns,
    down,
  };
  return lab;
}

/** The modes a station's lldpad holds one VSI in ([] = not held), asked per UUID with vdptool (never the list-all
 *  form, which prints nothing past ~25 VSIs) and once per mode (lldpad only finds a VSI in its current mode). */
export async function heldOn(lab: Lab, station: string, uuid: string): Promise<string[]> {
  const st = lab.station(station);
  const modes: string[] = [];
  for (const m of ['assoc', 'preassoc', 'preassoc-rr']) {
    const r = await lab.vdptool(st.netns, ['-i', st.uplink, '-t', '-V', m, '-c', `uuid=${uuid}`]);
    for (const rec of r.stdout.split(/VSI\s+\d+:/).slice(1)) if (rec.includes(uuid)) modes.push(/mode\s*=\s*(\S+)/.exec(rec)?.[1] ?? '?');
  }
  return modes;
}
