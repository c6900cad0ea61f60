// Property-based bad-input tests of the wire decoders: ECP22, VDP22 TLVs, LLDP/EVB and the netlink port-profile
// messages. Random bytes and real captured frames, mutated (bit flips, inserted/deleted bytes, truncation,
// duplicated slices), must give a typed answer — a DecodeResult, or for netlink a QbgError — never an uncaught
// exception, and always in bounded time (every input is decoded synchronously; a loop would hang the property).
import t from 'tap';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { decodeEcpFrame, decodeEcpHeader, type DecodeResult } from '../../src/domain/ecp.js';
import {
  decodeVdp22Pdu,
  decodeVsiId,
  encodeVdp22Pdu,
  encodeVsiId,
  encodeVsiTlv,
  vdp22RequestHints,
  type Vdp22Filter,
  type Vdp22VsiId,
  type Vdp22VsiTlv,
} from '../../src/domain/vdp22-tlv.js';
import { formatIpv6, formatManagerId2, parseManagerId2 } from '../../src/domain/identifiers.js';
import { decodeEvbTlvValue, decodeLldpFrame } from '../../src/domain/lldp-evb.js';
import {
  decodeAttrs,
  decodeLinkReply,
  decodeNetlinkMessages,
  decodeNlError,
  decodeSetLink,
  encodeSetLink,
  libvirtSees,
  type PortProfileRequest,
} from '../../src/domain/port-profile.js';
import { isQbgError } from '../../src/domain/errors.js';
import { hexFixtures, mutatedArb, RUNS } from './arbitraries.js';

const frames = hexFixtures('frames');
const netlink = hexFixtures('netlink');

/** A decode result must be one of the two documented shapes, with an in-range offset on failure. */
function checkResult<T>(r: DecodeResult<T>, len: number): void {
  if (r.ok) {
    if (r.value === undefined) throw new Error('ok result without a value');
    return;
  }
  if (typeof r.error !== 'string' || r.error.length === 0) throw new Error(`failure without a message: ${JSON.stringify(r)}`);
  if (!Number.isInteger(r.offset) || r.offset < 0 || r.offset > len) throw new Error(`offset ${r.offset} outside 0–${len}`);
}

/** Every frame decoder, run on the same bytes (a frame of one kind is garbage to the others). */
function decodeEverything(b: Buffer): void {
  checkResult(decodeEcpFrame(b), b.length);
  checkResult(decodeEcpHeader(b), b.length);
  checkResult(decodeLldpFrame(b), b.length);
  checkResult(decodeEvbTlvValue(b), b.length);
  const ecp = decodeEcpFrame(b);
  if (ecp.ok) checkResult(decodeVdp22Pdu(ecp.value.payload), ecp.value.payload.length);
  checkResult(decodeVdp22Pdu(b), b.length);
  for (let off = 0; off < Math.min(b.length, 20); off++) checkResult(decodeVdp22Pdu(b, off), b.length);
}

t.test('fixtures load (the mutation properties start from real lldpad frames)', async (t) => {
  t.ok(frames.length >= 19, `${frames.length} frame fixtures`);
  t.ok(netlink.length >= 1, `${netlink.length} netlink fixtures`);
  for (const f of frames) {
    const r = f.name.startsWith('lldp') ? decodeLldpFrame(f.bytes) : decodeEcpFrame(f.bytes);
    t.ok(r.ok, `${f.name} decodes unmutated`);
  }
});

t.test('ECP/VDP22/LLDP decoders: random bytes never throw, answer a typed result', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (a) => decodeEverything(Buffer.from(a))),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} random byte strings`);
});

t.test('ECP/VDP22/LLDP decoders: mutated lldpad frames never throw, answer a typed result', async (t) => {
  fc.assert(
    fc.property(mutatedArb(frames), ({ bytes }) => decodeEverything(bytes)),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} mutated frames`);
});

t.test('VDP22: a decoded VSI TLV re-encodes to exactly the bytes it came from (mutated frames)', async (t) => {
  // Whatever the decoder accepts it must describe completely: encode(decode(x)) == x for every accepted VSI TLV.
  let accepted = 0;
  fc.assert(
    fc.property(mutatedArb(frames.filter((f) => f.name.startsWith('vdp'))), ({ bytes }) => {
      const ecp = decodeEcpFrame(bytes);
      if (!ecp.ok) return;
      const pdu = decodeVdp22Pdu(ecp.value.payload);
      if (!pdu.ok) return;
      accepted++;
      const again = encodeVdp22Pdu(pdu.value.tlvs);
      if (!again.equals(ecp.value.payload.subarray(0, again.length))) {
        throw new Error(`re-encoding differs: ${again.toString('hex')} vs ${ecp.value.payload.toString('hex')}`);
      }
    }),
    { numRuns: RUNS },
  );
  t.ok(accepted > 0, `${accepted} of ${RUNS} mutated frames still decoded and re-encoded byte for byte`);
});

const macArb = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':'));
const filterArb = (fmt: number): fc.Arbitrary<Vdp22Filter> =>
  fc
    .record({ vid: fc.integer({ min: 0, max: 4095 }), pcp: fc.integer({ min: 0, max: 7 }), ps: fc.boolean(), mac: macArb, groupId: fc.nat({ max: 0xffffffff }) })
    .map(({ mac, groupId, ...f }) => ({ ...f, ...(fmt === 2 || fmt === 4 ? { mac } : {}), ...(fmt === 3 || fmt === 4 ? { groupId } : {}) }));
const vsiArb: fc.Arbitrary<Vdp22VsiTlv> = fc.integer({ min: 1, max: 4 }).chain((fmt) =>
  fc.record({
    kind: fc.constant('vsi' as const),
    mode: fc.constantFrom('preassoc' as const, 'preassoc-rr' as const, 'assoc' as const, 'deassoc' as const),
    status: fc.integer({ min: 0, max: 255 }),
    typeId: fc.integer({ min: 0, max: 0xffffff }),
    typeIdVersion: fc.integer({ min: 0, max: 255 }),
    vsiIdFormat: fc.integer({ min: 1, max: 255 }),
    vsiId: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
    filterFormat: fc.constant(fmt),
    // the 9-bit TLV length allows at most (511 - 25) / entry filters: 243, 60, 81, 40
    filters: fc.array(filterArb(fmt), { maxLength: Math.floor((511 - 25) / [0, 2, 8, 6, 12][fmt]) }),
  }),
);

t.test('VDP22: valid random VSI TLVs (any id format, up to the 9-bit length limit) round-trip', async (t) => {
  fc.assert(
    fc.property(vsiArb, (v) => {
      const bytes = Buffer.concat([encodeVdp22Pdu([{ kind: 'manager-id', managerId2: '0'.repeat(32) }]), encodeVsiTlv(v)]);
      const back = decodeVdp22Pdu(bytes);
      if (!back.ok) throw new Error(`${back.error} at ${back.offset}`);
      const [, tlv] = back.value.tlvs;
      const { instanceUuid: _u, ...plain } = tlv as Vdp22VsiTlv;
      // fast-check records have a null prototype: compare as plain objects
      if (!isDeepStrictEqual(plain, { ...v, filters: v.filters.map((f) => ({ ...f })) })) throw new Error(`round trip changed ${JSON.stringify(v)} into ${JSON.stringify(plain)}`);
      if (v.vsiIdFormat === 5 && !(tlv as Vdp22VsiTlv).instanceUuid) throw new Error('UUID format without instanceUuid');
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} VSI TLVs`);
});

// --- every format the standard defines: manager id, VSI id, filter info, request hints ---

const byteArb = (n: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b));
const ipv4Arb = byteArb(4).map((b) => Array.from(b, String).join('.'));
const printableArb = fc
  .array(fc.integer({ min: 0x20, max: 0x7e }), { minLength: 1, maxLength: 16 })
  .map((a) => String.fromCharCode(...a))
  .filter((s) => s.trim() === s); // input is trimmed: a name cannot start or end with a space

t.test('manager id: any 16 bytes print in one of the four forms and parse back to the same bytes', async (t) => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(
      fc.oneof(
        byteArb(16),
        byteArb(1).map((b) => Buffer.concat([b, Buffer.alloc(15)])),
        byteArb(4).map((b) => Buffer.concat([Buffer.alloc(10), Buffer.from([0xff, 0xff]), b])),
        printableArb.map((s) => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.alloc(16 - s.length)])),
      ),
      (b) => {
        const hex = b.toString('hex');
        const { format, text } = formatManagerId2(hex);
        seen.add(format);
        if (parseManagerId2(text) !== hex) throw new Error(`${hex} printed as ${format} "${text}" parses to ${parseManagerId2(text)}`);
      },
    ),
    { numRuns: RUNS },
  );
  t.same([...seen].sort(), ['ascii', 'ipv4', 'ipv6', 'number']);
});

t.test('manager id: each written form parses to its layout and prints back as written', async (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.integer({ min: 0, max: 255 }).map((n) => ({ format: 'number', text: String(n), hex: n.toString(16).padStart(2, '0') + '0'.repeat(30) })),
        ipv4Arb.map((a) => ({ format: 'ipv4', text: a, hex: '00000000000000000000ffff' + Buffer.from(a.split('.').map(Number)).toString('hex') })),
        // one character sets only the first byte: that reads as the number form (lldpad prints it as a number too)
        printableArb.filter((s) => s.length > 1).map((s) => ({ format: 'ascii', text: s, hex: Buffer.from(s, 'latin1').toString('hex').padEnd(32, '0') })),
      ),
      ({ format, text, hex }) => {
        const input = format === 'ascii' ? `ascii:${text}` : text;
        if (parseManagerId2(input) !== hex) throw new Error(`${input} → ${parseManagerId2(input)}, want ${hex}`);
        const out = formatManagerId2(hex);
        if (out.format !== format || out.text !== input) throw new Error(`${hex} printed as ${JSON.stringify(out)}`);
      },
    ),
    { numRuns: RUNS },
  );
  t.equal(parseManagerId2('ascii:mgr-web'), '6d67722d776562000000000000000000');
  t.equal(parseManagerId2('ascii:12'), '31320000000000000000000000000000', 'prefixed digits are text, not the number');
  t.throws(() => parseManagerId2('mgr-web'), { code: 'QBG_ERR_MGRID2_FORMAT' }, 'text needs the prefix: a typo is not a name');
  t.same(formatManagerId2('31320000000000000000000000000000'), { format: 'ascii', text: 'ascii:12' });
  t.same(formatManagerId2('20010db8000000000000000000000001'), { format: 'ipv6', text: '2001:db8::1' });
  t.throws(() => parseManagerId2('1.2.3'), { code: 'QBG_ERR_MGRID2_FORMAT' });
  t.throws(() => parseManagerId2('ascii:'), { code: 'QBG_ERR_MGRID2_FORMAT' });
  t.throws(() => parseManagerId2('ascii:a-name-longer-than-16'), { code: 'QBG_ERR_MGRID2_FORMAT' });
  t.throws(() => parseManagerId2('ascii:tab\there'), { code: 'QBG_ERR_MGRID2_FORMAT' }, 'control characters are not printable');
});

const vsiIdArb: fc.Arbitrary<Vdp22VsiId> = fc.oneof(
  ipv4Arb.map((address) => ({ format: 'ipv4' as const, address })),
  byteArb(16).map((b) => ({ format: 'ipv6' as const, address: formatIpv6(b.toString('hex')) })),
  macArb.map((mac) => ({ format: 'mac' as const, mac })),
  byteArb(16).map((b) => ({ format: 'local' as const, value: b.toString('hex') })),
  fc.uuid().map((uuid) => ({ format: 'uuid' as const, uuid })),
);

t.test('VSI id: all five formats round-trip through a VSI TLV on the wire', async (t) => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(vsiIdArb, fc.integer({ min: 1, max: 4 }), (id, filterFormat) => {
      const wire = Buffer.concat([
        encodeVdp22Pdu([{ kind: 'manager-id', managerId2: '0'.repeat(32) }]),
        encodeVsiTlv({ mode: 'assoc', hints: { migrateTo: false, migrateFrom: false }, typeId: 1, typeIdVersion: 1, id, filterFormat, filters: [] }),
      ]);
      const pdu = decodeVdp22Pdu(wire);
      if (!pdu.ok) throw new Error(pdu.error);
      const vsi = pdu.value.tlvs[1] as Vdp22VsiTlv;
      const back = decodeVsiId(vsi.vsiIdFormat, vsi.vsiId);
      if (!back.ok) throw new Error(back.error);
      if (!isDeepStrictEqual(back.value, { ...id })) throw new Error(`${JSON.stringify(id)} came back as ${JSON.stringify(back.value)}`);
      const again = encodeVsiId(back.value);
      if (again.vsiIdFormat !== vsi.vsiIdFormat || again.vsiId !== vsi.vsiId) throw new Error(`re-encoding ${JSON.stringify(back.value)} differs`);
      seen.add(id.format);
    }),
    { numRuns: RUNS },
  );
  t.same([...seen].sort(), ['ipv4', 'ipv6', 'local', 'mac', 'uuid']);
  t.same(encodeVsiId({ format: 'ipv4', address: '192.0.2.7' }), { vsiIdFormat: 1, vsiId: '00000000000000000000ffffc0000207' });
  t.same(encodeVsiId({ format: 'mac', mac: '52:54:00:12:34:56' }), { vsiIdFormat: 3, vsiId: '00000000000000000000525400123456' });
  t.match(decodeVsiId(1, '0'.repeat(32)), { ok: false, error: /IPv4-mapped/ });
  t.match(decodeVsiId(3, 'ff'.repeat(16)), { ok: false, error: /right-aligned/ });
  t.match(decodeVsiId(9, '0'.repeat(32)), { ok: false, error: /format 9 is not 1–5/ });
});

t.test('filter info formats 1–4 and request hints round-trip through a VSI TLV', async (t) => {
  fc.assert(
    fc.property(vsiArb, fc.boolean(), fc.boolean(), (v, migrateTo, migrateFrom) => {
      const { status: _s, ...rest } = v;
      const wire = Buffer.concat([encodeVdp22Pdu([{ kind: 'manager-id', managerId2: '0'.repeat(32) }]), encodeVsiTlv({ ...rest, hints: { migrateTo, migrateFrom } })]);
      const pdu = decodeVdp22Pdu(wire);
      if (!pdu.ok) throw new Error(pdu.error);
      const back = pdu.value.tlvs[1] as Vdp22VsiTlv;
      if (!isDeepStrictEqual(vdp22RequestHints(back.status), { migrateTo, migrateFrom })) throw new Error(`hints ${migrateTo}/${migrateFrom} came back as status ${back.status}`);
      if (back.filterFormat !== v.filterFormat || !isDeepStrictEqual(back.filters, v.filters.map((f) => ({ ...f })))) throw new Error('filters changed');
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} VSI TLVs with every filter format and hint`);
});

// --- netlink (libvirt-style port profile) ---

/** Netlink decoders report malformed input as QbgError (QBG_ERR_LLDPAD_COMMAND); anything else is a bug. */
function typedOrThrow(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!isQbgError(e)) throw e;
    if (e.code !== 'QBG_ERR_LLDPAD_COMMAND') throw new Error(`unexpected code ${e.code}`);
  }
}

function decodeNetlinkEverything(b: Buffer): void {
  typedOrThrow(() => decodeLinkReply(b));
  typedOrThrow(() => decodeSetLink(b));
  typedOrThrow(() => decodeAttrs(b));
  typedOrThrow(() => decodeNlError(b));
  typedOrThrow(() => {
    const reply = decodeLinkReply(b);
    libvirtSees(reply, 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee');
  });
  typedOrThrow(() => {
    for (const m of decodeNetlinkMessages(b)) {
      typedOrThrow(() => decodeSetLink(m.payload));
      typedOrThrow(() => decodeLinkReply(m.payload));
    }
  });
}

const setLinkArb: fc.Arbitrary<PortProfileRequest> = fc.record({
  ifindex: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  ifname: fc.stringMatching(/^[a-z][a-z0-9]{0,14}$/),
  mac: macArb,
  vlan: fc.integer({ min: 0, max: 4095 }),
  request: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<PortProfileRequest['request']>,
  managerId: fc.integer({ min: 0, max: 255 }),
  typeId: fc.integer({ min: 0, max: 0xffffff }),
  typeIdVersion: fc.integer({ min: 0, max: 255 }),
  instanceUuid: fc.uuid(),
}) as unknown as fc.Arbitrary<PortProfileRequest>;

t.test('netlink: random bytes and mutated GETLINK replies / SETLINK messages only ever fail with QBG_ERR_LLDPAD_COMMAND', async (t) => {
  // real bases: the checked-in GETLINK reply, and SETLINKs as libvirt would send them (encodeSetLink)
  const bases = [...netlink];
  fc.sample(setLinkArb, { numRuns: 8, seed: 42 }).forEach((p, i) => {
    try {
      bases.push({ name: `setlink-${i}`, bytes: encodeSetLink(p, i + 1, 1234) });
    } catch (e) {
      t.fail(`encodeSetLink refused a valid request: ${(e as Error).message}`);
    }
  });
  t.ok(bases.length >= 9);
  fc.assert(
    fc.property(fc.oneof(mutatedArb(bases), fc.uint8Array({ maxLength: 400 }).map((a) => ({ name: 'random', bytes: Buffer.from(a) }))), ({ bytes }) =>
      decodeNetlinkEverything(bytes),
    ),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} netlink inputs`);
});
