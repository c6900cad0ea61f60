import t from 'tap';
import fc from 'fast-check';
import { QBG_INSTANCE_NAMESPACE, stableInstanceId, uuidV5 } from '../../src/domain/instance-uuid.js';
import { parseUuid } from '../../src/domain/identifiers.js';

t.test('uuidV5 matches the RFC 4122 / Python uuid5 reference value', async (t) => {
  // python3 -c "import uuid; print(uuid.uuid5(uuid.NAMESPACE_DNS, 'www.example.com'))"
  t.equal(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com'), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
});

t.test('stable instance id: same VM and MAC in any spelling give the same id, version 5', async (t) => {
  const a = stableInstanceId('4dea22b3-1d52-d8f3-2516-782e98ab3fa0', '52:54:00:12:34:56');
  t.equal(stableInstanceId('4DEA22B31D52D8F32516782E98AB3FA0', '52-54-00-12-34-56'), a);
  t.equal(a, uuidV5(QBG_INSTANCE_NAMESPACE, '4dea22b3-1d52-d8f3-2516-782e98ab3fa0/52:54:00:12:34:56'));
  t.equal(a[14], '5', 'version nibble');
  t.match(a[19], /[89ab]/, 'RFC 4122 variant');
});

t.test('different VM or MAC give different ids (property)', async (t) => {
  const uuid = fc.uuid();
  const mac = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 }).map((b) => {
    b[0] &= 0xfe; // unicast
    return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
  });
  fc.assert(
    fc.property(uuid, uuid, mac, mac, (u1, u2, m1, m2) => {
      const same = parseUuid(u1) === parseUuid(u2) && m1 === m2;
      return (stableInstanceId(u1, m1) === stableInstanceId(u2, m2)) === same;
    }),
  );
  t.pass('checked');
});

t.test('bad input names the field', async (t) => {
  t.throws(() => stableInstanceId('nope', '52:54:00:12:34:56'), { code: 'QBG_ERR_UUID_FORMAT', field: 'vmUuid' });
  t.throws(() => stableInstanceId('4dea22b3-1d52-d8f3-2516-782e98ab3fa0', 'zz'), { code: 'QBG_ERR_MAC_FORMAT', field: 'mac' });
});
