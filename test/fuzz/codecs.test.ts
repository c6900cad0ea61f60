// Property-based bad-input tests of the wire decoders: ECP22, VDP22 TLVs, LLDP/EVB and the netlink port-profile
// messages. Random bytes and real captured frames, mutated (bit flips, inserted/deleted bytes, truncation,
// duplicated slices), must give a typed answer — a DecodeResult, or for netlink a QbgError — never an uncaught
// exception, and always in bounded time (every input is decoded synchronously; a loop would hang the property).
import t from 'tap';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { decodeEcpFrame, decodeEcpHeader, type DecodeResult } from '../../src/domain/ecp.js';
import { decodeVdp22Pdu, encodeVdp22Pdu, encodeVsiTlv, type Vdp22Filter, type Vdp22VsiTlv } from '../../src/domain/vdp22-tlv.js';
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
      const bytes = encodeVsiTlv(v);
      const back = decodeVdp22Pdu(bytes);
      if (!back.ok) throw new Error(`${back.error} at ${back.offset}`);
      const [tlv] = back.value.tlvs;
      const { instanceUuid: _u, ...plain } = tlv as Vdp22VsiTlv;
      // fast-check records have a null prototype: compare as plain objects
      if (!isDeepStrictEqual(plain, { ...v, filters: v.filters.map((f) => ({ ...f })) })) throw new Error(`round trip changed ${JSON.stringify(v)} into ${JSON.stringify(plain)}`);
      if (v.vsiIdFormat === 5 && !(tlv as Vdp22VsiTlv).instanceUuid) throw new Error('UUID format without instanceUuid');
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} VSI TLVs`);
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
