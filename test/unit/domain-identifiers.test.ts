// Every range check in one place, every error naming the field and the allowed range.
import t from 'tap';
import {
  parseManagerId, parseManagerId2, parseTypeId, parseTypeIdVersion, parseVlan, parseMac, parseUuid, managerId2ToByte, parseIfname,
} from '../../src/domain/identifiers.js';
import { parseVsiTypeSpec, specToProfile, vlanAllowed, formatVlanRanges } from '../../src/domain/vsi-type.js';

t.test('libvirt ranges: managerid 0–255, typeid 24 bit, typeidversion 0–255', async (t) => {
  t.equal(parseManagerId(0), 0);
  t.equal(parseManagerId('255'), 255);
  t.throws(() => parseManagerId(256), { code: 'QBG_ERR_MANAGER_ID_RANGE', field: 'managerId', message: /0–255, got 256/ });
  t.equal(parseTypeId(16777215), 16777215);
  t.throws(() => parseTypeId(16777216), { code: 'QBG_ERR_TYPEID_RANGE', message: /0–16777215/ });
  t.throws(() => parseTypeId(-1), { code: 'QBG_ERR_TYPEID_RANGE' });
  t.throws(() => parseTypeId(1.5), { code: 'QBG_ERR_TYPEID_RANGE' });
  t.equal(parseTypeIdVersion('7'), 7);
  t.throws(() => parseTypeIdVersion(256), { code: 'QBG_ERR_TYPEID_VERSION_RANGE', message: /0–255/ });
  t.throws(() => parseVlan(4096, 'vlan'), { code: 'QBG_ERR_VLAN_RANGE', message: /vlan must be a VLAN id 0–4095, got 4096/ });
});

t.test('VDP22 16-byte manager id: hex, number, IPv4, IPv6', async (t) => {
  t.equal(parseManagerId2(12), '0c000000000000000000000000000000', 'one byte goes first, as lldpad stores it');
  t.equal(parseManagerId2('10.0.0.1'), '00000000000000000000ffff0a000001');
  t.equal(parseManagerId2('2001:db8::1'), '20010db8000000000000000000000001');
  t.equal(parseManagerId2('FFEEDDCCBBAA99887766554433221100'), 'ffeeddccbbaa99887766554433221100');
  t.throws(() => parseManagerId2('2001:db8::1::2'), { code: 'QBG_ERR_MGRID2_FORMAT' });
  t.throws(() => parseManagerId2('300'), { code: 'QBG_ERR_MGRID2_FORMAT' });
  t.equal(managerId2ToByte(parseManagerId2(200)), 200);
  t.equal(managerId2ToByte(parseManagerId2('10.0.0.1')), undefined, 'an address does not fit libvirt\'s one byte');
});

t.test('MAC, UUID and interface names are canonicalised or refused', async (t) => {
  t.equal(parseMac('52-54-00-AA-bb-01'), '52:54:00:aa:bb:01');
  t.throws(() => parseMac('01:00:5e:00:00:01'), { code: 'QBG_ERR_MAC_FORMAT', message: /multicast/ });
  t.throws(() => parseMac('52:54:00:aa:bb'), { code: 'QBG_ERR_MAC_FORMAT' });
  // the group bit of every first octet, in both cases and both spellings (the canonical fast path and the other)
  for (let octet = 0; octet < 256; octet++) {
    const hex = octet.toString(16).padStart(2, '0');
    for (const mac of [`${hex}:54:00:aa:bb:01`, `${hex.toUpperCase()}-54-00-AA-BB-01`]) {
      if (octet & 1) t.throws(() => parseMac(mac), { code: 'QBG_ERR_MAC_FORMAT', message: /multicast/ }, mac);
      else t.equal(parseMac(mac), `${hex}:54:00:aa:bb:01`, mac);
    }
  }
  t.equal(parseUuid('8C6F9E6E2D0B4A4E9B3E0E5F1F2A3B4C'), '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c');
  t.throws(() => parseUuid('not-a-uuid', 'vmUuid'), { code: 'QBG_ERR_UUID_FORMAT', field: 'vmUuid' });
  t.equal(parseIfname('eth0.100'), 'eth0.100');
  t.throws(() => parseIfname('eth0; rm -rf /'), { code: 'QBG_ERR_FIELD_TYPE' });
  t.throws(() => parseIfname('a-very-long-interface-name'), { code: 'QBG_ERR_FIELD_TYPE' });
});

t.test('VSI type spec: canonical form, unknown fields refused, round trip through the profile form', async (t) => {
  const spec = parseVsiTypeSpec({ name: 'web-tier', managerId: 12, typeId: 1193047, typeIdVersion: 2, allowedVlans: ['200-210', 100, 205] });
  t.equal(spec.managerId2, '0c000000000000000000000000000000');
  t.equal(spec.filterFormat, 'vlan-mac');
  t.equal(formatVlanRanges(spec.allowedVlans), '100,200-210', 'ranges sorted and merged');
  t.ok(vlanAllowed(spec, 205));
  t.notOk(vlanAllowed(spec, 150));
  t.same(parseVsiTypeSpec(specToProfile(spec)), spec, 'profile form parses back to the same spec');
  t.throws(() => parseVsiTypeSpec({ name: 'x', managerId: 1, typeId: 1, typeIdVersion: 1, typeid: 3 }), { code: 'QBG_ERR_UNKNOWN_FIELD', field: 'typeid' });
  t.throws(() => parseVsiTypeSpec({ name: 'x', typeId: 1, typeIdVersion: 1 }), { code: 'QBG_ERR_FIELD_REQUIRED', field: 'managerId' });
  t.throws(() => parseVsiTypeSpec({ name: 'x', managerId: 1, typeId: 1, typeIdVersion: 1, allowedVlans: ['10-5'] }), { code: 'QBG_ERR_FIELD_TYPE', field: 'allowedVlans[0]' });
  t.throws(() => parseVsiTypeSpec({ name: 'x', managerId: 1, managerId2: 2, typeId: 1, typeIdVersion: 1 }), { code: 'QBG_ERR_BAD_REQUEST', field: 'managerId2' });
  t.throws(() => parseVsiTypeSpec({ name: 'x', managerId: 1, typeId: 1, typeIdVersion: 1, filterFormat: 'vlan-mac-group' }), { code: 'QBG_ERR_FIELD_REQUIRED', field: 'groupId' });
  // format 3 (GroupID/VID): a type can ask for it and names its group, as with vlan-mac-group
  const grp = parseVsiTypeSpec({ name: 'grp', managerId: 1, typeId: 1, typeIdVersion: 1, filterFormat: 'vlan-group', groupId: 77 });
  t.match(grp, { filterFormat: 'vlan-group', groupId: 77 });
  t.same(parseVsiTypeSpec(specToProfile(grp)), grp, 'vlan-group round-trips through the profile form');
  t.throws(() => parseVsiTypeSpec({ name: 'x', managerId: 1, typeId: 1, typeIdVersion: 1, filterFormat: 'vlan-group' }), { code: 'QBG_ERR_FIELD_REQUIRED', field: 'groupId', message: /vlan-group/ });
  t.throws(() => parseVsiTypeSpec({ name: 'x', managerId: 1, typeId: 1, typeIdVersion: 1, filterFormat: 'vlan-group', groupId: 0 }), { code: 'QBG_ERR_INTEGER_RANGE', field: 'groupId', message: /1–4294967295/ }, 'lldpad reads group id 0 as "no group"');
  t.throws(() => parseVsiTypeSpec({ name: 'x', managerId: 1, typeId: 1, typeIdVersion: 1, filterFormat: 'vlan', groupId: 5 }), { code: 'QBG_ERR_BAD_REQUEST', field: 'groupId', message: /vlan-group or vlan-mac-group/ });
  const v6 = parseVsiTypeSpec({ name: 'ipv6-mgr', managerId2: '2001:db8::10', typeId: 5, typeIdVersion: 1 });
  t.equal(v6.managerId, undefined, 'a 16-byte manager id has no libvirt one-byte form');
});
