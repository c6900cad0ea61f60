// What qbg costs a real libvirtd VM start and stop (issue 11 §3): one lab station with its own libvirtd (lab.sh
// --libvirt), the 64 MiB diskless TCG guest, `virsh start` and `virsh destroy` timed from the client.
//   baseline: a do-nothing qemu hook (a shell script that reads its stdin) and a plain macvtap NIC: libvirt alone;
//   qbg hook, NIC not qbg's: qbg's installed hook runs at every step but has nothing to do (a Node process each time);
//   qbg owns: a NIC named in qbg's metadata, the hook associates through `qbg serve` (in the station's namespace);
//   libvirt owns: the full virtualport, libvirt associates over netlink, the hook checks and observes.
// The three run qbg from its TypeScript sources (tsx compiles in each hook process), as the lab tests do; the first two
// again as a host installs qbg (README: npm run build): the hook and `qbg serve` from the compiled JavaScript.
// Each is the median of ROUNDS start/destroy pairs, measured one after another in the same run.
import { spawn, type ChildProcess, execFile } from 'node:child_process';
import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { hookCommand } from '../src/cli/hook.js';
import type { CliIo } from '../src/cli/io.js';
import { labStartLibvirtd, type LabInfo } from '../src/lab/lab.js';
import { QBG_XMLNS } from '../src/libvirt/qbg-metadata.js';
import { BENCH_TYPE, withLab, withTempDir } from './common.js';
import type { BenchRow } from './table.js';

const execFileP = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const ROUNDS = 5;
const QBG_PORT = 8021; // inside the station's namespace: its own port space

const quietIo = (): CliIo => ({ out: () => {}, err: () => {}, json: true, baseUrl: 'http://127.0.0.1:1', fetch, readStdin: async () => '' });

function guest(name: string, uuid: string, mac: string, nic: 'plain' | 'metadata' | 'virtualport'): string {
  const vp =
    nic === 'virtualport'
      ? `<virtualport type='802.1Qbg'><parameters managerid='${BENCH_TYPE.managerId}' typeid='${BENCH_TYPE.typeId}' typeidversion='${BENCH_TYPE.typeIdVersion}' instanceid='09b11c53-8b5c-4eeb-8f00-${uuid.slice(-12)}'/></virtualport>`
      : '';
  const md = nic === 'metadata' ? `<metadata><qbg:nics xmlns:qbg='${QBG_XMLNS}'><qbg:nic mac='${mac}' profile='${BENCH_TYPE.name}'/></qbg:nics></metadata>` : '';
  return `<domain type='qemu'><name>${name}</name><uuid>${uuid}</uuid>${md}<memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><interface type='direct'><mac address='${mac}'/>
<source dev='s0' mode='vepa'/>${vp}<model type='virtio'/><rom enabled='no'/></interface></devices></domain>`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function unixGet(socket: string, path: string, method = 'GET', body?: unknown): Promise<number> {
  return new Promise((res, rej) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const r = request({ socketPath: socket, path, method, headers: data ? { 'content-type': 'application/json' } : {} }, (m) => {
      m.resume();
      m.on('end', () => res(m.statusCode ?? 0));
    });
    r.on('error', rej);
    r.end(data);
  });
}

export async function benchLibvirt(): Promise<BenchRow[]> {
  return withTempDir('libvirt', (dir) =>
    withLab({ stations: 1, bridge: 'lldpad', stationEvb: true, libvirt: true }, async (lab: LabInfo) => {
      const st = lab.stations[0]!;
      const lvRoot = join(lab.stateDir, `${st.name}.libvirt`);
      const uri = `qemu:///system?socket=${lvRoot}/run/libvirt/libvirt-sock`;
      const hookPath = join(lvRoot, 'etc', 'hooks', 'qemu');
      const virsh = async (...args: string[]) => execFileP('virsh', ['-c', uri, ...args], { timeout: 120_000 });
      // libvirtd looks for the hook only when it starts: a do-nothing one first, replaced in place later
      writeFileSync(hookPath, '#!/bin/sh\ncat >/dev/null\n', { mode: 0o755 });
      await labStartLibvirtd(lab.id, st.name);
      // EVB settles within seconds of lldpad's start; the first VM start of a lab waits for it
      await new Promise((r) => setTimeout(r, 5000));

      let n = 0;
      const measure = async (nic: 'plain' | 'metadata' | 'virtualport'): Promise<{ start: number; stop: number }> => {
        const starts: number[] = [];
        const stops: number[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          n++;
          const hex = n.toString(16).padStart(2, '0');
          const name = `bench${n}`;
          const file = join(dir, `${name}.xml`);
          writeFileSync(file, guest(name, `6d1a4b5c-8888-4222-8333-9444555566${hex}`, `52:54:00:7f:00:${hex}`, nic));
          await virsh('define', file);
          let t0 = performance.now();
          await virsh('start', name);
          starts.push(performance.now() - t0);
          t0 = performance.now();
          await virsh('destroy', name);
          stops.push(performance.now() - t0);
          await virsh('undefine', name);
        }
        return { start: median(starts), stop: median(stops) };
      };

      const base = await measure('plain');
      const installArgs = (qbgUrl: string) => ['install', '--libvirt', '--force', '--dir', join(lvRoot, 'etc', 'hooks'), '--config', join(lvRoot, 'etc', 'qbg-hook.json'), '--url', qbgUrl, '--on-qbg-down', 'fail'];
      const install = async (qbgUrl: string) => {
        const code = await hookCommand(installArgs(qbgUrl), quietIo());
        if (code !== 0) throw new Error(`qbg hook install exited ${code}`);
      };
      // the built CLI installs a hook that loads the built entry (src/hooks/install.ts defaultEntryPath)
      const installCompiled = (qbgUrl: string) => execFileP(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'hook', ...installArgs(qbgUrl)], { cwd: ROOT });
      await install(`http://127.0.0.1:${QBG_PORT}`);
      const idle = await measure('plain');

      const serve = async (ownership: 'qbg' | 'libvirt', compiled = false): Promise<{ child: ChildProcess; socket: string }> => {
        const name = `qbg-${ownership}${compiled ? '-built' : ''}`;
        const socket = join(dir, `${name}.sock`);
        const config = join(dir, `${name}.json`);
        writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port: QBG_PORT, socket }, dbPath: join(dir, `${name}.db`), logLevel: 'warn', ownership }));
        const cli = compiled ? [join(ROOT, 'dist/src/cli/main.js')] : ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];
        const child = spawn('ip', ['netns', 'exec', st.netns, process.execPath, ...cli, 'serve', '--config', config], { cwd: ROOT, stdio: 'ignore' });
        const until = Date.now() + 60_000;
        for (;;) {
          try {
            if ((await unixGet(socket, '/healthz')) === 200) break;
          } catch {
            /* not listening yet */
          }
          if (Date.now() > until) throw new Error(`qbg serve (${ownership}) did not answer within 60 s`);
          await new Promise((r) => setTimeout(r, 250));
        }
        const status = await unixGet(socket, '/types', 'POST', BENCH_TYPE);
        if (status !== 201) throw new Error(`POST /types answered ${status}`);
        return { child, socket };
      };
      const stopServe = async (child: ChildProcess) => {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      };

      let q = await serve('qbg');
      const qbgOwned = await measure('metadata').finally(() => stopServe(q.child));
      q = await serve('libvirt');
      const libvirtOwned = await measure('virtualport').finally(() => stopServe(q.child));

      // as installed: build, install the hook with the built CLI, serve from the build
      await execFileP('npm', ['run', 'build'], { cwd: ROOT, timeout: 600_000 });
      await installCompiled(`http://127.0.0.1:${QBG_PORT}`);
      const idleBuilt = await measure('plain');
      q = await serve('qbg', true);
      const qbgOwnedBuilt = await measure('metadata').finally(() => stopServe(q.child));

      const ms = (x: number) => `${Math.round(x)} ms`;
      const ratio = (x: number, b: number) => `${(x / b).toFixed(2)}× baseline`;
      const row = (what: string, m: { start: number; stop: number }): BenchRow[] => [
        { what: `virsh start, ${what}`, baseline: ms(base.start), qbg: ms(m.start), ratio: ratio(m.start, base.start), target: 'measured', met: true },
        { what: `virsh destroy, ${what}`, baseline: ms(base.stop), qbg: ms(m.stop), ratio: ratio(m.stop, base.stop), target: 'measured', met: true },
      ];
      return [
        ...row('qbg hook, NIC not qbg\'s', idle),
        ...row('qbg owns (hook associates)', qbgOwned),
        ...row('libvirt owns (hook observes)', libvirtOwned),
        ...row('qbg hook as built (npm run build), NIC not qbg\'s', idleBuilt),
        ...row('qbg owns, hook and qbg serve as built', qbgOwnedBuilt),
      ].map((r) => ({ ...r, note: `median of ${ROUNDS}; baseline: a do-nothing hook, a plain macvtap NIC` }));
    }),
  );
}
