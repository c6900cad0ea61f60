// The simulated bridge's protocol logic without the network: captured station frames go into a SimBridge on an
// in-memory port; what it sends back is decoded and checked (ACK first, byte-exact answers, duplicate sequence
// numbers, withheld ACKs, retransmission, scenario validation).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeEcpFrame, encodeEcpAck } from '../../src/domain/ecp.js';
import { decodeVdp22Pdu, vsisWithManager } from '../../src/domain/vdp22-tlv.js';
import { decodeLldpFrame } from '../../src/domain/lldp-evb.js';
import type { FramePort } from '../../src/lab/raw-socket.js';
import { parseScenario, ruleFor, SimBridge, type Scenario } from '../../src/lab/simbridge.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'frames');
const frame = (name: string): Buffer =>
  Buffer.from(
    readFileSync(join(DIR, `${name}.hex`), 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('')
      .trim(),
    'hex',
  );

const BRIDGE_MAC = 'f2:85:ee:2c:90:07'; // the captured bridge lldpad's MAC, so answers compare byte for byte

function fakePort(): FramePort & { sent: Buffer[]; deliver(f: Buffer): void } {
  let listener: ((f: Buffer) => void) | undefined;
  const sent: Buffer[] = [];
  return {
    ifname: 'b1',
    mac: BRIDGE_MAC,
    sent,
    send: (f) => void sent.push(Buffer.from(f)),
    onFrame: (l) => ((listener = l), () => (listener = undefined)),
    close: () => undefined,
    deliver: (f) => listener?.(f),
  };
}

// The simulator processes VDP in setImmediate after the ACK; a bare setTimeout(0) may run before it.
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(() => setImmediate(r), ms));

function setup(t: { teardown(fn: () => unknown): void }, scenario: Scenario = {}, firstSequence = 0) {
  const port = fakePort();
  const log: Record<string, any>[] = [];
  const sim = new SimBridge(port, { scenario, firstSequence, log: (e) => log.push(e), lldpIntervalMs: 60_000, ecpAckTimeoutMs: 20 });
  sim.start();
  t.teardown(() => sim.stop());
  port.sent.length = 0; // the LLDPDU sent at start
  return { port, log, sim };
}

t.test('LLDP at start carries the EVB TLV in bridge role', async (t) => {
  const port = fakePort();
  const sim = new SimBridge(port, { log: () => undefined, evb: { rka: 17, rwd: 16 }, lldpIntervalMs: 60_000 });
  sim.start();
  t.teardown(() => sim.stop());
  const l = decodeLldpFrame(port.sent[0]);
  t.ok(l.ok);
  if (l.ok) t.match(l.value.evb, { mode: 'bridge', bridge: { rrcap: true, bgid: true }, rka: 17, rwd: 16, rte: 8, retries: 3 });
});

t.test('accept: ACK first, then an answer identical to bridge lldpad\'s', async (t) => {
  const { port, log } = setup(t);
  port.deliver(frame('vdp-assoc-vlan-mac-request'));
  t.equal(port.sent.length, 1, 'the ACK goes out synchronously, before any VDP processing');
  t.equal(port.sent[0].toString('hex'), encodeEcpAck({ src: BRIDGE_MAC, sequence: 1 }).toString('hex'));
  await tick();
  t.equal(port.sent.length, 2);
  // firstSequence 0 → our first request is sequence 1, as in the capture
  t.equal(port.sent[1].toString('hex'), frame('vdp-assoc-response-success').toString('hex'), 'byte-exact response');
  t.match(log.find((e) => e.event === 'vdp-request'), { mode: 'assoc', typeId: 1193047, keepalive: false, action: 'accept' });
});

t.test('a retransmitted sequence number is ACKed again but processed once', async (t) => {
  const { port, log } = setup(t);
  port.deliver(frame('vdp-assoc-vlan-mac-request'));
  port.deliver(frame('vdp-assoc-vlan-mac-request'));
  await tick();
  const acks = port.sent.filter((f) => decodeEcpFrame(f).ok && (decodeEcpFrame(f) as any).value.header.op === 'ack');
  t.equal(acks.length, 2);
  t.equal(log.filter((e) => e.event === 'vdp-request').length, 1);
  t.equal(log.filter((e) => e.event === 'ecp-duplicate').length, 1);
});

t.test('reject by uuid carries the reason; the VSI is not held', async (t) => {
  const { port, sim } = setup(t, parseScenario({ byUuid: { 'a0a1a2a3-b0b1-c0c1-d0d1-e0e1e2e3e4e5': { action: 'reject', reason: 2 } } }));
  port.deliver(frame('vdp-assoc-vlan-mac-request'));
  await tick();
  const answer = decodeEcpFrame(port.sent[1]);
  t.ok(answer.ok);
  if (!answer.ok) return;
  const pdu = decodeVdp22Pdu(answer.value.payload);
  t.ok(pdu.ok);
  if (pdu.ok) t.equal(vsisWithManager(pdu.value)[0].vsi.status, 0x42);
  t.same(sim.heldVsis(), []);
});

t.test('no-ack withholds the ECP ACK; keepalive-loss ignores the second request of the same mode', async (t) => {
  const a = setup(t, { default: { action: 'no-ack' } });
  a.port.deliver(frame('vdp-assoc-vlan-mac-request'));
  await tick();
  t.equal(a.port.sent.length, 0);
  t.match(a.log.find((e) => e.event === 'ecp-ack-withheld'), { seq: 1, action: 'no-ack' });

  const b = setup(t, { default: { action: 'keepalive-loss' } });
  b.port.deliver(frame('vdp-preassoc-vid-request'));
  await tick();
  b.port.deliver(encodeEcpAck({ src: '86:81:29:f9:91:6b', sequence: 1 })); // station ACKs our answer
  b.port.deliver(frame('vdp-keepalive-request'));
  await tick();
  t.match(b.log.filter((e) => e.event === 'vdp-request').map((e) => e.keepalive), [false, true]);
  t.match(b.log.find((e) => e.event === 'vdp-ignored'), { why: 'keepalive-loss' });
  t.equal(b.log.filter((e) => e.event === 'sent').length, 1, 'only the first request was answered');
});

t.test('end-once answers the first request for a VSI with a de-associate of status 0, the next one as asked', async (t) => {
  const { port, log } = setup(t, { default: { action: 'end-once' } });
  port.deliver(frame('vdp-assoc-vlan-mac-request'));
  await tick();
  port.deliver(encodeEcpAck({ src: '86:81:29:f9:91:6b', sequence: 1 }));
  await tick();
  const modes = (): unknown[] => log.filter((e) => e.event === 'sent' && e.kind === 'vdp-response').map((e) => [e.mode, e.reasonCode]);
  t.same(modes(), [['deassoc', 0]]);
  const again = frame('vdp-assoc-vlan-mac-request');
  again.writeUInt16BE(again.readUInt16BE(16) + 1, 16); // the ECP sequence number: a new frame, not a duplicate
  port.deliver(again);
  await tick();
  t.same(modes(), [['deassoc', 0], ['assoc', 0]]);
});

t.test('unanswered own requests are retransmitted, then given up', async (t) => {
  const { port, log, sim } = setup(t);
  port.deliver(frame('vdp-assoc-max-typeid-request'));
  await tick();
  // no station ACK for our answer: 1 send + 3 retries, 20 ms apart
  await tick(150);
  t.equal(log.filter((e) => e.event === 'ecp-retransmit').length, 3);
  t.match(log.find((e) => e.event === 'ecp-tx-failed'), { attempts: 4, kind: 'vdp-response' });
  // the unsolicited de-associate of a held VSI equals bridge lldpad's, except the sequence number it chose
  t.equal(sim.deassociate('11111111-2222-3333-4444-888888888888'), true);
  const d = port.sent.at(-1)!;
  const want = Buffer.from(frame('vdp-bridge-unsolicited-deassoc'));
  want.writeUInt16BE(d.readUInt16BE(16), 16);
  t.equal(d.toString('hex'), want.toString('hex'));
  t.equal(sim.deassociate('11111111-2222-3333-4444-888888888888'), false, 'no longer held');
});

t.test('scenario validation names the field and the allowed values', async (t) => {
  t.throws(() => parseScenario({ default: { action: 'explode' } }), { field: 'scenario.default.action', code: 'QBG_ERR_ENUM' });
  t.throws(() => parseScenario({ byUuid: { 'not-a-uuid': { action: 'accept' } } }), { field: 'scenario.byUuid', code: 'QBG_ERR_UUID_FORMAT' });
  t.throws(() => parseScenario({ byTypeId: { 16777216: { action: 'accept' } } }), { code: 'QBG_ERR_TYPEID_RANGE' });
  t.throws(() => parseScenario({ default: { action: 'reject', reason: 16 } }), { field: 'scenario.default.reason', code: 'QBG_ERR_INTEGER_RANGE' });
  t.throws(() => parseScenario({ default: { action: 'accept', colour: 1 } }), { code: 'QBG_ERR_UNKNOWN_FIELD' });
  t.throws(() => parseScenario({ other: {} }), { code: 'QBG_ERR_UNKNOWN_FIELD' });
  const s = parseScenario({ default: { action: 'silent' }, byTypeId: { 42: { action: 'reject', reason: 3 } }, byUuid: { 'A0A1A2A3-B0B1-C0C1-D0D1-E0E1E2E3E4E5': { action: 'accept' } } });
  t.same(ruleFor(s, 'a0a1a2a3-b0b1-c0c1-d0d1-e0e1e2e3e4e5', 42), { action: 'accept' }, 'uuid beats type id');
  t.same(ruleFor(s, undefined, 42), { action: 'reject', reason: 3 }, 'type id beats default');
  t.same(ruleFor(s, undefined, 43), { action: 'silent' });
  t.same(ruleFor({}, undefined, undefined), { action: 'accept' }, 'accept when nothing is said');
});

/** A captured station frame with its ECP header word (version | op | subtype) or its VDP payload replaced. */
function withEcpWord(f: Buffer, word: number): Buffer {
  const b = Buffer.from(f);
  b.writeUInt16BE(word, 14);
  return b;
}
function withPayload(f: Buffer, payload: Buffer): Buffer {
  return Buffer.concat([f.subarray(0, 18), payload]);
}

t.test('ECP: another version or an unknown subtype is dropped without an ACK (lldpad ecp22_rx_receiveframe)', async (t) => {
  const { port, log, sim } = setup(t);
  const req = frame('vdp-assoc-vlan-mac-request');
  t.equal(req.readUInt16BE(14), 0x1001, 'captured: version 1, request, subtype VDP');
  port.deliver(withEcpWord(req, 0x2001)); // version 2
  port.deliver(withEcpWord(req, 0x0001)); // version 0
  port.deliver(withEcpWord(req, 0x1005)); // subtype 5: not defined
  port.deliver(withEcpWord(req, 0x1000)); // subtype 0
  await tick();
  t.same(port.sent, [], 'no ACK, no answer');
  t.same(log.filter((e) => e.event === 'vdp-request'), [], 'nothing processed');
  t.same(sim.heldVsis(), []);
  t.match(log.filter((e) => e.event === 'ecp-dropped').map((e) => e.why), [/version 2/, /version 0/, /subtype 5/, /subtype 0/]);
  // the same frame with the right header is taken: the drop was for the header alone
  port.deliver(req);
  await tick();
  t.equal(port.sent.length, 2, 'ACK and answer');
});

t.test('ECP: an ACK of another version does not acknowledge our request', async (t) => {
  const { port, log } = setup(t);
  port.deliver(frame('vdp-assoc-vlan-mac-request'));
  await tick();
  const ours = decodeEcpFrame(port.sent[1]);
  if (!ours.ok) return t.fail('our answer decodes');
  const seq = ours.value.header.sequence;
  const ack = encodeEcpAck({ src: '86:81:29:f9:91:6b', sequence: seq });
  port.deliver(withEcpWord(ack, 0x2401)); // version 2, ack, VDP
  t.equal(log.filter((e) => e.event === 'ecp-acked').length, 0);
  port.deliver(ack);
  t.match(log.filter((e) => e.event === 'ecp-acked'), [{ seq }]);
});

t.test('ECP: PECSP (a defined subtype) is ACKed but carries no VDP', async (t) => {
  const { port, log } = setup(t);
  port.deliver(withEcpWord(frame('vdp-assoc-vlan-mac-request'), 0x1002));
  await tick();
  t.equal(port.sent.length, 1, 'the ACK only');
  const ack = decodeEcpFrame(port.sent[0]);
  t.match(ack, { ok: true, value: { header: { op: 'ack', subtype: 2, sequence: 1 } } });
  t.match(log.find((e) => e.event === 'ecp-unsupported-subtype'), { subtype: 2 });
  t.same(log.filter((e) => e.event === 'vdp-request'), []);
});

t.test('VDP: no manager id TLV first, or two of them: the PDU is dropped whole (ECP ACK, no answer, nothing held)', async (t) => {
  const req = frame('vdp-assoc-vlan-mac-request');
  const payload = req.subarray(18);
  const mgr = payload.subarray(0, 18);
  const vsi = payload.subarray(18);
  const cases: Array<[string, Buffer]> = [
    ['VSI TLV before the manager id TLV', Buffer.concat([vsi, mgr])],
    ['VSI TLV without a manager id TLV', Buffer.from(vsi)],
    ['two manager id TLVs before the VSI TLV', Buffer.concat([mgr, mgr, vsi])],
    ['a second manager id TLV after the VSI TLV', Buffer.concat([mgr, vsi, mgr])],
  ];
  for (const [what, p] of cases) {
    const { port, log, sim } = setup(t);
    port.deliver(withPayload(req, p));
    await tick(5);
    t.equal(port.sent.length, 1, `${what}: the ECP ACK only`);
    t.match(decodeEcpFrame(port.sent[0]), { ok: true, value: { header: { op: 'ack' } } });
    t.same(log.filter((e) => e.event === 'vdp-request'), [], `${what}: no VSI processed`);
    t.same(sim.heldVsis(), [], `${what}: nothing held`);
    t.match(log.find((e) => e.event === 'decode-error'), { protocol: 'vdp', error: /manager id/ });
  }
});

t.test('a request\'s status byte is read as migration hints (M/S), not as hard-error/keep', async (t) => {
  const { port, log, sim } = setup(t);
  port.deliver(frame('vdp-preassoc-rr-group-vid-request')); // vdptool hints=to: status 0x10
  await tick();
  t.match(log.find((e) => e.event === 'vdp-request'), { status: 0x10, hints: { migrateTo: true, migrateFrom: false } });
  t.match(sim.heldVsis(), [{ instanceUuid: '11111111-2222-3333-4444-666666666666', mode: 'preassoc-rr', hints: { migrateTo: true, migrateFrom: false } }]);
  t.match(log.find((e) => e.event === 'sent'), { kind: 'vdp-response', status: 0x40, reasonCode: 0 }, 'answered success, no hard-error bit');
  const b = setup(t);
  b.port.deliver(frame('vdp-assoc-group-mac-vid-two-filters-request')); // hints=from: status 0x20
  await tick();
  t.match(b.log.find((e) => e.event === 'vdp-request'), { status: 0x20, hints: { migrateTo: false, migrateFrom: true } });
});

t.test('assignVlan: a wildcard VID (0) is answered with the VID the bridge chose; a named VID is echoed', async (t) => {
  const { port, log, sim } = setup(t, parseScenario({ default: { action: 'accept', assignVlan: 300 } }));
  port.deliver(frame('vdp-assoc-vlan-mac-request')); // filter 0-52:54:00:11:22:33
  await tick();
  const answer = decodeEcpFrame(port.sent[1]);
  if (!answer.ok) return t.fail('answer decodes');
  const pdu = decodeVdp22Pdu(answer.value.payload);
  if (!pdu.ok) return t.fail('answer PDU decodes');
  t.match(vsisWithManager(pdu.value)[0].vsi.filters, [{ vid: 300, mac: '52:54:00:11:22:33' }]);
  t.match(log.find((e) => e.event === 'sent'), { vids: [300] });
  t.equal(sim.heldVsis().length, 1);
  // the same request with VID 200 named: echoed unchanged (byte for byte, but for the VID field of the request)
  const b = setup(t, parseScenario({ default: { action: 'accept', assignVlan: 300 } }));
  b.port.deliver(frame('vdp-preassoc-vid-request'));
  await tick();
  const want = Buffer.from(frame('vdp-preassoc-vid-response'));
  want.writeUInt16BE(b.port.sent[1].readUInt16BE(16), 16); // our own sequence number
  t.equal(b.port.sent[1].toString('hex'), want.toString('hex'), 'a named VID is not reassigned');
  t.throws(() => parseScenario({ default: { action: 'accept', assignVlan: 4096 } }), { field: 'scenario.default.assignVlan', code: 'QBG_ERR_INTEGER_RANGE' });
  t.throws(() => parseScenario({ default: { action: 'accept', assignVlan: 0 } }), { field: 'scenario.default.assignVlan', code: 'QBG_ERR_INTEGER_RANGE' });
});
