// Runs the simulated bridge (src/lab/simbridge-main.ts) as a child process in a lab's bridge namespace and
// collects its JSON-line reports, for the lab tests that drive a station lldpad against it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLab, type Lab, type LabStation, type TeardownHost } from './harness.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export type SimEvent = Record<string, any> & { event: string; ms: number };

export interface Sim {
  events: SimEvent[];
  send(cmd: Record<string, unknown>): Promise<SimEvent>;
  waitFor(pred: (e: SimEvent) => boolean, timeoutMs: number, what: string): Promise<SimEvent>;
  stop(): void;
}

/** Start src/lab/simbridge-main.ts in the lab's bridge namespace on `port`, with extra CLI args. */
export async function startSim(lab: Lab, port: string, args: string[] = []): Promise<Sim> {
  const child: ChildProcessWithoutNullStreams = spawn(
    'ip',
    ['netns', 'exec', lab.bridge.netns, process.execPath, '--import', 'tsx', 'src/lab/simbridge-main.ts', '--port', port, ...args],
    { cwd: ROOT, stdio: 'pipe' },
  );
  const events: SimEvent[] = [];
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  createInterface({ input: child.stdout }).on('line', (l) => {
    try {
      events.push(JSON.parse(l));
    } catch {
      stderr += l + '\n';
    }
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  const stop = (): void => {
    if (!exited && child.pid !== undefined) child.kill('SIGTERM');
  };
  process.on('exit', stop);
  const waitFor = async (pred: (e: SimEvent) => boolean, timeoutMs: number, what: string): Promise<SimEvent> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = events.find(pred);
      if (hit) return hit;
      if (exited) throw new Error(`simulator exited while waiting for ${what}: ${stderr}`);
      if (Date.now() > until) throw new Error(`simulator: no ${what} within ${timeoutMs} ms; stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  let nextId = 1;
  const send = async (cmd: Record<string, unknown>): Promise<SimEvent> => {
    const id = nextId++;
    child.stdin.write(JSON.stringify({ ...cmd, id }) + '\n');
    const r = await waitFor((e) => e.id === id, 5000, `reply to ${JSON.stringify(cmd)}`);
    if (r.event !== 'reply') throw new Error(`simulator refused ${JSON.stringify(cmd)}: ${r.error}`);
    return r;
  };
  await waitFor((e) => e.event === 'ready', 15_000, 'ready');
  return { events, send, waitFor, stop };
}


/**
 * A lab whose bridge is our simulator: no bridge lldpad, the station's keep-alive and resource-wait exponents set to
 * `exp` on both sides (the station uses the larger of its own and the bridge's, so keep-alive loss shows in seconds),
 * and the EVB exchange done, seen from both ends.
 */
export async function startSimLab(t: TeardownHost, exp: string): Promise<{ lab: Lab; st: LabStation; sim: Sim }> {
  const lab = await startLab(t, { bridge: 'none', stationEvb: true });
  const st = lab.station('st1');
  for (const key of ['vdprka', 'vdprwd']) {
    const r = await lab.lldptool(st.netns, ['-T', '-i', st.uplink, '-g', 'ncb', '-V', 'evb', '-c', `${key}=${exp}`]);
    if (r.code !== 0) throw new Error(`station ${key}=${exp} refused: ${r.stdout}${r.stderr}`);
  }
  const sim = await startSim(lab, st.bridgePort, ['--rka', exp, '--rwd', exp]);
  t.teardown(() => sim.stop());
  await lab.waitForEvb('st1');
  await sim.waitFor((e) => e.event === 'lldp-station' && e.evb.rka === Number(exp), 10_000, `station EVB TLV with RKA ${exp}`);
  return { lab, st, sim };
}
