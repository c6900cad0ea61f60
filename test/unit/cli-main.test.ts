import t from 'tap';
import { main } from '../../src/cli/main.js';
import { parseArgs } from '../../src/cli/args.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) } };
}

t.test('qbg --help lists every command; unknown command is a usage error (exit 2)', async (t) => {
  const c = capture();
  t.equal(await main(['--help'], c.io), 0);
  t.match(c.out.join('\n'), /serve/);
  const d = capture();
  t.equal(await main(['frobnicate'], d.io), 2);
  t.match(d.err.join('\n'), /unknown command "frobnicate"/);
});

t.test('--version, also as JSON', async (t) => {
  const c = capture();
  t.equal(await main(['--version', '--json'], c.io), 0);
  t.match(JSON.parse(c.out[0]), { version: /^\d+\.\d+\.\d+/ });
});

t.test('argument parser: strict about unknown flags and missing values', async (t) => {
  const spec = { name: { value: true }, force: { value: false }, vlan: { value: true, multiple: true } };
  t.same(parseArgs(['x', '--name', 'web', '--force', '--vlan=1', '--vlan', '2'], spec), {
    positionals: ['x'],
    flags: { name: 'web', force: true, vlan: ['1', '2'] },
  });
  t.throws(() => parseArgs(['--nmae', 'web'], spec), /unknown option --nmae/);
  t.throws(() => parseArgs(['--name'], spec), /--name needs a value/);
  t.throws(() => parseArgs(['--force=yes'], spec), /takes no value/);
});
