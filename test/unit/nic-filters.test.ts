// The VDP request a NIC makes follows its type's filter format: every one of the four formats of 802.1Qbg 41.2.9
// (vlan, vlan-mac, vlan-group, vlan-mac-group) carries exactly the fields it defines, and the group id of the type.
import t from 'tap';
import { parseNicAssociation, resolveNicParams, vsiRequestFor } from '../../src/domain/nic.js';
import { parseVsiTypeSpec, type FilterFormat } from '../../src/domain/vsi-type.js';
import { encodeVsiSet } from '../../src/lldpad/clif-protocol.js';

const req = parseNicAssociation({ vmUuid: '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c', mac: '52:54:00:12:34:56', uplink: 's0', type: 't', vlan: 200 });

t.test('each filter format makes the filter it defines, and lldpad\'s words for it', async (t) => {
  const cases: Array<[FilterFormat, number | undefined, object, string]> = [
    ['vlan', undefined, { vlan: 200 }, '200'],
    ['vlan-mac', undefined, { vlan: 200, mac: '52:54:00:12:34:56' }, '200-52:54:00:12:34:56'],
    ['vlan-group', 77, { vlan: 200, groupId: 77 }, '200--77'],
    ['vlan-mac-group', 77, { vlan: 200, mac: '52:54:00:12:34:56', groupId: 77 }, '200-52:54:00:12:34:56-77'],
  ];
  for (const [filterFormat, groupId, filter, words] of cases) {
    const type = { ...parseVsiTypeSpec({ name: 't', managerId: 1, typeId: 5, typeIdVersion: 1, filterFormat, ...(groupId ? { groupId } : {}) }), createdAt: '' };
    const vsi = vsiRequestFor(resolveNicParams(req, type), 'assoc');
    t.same(vsi.filters, [filter], filterFormat);
    t.equal(vsi.filterFormat, filterFormat);
    t.match(encodeVsiSet(vsi), new RegExp(`06filter${words.length.toString(16).padStart(4, '0')}${words}$`), `${filterFormat}: filter=${words}`);
  }
});
