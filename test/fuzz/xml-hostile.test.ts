// Property-based bad-input tests of the libvirt XML path (POST /xml/rewrite, /xml/merge via fastify inject):
// malformed, huge and hostile documents (entity bombs, external entities, DOCTYPE, deep nesting, long attributes,
// odd namespaces) always get a clear 4xx with a catalogue code — never a 500, never a hang.
import t from 'tap';
import fc from 'fast-check';
import { buildServer } from '../../src/api/server.js';
import { xmlRoutes } from '../../src/api/xml-routes.js';
import { decodeEntities, parseXmlDocument, XML_LIMITS } from '../../src/libvirt/xml-read.js';
import { fixtureTypes } from '../fixtures/libvirt/types.js';
import { badBodyArb, checkRefusal, hostileXmlArb, nastyJson, nastyString, RUNS } from './arbitraries.js';

const app = await buildServer({ routes: [xmlRoutes({ types: fixtureTypes() })], logLevel: 'silent' });
t.teardown(() => app.close());

t.test('regressions: deep nesting and illegal character references are 4xx, not 500', async (t) => {
  const meta = (mac: string) => `<metadata><qbg:nics xmlns:qbg="https://qbg.example/xmlns/1"><qbg:nic mac="${mac}" profile="web-tier"/></qbg:nics></metadata>`;
  const cases: Array<[string, number, string]> = [
    // fast-xml-parser's own cap (100 levels) threw a plain Error before our depth check ran: was 500 QBG_ERR_INTERNAL
    ['<domain>' + '<a>'.repeat(200) + '</a>'.repeat(200) + '</domain>', 413, 'QBG_ERR_XML_LIMIT'],
    // String.fromCodePoint(0x110000) threw a RangeError in decodeEntities: was 500 "Invalid code point"
    [`<domain>${meta('&#x110000;')}</domain>`, 400, 'QBG_ERR_XML_PARSE'],
    [`<domain><uuid>&#99999999999;</uuid>${meta('52:54:00:00:00:01')}</domain>`, 400, 'QBG_ERR_XML_PARSE'],
    ['<domain a="&#0;"/>', 400, 'QBG_ERR_XML_PARSE'],
  ];
  for (const [xml, status, code] of cases) {
    const r = await app.inject({ method: 'POST', url: '/xml/rewrite', headers: { 'content-type': 'application/xml' }, payload: xml });
    t.equal(r.statusCode, status, r.body);
    t.equal(r.json().code, code);
    t.equal(r.json().field, 'domain');
  }
  t.equal(decodeEntities('&#x1F600;&amp;'), '😀&', 'legal references still decode');
});

t.test('regression: a body the JSON parser refuses ("__proto__" key, broken, empty) names the body as the field', async (t) => {
  // fastify's content-type parser errors reached the client without a field
  for (const payload of ['{"xml":{"__proto__":""}}', '{"xml":', '']) {
    const r = await app.inject({ method: 'POST', url: '/xml/rewrite', headers: { 'content-type': 'application/json' }, payload });
    t.equal(r.statusCode, 400, r.body);
    t.match(r.json(), { code: 'QBG_ERR_BODY_PARSE', field: 'body' });
  }
});

t.test('hostile XML to POST /xml/rewrite (as XML and as JSON) and /xml/merge: always a catalogue 4xx', async (t) => {
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(hostileXmlArb, fc.constantFrom('xml', 'json', 'merge-interface', 'merge-network'), async (xml, how) => {
      const r =
        how === 'xml'
          ? await app.inject({ method: 'POST', url: '/xml/rewrite', headers: { 'content-type': 'application/xml' }, payload: xml })
          : how === 'json'
            ? await app.inject({ method: 'POST', url: '/xml/rewrite', payload: { xml } })
            : await app.inject({
                method: 'POST',
                url: '/xml/merge',
                payload: how === 'merge-interface' ? { interface: xml, network: '<network><name>n</name></network>' } : { interface: '<interface type="network"/>', network: xml },
              });
      checkRefusal(r, `${how} ${xml.slice(0, 80)}`);
      if (r.statusCode >= 400) refused++;
      else if (xml.includes('<!DOCTYPE') || xml.includes('<!ENTITY')) throw new Error(`accepted a DOCTYPE/ENTITY: ${xml.slice(0, 100)}`);
    }),
    { numRuns: RUNS },
  );
  t.ok(refused > RUNS / 2, `${refused} of ${RUNS} refused with a catalogue 4xx, none 5xx`);
});

t.test('POST /xml/rewrite: random JSON bodies and query strings are a catalogue 4xx naming a field', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(nastyJson, fc.record({ xml: nastyJson, vmUuid: nastyJson, networks: nastyJson }, { requiredKeys: [] })),
      fc.dictionary(fc.constantFrom('vmUuid', 'format', 'x', 'token'), nastyString.filter((s) => s.length < 2000), { maxKeys: 3 }),
      async (body, query) => {
        const r = await app.inject({ method: 'POST', url: '/xml/rewrite', query, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
        checkRefusal(r, `${JSON.stringify(body).slice(0, 100)} ?${JSON.stringify(query)}`, { needField: true });
      },
    ),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} bodies`);
});

t.test('generation routes (/xml/interface, /xml/interface-network, /xml/network): random bodies are a catalogue 4xx naming a field', async (t) => {
  const vm = '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c';
  const mac = '52:54:00:12:34:56';
  const valid = {
    '/xml/interface': { profile: 'web-tier', version: 1, uplink: 'eth0', mac, vmUuid: vm, mode: 'vepa', model: 'virtio' },
    '/xml/interface-network': { network: 'vepa-net', portgroup: 'web', mac, model: 'virtio', vmUuid: vm, profile: 'web-tier', version: 2 },
    '/xml/network': { name: 'vepa-net', uuid: vm, uplinks: ['eth0', 'eth1'], portgroups: [{ name: 'web', profile: 'web-tier', version: 2, default: true }] },
  };
  for (const [url, body] of Object.entries(valid)) {
    const ok = await app.inject({ method: 'POST', url, payload: body });
    t.equal(ok.statusCode, 200, `${url} accepts the valid body: ${ok.body.slice(0, 200)}`);
  }
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(...Object.entries(valid).map(([url, body]) => badBodyArb(body).map((payload) => ({ url, payload })))),
      async ({ url, payload }) => {
        const r = await app.inject({ method: 'POST', url, payload: JSON.stringify(payload) ?? 'null', headers: { 'content-type': 'application/json' } });
        if (checkRefusal(r, `${url} ${JSON.stringify(payload)?.slice(0, 200)}`, { needField: true })) refused++;
      },
    ),
    { numRuns: RUNS },
  );
  t.ok(refused > RUNS / 2, `${refused} of ${RUNS} refused with a field`);
});

t.test('declared limits hold: size 413 before parsing, depth and node count 413', async (t) => {
  t.throws(() => parseXmlDocument('<d>' + '<a>'.repeat(XML_LIMITS.maxDepth + 1) + '</a>'.repeat(XML_LIMITS.maxDepth + 1) + '</d>'), { code: 'QBG_ERR_XML_LIMIT' });
  t.throws(() => parseXmlDocument('<d>' + '<a/>'.repeat(XML_LIMITS.maxNodes + 1) + '</d>'), { code: 'QBG_ERR_XML_LIMIT' });
  const deep = 60_000; // 420 KB, under the size limit: the parser's own nesting cap must not surface as a plain Error
  t.throws(() => parseXmlDocument('<d>' + '<a>'.repeat(deep) + '</a>'.repeat(deep) + '</d>'), { code: 'QBG_ERR_XML_LIMIT' });
  const big = `<domain name="${'A'.repeat(XML_LIMITS.maxBytes)}"/>`;
  const r = await app.inject({ method: 'POST', url: '/xml/rewrite', headers: { 'content-type': 'application/xml' }, payload: big });
  t.equal(r.statusCode, 413);
  t.equal(r.json().code, 'QBG_ERR_XML_LIMIT');
});

