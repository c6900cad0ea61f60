// The service shell: one error shape from the catalogue, ranges named in validation errors, roles enforced.
import t from 'tap';
import { Type } from 'typebox';
import { buildServer } from '../../src/api/server.js';
import { qbgError } from '../../src/domain/errors.js';

async function app(tokens = { admin: ['adm'], hook: ['hk'], monitor: ['mon'] }) {
  return buildServer({
    logLevel: 'silent',
    tokens,
    routes: [
      async (app) => {
        app.post(
          '/things',
          {
            config: { role: 'admin' },
            schema: { body: Type.Object({ vlan: Type.Integer({ minimum: 0, maximum: 4095 }) }, { additionalProperties: false }) },
          },
          async (req) => ({ got: req.body }),
        );
        app.post('/hooky', { config: { role: 'hook' } }, async () => ({ ok: true }));
        app.get('/things', { config: { role: 'monitor' } }, async () => ({ ok: true }));
        app.get('/boom', { config: { role: 'monitor' } }, async () => {
          throw qbgError('QBG_ERR_TYPEID_RANGE', 99999999);
        });
        app.get('/undeclared', async () => ({ leaked: true }));
      },
    ],
  });
}
const auth = (tok: string) => ({ authorization: `Bearer ${tok}` });

t.test('validation errors name the field and the whole allowed range', async (t) => {
  const a = await app();
  let r = await a.inject({ method: 'POST', url: '/things', payload: { vlan: 5000 }, headers: auth('adm') });
  t.equal(r.statusCode, 400);
  t.match(r.json(), { code: 'QBG_ERR_FIELD_TYPE', field: 'vlan', error: /0–4095, got 5000/ });
  r = await a.inject({ method: 'POST', url: '/things', payload: {}, headers: auth('adm') });
  t.match(r.json(), { code: 'QBG_ERR_FIELD_REQUIRED', field: 'vlan' });
  r = await a.inject({ method: 'POST', url: '/things', payload: { vlan: 1, vlna: 2 }, headers: auth('adm') });
  t.match(r.json(), { code: 'QBG_ERR_UNKNOWN_FIELD', field: 'vlna' });
  r = await a.inject({ method: 'GET', url: '/boom', headers: auth('mon') });
  t.equal(r.statusCode, 400);
  t.match(r.json(), { code: 'QBG_ERR_TYPEID_RANGE', error: /0–16777215/ });
});

t.test('roles: admin > hook > monitor; no token 401; undeclared routes refused for all', async (t) => {
  const a = await app();
  const cases: Array<[string, string, string | undefined, number]> = [
    ['POST', '/things', 'adm', 200],
    ['POST', '/things', 'hk', 403],
    ['POST', '/things', 'mon', 403],
    ['POST', '/hooky', 'hk', 200],
    ['POST', '/hooky', 'mon', 403],
    ['GET', '/things', 'mon', 200],
    ['GET', '/things', undefined, 401],
    ['GET', '/things', 'wrong', 401],
    ['GET', '/undeclared', 'adm', 403],
    ['GET', '/docs/json', undefined, 200],
  ];
  for (const [method, url, tok, status] of cases) {
    const r = await a.inject({ method: method as 'GET', url, payload: method === 'POST' ? { vlan: 1 } : undefined, headers: tok ? auth(tok) : {} });
    t.equal(r.statusCode, status, `${method} ${url} as ${tok ?? 'nobody'}`);
  }
});

t.test('without tokens configured (loopback default) every caller is admin', async (t) => {
  const a = await app({ admin: [], hook: [], monitor: [] });
  const r = await a.inject({ method: 'POST', url: '/things', payload: { vlan: 7 } });
  t.equal(r.statusCode, 200);
  t.same(r.json(), { got: { vlan: 7 } });
});
