// request.log is pino's child with the request id, made when a line is first written through it.
import t from 'tap';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { lazyChildLogger } from '../../src/api/request-logger.js';

function logger(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const root = pino({ level }, sink);
  // counts the children made, without touching the logger itself (pino's children inherit its own properties)
  let children = 0;
  const parent = Object.create(root, {
    child: {
      value: (b: pino.Bindings, o?: pino.ChildLoggerOptions) => {
        children++;
        return root.child(b, o);
      },
    },
  }) as typeof root;
  return { parent, lines, children: () => children };
}

const flush = () => new Promise((r) => setImmediate(r));

t.test('below the level nothing is written and no child is made; at the level the line carries the bindings', async (t) => {
  const { parent, lines, children } = logger('warn');
  const log = lazyChildLogger(parent, { reqId: 'req-1' }, {});
  log.info({ a: 1 }, 'not written');
  log.debug('not written');
  t.equal(children(), 0, 'no child for lines below the level');
  t.equal(log.level, 'warn', "the parent's level until a child exists");
  log.warn({ a: 2 }, 'refused');
  log.error('and %s', 'this');
  await flush();
  t.equal(children(), 1, 'one child, made at the first line written');
  t.same(
    lines.map((l) => [l.level, l.reqId, l.msg, l.a]),
    [
      [40, 'req-1', 'refused', 2],
      [50, 'req-1', 'and this', undefined],
    ],
  );
});

t.test("a route's own level (fastify's route logLevel) decides, not the parent's", async (t) => {
  const { parent, lines } = logger('warn');
  const log = lazyChildLogger(parent, { reqId: 'req-2' }, { level: 'debug' });
  t.equal(log.level, 'debug');
  log.debug('written at debug');
  log.trace('not written');
  await flush();
  t.same(
    lines.map((l) => [l.level, l.reqId, l.msg]),
    [[20, 'req-2', 'written at debug']],
  );
});

t.test('level can be changed; isLevelEnabled and child work as on pino', async (t) => {
  const { parent, lines } = logger('info');
  const log = lazyChildLogger(parent, { reqId: 'req-3' }, {}) as ReturnType<typeof lazyChildLogger> & { isLevelEnabled(l: string): boolean };
  t.equal(log.isLevelEnabled('info'), true);
  t.equal(log.isLevelEnabled('debug'), false);
  log.level = 'debug';
  t.equal(log.level, 'debug');
  t.equal(log.isLevelEnabled('debug'), true);
  t.equal(parent.level, 'info', "the parent's level is untouched");
  log.child({ part: 'x' }).debug('from a grandchild');
  await flush();
  t.same(
    lines.map((l) => [l.level, l.reqId, l.part, l.msg]),
    [[20, 'req-3', 'x', 'from a grandchild']],
  );
});
