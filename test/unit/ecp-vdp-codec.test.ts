// ECP22 / VDP22 / LLDP-EVB codec: byte-exact against frames lldpad sent in the lab (test/fixtures/frames, one
// case per file, `# expect:` = what the vdptool command line that produced the frame asked for), round trips of
// generated values, and decoders that survive random and mutated input.
import t from 'tap';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  decodeEcpFrame,
  decodeEcpHeader,
  encodeEcpAck,
  encodeEcpFrame,
  encodeEcpHeader,
  nextEcpSequence,
  type DecodeResult,
  type EcpHeader,
} from '../../src/domain/ecp.js';
import {
  decodeVdp22Pdu,
  describeVdp22Status,
  encodeVdp22Pdu,
  encodeVsiTlv,
  vdp22BridgeDeassociate,
  vdp22RequestHints,
  vdp22RequestStatus,
  vdp22Response,
  vsisWithManager,
  type Vdp22Filter,
  type Vdp22Tlv,
  type Vdp22VsiTlv,
} from '../../src/domain/vdp22-tlv.js';
import {
  bridgeLldpTlvs,
  decodeEvbTlvValue,
  decodeLldpFrame,
  encodeEvbTlvValue,
  encodeLldpFrame,
  type EvbTlv,
} from '../../src/domain/lldp-evb.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'frames');

interface Fixture {
  name: string;
  bytes: Buffer;
  expect: Record<string, any>;
}

function loadFixtures(): Fixture[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.hex'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(DIR, f), 'utf8');
      const expectLine = text.split('\n').find((l) => l.startsWith('# expect: '));
      if (!expectLine) throw new Error(`${f} has no "# expect:" line`);
      const hex = text
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('')
        .replace(/\s+/g, '');
      return { name: f.replace(/\.hex$/, ''), bytes: Buffer.from(hex, 'hex'), expect: JSON.parse(expectLine.slice(10)) };
    });
}

function must<T>(r: DecodeResult<T>, what: string): T {
  if (!r.ok) throw new Error(`${what}: ${r.error} at ${r.offset}`);
  return r.value;
}

const fixtures = loadFixtures();
const byName = new Map(fixtures.map((f) => [f.name, f]));

t.test('fixtures are present: ECP requests, ACKs, responses, unsolicited deassoc, LLDP', async (t) => {
  t.ok(fixtures.length >= 19, `found ${fixtures.length} fixture files`);
  t.ok(fixtures.some((f) => f.expect.kind === 'lldp'));
  t.ok(fixtures.some((f) => f.expect.op === 'ack'));
});

for (const fx of fixtures) {
  t.test(`fixture ${fx.name}`, async (t) => {
    const e = fx.expect;
    if (e.kind === 'ecp') {
      const frame = must(decodeEcpFrame(fx.bytes), 'ECP frame');
      t.equal(frame.dst, e.dst);
      t.equal(frame.src, e.src);
      t.same(frame.header, { version: 1, op: e.op, subtype: 1, sequence: e.seq });
      const pdu = must(decodeVdp22Pdu(frame.payload), 'VDP22 TLVs');
      if (e.op === 'ack') {
        t.equal(frame.payload.length, 0, 'an ACK is the bare header');
        t.same(pdu.tlvs, []);
      } else {
        t.equal(pdu.ended, false, 'lldpad sends no End TLV');
        t.same(
          pdu.tlvs.map((x) => x.kind),
          ['manager-id', 'vsi'],
          'manager id TLV first, then one VSI TLV',
        );
        const [pair] = vsisWithManager(pdu);
        const v = pair.vsi;
        t.same(
          {
            managerId2: pair.managerId2,
            mode: v.mode,
            status: v.status,
            typeId: v.typeId,
            typeIdVersion: v.typeIdVersion,
            instanceUuid: v.instanceUuid,
            filterFormat: v.filterFormat,
            filters: v.filters,
          },
          e.vsi,
        );
        t.equal(v.vsiIdFormat, 5, 'UUID VSI id format');
        if (fx.name.endsWith('-request')) {
          t.same(vdp22RequestHints(v.status), { migrateTo: (v.status & 0x10) !== 0, migrateFrom: (v.status & 0x20) !== 0 });
          t.equal(v.status & ~0x30, 0, 'lldpad sets no bit but M and S in a request');
        }
      }
      // byte-exact: what we encode from the decoded values is what lldpad put on the wire
      const again = encodeEcpFrame({ dst: frame.dst, src: frame.src, header: frame.header, payload: encodeVdp22Pdu(pdu.tlvs) });
      t.equal(again.toString('hex'), fx.bytes.toString('hex'), 're-encodes byte for byte');
      if (e.op === 'ack') {
        t.equal(encodeEcpAck({ src: frame.src, sequence: e.seq }).toString('hex'), fx.bytes.toString('hex'));
      }
    } else {
      const lldp = must(decodeLldpFrame(fx.bytes), 'LLDP frame');
      t.equal(lldp.dst, e.dst);
      t.equal(lldp.src, e.src);
      t.equal(lldp.ttl, e.ttl);
      t.same(lldp.evb, e.evb);
      t.equal(lldp.chassisId.subtype, 4);
      t.equal(lldp.portId.subtype, 3);
      // lldpad builds chassis id, port id, TTL, EVB, End and pads to 60 bytes: so do we
      const again = encodeLldpFrame({ dst: e.dst, src: e.src, tlvs: bridgeLldpTlvs({ mac: e.src, ttl: e.ttl, evb: e.evb as EvbTlv }) });
      t.equal(again.toString('hex'), fx.bytes.toString('hex'), 're-encodes byte for byte');
    }
  });
}

function vsiOf(name: string): { managerId2: string; vsi: Vdp22VsiTlv; seq: number } {
  const fx = byName.get(name);
  if (!fx) throw new Error(`fixture ${name} missing`);
  const frame = must(decodeEcpFrame(fx.bytes), name);
  const [pair] = vsisWithManager(must(decodeVdp22Pdu(frame.payload), name));
  return { managerId2: pair.managerId2!, vsi: pair.vsi, seq: frame.header.sequence };
}

t.test('our bridge answer to each captured request equals bridge lldpad\'s answer byte for byte', async (t) => {
  const pairs = fixtures.filter((f) => f.name.endsWith('-request') && byName.has(f.name.replace(/-request$/, '-response')));
  t.ok(pairs.length >= 5, `${pairs.length} request/response pairs`);
  for (const req of pairs) {
    const resName = req.name.replace(/-request$/, '-response');
    const r = vsiOf(req.name);
    const answer = encodeEcpFrame({
      dst: '01:80:c2:00:00:00',
      src: must(decodeEcpFrame(byName.get(resName)!.bytes), resName).src,
      header: { version: 1, op: 'request', subtype: 1, sequence: vsiOf(resName).seq },
      payload: encodeVdp22Pdu([{ kind: 'manager-id', managerId2: r.managerId2 }, vdp22Response(r.vsi, 0)]),
    });
    t.equal(answer.toString('hex'), byName.get(resName)!.bytes.toString('hex'), resName);
  }
});

t.test('an unsolicited de-associate built from the held VSI equals bridge lldpad\'s', async (t) => {
  const held = vsiOf('vdp-assoc-max-typeid-response');
  const captured = byName.get('vdp-bridge-unsolicited-deassoc')!;
  const frame = must(decodeEcpFrame(captured.bytes), 'deassoc');
  const ours = encodeEcpFrame({
    dst: frame.dst,
    src: frame.src,
    header: frame.header,
    payload: encodeVdp22Pdu([{ kind: 'manager-id', managerId2: held.managerId2 }, vdp22BridgeDeassociate(held.vsi)]),
  });
  t.equal(ours.toString('hex'), captured.bytes.toString('hex'));
  t.equal(describeVdp22Status(vsiOf('vdp-bridge-unsolicited-deassoc').vsi.status).response, false, 'no response bit');
});

t.test('status byte', async (t) => {
  t.same(describeVdp22Status(0x42), {
    response: true,
    keep: false,
    hard: false,
    reasonCode: 2,
    reason: 'Insufficient resources at bridge',
  });
  t.same(describeVdp22Status(0x70), { response: true, keep: true, hard: true, reasonCode: 0, reason: 'Success' });
  t.equal(describeVdp22Status(0x4f).reason, 'reason 15');
  const req = vsiOf('vdp-preassoc-rr-group-vid-request').vsi;
  t.equal(req.status, 0x10, 'hint M (migrate to) in the request');
  t.same(vdp22RequestHints(req.status), { migrateTo: true, migrateFrom: false }, 'a request\'s 0x10 is M, not a hard error');
  t.same(vdp22RequestHints(0x20), { migrateTo: false, migrateFrom: true }, 'a request\'s 0x20 is S, not keep');
  t.equal(vdp22RequestStatus({ migrateTo: true, migrateFrom: false }), 0x10);
  const { status: _s, ...noStatus } = req;
  t.equal(
    encodeVsiTlv({ ...noStatus, hints: { migrateTo: true, migrateFrom: false } }).toString('hex'),
    encodeVsiTlv(req).toString('hex'),
    'a request encoded from its hints is the captured one',
  );
  t.throws(() => encodeVsiTlv({ ...req, hints: { migrateTo: false, migrateFrom: false } }), /status byte or request hints/);
  t.equal(vdp22Response(req, 2).status, 0x42, 'response drops the hints, carries the reason');
  t.equal(vdp22Response(req, 4, { keep: true }).status, 0x64);
  t.throws(() => vdp22Response(req, 16), RangeError);
});

t.test('ECP header and sequence numbers', async (t) => {
  const h: EcpHeader = { version: 1, op: 'ack', subtype: 1, sequence: 0xfffe };
  t.equal(encodeEcpHeader(h).toString('hex'), '1401fffe');
  t.same(must(decodeEcpHeader(Buffer.from('1001abcd', 'hex')), 'hdr'), { version: 1, op: 'request', subtype: 1, sequence: 0xabcd });
  const bad = decodeEcpHeader(Buffer.from('1801abcd', 'hex'));
  t.match(bad, { ok: false, error: /operation 2/, offset: 0 });
  t.equal(nextEcpSequence(1), 2);
  t.equal(nextEcpSequence(0xffff), 1, 'lldpad skips 0 on wrap');
  t.throws(() => encodeEcpHeader({ ...h, sequence: 0x10000 }), RangeError);
});

t.test('decoder errors name what is wrong and where', async (t) => {
  const req = byName.get('vdp-assoc-vlan-mac-request')!.bytes;
  t.match(decodeEcpFrame(req.subarray(0, 10)), { ok: false, error: /Ethernet header truncated/, offset: 0 });
  t.match(decodeEcpFrame(req.subarray(0, 16)), { ok: false, error: /ECP header truncated/, offset: 14 });
  const lldp = byName.get('lldp-evb-bridge')!.bytes;
  t.match(decodeEcpFrame(lldp), { ok: false, error: /0x88cc is not ECP/, offset: 12 });
  t.match(decodeLldpFrame(req), { ok: false, error: /0x8940 is not LLDP/ });
  const payload = Buffer.from(must(decodeEcpFrame(req), 'req').payload);
  // payload: manager id TLV (18 bytes) then VSI TLV header at 18
  t.match(decodeVdp22Pdu(payload.subarray(0, payload.length - 1)), {
    ok: false,
    error: /runs past the end/,
    offset: 18,
  });
  const wrongCount = Buffer.from(payload);
  wrongCount.writeUInt16BE(2, 18 + 2 + 23); // claims 2 filters, carries 1
  t.match(decodeVdp22Pdu(wrongCount), { ok: false, error: /does not match 2 filter entries/, offset: 18 });
  const wrongFormat = Buffer.from(payload);
  wrongFormat[18 + 2 + 22] = 9;
  t.match(decodeVdp22Pdu(wrongFormat), { ok: false, error: /filter format 9/, offset: 42 });
  const shortMgr = Buffer.from('0a0f' + '00'.repeat(15), 'hex');
  t.match(decodeVdp22Pdu(shortMgr), { ok: false, error: /manager id TLV length 15/, offset: 0 });
  t.match(decodeVdp22Pdu(Buffer.from([0x0a])), { ok: false, error: /header truncated/, offset: 0 });
  const withEnd = must(decodeVdp22Pdu(Buffer.concat([payload, Buffer.alloc(10)])), 'padded');
  t.equal(withEnd.ended, true, 'zero padding reads as End TLV');
  t.equal(withEnd.tlvs.length, 2);
  const noEnd = Buffer.from(lldp.subarray(0, 14 + 9 + 9 + 4 + 11));
  t.match(decodeLldpFrame(noEnd), { ok: false, error: /no End TLV/ });
  const evbValue = encodeEvbTlvValue(must(decodeLldpFrame(lldp), 'lldp').evb!);
  t.match(decodeEvbTlvValue(evbValue.subarray(0, 8)), { ok: false, error: /length 8 is not 9/ });
});

const macArb = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':'));
const filterArb = (fmt: number): fc.Arbitrary<Vdp22Filter> =>
  fc
    .record({ vid: fc.integer({ min: 0, max: 4095 }), pcp: fc.integer({ min: 0, max: 7 }), ps: fc.boolean(), mac: macArb, groupId: fc.nat({ max: 0xffffffff }) })
    .map(({ mac, groupId, ...rest }) => ({
      ...rest,
      ...(fmt === 3 || fmt === 4 ? { groupId } : {}),
      ...(fmt === 2 || fmt === 4 ? { mac } : {}),
    }));
const vsiArb: fc.Arbitrary<Vdp22VsiTlv> = fc.integer({ min: 1, max: 4 }).chain((fmt) =>
  fc.record({
    kind: fc.constant('vsi' as const),
    mode: fc.constantFrom('preassoc' as const, 'preassoc-rr' as const, 'assoc' as const, 'deassoc' as const),
    status: fc.integer({ min: 0, max: 255 }),
    typeId: fc.integer({ min: 0, max: 0xffffff }),
    typeIdVersion: fc.integer({ min: 0, max: 255 }),
    vsiIdFormat: fc.constant(5),
    instanceUuid: fc.uuid(),
    filterFormat: fc.constant(fmt),
    filters: fc.array(filterArb(fmt), { minLength: 0, maxLength: 20 }),
  }).map((v) => ({ ...v, vsiId: v.instanceUuid.replace(/-/g, '') })),
);
const mgrArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex'));

const mgrTlvArb = mgrArb.map((m): Vdp22Tlv => ({ kind: 'manager-id', managerId2: m }));

t.test('VDP22 round trip of generated PDUs (one manager id TLV first, then VSI TLVs)', async (t) => {
  fc.assert(
    fc.property(mgrTlvArb, fc.array(vsiArb, { maxLength: 5 }), (mgr, vsis) => {
      const tlvs = [mgr, ...vsis];
      const bytes = encodeVdp22Pdu(tlvs);
      const back = decodeVdp22Pdu(bytes);
      if (!back.ok) return false;
      t.same(back.value.tlvs, tlvs);
      return encodeVdp22Pdu(back.value.tlvs).equals(bytes);
    }),
    { numRuns: 300 },
  );
});

t.test('a PDU whose first TLV is not the manager id TLV, or with two of them, is refused whole', async (t) => {
  const req = vsiOf('vdp-assoc-vlan-mac-request');
  const mgr: Vdp22Tlv = { kind: 'manager-id', managerId2: req.managerId2 };
  const raw: Vdp22Tlv = { kind: 'raw', type: 0x7f, value: Buffer.from('0080c2', 'hex') };
  t.match(decodeVdp22Pdu(encodeVdp22Pdu([req.vsi])), { ok: false, error: /first TLV is type 3, not the manager id TLV/, offset: 0 });
  t.match(decodeVdp22Pdu(encodeVdp22Pdu([raw, mgr, req.vsi])), { ok: false, error: /first TLV is type 127/, offset: 0 });
  t.match(decodeVdp22Pdu(encodeVdp22Pdu([mgr, mgr, req.vsi])), { ok: false, error: /second manager id TLV/, offset: 18 });
  t.match(decodeVdp22Pdu(encodeVdp22Pdu([mgr, req.vsi, mgr])), { ok: false, error: /second manager id TLV/, offset: 18 + 2 + 33 });
  t.match(decodeVdp22Pdu(encodeVdp22Pdu([mgr, req.vsi, raw])), { ok: true }, 'an organizational TLV after the manager id is kept');
  t.match(decodeVdp22Pdu(Buffer.alloc(0)), { ok: true, value: { tlvs: [] } }, 'an ACK\'s empty payload');
  // every list of TLVs decodes exactly when it starts with the one manager id TLV
  fc.assert(
    fc.property(fc.array(fc.oneof(vsiArb, mgrTlvArb), { minLength: 1, maxLength: 5 }), (tlvs) => {
      const valid = tlvs[0].kind === 'manager-id' && tlvs.filter((x) => x.kind === 'manager-id').length === 1;
      return decodeVdp22Pdu(encodeVdp22Pdu(tlvs)).ok === valid;
    }),
    { numRuns: 300 },
  );
});

t.test('a VSI TLV with too many filters for the 9-bit length is refused at encode time', async (t) => {
  const v = vsiOf('vdp-assoc-vlan-mac-request').vsi;
  t.throws(() => encodeVsiTlv({ ...v, filters: Array(61).fill(v.filters[0]) }), /TLV length/);
  t.doesNotThrow(() => encodeVsiTlv({ ...v, filters: Array(60).fill(v.filters[0]) }));
});

const evbArb: fc.Arbitrary<EvbTlv> = fc.record({
  bridge: fc.record({ bgid: fc.boolean(), rrcap: fc.boolean(), rrctr: fc.boolean() }),
  station: fc.record({ sgid: fc.boolean(), rrreq: fc.boolean(), rrstat: fc.integer({ min: 0, max: 3 }) }),
  retries: fc.integer({ min: 0, max: 7 }),
  rte: fc.integer({ min: 0, max: 31 }),
  mode: fc.constantFrom('none' as const, 'bridge' as const, 'station' as const, 'reserved' as const),
  rwdRemote: fc.boolean(),
  rwd: fc.integer({ min: 0, max: 31 }),
  rkaRemote: fc.boolean(),
  rka: fc.integer({ min: 0, max: 31 }),
});

t.test('LLDP + EVB round trip of generated values', async (t) => {
  fc.assert(
    fc.property(evbArb, macArb, fc.integer({ min: 0, max: 65535 }), (evb, mac, ttl) => {
      const frame = encodeLldpFrame({ src: mac, tlvs: bridgeLldpTlvs({ mac, ttl, evb }) });
      const back = decodeLldpFrame(frame);
      if (!back.ok) return false;
      t.same(back.value.evb, evb);
      return back.value.ttl === ttl && back.value.src === mac && frame.length === 60;
    }),
    { numRuns: 300 },
  );
});

function checkResult(r: DecodeResult<unknown>, len: number): boolean {
  if (r.ok) return true;
  return typeof r.error === 'string' && r.error.length > 0 && Number.isInteger(r.offset) && r.offset >= 0 && r.offset <= len;
}

function decodeEverything(b: Uint8Array): boolean {
  const ecp = decodeEcpFrame(b);
  let ok = checkResult(ecp, b.length) && checkResult(decodeLldpFrame(b), b.length);
  ok = ok && checkResult(decodeVdp22Pdu(b), b.length) && checkResult(decodeEvbTlvValue(b), b.length);
  if (ecp.ok) ok = ok && checkResult(decodeVdp22Pdu(ecp.value.payload), ecp.value.payload.length);
  return ok;
}

t.test('decoders never throw on random bytes', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => decodeEverything(b)), { numRuns: 2000 });
  t.pass('2000 random inputs decoded or refused with an error and an offset');
});

t.test('decoders never throw on mutated captured frames', async (t) => {
  const seeds = fixtures.map((f) => f.bytes);
  fc.assert(
    fc.property(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.nat(),
      (seed, flips, cut) => {
        const b = Buffer.from(seed);
        for (const [pos, val] of flips) b[pos % b.length] = val;
        return decodeEverything(b) && decodeEverything(b.subarray(0, cut % (b.length + 1)));
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('3000 mutated frames');
});
