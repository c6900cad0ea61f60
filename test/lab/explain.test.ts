// qbg explain against what really happens. A real `qbg serve` next to a lab station whose lldpad starts without
// EVB: explain says the uplink has no negotiated EVB, and a real associate through qbg then fails; once qbg has
// configured EVB and the bridge's TLV is in, explain finds nothing and the same associate succeeds. And on the
// libvirt lab: explain finds the station's libvirtd (version, the netlink port shim loaded) and, with no bridge,
// says the uplink has no EVB for a libvirt-owned NIC — and `virsh start` of that very domain fails.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { parseVsiTypeSpec } from '../../src/domain/vsi-type.js';
import { Lldptool } from '../../src/lldpad/lldptool.js';
import { explain } from '../../src/service/explain-facts.js';
import { MemoryUplinkConfigStore, UplinkManager } from '../../src/service/uplink-manager.js';
import { startQbg } from '../helpers/qbg-process.js';
import { until } from '../helpers/until.js';
import { startLab } from './harness.js';
import { guestXml, startLibvirtLab } from './libvirt-harness.js';

const VM = '4dea22b3-1d52-d8f3-2516-782e98ab3fa0';
const MAC = '52:54:00:12:34:56';

const qbgDomain = `<domain type='qemu'><name>web1</name><uuid>${VM}</uuid><memory unit='MiB'>64</memory><os><type arch='x86_64' machine='pc'>hvm</type></os>
<metadata><qbg:nics xmlns:qbg="https://qbg.example/xmlns/1"><qbg:nic mac="${MAC}" profile="web-tier" vlan="100"/></qbg:nics></metadata>
<devices><interface type='direct'><mac address='${MAC}'/><source dev='s0' mode='vepa'/><model type='virtio'/></interface></devices></domain>`;

t.test('uplink without EVB: explain says so and a real associate fails; with EVB both succeed', async (t) => {
  const lab = await startLab(t, { stations: 1 }); // the station lldpad starts with an empty config: no EVB
  const st = lab.station('st1');
  const qbg = await startQbg({ config: { lldpad: { netns: st.netns, transport: 'vdp22' }, reconcile: { intervalSeconds: 2 } } });
  t.teardown(() => qbg.kill());
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${qbg.url}${path}`, {
      method,
      signal: AbortSignal.timeout(30_000),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  t.equal((await api('POST', '/types', { name: 'web-tier', managerId: 10, typeId: 1001, typeIdVersion: 1, allowedVlans: [100] })).status, 201);
  const dir = mkdtempSync(join(tmpdir(), 'qbg-explain-lab-'));
  const file = join(dir, 'web1.xml');
  writeFileSync(file, qbgDomain);
  const cli = async (json = true) => {
    const out: string[] = [];
    const code = await main(['--url', qbg.url, 'explain', file, ...(json ? ['--json'] : [])], { out: (s) => out.push(s), err: () => {}, fetch: globalThis.fetch, readStdin: async () => '' });
    return { code, result: json ? JSON.parse(out.join('')) : undefined, text: out.join('\n') };
  };

  // what an admin reads (the README shows this output)
  const human = await cli(false);
  t.equal(human.code, 1);
  t.match(human.text, /^error uplink-evb-not-negotiated NIC 52:54:00:12:34:56 \(uplink s0\): no EVB exchange with the bridge on s0/m);
  t.comment(`qbg explain web1.xml:\n${human.text}`);
  let r = await cli();
  t.equal(r.code, 1, 'exit 1: the start would fail');
  t.match(r.result, {
    ok: false,
    nics: [{ mac: MAC, owner: 'qbg', type: { name: 'web-tier', typeIdVersion: 1 }, vlan: 100, uplink: 's0', mode: 'vepa' }],
    findings: [{ code: 'uplink-evb-not-negotiated', severity: 'error', nic: MAC, field: 'uplink s0', fix: /qbg does not manage s0: qbg uplink set s0/ }],
    host: { lldpad: { ok: true } },
  });
  t.equal(r.result.findings.length, 1, `only that: ${JSON.stringify(r.result.findings)}`);
  const failed = await api('POST', '/nics/associate', { vmUuid: VM, mac: MAC, uplink: 's0', type: 'web-tier', vlan: 100 });
  t.not(failed.status, 200, `a real associate fails the same way: ${failed.status} ${JSON.stringify(failed.body)}`);
  t.match(failed.body, { code: /^QBG_ERR_/ });

  // qbg configures EVB on the uplink; once the bridge's TLV is in, explain has nothing to say and associate works
  t.equal((await api('PUT', '/uplinks/s0', { netns: st.netns, gpid: true, reflectiveRelay: true })).status, 200);
  t.equal((await api('POST', '/uplinks/s0/apply')).status, 200);
  await until('the bridge EVB TLV seen on s0', async () => ((await api('GET', '/uplinks/s0')).body?.peerEvbSeen ? true : undefined), 30_000);
  await lab.waitForEvb('st1');
  r = await until('explain finds nothing (reflective relay granted too)', async () => {
    const x = await cli();
    return x.code === 0 ? x : undefined;
  }, 30_000);
  t.match(r.result, { ok: true, findings: [], nics: [{ owner: 'qbg', uplink: 's0' }] });
  const ok = await until('associate succeeds', async () => {
    const a = await api('POST', '/nics/associate', { vmUuid: VM, mac: MAC, uplink: 's0', type: 'web-tier', vlan: 100 });
    return a.status === 200 ? a : undefined;
  }, 30_000);
  t.match(ok.body, { nic: { state: 'associated' } });
  await api('POST', `/nics/${ok.body.nic.id}/disassociate`);

  // the station stops asking for reflective relay: the bridge lldpad turns it off for the port (its RRCTR in the
  // TLV), and explain names it for the VEPA NIC — traffic between this host's VMs would not come back
  t.equal((await api('PUT', '/uplinks/s0', { netns: st.netns, gpid: true, reflectiveRelay: false })).status, 200);
  t.equal((await api('POST', '/uplinks/s0/apply')).status, 200);
  r = await until('explain finds the bridge without reflective relay', async () => {
    const x = await cli();
    return x.result.findings.some((f: { code: string }) => f.code === 'bridge-no-reflective-relay') ? x : undefined;
  }, 30_000);
  t.equal(r.code, 1, 'exit 1: the NIC would not work as a VEPA NIC');
  t.match(r.result.findings, [{ code: 'bridge-no-reflective-relay', severity: 'error', nic: MAC, field: 'uplink s0', fix: /reflectiveRelay=true/ }]);
  t.equal(r.result.findings.length, 1, `only that: ${JSON.stringify(r.result.findings)}`);
  t.equal((await api('PUT', '/uplinks/s0', { netns: st.netns, gpid: true, reflectiveRelay: true })).status, 200);
  t.equal((await api('POST', '/uplinks/s0/apply')).status, 200);
  t.equal((await until('explain finds nothing again', async () => {
    const x = await cli();
    return x.code === 0 ? x : undefined;
  }, 30_000)).code, 0);
});

t.test('libvirt lab: explain finds the libvirtd and its shim; a libvirt-owned NIC on an uplink without EVB fails to start', async (t) => {
  const lv = await startLibvirtLab(t, { bridge: 'none', waitForEvb: false, hook: { onQbgDown: 'allow' } });
  const st = lv.lab.station('st1');
  const types = [{ ...parseVsiTypeSpec({ name: 'web-tier', managerId: 11, typeId: 1193047, typeIdVersion: 2 }), createdAt: '2026-12-01T00:00:00.000Z' }];
  const deps = {
    types: { get: (n: string, v?: number) => types.find((x) => x.name === n && (v === undefined || x.typeIdVersion === v)), list: () => types },
    uplinks: new UplinkManager({ store: new MemoryUplinkConfigStore() }),
    lldpadPing: async () => ({ ok: true, pid: await new Lldptool({ netns: st.netns }).ping() }),
    lldpadNetns: st.netns,
  };
  const xml = guestXml({ name: 'qbg-explain', uuid: VM, nics: [{ mac: MAC, virtualport: { managerid: 11, typeid: 1193047, typeidversion: 2 } }] });
  const r = await explain(deps, xml);
  t.match(r.host.libvirtd, { pid: lv.libvirt('st1').libvirtdPid, version: '9.0.0', portShim: true }, "the station's libvirtd, its version and the shim, read from /proc");
  t.match(r.nics, [{ mac: MAC, owner: 'libvirt', ownerFrom: 'xml', type: { name: 'web-tier', typeIdVersion: 2 }, uplink: 's0' }]);
  t.same(r.findings.map((f) => `${f.severity} ${f.code}`), ['error uplink-evb-not-negotiated'], 'no bridge: no EVB; the shim is loaded, so no netlink-lost finding');
  t.equal(r.ok, false);
  let res = await lv.defineXml('define', xml);
  t.equal(res.code, 0, res.stderr);
  res = await lv.virsh(['start', 'qbg-explain'], { timeoutMs: 60_000 });
  t.not(res.code, 0, `virsh start fails as explain said: ${res.stderr.trim()}`);
  // virsh says only "sending of PortProfileRequest failed." — which libvirt 9.0 also says when its request never
  // left (the netlink port trap); its log shows that this one reached lldpad and was refused there
  t.match(lv.log(), /error during virtual port configuration of ifindex \d+/, "libvirtd's log: lldpad refused the request (it was sent)");
});
