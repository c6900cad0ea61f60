// libvirt's virtualport merge rules (virNetDevVPortProfileMerge3) as a pure function. The XML-level cases live in
// test/fixtures/libvirt/merge-*; here the rules themselves, level by level.
import t from 'tap';
import { checkComplete, mergeVirtualports } from '../../src/libvirt/merge.js';
import type { VirtualportLevel } from '../../src/libvirt/virtualport.js';
import { readParameters } from '../../src/libvirt/virtualport.js';

const QBG = '802.1Qbg';
const lvl = (where: string, type: string | undefined, parameters: VirtualportLevel['parameters']): VirtualportLevel => ({
  where,
  ...(type ? { type } : {}),
  parameters,
});

t.test('no level with a type: libvirt uses no virtualport at all', async (t) => {
  t.equal(mergeVirtualports(), undefined);
  t.equal(mergeVirtualports(lvl('interface', undefined, { typeId: 5 }), undefined, lvl('portgroup', undefined, { managerId: 1 })), undefined);
});

t.test('each attribute is taken from the first level that sets it; equal values at two levels are fine', async (t) => {
  const m = mergeVirtualports(
    lvl('interface', undefined, { instanceId: '09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f', typeId: 7 }),
    lvl('network', QBG, { managerId: 1, typeId: 7 }),
    lvl('portgroup', QBG, { typeIdVersion: 3 }),
  )!;
  t.same(m.parameters, { instanceId: '09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f', typeId: 7, managerId: 1, typeIdVersion: 3 });
  t.same(m.sources, { instanceId: 'interface', typeId: 'interface', type: 'network', managerId: 'network', typeIdVersion: 'portgroup' });
  t.equal(m.type, QBG);
  t.doesNotThrow(() => checkComplete(m, 'interface'));
});

t.test('different values at two levels: a conflict naming both places (never an override)', async (t) => {
  const pairs: Array<[VirtualportLevel | undefined, VirtualportLevel | undefined, VirtualportLevel | undefined, string, string, string]> = [
    [lvl('interface X', QBG, { managerId: 1 }), lvl('network N', QBG, { managerId: 2 }), undefined, 'managerid', 'interface X', 'network N'],
    [undefined, lvl('network N', QBG, { typeId: 1 }), lvl('portgroup P', QBG, { typeId: 2 }), 'typeid', 'network N', 'portgroup P'],
    [lvl('interface X', QBG, { typeIdVersion: 1 }), undefined, lvl('portgroup P', QBG, { typeIdVersion: 2 }), 'typeidversion', 'interface X', 'portgroup P'],
    [
      lvl('interface X', QBG, { instanceId: '09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f' }),
      lvl('network N', QBG, { instanceId: '5d00e0ba-e15c-459c-bbb6-b595b0655735' }),
      undefined,
      'instanceid',
      'interface X',
      'network N',
    ],
  ];
  for (const [i, n, p, attr, a, b] of pairs) {
    t.throws(() => mergeVirtualports(i, n, p), {
      code: 'QBG_ERR_XML_MERGE_CONFLICT',
      field: `virtualport.${attr}`,
      message: new RegExp(`${attr} is .* in ${a} but .* in ${b}`),
      details: { first: a, second: b },
    });
  }
});

t.test('virtualport type differs between levels', async (t) => {
  t.throws(() => mergeVirtualports(lvl('interface X', 'openvswitch', {}), lvl('network N', QBG, { managerId: 1 })), {
    code: 'QBG_ERR_XML_MERGE_CONFLICT',
    field: 'virtualport.type',
    message: /type is openvswitch in interface X but 802.1Qbg in network N/,
  });
});

t.test('802.1Qbg parameters are not merged into another type (libvirt ignores them there)', async (t) => {
  const m = mergeVirtualports(lvl('interface', 'openvswitch', {}), lvl('network', undefined, { managerId: 1 }))!;
  t.equal(m.type, 'openvswitch');
  t.same(m.parameters, {});
});

t.test('completeness after the merge: managerid, typeid, typeidversion are needed; instanceid is not', async (t) => {
  t.throws(() => checkComplete(mergeVirtualports(lvl('i', QBG, { managerId: 1, typeId: 2 })), 'interface X'), {
    code: 'QBG_ERR_XML_SHAPE',
    field: 'virtualport.typeidversion',
    message: /interface X: missing typeidversion/,
  });
  t.doesNotThrow(() => checkComplete(mergeVirtualports(lvl('i', QBG, { managerId: 1, typeId: 2, typeIdVersion: 0 })), 'x'));
  t.doesNotThrow(() => checkComplete(undefined, 'x'), 'no virtualport: nothing to check');
});

t.test('reading parameters the way libvirt does (strtoul base 0) with the ranges from identifiers', async (t) => {
  t.same(readParameters({ managerid: '0x0c', typeid: '010', typeidversion: '255' }, 'interface X'), { managerId: 12, typeId: 8, typeIdVersion: 255 });
  t.throws(() => readParameters({ managerid: '256' }, 'interface X'), { code: 'QBG_ERR_MANAGER_ID_RANGE', field: 'interface X managerid' });
  t.throws(() => readParameters({ typeid: '16777216' }, 'n'), { code: 'QBG_ERR_TYPEID_RANGE', message: /0–16777215/ });
  t.throws(() => readParameters({ typeidversion: '08' }, 'n'), { code: 'QBG_ERR_TYPEID_VERSION_RANGE' }, '08 is not octal: libvirt refuses it too');
  t.throws(() => readParameters({ instanceid: 'x' }, 'n'), { code: 'QBG_ERR_UUID_FORMAT', field: 'n instanceid' });
});
