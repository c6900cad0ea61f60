import t from 'tap';
import { isQbgError } from '../../src/domain/errors.js';
import type { VsiRequest } from '../../src/domain/vsi-request.js';
import {
  classifyDatagram,
  decodeFilter,
  decodeManagerId2,
  decodeQueryReply,
  decodeVsiEvent,
  encodeAttach,
  encodeVsiQuery,
  encodeVsiSet,
  parsePong,
} from '../../src/lldpad/clif-protocol.js';
import { Vdp22Client } from '../../src/lldpad/vdp22-client.js';

const UUID = '11111111-2222-3333-4444-555555555556';
const base: VsiRequest = {
  uplink: 's0',
  mode: 'assoc',
  managerId2: '0'.repeat(32),
  typeId: 1193047,
  typeIdVersion: 2,
  instanceUuid: UUID,
  filterFormat: 'vlan-mac',
  filters: [{ vlan: 0, mac: '52:54:00:11:22:34' }],
};

// Decodes the pairs of a request, independently of the encoder's helpers, to check field by field.
function pairsOf(msg: string, from: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = from;
  while (i < msg.length) {
    const kl = parseInt(msg.slice(i, i + 2), 16);
    const k = msg.slice(i + 2, i + 2 + kl);
    const vl = parseInt(msg.slice(i + 2 + kl, i + 6 + kl), 16);
    out.push([k, msg.slice(i + 6 + kl, i + 6 + kl + vl)]);
    i += 6 + kl + vl;
  }
  return out;
}

t.test('associate: the layout vdptool sends (verified with strace in the lab)', async (t) => {
  const msg = encodeVsiSet(base);
  // M + module 000080c4 + C + version 3 + cmd 02 + ops 0000011c (1 filter, arg|argval|config) + "02s0" + type 02 + tlvid 3
  t.equal(msg.slice(0, 35), 'M000080c4C3020000011c02s00200000003');
  t.same(pairsOf(msg, 35), [
    ['mode', 'assoc'],
    ['mgrid2', '0'.repeat(32)],
    ['typeid', '1193047'],
    ['typeidver', '2'],
    ['uuid', UUID],
    ['hints', 'none'],
    ['filter', '0-52:54:00:11:22:34'],
  ]);
});

t.test('each mode uses its word and its VDP22 TLV type; the filter count goes into the ops', async (t) => {
  const tlv = { preassoc: 1, 'preassoc-rr': 2, assoc: 3, deassoc: 4 } as const;
  for (const mode of ['preassoc', 'preassoc-rr', 'assoc', 'deassoc'] as const) {
    const msg = encodeVsiSet({ ...base, mode });
    t.equal(msg.slice(27, 35), tlv[mode].toString(16).padStart(8, '0'), `${mode} tlvid`);
    t.same(pairsOf(msg, 35)[0], ['mode', mode]);
  }
  const two = encodeVsiSet({ ...base, filters: [{ vlan: 5, mac: '52:54:00:00:00:01' }, { vlan: 6, mac: '52:54:00:00:00:02' }] });
  t.equal(two.slice(13, 21), '0000021c');
  t.same(pairsOf(two, 35).filter(([k]) => k === 'filter').map(([, v]) => v), ['5-52:54:00:00:00:01', '6-52:54:00:00:00:02']);
  t.same(pairsOf(encodeVsiSet(base, 'to'), 35).find(([k]) => k === 'hints'), ['hints', 'to']);
});

t.test("filters in lldpad's words", async (t) => {
  const v = encodeVsiSet({ ...base, filterFormat: 'vlan', filters: [{ vlan: 4095 }] });
  t.same(pairsOf(v, 35).at(-1), ['filter', '4095']);
  const g = encodeVsiSet({ ...base, filterFormat: 'vlan-mac-group', filters: [{ vlan: 7, mac: '52:54:00:AA:bb:01', groupId: 42 }] });
  t.same(pairsOf(g, 35).at(-1), ['filter', '7-52:54:00:aa:bb:01-42']);
  // format 3 (GroupID/VID): vdptool's "vlan--group", two dashes and no MAC (the captured frame
  // vdp-preassoc-rr-group-vid-request came from vdptool filter=200--77)
  const vg = encodeVsiSet({ ...base, filterFormat: 'vlan-group', filters: [{ vlan: 200, groupId: 77 }] });
  t.same(pairsOf(vg, 35).at(-1), ['filter', '200--77']);
  t.same(decodeFilter('200--77'), { format: 'vlan-group', filter: { vlan: 200, groupId: 77 } });
  t.throws(() => encodeVsiSet({ ...base, filterFormat: 'vlan-group', filters: [{ vlan: 200 }] }), { field: 'filters[0].groupId', message: /1–4294967295/ });
});

t.test('bad input names the field and the allowed range', async (t) => {
  const cases: Array<[Partial<VsiRequest>, string, RegExp]> = [
    [{ uplink: 'eth0; rm -rf /' }, 'uplink', /interface name/],
    [{ typeId: 1 << 24 }, 'typeId', /0–16777215/],
    [{ typeIdVersion: 256 }, 'typeIdVersion', /0–255/],
    [{ instanceUuid: 'nope' }, 'instanceUuid', /UUID/],
    [{ managerId2: 'xyz' }, 'managerId2', /16 bytes/],
    [{ mode: 'dassoc' as never }, 'mode', /preassoc, preassoc-rr, assoc, deassoc/],
    [{ filters: [] }, 'filters', /at least one/],
    [{ filters: [{ vlan: 4096, mac: '52:54:00:11:22:33' }] }, 'filters[0].vlan', /0–4095/],
    [{ filters: [{ vlan: 1 }] }, 'filters[0].mac', /MAC address/],
    [{ filterFormat: 'vlan-mac-group', filters: [{ vlan: 1, mac: '52:54:00:11:22:33', groupId: 0 }] }, 'filters[0].groupId', /1–4294967295/],
    [{ filters: [{ vlan: 1, mac: '52:54:00:11:22:33' }, { vlan: 2, mac: '52:54:00:11:22:33' }] }, 'filters[1].mac', /twice/],
  ];
  for (const [patch, field, msg] of cases) {
    try {
      encodeVsiSet({ ...base, ...patch });
      t.fail(`${field} accepted`);
    } catch (e) {
      t.ok(isQbgError(e), `${field} is a QbgError`);
      t.match(e, { field, message: msg }, field);
    }
  }
  const many = Array.from({ length: 140 }, (_, i) => ({ vlan: 1, mac: `52:54:00:00:00:${i.toString(16).padStart(2, '0')}` }));
  t.throws(() => encodeVsiSet({ ...base, filters: many }), { field: 'filters', message: /at most 4095/ });
});

t.test('query by uuid: cmd 01, ops 15, one query per mode', async (t) => {
  t.equal(encodeVsiQuery('s0', UUID, 'assoc'), `M000080c4C3010000001502s0020000000304uuid0024${UUID}`);
  t.equal(encodeVsiQuery('s0', UUID, 'preassoc').slice(27, 35), '00000001');
});

t.test('attach, ping', async (t) => {
  t.equal(encodeAttach(), 'A80c4');
  const pong = classifyDatagram('R00PPONG18478');
  t.equal(pong.type, 'reply');
  if (pong.type === 'reply') t.equal(parsePong(pong.reply), 18478);
});

// Datagrams exactly as lldpad sent them in the lab.
const EVENT =
  'M000080c4E16009804mode0005assoc06mgrid20001006typeid0007119304709typeidver0001204uuid0024' +
  '11111111-2222-3333-4444-55555555555605hints0001006filter00130-52:54:00:11:22:34';

t.test('events: the decimal level runs into the hex length; pairs decode to a VSI', async (t) => {
  const d = classifyDatagram(EVENT);
  t.equal(d.type, 'event');
  if (d.type !== 'event') return;
  t.equal(d.moduleId, 0x80c4);
  t.equal(d.level, 16);
  t.same(decodeVsiEvent(d.payload), {
    mode: 'assoc',
    managerId2: '0'.repeat(32),
    typeId: 1193047,
    typeIdVersion: 2,
    instanceUuid: UUID,
    hints: 0,
    filterFormat: 'vlan-mac',
    filters: [{ vlan: 0, mac: '52:54:00:11:22:34' }],
  });
  const fail = EVENT.replace('0005assoc', '0007deassoc').replace('hints00010', 'hints00041279').replace('E160098', 'E16009d');
  const f = classifyDatagram(fail);
  if (f.type !== 'event') return t.fail('not an event');
  t.match(decodeVsiEvent(f.payload), { mode: 'deassoc', hints: 1279 });
  t.throws(() => decodeVsiEvent('00ff04mode'), /bad length/);
});

t.test('replies: status, echo and query results', async (t) => {
  const r = classifyDatagram('R05C3020000011c02s000000004');
  t.same(r, { type: 'reply', reply: { status: 5, body: 'C3020000011c02s000000004' } });
  const found =
    'C3010000001502s000000003009804mode0005assoc06mgrid20001006typeid0007119304709typeidver0001204uuid0024' +
    '11111111-2222-3333-4444-55555555555505hints0001006filter00130-52:54:00:11:22:33';
  const vsis = decodeQueryReply(found);
  t.equal(vsis.length, 1);
  t.match(vsis[0], { mode: 'assoc', instanceUuid: '11111111-2222-3333-4444-555555555555', typeId: 1193047, filters: [{ vlan: 0, mac: '52:54:00:11:22:33' }] });
  t.same(decodeQueryReply('C3010000001502s000000001'), [], 'no VSI in that mode');
  t.equal(classifyDatagram('garbage').type, 'other');
});

t.test("manager id as lldpad prints it: a number when only byte 0 is set, else raw bytes", async (t) => {
  t.equal(decodeManagerId2('0'), '0'.repeat(32));
  t.equal(decodeManagerId2('5'), '05' + '0'.repeat(30));
  t.equal(decodeManagerId2('ABCD'), '41424344' + '0'.repeat(24));
  t.equal(decodeManagerId2(''), undefined, 'first byte 0, others not: lldpad prints nothing');
});

t.test('filters back from lldpad, PCP bits dropped from the VLAN', async (t) => {
  t.same(decodeFilter('100'), { format: 'vlan', filter: { vlan: 100 } });
  t.same(decodeFilter(`${(3 << 12) | 100}-52:54:00:11:22:33`), { format: 'vlan-mac', filter: { vlan: 100, mac: '52:54:00:11:22:33' } });
  t.same(decodeFilter('7-52:54:00:AA:BB:01-42'), { format: 'vlan-mac-group', filter: { vlan: 7, mac: '52:54:00:aa:bb:01', groupId: 42 } });
});

t.test('a helper that cannot run: requests end as transport errors, ping says not ok, nothing hangs', async (t) => {
  const c = new Vdp22Client({ python: '/bin/false', watchIntervalMs: 0 });
  t.teardown(() => c.close());
  t.match(await c.request(base), { kind: 'transport-error', message: /lldpad is not reachable: helper exited \(code 1\)/ });
  t.same(await c.ping(), { ok: false });
  t.throws(() => new Vdp22Client({ netns: 'bad ns; reboot' }), { field: 'netns', message: /netns/ });
});
