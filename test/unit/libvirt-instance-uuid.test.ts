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

t.test('uuidV5 of a non-ASCII name hashes its UTF-8 bytes (RFC 4122 §4.3), like node:crypto over the same bytes', async (t) => {
  const { createHash } = await import('node:crypto');
  for (const name of ['é', 'vm-€/52:54:00:12:34:56', '😀'.repeat(40), 'a'.repeat(200)]) {
    const ns = Buffer.from(QBG_INSTANCE_NAMESPACE.replace(/-/g, ''), 'hex');
    const d = createHash('sha1').update(Buffer.concat([ns, Buffer.from(name, 'utf8')])).digest();
    d[6] = (d[6] & 0x0f) | 0x50;
    d[8] = (d[8] & 0x3f) | 0x80;
    const h = d.subarray(0, 16).toString('hex');
    t.equal(uuidV5(QBG_INSTANCE_NAMESPACE, name), `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`, JSON.stringify(name).slice(0, 30));
  }
});
