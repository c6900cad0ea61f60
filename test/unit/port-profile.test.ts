// Byte-exact checks of the libvirt↔lldpad netlink messages against layouts written out by hand from
// linux/if_link.h, plus decoding of a GETLINK reply captured from the real lldpad in the lab.
import t from 'tap';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isQbgError } from '../../src/domain/errors.js';
import {
  decodeAttrs,
  decodeLinkReply,
  decodeNetlinkMessages,
  decodeNlError,
  decodeSetLink,
  encodeGetLink,
  encodeSetLink,
  encodeVsiType,
  libvirtSees,
  lldpadProgress,
  modeOfPortRequest,
  portProfileFromVsiRequest,
  portProgress,
  portRequestOf,
  type PortProfileRequest,
} from '../../src/domain/port-profile.js';
import { VDP_REQUEST_MODES, type VsiRequest } from '../../src/domain/vsi-request.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex');
const fixture = (name: string) =>
  hex(readFileSync(fileURLToPath(new URL(`../fixtures/netlink/${name}`, import.meta.url)), 'utf8'));

const UUID = '11111111-2222-3333-4444-555555555555';

t.test('VSI type: mgr_id, type_id least significant byte first, version, 3 pad bytes', async (t) => {
  t.same(encodeVsiType(5, 1193047, 2), hex('05 573412 02 000000'));
  t.same(encodeVsiType(255, 0xffffff, 255), hex('ff ffffff ff 000000'));
  t.same(encodeVsiType(0, 0, 0), hex('00 000000 00 000000'));
});

t.test('SETLINK is byte for byte what libvirt sends for an associate', async (t) => {
  const p: PortProfileRequest = {
    ifindex: 22,
    ifname: 's0',
    request: 2,
    managerId: 5,
    typeId: 1193047,
    typeIdVersion: 2,
    instanceUuid: UUID,
    mac: '52:54:00:11:22:33',
    vlan: 0,
  };
  const want = hex(`
    98000000 1300 0100 78563412 efbeadde          # nlmsghdr: len 152, RTM_SETLINK, NLM_F_REQUEST, seq, pid
    00 00 0000 16000000 00000000 00000000         # ifinfomsg: AF_UNSPEC, ifindex 22
    0700 0300 73300000                            # IFLA_IFNAME "s0\\0" + 1 pad
    4000 1600                                     # IFLA_VFINFO_LIST (64)
      3c00 0100                                   #   IFLA_VF_INFO (60)
        2800 0100 ffffffff 525400112233 0000000000000000000000000000000000000000000000000000  # VF_MAC: vf -1, mac[32]
        1000 0200 ffffffff 00000000 00000000      #   IFLA_VF_VLAN: vf -1, vlan 0, qos 0
    3000 1800                                     # IFLA_VF_PORTS (48)
      2c00 0100                                   #   IFLA_VF_PORT (44)
        0c00 0300 05 573412 02 000000             #     IFLA_PORT_VSI_TYPE
        1400 0400 11111111222233334444555555555555  #   IFLA_PORT_INSTANCE_UUID
        0500 0600 02 000000                       #     IFLA_PORT_REQUEST u8 ASSOCIATE + 3 pad
  `);
  t.same(encodeSetLink(p, 0x12345678, 0xdeadbeef), want);
});

t.test('SETLINK with a VLAN, PREASSOCIATE_RR and no ifname', async (t) => {
  const got = encodeSetLink(
    { ifindex: 3, request: 1, managerId: 0, typeId: 42, typeIdVersion: 1, instanceUuid: UUID, mac: '02:00:00:00:00:01', vlan: 100 },
    1,
    2,
  );
  const want = hex(`
    90000000 1300 0100 01000000 02000000
    00 00 0000 03000000 00000000 00000000
    4000 1600 3c00 0100
      2800 0100 ffffffff 020000000001 0000000000000000000000000000000000000000000000000000
      1000 0200 ffffffff 64000000 00000000
    3000 1800 2c00 0100
      0c00 0300 00 2a0000 01 000000
      1400 0400 11111111222233334444555555555555
      0500 0600 01 000000
  `);
  t.same(got, want);
});

t.test('GETLINK poll: ifinfomsg + IFLA_EXT_MASK = RTEXT_FILTER_VF', async (t) => {
  t.same(
    encodeGetLink(22, 7, 9),
    hex('28000000 1200 0100 07000000 09000000  00000000 16000000 00000000 00000000  0800 1d00 01000000'),
  );
  // by name, as we ask the kernel for the ifindex
  t.same(
    encodeGetLink(0, 1, 2, 's0'),
    hex('30000000 1200 0100 01000000 02000000  00000000 00000000 00000000 00000000  0700 0300 73300000  0800 1d00 01000000'),
  );
});

t.test('the GETLINK reply captured from lldpad 1.1 (two VSIs, one IFLA_VF_PORT each, NLA_F_NESTED set)', async (t) => {
  const reply = decodeLinkReply(fixture('getlink-reply-two-vsis.hex'));
  t.equal(reply.ifindex, 22);
  t.same(reply.vsis, [
    { instanceUuid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', vf: 0xffffffff, response: 0 },
    { instanceUuid: UUID, vf: 0xffffffff, response: 0 },
  ]);
  t.equal(reply.portNests.length, 2);
  t.same(libvirtSees(reply, UUID), { found: true, response: 0 });
  t.same(libvirtSees(reply, 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'), { found: true, response: 0 });
  t.same(libvirtSees(reply, '00000000-0000-0000-0000-000000000001'), { found: false });
});

t.test('a reply with no VSI is just ifinfomsg', async (t) => {
  const reply = decodeLinkReply(hex('00000000 16000000 00000000 00000000'));
  t.same(reply.vsis, []);
  t.same(libvirtSees(reply, UUID), { found: false });
});

t.test('old openlldp layout: one IFLA_VF_PORT repeating UUID/VF/RESPONSE; libvirt sees only the last', async (t) => {
  const payload = hex(`
    00000000 16000000 00000000 00000000
    4800 1880 4400 0180                           # VF_PORTS (72) { VF_PORT (68) {
      1400 0400 aaaaaaaabbbbccccddddeeeeeeeeeeee  0800 0100 ffffffff   # first VSI, no response yet
      1400 0400 11111111222233334444555555555555  0800 0100 ffffffff  0600 0700 0200 0000  # second, reason 2
  `);
  const reply = decodeLinkReply(payload);
  t.same(reply.vsis, [
    { instanceUuid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', vf: 0xffffffff },
    { instanceUuid: UUID, vf: 0xffffffff, response: 2 },
  ]);
  t.same(libvirtSees(reply, UUID), { found: true, response: 2 });
  t.same(libvirtSees(reply, 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'), { found: false }, 'hidden by the last-wins parse');
});

t.test("lldpad's unsolicited SETLINK (REQUEST as u16, nests flagged) decodes to a disassociate", async (t) => {
  const payload = hex(`
    00000000 16000000 00000000 00000000
    0700 0300 73300000
    4000 1680 3c00 0180
      2800 0100 ffffffff 525400112233 0000000000000000000000000000000000000000000000000000
      1000 0200 ffffffff 05000000 00000000
    3800 1880 3400 0180
      0c00 0300 05 573412 02 000000
      1400 0400 11111111222233334444555555555555
      0800 0100 ffffffff
      0600 0600 0300 0000
  `);
  t.same(decodeSetLink(payload), {
    ifindex: 22,
    ifname: 's0',
    mac: '52:54:00:11:22:33',
    vlan: 5,
    qos: 0,
    managerId: 5,
    typeId: 1193047,
    typeIdVersion: 2,
    instanceUuid: UUID,
    vf: 0xffffffff,
    request: 3,
  });
});

t.test('encode → decode round trip for any valid request', async (t) => {
  const macArb = fc
    .uint8Array({ minLength: 6, maxLength: 6 })
    .map((b) => [b[0] & 0xfe, ...b.slice(1)].map((x) => x.toString(16).padStart(2, '0')).join(':'));
  t.doesNotThrow(() =>
  fc.assert(
    fc.property(
      fc.record({
        ifindex: fc.integer({ min: 1, max: 0x7fffffff }),
        request: fc.constantFrom(0, 1, 2, 3),
        managerId: fc.integer({ min: 0, max: 255 }),
        typeId: fc.integer({ min: 0, max: 0xffffff }),
        typeIdVersion: fc.integer({ min: 0, max: 255 }),
        instanceUuid: fc.uuid(),
        mac: macArb,
        vlan: fc.integer({ min: 0, max: 4095 }),
      }),
      (p) => {
        const [m] = decodeNetlinkMessages(encodeSetLink(p as PortProfileRequest, 1, 2));
        const d = decodeSetLink(m.payload);
        return (
          d.ifindex === p.ifindex &&
          d.request === p.request &&
          d.managerId === p.managerId &&
          d.typeId === p.typeId &&
          d.typeIdVersion === p.typeIdVersion &&
          d.instanceUuid === p.instanceUuid &&
          d.mac === p.mac &&
          d.vlan === p.vlan &&
          d.vf === undefined
        );
      },
    ),
  ));
});

t.test('netlink framing: several messages per datagram, errors, truncation', async (t) => {
  const ack = hex('24000000 0200 0000 05000000 07000000 00000000 ' + '00'.repeat(16));
  const err = hex('24000000 0200 0000 06000000 07000000 a3ffffff ' + '00'.repeat(16)); // -93 EPROTONOSUPPORT
  const msgs = decodeNetlinkMessages(Buffer.concat([ack, err]));
  t.same(
    msgs.map((m) => [m.type, m.seq, m.pid, decodeNlError(m.payload)]),
    [
      [2, 5, 7, 0],
      [2, 6, 7, -93],
    ],
  );
  t.throws(() => decodeNetlinkMessages(ack.subarray(0, 30)), { code: 'QBG_ERR_LLDPAD_COMMAND' });
  t.throws(() => decodeAttrs(hex('0900 0100 0102')), { code: 'QBG_ERR_LLDPAD_COMMAND' });
  t.throws(() => decodeLinkReply(hex('0000')), { code: 'QBG_ERR_LLDPAD_COMMAND' });
});

t.test('IFLA_PORT_RESPONSE as libvirt reads it for 802.1Qbg (kernel enum)', async (t) => {
  t.same(portProgress(undefined), { state: 'in-progress' });
  t.same(portProgress(0x101), { state: 'in-progress' });
  t.same(portProgress(0), { state: 'success' });
  t.same(portProgress(0x100), { state: 'success' });
  t.same(portProgress(2), { state: 'failed', code: 2 });
  t.same(portProgress(0x102), { state: 'failed', code: 0x102 });
});

t.test("IFLA_PORT_RESPONSE as qbg reads lldpad's VDP22 value: only 0 is success", async (t) => {
  t.same(lldpadProgress(undefined), { state: 'in-progress' });
  t.same(lldpadProgress(0), { state: 'success' });
  t.same(lldpadProgress(0x100), { state: 'failed', code: 0x100 }, 'keep-alive timeout, not PORT_PROFILE_RESPONSE_SUCCESS');
  t.same(lldpadProgress(0x101), { state: 'failed', code: 0x101 });
  t.same(lldpadProgress(1279), { state: 'failed', code: 1279 });
});

const base: VsiRequest = {
  uplink: 's0',
  mode: 'assoc',
  managerId2: '05000000000000000000000000000000',
  typeId: 1193047,
  typeIdVersion: 2,
  instanceUuid: UUID.toUpperCase(),
  filterFormat: 'vlan-mac',
  filters: [{ vlan: 10, mac: '52:54:00:AA:BB:CC' }],
};

t.test('VsiRequest → port profile: modes, canonical forms', async (t) => {
  t.same(
    VDP_REQUEST_MODES.map((m) => portRequestOf(m)),
    [0, 1, 2, 3],
    'preassoc, preassoc-rr, assoc, deassoc → PORT_REQUEST 0..3',
  );
  for (const m of VDP_REQUEST_MODES) t.equal(modeOfPortRequest(portRequestOf(m)), m);
  t.equal(modeOfPortRequest(9), undefined);
  t.same(portProfileFromVsiRequest(base, 22), {
    ifindex: 22,
    ifname: 's0',
    request: 2,
    managerId: 5,
    typeId: 1193047,
    typeIdVersion: 2,
    instanceUuid: UUID,
    mac: '52:54:00:aa:bb:cc',
    vlan: 10,
  });
});

t.test('what the netlink path cannot express is refused, naming the field', async (t) => {
  const refuse = (req: VsiRequest, field: string) => {
    try {
      portProfileFromVsiRequest(req, 1);
      t.fail(`expected a refusal for ${field}`);
    } catch (e) {
      t.ok(isQbgError(e));
      if (isQbgError(e)) {
        t.equal(e.code, 'QBG_ERR_XML_NOT_EXPRESSIBLE');
        t.equal(e.field, field);
      }
    }
  };
  refuse({ ...base, managerId2: '0000000000000000000000000000ff05' }, 'managerId2');
  refuse({ ...base, managerId2: '00000000000000000000ffff0a000001' }, 'managerId2');
  refuse({ ...base, filterFormat: 'vlan-mac-group' }, 'filterFormat');
  refuse({ ...base, filterFormat: 'vlan', filters: [{ vlan: 10 }] }, 'filterFormat');
  refuse({ ...base, filters: [] }, 'filters');
  refuse({ ...base, filters: [{ vlan: 1, mac: '52:54:00:00:00:01' }, { vlan: 2, mac: '52:54:00:00:00:02' }] }, 'filters');
  refuse({ ...base, filters: [{ vlan: 1 }] }, 'filters');
  t.throws(() => portProfileFromVsiRequest({ ...base, instanceUuid: 'nope' }, 1), { code: 'QBG_ERR_UUID_FORMAT' });
});
