// The whole service as a user runs it: a real `qbg serve` process next to a lab station whose lldpad starts
// unconfigured. qbg configures EVB on the uplink, associates a VM NIC through the API, streams the transitions on
// /events, counts them in /metrics, survives a kill -9 of lldpad by re-associating, and disassociates.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startLab } from './harness.js';
import { startQbg } from '../helpers/qbg-process.js';
import { until } from '../helpers/until.js';


/**
 * Read an SSE stream in the background, collecting parsed events. `ready`: the stream's headers arrived, so the
 * server has subscribed (it does so in the same turn as it writes them).
 */
function followEvents(url: string): { events: Array<{ id?: string; data: Record<string, unknown> }>; ready: Promise<void>; close(): void } {
  const events: Array<{ id?: string; data: Record<string, unknown> }> = [];
  const ac = new AbortController();
  let opened!: () => void;
  let failed!: (e: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => ((opened = resolve), (failed = reject)));
  void (async () => {
    try {
      const res = await fetch(url, { signal: ac.signal, headers: { accept: 'text/event-stream' } });
      if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
      opened();
      const reader = res.body!.getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += Buffer.from(value).toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const id = /^id: (.*)$/m.exec(block)?.[1];
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) events.push({ id, data: JSON.parse(data) });
        }
      }
    } catch (e) {
      failed(e); // no effect once opened: the stream was then aborted at the end
    }
  })();
  return { events, ready, close: () => ac.abort() };
}

t.test('qbg serve configures EVB, associates a NIC, streams it, repairs after an lldpad kill -9', async (t) => {
  const lab = await startLab(t, { stations: 1 }); // station lldpad starts with an EMPTY config: qbg must set EVB
  const st = lab.station('st1');
  const qbg = await startQbg({
    config: {
      lldpad: { netns: st.netns, transport: 'vdp22' },
      uplinks: [{ uplink: 's0', netns: st.netns, gpid: true, reflectiveRelay: true }],
      reconcile: { intervalSeconds: 2, concurrency: 8 },
    },
  });
  t.teardown(() => qbg.kill());
  const api = async (method: string, path: string, body?: unknown) => {
    // bounded: a request qbg never answers fails naming itself instead of hanging the test
    const res = await fetch(`${qbg.url}${path}`, {
      method,
      signal: AbortSignal.timeout(30_000),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).catch((e: Error) => {
      throw new Error(`${method} ${path}: ${e.message}; qbg stderr: ${qbg.log().stderr.slice(-2000)}`);
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  const uplink = await until('EVB configured on s0 and the bridge TLV seen', async () => {
    const r = await api('GET', '/uplinks/s0');
    return r.body?.inSync && r.body?.peerEvbSeen ? r.body : undefined;
  });
  t.match(uplink, { actual: { role: 'station', gpid: true, reflectiveRelay: true }, inSync: true }, 'qbg applied and read back the EVB config');
  await lab.waitForEvb('st1');
  await until('/readyz ready', async () => (await api('GET', '/readyz')).status === 200);

  t.equal((await api('POST', '/types', { name: 'web-tier', managerId: 10, typeId: 1001, typeIdVersion: 1, allowedVlans: [100] })).status, 201);
  const stream = followEvents(`${qbg.url}/events`);
  t.teardown(() => stream.close());
  // subscribed before the associate: GET /events without Last-Event-ID replays nothing from before it
  await stream.ready;

  const vmUuid = '4dea22b3-1d52-d8f3-2516-782e98ab3fa0';
  const mac = '52:54:00:12:34:56';
  const assoc = await api('POST', '/nics/associate', { vmUuid, mac, uplink: 's0', type: 'web-tier', vlan: 100 });
  t.equal(assoc.status, 200, `associate answered ${JSON.stringify(assoc.body)}`);
  t.match(assoc.body, { nic: { state: 'associated', typeIdVersion: 1 } });
  const nicId = assoc.body.nic.id as string;
  const uuid = assoc.body.nic.instanceUuid as string;

  const held = await lab.vdptool('st1', ['-i', 's0', '-t', '-V', 'assoc', '-c', `uuid=${uuid}`]);
  t.match(held.stdout, new RegExp(`uuid = ${uuid}`), 'lldpad holds the VSI (vdptool)');
  t.match(held.stdout, /typeid = 1001/);

  await until('SSE shows associating → associated', async () =>
    stream.events.some((e) => e.data.nicId === nicId && e.data.to === 'associated'),
  );
  const seen = stream.events.filter((e) => e.data.nicId === nicId).map((e) => `${e.data.from}→${e.data.to}`);
  t.same(seen.slice(0, 2), ['new→associating', 'associating→associated'], 'the stream tells the story in order');
  t.ok(stream.events.every((e) => e.id === undefined || /^\d+$/.test(e.id)), 'events carry numeric ids for Last-Event-ID');

  const metrics = await (await fetch(`${qbg.url}/metrics`)).text();
  t.match(metrics, /qbg_nics\{state="associated"\} 1/, 'metrics count the associated NIC');

  // lldpad forgets every VSI when it dies; qbg notices the new pid, repairs EVB and re-associates.
  // and here it also loses its configuration (a fresh config file): qbg must re-apply EVB before re-associating
  await lab.killLldpad('st1', 'KILL');
  await writeFile(join(lab.stateDir, 'st1.conf'), '');
  await lab.startLldpad('st1');
  await until('VSI held again after the lldpad restart', async () => {
    const r = await lab.vdptool('st1', ['-i', 's0', '-t', '-V', 'assoc', '-c', `uuid=${uuid}`]);
    return r.stdout.includes(`uuid = ${uuid}`);
  }, 60_000);
  const repaired = (await api('GET', '/uplinks/s0')).body;
  t.match(repaired, { inSync: true, actual: { gpid: true, reflectiveRelay: true } }, 'EVB configuration re-applied');
  const nic = await until('NIC associated again', async () => {
    const r = await api('GET', `/nics/${nicId}`);
    return r.body?.state === 'associated' ? r.body : undefined;
  });
  t.equal(nic.instanceUuid, uuid, 'same instance UUID: nothing duplicated');
  const history = (await api('GET', `/nics/${nicId}/history?limit=1000`)).body;
  t.ok(history.items.length >= 3, 'history records the repair');
  t.ok(history.items.some((h: { cause: string }) => /reconcile|restart|check/.test(h.cause)), `history names the reconcile: ${history.items.map((h: { cause: string }) => h.cause).join(', ')}`);

  const dis = await api('POST', `/nics/${nicId}/disassociate`);
  t.equal(dis.status, 200);
  t.match(dis.body, { nic: { state: 'disassociated' } });
  await until('lldpad no longer holds the VSI', async () => {
    const r = await lab.vdptool('st1', ['-i', 's0', '-t', '-V', 'assoc', '-c', `uuid=${uuid}`]);
    return !r.stdout.includes(`uuid = ${uuid}`);
  });

  await qbg.stop();
  t.equal(qbg.child.exitCode, 0, 'graceful stop');
});
