// Control characters in stored text: refused at input (API, CLI, profile files) with a 400 naming the field, and
// escaped on every terminal output for rows stored before that. Over a real qbg listening on loopback.
import t from 'tap';
import type { AddressInfo } from 'node:net';
import { buildServer } from '../../src/api/server.js';
import { typesRoutes } from '../../src/api/types-routes.js';
import { openDatabase } from '../../src/store/db.js';
import { TypeRepo } from '../../src/store/type-repo.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { main } from '../../src/cli/main.js';
import { checkPrintable, escapeControls, findControlChar } from '../../src/domain/printable.js';
import { parseVsiTypeSpec } from '../../src/domain/vsi-type.js';

const BAD: Array<[what: string, text: string, code: string]> = [
  ['NUL', 'a\u0000b', 'U+0000'],
  ['ESC (a colour sequence)', 'web \u001b[31mRED\u001b[0m', 'U+001B'],
  ['ESC (clear screen)', '\u001b[2J', 'U+001B'],
  ['BEL', 'ding\u0007', 'U+0007'],
  ['CR (redraws the line)', 'ok\rEVIL', 'U+000D'],
  ['DEL', 'a\u007f', 'U+007F'],
  ['C1 CSI', 'a\u009b31m', 'U+009B'],
  ['C1 NEL', 'a\u0085', 'U+0085'],
  ['a lone high surrogate', 'a\ud800b', 'U+D800'],
  ['a lone low surrogate', 'a\udc00', 'U+DC00'],
];

t.test('one pure check: what is a control character', async (t) => {
  for (const [what, text, code] of BAD) {
    t.ok(findControlChar(text, { multiLine: true }), what);
    t.throws(() => checkPrintable('description', text, { multiLine: true }), { code: 'QBG_ERR_CONTROL_CHAR', field: 'description', message: new RegExp(code.replace('+', '\\+')) }, what);
    t.notOk(findControlChar(escapeControls(text)), `${what}: escaped, nothing is left`);
  }
  for (const ok of ['plain', 'ünïcödé — “quotes”', 'emoji 🚀 (a surrogate pair)', 'tab\tand\nnewline', '']) {
    t.equal(checkPrintable('description', ok, { multiLine: true }), ok, JSON.stringify(ok));
    t.equal(escapeControls(ok, { multiLine: true }), ok, 'nothing to escape: unchanged');
  }
  t.throws(() => checkPrintable('x', 'a\tb'), { code: 'QBG_ERR_CONTROL_CHAR' }, 'tab only where multi-line text is allowed');
  t.equal(escapeControls('\u001b[31m'), '\\u001b[31m');
  t.equal(escapeControls('a\r\nb\rc', { multiLine: true, crlf: true }), 'a\r\nb\\u000dc', 'CRLF kept, a lone CR escaped');
  t.throws(() => parseVsiTypeSpec({ name: 'web', managerId: 1, typeId: 1, typeIdVersion: 1, description: 'x\u001b]0;pwned\u0007' }), { code: 'QBG_ERR_CONTROL_CHAR', field: 'description' });
});

const db = openDatabase(':memory:');
const types = new TypeService(db);
const app = await buildServer({ routes: [typesRoutes({ types })], logLevel: 'silent' });
await app.listen({ host: '127.0.0.1', port: 0 });
t.teardown(() => app.close());
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
const send = async (method: string, path: string, body: unknown) => {
  const r = await fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};
const spec = (over: Record<string, unknown> = {}) => ({ name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1, ...over });

t.test('API: refused at input with a 400 naming the field; nothing stored', async (t) => {
  for (const [what, text, code] of BAD) {
    const r = await send('POST', '/types', spec({ description: text }));
    t.equal(r.status, 400, what);
    t.match(r.body, { code: 'QBG_ERR_CONTROL_CHAR', field: 'description', error: new RegExp(`description must not contain control characters.*${code.replace('+', '\\+')}`) }, what);
  }
  t.same(types.list(), [], 'nothing stored');
  const multi = await send('POST', '/types', spec({ description: 'line one\n\tline two' }));
  t.equal(multi.status, 201, 'a multi-line description is fine');
  const edit = await send('PUT', '/types/web', { description: 'now \u001b[5mblinking' });
  t.match(edit, { status: 400, body: { code: 'QBG_ERR_CONTROL_CHAR', field: 'description' } }, 'an edit too');
  const imp = await send('POST', '/types/import', { files: [{ file: 'evil.yaml', content: 'name: evil\nmanagerId: 1\ntypeId: 7\ntypeIdVersion: 1\ndescription: "\\e[2J"\n' }] });
  t.match(imp, { status: 400, body: { code: 'QBG_ERR_PROFILE_FILE', field: 'description', error: /^evil\.yaml:5: description must not contain control characters/ } }, 'a profile file too');
  const name = await send('POST', '/types/import', { files: [{ file: 'a\u001b[31m.yaml', content: 'name: ok\nmanagerId: 1\ntypeId: 8\ntypeIdVersion: 1\n' }] });
  t.match(name, { status: 400, body: { code: 'QBG_ERR_PROFILE_FILE', field: 'file', error: /file name has a control character \(U\+001B/ } }, 'a file name too');
  t.notMatch(String(name.body.error), /\u001b/, 'and the refusal does not echo it raw');
  t.same(types.list().map((v) => v.name), ['web']);
});

t.test('CLI: refused at input, exit 1 naming the field', async (t) => {
  const err: string[] = [];
  const code = await main(['--url', url, 'profile', 'add', '--name', 'cli', '--manager-id', '1', '--type-id', '9', '--type-version', '1', '--description', '\u001b[2Jgone'], {
    out: () => undefined,
    err: (s) => void err.push(s),
  });
  t.equal(code, 1);
  t.match(err[0], /^qbg: description: description must not contain control characters .*U\+001B at index 0 \[QBG_ERR_CONTROL_CHAR\]$/);
  t.equal(types.get('cli'), undefined);
});

t.test('CLI: text stored before the check is escaped on output, human and --json', async (t) => {
  // a row written before control characters were refused: straight into the store, past every validator
  const repo = new TypeRepo(db);
  const evil = 'red \u001b[31mALERT\u001b[0m \u009b2J NUL\u0000 bell\u0007';
  repo.insertType({ ...parseVsiTypeSpec(spec({ name: 'old', typeId: 200 })), description: evil }, new Date().toISOString());
  t.equal(types.get('old')?.description, evil, 'stored as it was');
  for (const argv of [['profile', 'list'], ['profile', 'show', 'old'], ['--json', 'profile', 'list'], ['--json', 'profile', 'show', 'old']]) {
    const out: string[] = [];
    t.equal(await main(['--url', url, ...argv], { out: (s) => void out.push(s), err: () => undefined }), 0, argv.join(' '));
    const printed = out.join('\n');
    t.notMatch(printed, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, `${argv.join(' ')}: no raw control character`);
    t.match(printed, /\\u001b\[31mALERT/, `${argv.join(' ')}: shown as a visible escape`);
    if (argv[0] === '--json') t.match(JSON.parse(printed), argv[2] === 'list' ? { types: [{ description: evil }] } : { description: evil }, 'still JSON that reads back as the stored text');
  }
});
