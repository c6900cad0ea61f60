// The domain rewrite per host ownership (docs/ownership.md). ownership libvirt: the interface carries the full
// virtualport libvirt announces (the rewrite as before modes). ownership qbg: no interface-level 802.1Qbg
// virtualport may remain (libvirt would announce the VSI as well as qbg's hook): a named NIC's is removed after the
// same merge check, an unnamed NIC's is refused naming the NIC, and every other byte stays as it was.
import t from 'tap';
import { rewriteDomainXml } from '../../src/libvirt/domain-rewrite.js';
import { stableInstanceId } from '../../src/domain/instance-uuid.js';
import { readHookDomain } from '../../src/hooks/domain-nics.js';
import { fixtureTypes } from '../fixtures/libvirt/types.js';

const types = fixtureTypes();
const VM = '4dea22b3-1d52-d8f3-2516-782e98ab3fa0';
const META = `<metadata><q:nics xmlns:q="https://qbg.example/xmlns/1"><q:nic mac='52:54:00:12:34:56' profile='web-tier'/><q:nic mac='52:54:00:12:34:58' profile='web-tier'/></q:nics></metadata>`;
const DOC = `<domain type='kvm'>
  <name>g</name>
  <uuid>${VM}</uuid>
  ${META}
  <devices>
    <interface type='direct'>
      <mac address='52:54:00:12:34:56'/>
      <source dev='eth0' mode='vepa'/>
    </interface>
    <interface type='direct'>
      <mac address='52:54:00:12:34:58'/>
      <source dev='eth1' mode='vepa'/>
      <virtualport type='802.1Qbg'>
        <parameters managerid='12' typeid='1193047' typeidversion='2' instanceid='11111111-2222-4333-8444-555555555555'/>
      </virtualport>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
`;

t.test('ownership qbg: no interface-level virtualport is left; the one a named NIC had is removed, nothing else changes', async (t) => {
  const r = rewriteDomainXml(types, DOC, { ownership: 'qbg' });
  t.same(
    r.changes.map((c) => [c.mac, c.owner, c.action, c.instanceIdFrom, c.virtualport.instanceId]),
    [
      ['52:54:00:12:34:56', 'qbg', 'unchanged', 'generated', stableInstanceId(VM, '52:54:00:12:34:56')],
      ['52:54:00:12:34:58', 'qbg', 'removed', 'generated', stableInstanceId(VM, '52:54:00:12:34:58')],
    ],
    "the VSI ids the hook announces (derived from VM + MAC: the document's instanceid went with its virtualport)",
  );
  t.notMatch(r.xml, /virtualport/, 'libvirt finds nothing to announce');
  const start = DOC.indexOf("\n      <virtualport");
  const end = DOC.indexOf('</virtualport>') + '</virtualport>'.length;
  t.equal(r.xml, DOC.slice(0, start) + DOC.slice(end), 'exactly the virtualport and its indentation went');
  t.equal(rewriteDomainXml(types, r.xml, { ownership: 'qbg' }).xml, r.xml, 'a second rewrite changes nothing');
  // what the hook then sees: both NICs qbg's, neither announced by libvirt
  t.same(readHookDomain(r.xml).nics.map((n) => [n.mac, n.profile, n.virtualport]), [['52:54:00:12:34:56', 'web-tier', undefined], ['52:54:00:12:34:58', 'web-tier', undefined]]);
});

t.test('ownership libvirt: the full virtualport on every named NIC (the document\'s instanceid kept)', async (t) => {
  const r = rewriteDomainXml(types, DOC, { ownership: 'libvirt' });
  t.same(r.changes.map((c) => [c.mac, c.owner, c.action, c.virtualport.instanceId]), [
    ['52:54:00:12:34:56', 'libvirt', 'added', stableInstanceId(VM, '52:54:00:12:34:56')],
    ['52:54:00:12:34:58', 'libvirt', 'unchanged', '11111111-2222-4333-8444-555555555555'],
  ]);
  t.same(readHookDomain(r.xml).nics.map((n) => n.virtualport?.instanceId), [stableInstanceId(VM, '52:54:00:12:34:56'), '11111111-2222-4333-8444-555555555555']);
  t.same(rewriteDomainXml(types, DOC).changes.map((c) => c.owner), ['libvirt', 'libvirt'], 'the default of the pure function (qbg serve passes its config)');
});

t.test('ownership qbg: a virtualport the metadata does not name is refused naming the NIC; a conflicting one too', async (t) => {
  const unnamed = DOC.replace(META, META.replace(`<q:nic mac='52:54:00:12:34:58' profile='web-tier'/>`, ''));
  t.throws(() => rewriteDomainXml(types, unnamed, { ownership: 'qbg' }), {
    code: 'QBG_ERR_XML_SHAPE',
    field: 'interface[52:54:00:12:34:58].virtualport',
    message: /interface 52:54:00:12:34:58 carries an 802\.1Qbg virtualport that qbg's metadata does not name.*ownership: qbg/,
  });
  t.throws(() => rewriteDomainXml(types, DOC.replace(META, ''), { ownership: 'qbg' }), { code: 'QBG_ERR_XML_SHAPE', field: 'interface[52:54:00:12:34:58].virtualport' }, 'also when no NIC is named at all');
  t.equal(rewriteDomainXml(types, unnamed, { ownership: 'libvirt' }).changes.length, 1, 'libvirt owns it there: left alone');
  const conflict = DOC.replace("typeid='1193047'", "typeid='7'");
  t.throws(() => rewriteDomainXml(types, conflict, { ownership: 'qbg' }), { code: /QBG_ERR_/ }, 'the merge check runs before the removal');
});
