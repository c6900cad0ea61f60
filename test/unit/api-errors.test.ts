// Every error answer has the documented shape {statusCode, code, error, field} with a catalogue code, including
// the ones fastify's router and body parsers and node's HTTP parser give before any route runs. Requests go over a
// real socket: a 431 or a malformed request never reaches fastify's inject.
import t from 'tap';
import { connect } from 'node:net';
import { Type } from 'typebox';
import { buildServer } from '../../src/api/server.js';
import { ERRORS } from '../../src/domain/errors.js';

const app = await buildServer({
  logLevel: 'silent',
  bodyLimit: 4096,
  routes: [
    async (app) => {
      app.post('/things', { config: { role: 'admin' }, schema: { body: Type.Object({ vlan: Type.Integer() }) } }, async () => ({ ok: true }));
      app.get('/things/:name', { config: { role: 'monitor' } }, async () => ({ ok: true }));
    },
  ],
});
await app.listen({ host: '127.0.0.1', port: 0 });
t.teardown(() => app.close());
const port = (app.server.address() as { port: number }).port;

/** One raw HTTP/1.1 exchange: whatever bytes we like, the status and body that came back. */
function raw(request: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(request));
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('error', (e) => (chunks.length ? undefined : reject(e)));
    s.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

function request(method: string, path: string, headers: Record<string, string> = {}, body = ''): Promise<{ status: number; body: string }> {
  const head = Object.entries({ host: 'qbg', connection: 'close', 'content-length': String(Buffer.byteLength(body)), ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return raw(`${method} ${path} HTTP/1.1\r\n${head}\r\n${body}`);
}

const json = { 'content-type': 'application/json' };
const cases: Array<[what: string, send: () => Promise<{ status: number; body: string }>, status: number, code: string, field: string]> = [
  ['unknown route', () => request('GET', '/nope?token=secret'), 404, 'QBG_ERR_ROUTE_NOT_FOUND', 'url'],
  ['known path, unknown method', () => request('PATCH', '/things'), 404, 'QBG_ERR_ROUTE_NOT_FOUND', 'url'],
  ['body over the limit', () => request('POST', '/things', json, `{"vlan":1,"x":"${'a'.repeat(5000)}"}`), 413, 'QBG_ERR_BODY_TOO_LARGE', 'body'],
  ['headers over the limit', () => request('GET', '/things/a', { 'x-big': 'a'.repeat(20_000) }), 431, 'QBG_ERR_HEADERS_TOO_LARGE', 'headers'],
  ['JSON that does not parse', () => request('POST', '/things', json, '{bad'), 400, 'QBG_ERR_BODY_PARSE', 'body'],
  ['empty JSON body', () => request('POST', '/things', json, ''), 400, 'QBG_ERR_BODY_PARSE', 'body'],
  ['a __proto__ key', () => request('POST', '/things', json, '{"__proto__":{"x":1},"vlan":1}'), 400, 'QBG_ERR_BODY_PARSE', 'body'],
  ['unsupported media type', () => request('POST', '/things', { 'content-type': 'application/x-nope' }, 'x'), 415, 'QBG_ERR_MEDIA_TYPE', 'content-type'],
  ['bad percent-encoding', () => request('GET', '/things/%zz'), 400, 'QBG_ERR_URL', 'url'],
  ['path parameter too long', () => request('GET', `/things/${'a'.repeat(101)}`), 414, 'QBG_ERR_URL_PARAM_LENGTH', 'url'],
  ['not HTTP at all', () => raw('HELLO\r\n\r\n'), 400, 'QBG_ERR_HTTP_MALFORMED', 'request'],
  ['a schema refusal (for comparison)', () => request('POST', '/things', json, '"x"'), 400, 'QBG_ERR_FIELD_TYPE', 'body'],
];

for (const [what, send, status, code, field] of cases) {
  t.test(`${what}: ${status} ${code}, field ${field}`, async (t) => {
    const r = await send();
    t.equal(r.status, status, 'HTTP status');
    let body: Record<string, unknown> = {};
    t.doesNotThrow(() => (body = JSON.parse(r.body)), `JSON body: ${r.body.slice(0, 200)}`);
    t.same(Object.keys(body).sort(), ['code', 'error', 'field', 'statusCode'], 'exactly the documented keys');
    t.equal(body.statusCode, status, 'statusCode matches the HTTP status');
    t.equal(body.code, code);
    t.equal(ERRORS[code as keyof typeof ERRORS]?.status, status, 'the catalogue gives the code this status');
    t.equal(body.field, field);
    t.type(body.error, 'string');
    t.notMatch(String(body.error), /secret/, 'the query string (a token, maybe) is not echoed');
  });
}

t.test('a refused schema value is not worded "body body"', async (t) => {
  const r = await request('POST', '/things', json, '"x"');
  t.match(JSON.parse(r.body).error, /^body must be object/);
});
