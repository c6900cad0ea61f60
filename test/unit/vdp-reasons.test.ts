import t from 'tap';
import { decodeClifStatus, decodeVdpReason, isVdpSuccess, VDP_REASONS } from '../../src/domain/vdp-reasons.js';

t.test('the table has one entry per (source, code) and every entry has a name and a text', async (t) => {
  const keys = new Set(VDP_REASONS.map((r) => `${r.source}:${r.code}`));
  t.equal(keys.size, VDP_REASONS.length);
  for (const r of VDP_REASONS) {
    t.match(r.name, /^[A-Z][A-Z0-9_]+$/, `${r.source}:${r.code} name`);
    t.ok(r.text.length > 10, `${r.source}:${r.code} text`);
  }
});

t.test('VDP22 (802.1Qbg-2012) reasons from the low nibble of the status', async (t) => {
  t.match(decodeVdpReason(0), { name: 'SUCCESS', success: true });
  t.match(decodeVdpReason(1), { name: 'INVALID_FORMAT', success: false });
  t.match(decodeVdpReason(2), { name: 'INSUFFICIENT_RESOURCES', success: false });
  t.match(decodeVdpReason(3), { name: 'VSI_MANAGER_UNREACHABLE' });
  t.match(decodeVdpReason(4), { name: 'OTHER_FAILURE' });
  t.match(decodeVdpReason(5), { name: 'INVALID_FILTER' });
  t.match(decodeVdpReason(7).text, /unknown reason 7 \(reserved/);
});

t.test('hard and keep bits of the status byte are named', async (t) => {
  const hard = decodeVdpReason(0x12);
  t.equal(hard.name, 'INSUFFICIENT_RESOURCES+HARD_ERROR');
  t.equal(hard.parts.length, 2);
  t.equal(decodeVdpReason(0x21).name, 'INVALID_FORMAT+KEPT_PREVIOUS_STATE');
});

t.test("lldpad's composite response: 1279 = transmission error + no response (uplink down)", async (t) => {
  const r = decodeVdpReason(1279);
  t.equal(r.name, 'TRANSMISSION_ERROR+NO_RESPONSE');
  t.match(r.text, /could not send/);
  t.match(r.text, /no response from the bridge/);
  t.notOk(r.success);
  t.equal(decodeVdpReason(0x2ff).name, 'ACK_TIMEOUT+NO_RESPONSE');
  t.equal(decodeVdpReason(0x3ff).name, 'KEEPALIVE_TIMEOUT+ACK_TIMEOUT+NO_RESPONSE');
  t.equal(decodeVdpReason(0x100).name, 'KEEPALIVE_TIMEOUT', 'vdp22 dialect: 0x100 is an error bit, not a success');
  t.equal(decodeVdpReason(252).name, 'DEASSOCIATED_BY_BRIDGE');
  t.match(decodeVdpReason(0x800).text, /unknown reason 2048/);
});

t.test("kernel IFLA_PORT_RESPONSE dialect ('port'): pre-standard VDP and port-profile values", async (t) => {
  t.match(decodeVdpReason(3, 'port'), { name: 'UNUSED_VTID', success: false });
  t.match(decodeVdpReason(4, 'port'), { name: 'VTID_VIOLATION' });
  t.match(decodeVdpReason(5, 'port'), { name: 'VTID_VERSION_VIOLATION' });
  t.match(decodeVdpReason(6, 'port'), { name: 'OUT_OF_SYNC' });
  t.match(decodeVdpReason(0x100, 'port'), { name: 'PROFILE_SUCCESS', success: true });
  t.match(decodeVdpReason(0x101, 'port'), { name: 'PROFILE_IN_PROGRESS', success: false });
  t.match(decodeVdpReason(0x105, 'port'), { name: 'PROFILE_ERROR' });
  t.match(decodeVdpReason(9, 'port'), { name: 'UNKNOWN', text: 'unknown reason 9' });
  t.ok(isVdpSuccess(0, 'port'));
  t.ok(isVdpSuccess(0x100, 'port'));
  t.notOk(isVdpSuccess(0x100));
});

t.test('codes outside any table decode to a clear unknown entry', async (t) => {
  for (const code of [-19, 0x10000, 1.5, Number.NaN]) {
    const r = decodeVdpReason(code);
    t.equal(r.name, 'UNKNOWN');
    t.equal(r.text, `unknown reason ${String(code)}`);
    t.notOk(r.success);
  }
});

t.test("lldpad client-socket command status (R<status>)", async (t) => {
  t.equal(decodeClifStatus(0).name, 'CMD_SUCCESS');
  t.equal(decodeClifStatus(2).name, 'CMD_DEVICE_NOT_FOUND');
  t.equal(decodeClifStatus(5).name, 'CMD_BAD_PARAMS');
  t.equal(decodeClifStatus(13).name, 'CMD_VDP_NOT_SUPPORTED');
  t.equal(decodeClifStatus(15).name, 'CMD_VDP_BUSY');
  t.match(decodeClifStatus(0x42).text, /unknown reason 66/);
});
