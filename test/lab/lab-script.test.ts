// lldpad/lab.sh and the shared harness: idempotent up, complete down, parallel labs, down-all, EVB exchange.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { labDown, labDownAll, labStatus, labUp, randomLabId, labScriptPath } from '../../src/lab/lab.js';
import { assertLabPrerequisites, startLab } from './harness.js';

const execFileP = promisify(execFile);

async function namespaces(): Promise<string[]> {
  const { stdout } = await execFileP('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

async function rootLinks(): Promise<string[]> {
  const { stdout } = await execFileP('ip', ['-br', 'link']);
  return stdout.split('\n').map((l) => l.split(/\s+/)[0].replace(/@.*/, '')).filter(Boolean);
}

/** A killed lldpad stays a zombie until PID 1 reaps it (lab.sh starts it detached): a zombie counts as gone. */
function alive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Everything a lab leaves on the machine, for checking that down removed it all. */
async function traces(id: string, pids: Array<number | null>) {
  return {
    namespaces: (await namespaces()).filter((n) => n.startsWith(`qbg-${id}-`)),
    links: (await rootLinks()).filter((l) => l.startsWith(`q${id}-`)),
    processes: pids.filter(alive),
    stateDir: existsSync(`/run/qbg-lab/${id}`),
  };
}

t.before(() => assertLabPrerequisites());

t.test('up twice with the same id is idempotent; down leaves nothing behind', async (t) => {
  const id = randomLabId();
  t.teardown(() => labDown(id).catch(() => {}));
  const first = await labUp({ id, stations: 2 });
  t.equal(first.id, id);
  t.equal(first.stations.length, 2);
  t.match(first.stations[0], { name: 'st1', netns: `qbg-${id}-st1`, uplink: 's0', bridgePort: 'b1' });
  t.match(first.stations[0].mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  t.type(first.bridge.lldpadPid, 'number');
  for (const s of first.stations) t.ok(alive(s.lldpadPid), `${s.name} lldpad runs`);

  const second = await labUp({ id, stations: 2 });
  t.same(second, first, 'second up reports the same lab, same pids');
  t.equal((await namespaces()).filter((n) => n.startsWith(`qbg-${id}-`)).length, 3, 'still one bridge + two stations');

  const pids = [first.bridge.lldpadPid, ...first.stations.map((s) => s.lldpadPid)];
  await labDown(id);
  t.same(await traces(id, pids), { namespaces: [], links: [], processes: [], stateDir: false }, 'nothing left');
  await labDown(id); // idempotent
  await t.rejects(labStatus(id), { code: 'QBG_ERR_NOT_FOUND', message: `lab ${id} not found` }, 'status of a removed lab fails loudly');
});

t.test('two labs in parallel do not clash', async (t) => {
  const [a, b] = await Promise.all([startLab(t, { stations: 1 }), startLab(t, { stations: 1 })]);
  t.not(a.id, b.id);
  t.not(a.station().netns, b.station().netns);
  t.not(a.station().lldpadPid, b.station().lldpadPid);
  // each lldpad answers in its own namespace with its own pid (lldptool -p prints the pid)
  const pa = await a.lldptool('st1', ['-p']);
  const pb = await b.lldptool('st1', ['-p']);
  t.equal(Number(pa.stdout.trim()), a.station().lldpadPid);
  t.equal(Number(pb.stdout.trim()), b.station().lldpadPid);
  await a.down();
  t.ok(alive(b.station().lldpadPid), 'removing one lab leaves the other running');
  t.equal((await b.status()).id, b.id);
});

t.test('stop-lldpad / start-lldpad give a new pid; the harness sees it', async (t) => {
  const lab = await startLab(t, { bridge: 'none' });
  const before = lab.station().lldpadPid;
  t.ok(alive(before));
  const stopped = await lab.killLldpad('st1', 'KILL');
  t.equal(stopped.stations[0].lldpadPid, null);
  t.notOk(alive(before));
  await lab.startLldpad('st1');
  t.type(lab.station().lldpadPid, 'number');
  t.not(lab.station().lldpadPid, before);
  t.equal(lab.bridge.mode, 'none');
  t.equal(lab.bridge.lldpadPid, null, 'no bridge lldpad with --bridge none');
});

t.test('with --station-evb the EVB TLVs are exchanged and waitForEvb sees both', async (t) => {
  const lab = await startLab(t, { stationEvb: true });
  const x = await lab.waitForEvb('st1');
  t.equal(x.peer.mode, 'bridge', "the peer's TLV says bridge");
  t.ok(x.peer.bridge.rrcap, 'the lab bridge advertises reflective relay capability (template evbrrcap)');
  t.equal(x.local.mode, 'station');
  t.equal(x.local.station.rrstat, 'yes', 'the station requested RR and the bridge granted it');
  t.comment(`EVB exchange complete after ${x.waitedMs} ms of polling`);
});

t.test('waitForEvb fails with a clear error when the station never sends EVB', async (t) => {
  const lab = await startLab(t, {}); // station lldpad unconfigured
  await t.rejects(lab.waitForEvb('st1', { timeoutMs: 1500 }), /EVB exchange on .* not complete after 1500 ms: station TLV not sent/);
});

t.test('down-all removes every lab (of a private state root: the real one holds other tests\' labs)', async (t) => {
  const saved = process.env.QBG_LAB_STATE;
  process.env.QBG_LAB_STATE = `/run/qbg-lab-test-${randomLabId()}`;
  const root = process.env.QBG_LAB_STATE;
  const ids = [randomLabId(), randomLabId()];
  t.teardown(async () => {
    process.env.QBG_LAB_STATE = root;
    await Promise.all(ids.map((id) => labDown(id).catch(() => {})));
    await execFileP('rm', ['-rf', root]);
    process.env.QBG_LAB_STATE = saved;
    if (saved === undefined) delete process.env.QBG_LAB_STATE;
  });
  const labs = await Promise.all(ids.map((id) => labUp({ id, bridge: 'none' })));
  t.equal(labs[0].stateDir, `${root}/${ids[0]}`);
  await labDownAll({ stateOnly: true });
  for (const l of labs) {
    t.same(await traces(l.id, l.stations.map((s) => s.lldpadPid)), { namespaces: [], links: [], processes: [], stateDir: false });
    t.notOk(existsSync(l.stateDir));
  }
  t.ok(existsSync(labScriptPath()));
});
