// Shared fast-check generators for the bad-input (fuzz) properties: real frames mutated the way a broken peer or
// a flaky link would mangle them, hostile JSON values, hostile XML. Every property runs RUNS inputs.
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERRORS } from '../../src/domain/errors.js';

/** Inputs per property (the brief: at least 1,000). */
export const RUNS = 1000;

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** The bytes of every *.hex fixture in a directory ('#' lines are comments). */
export function hexFixtures(dir: string): Array<{ name: string; bytes: Buffer }> {
  const d = join(FIXTURES, dir);
  return readdirSync(d)
    .filter((f) => f.endsWith('.hex'))
    .sort()
    .map((f) => ({
      name: f,
      bytes: Buffer.from(
        readFileSync(join(d, f), 'utf8')
          .split('\n')
          .filter((l) => !l.startsWith('#'))
          .join('')
          .replace(/\s+/g, ''),
        'hex',
      ),
    }));
}

/** One edit of a byte string: what a bad peer, a bit error or a short read does to a frame. */
export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'truncate'; at: number }
  | { op: 'duplicate'; at: number; count: number };

const pos = fc.nat({ max: 0xffff });
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: pos, bit: fc.integer({ min: 0, max: 7 }) }),
  // 0x00, 0xff and the 9-bit length boundaries are where codecs go wrong
  fc.record({ op: fc.constant('set' as const), at: pos, value: fc.oneof(fc.constantFrom(0, 1, 0x7f, 0x80, 0xfe, 0xff), fc.nat({ max: 255 })) }),
  fc.record({ op: fc.constant('insert' as const), at: pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.record({ op: fc.constant('delete' as const), at: pos, count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: pos }),
  fc.record({ op: fc.constant('duplicate' as const), at: pos, count: fc.integer({ min: 1, max: 64 }) }),
);

export function applyMutation(buf: Buffer, m: Mutation): Buffer {
  const n = buf.length;
  const at = n === 0 ? 0 : m.at % (n + 1);
  switch (m.op) {
    case 'flip':
      if (at >= n) return buf;
      return Buffer.concat([buf.subarray(0, at), Buffer.from([buf[at] ^ (1 << m.bit)]), buf.subarray(at + 1)]);
    case 'set':
      if (at >= n) return buf;
      return Buffer.concat([buf.subarray(0, at), Buffer.from([m.value]), buf.subarray(at + 1)]);
    case 'insert':
      return Buffer.concat([buf.subarray(0, at), Buffer.from(m.bytes), buf.subarray(at)]);
    case 'delete':
      return Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.count)]);
    case 'truncate':
      return Buffer.from(buf.subarray(0, at));
    case 'duplicate':
      return Buffer.concat([buf.subarray(0, at + m.count), buf.subarray(at)]);
  }
}

/** A fixture with 1–6 mutations applied; the fixture name travels along for a readable counterexample. */
export function mutatedArb(bases: Array<{ name: string; bytes: Buffer }>): fc.Arbitrary<{ name: string; bytes: Buffer }> {
  return fc
    .record({ base: fc.constantFrom(...bases), edits: fc.array(mutationArb, { minLength: 1, maxLength: 6 }) })
    .map(({ base, edits }) => ({ name: `${base.name} ${JSON.stringify(edits)}`, bytes: edits.reduce(applyMutation, base.bytes) }));
}

// --- hostile JSON ---

/** Strings that break naive code: empty, huge, control characters, lone surrogates, RTL, NUL, path and SQL bits. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\ud800',
    '\u202e52:54:00:00:00:01',
    '../../etc/passwd',
    "'; DROP TABLE vsi_types; --",
    '__proto__',
    'constructor',
    '<x/>',
    '%s%s%s',
    '0x10',
    '1e309',
    '-0',
    'NaN',
    'web',
    'web-tier',
    's0',
    '52:54:00:12:34:56',
    '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c',
  ),
  fc.string({ maxLength: 80, unit: 'grapheme' }),
  fc.string({ maxLength: 20, unit: 'binary' }),
  fc.integer({ min: 65, max: 70_000 }).map((n) => 'x'.repeat(n)),
);

export const nastyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -1, 1, 255, 256, 4095, 4096, 65535, 65536, 0xffffff, 0x1000000, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, -1e308, 0.5, -0.0),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Any JSON value, biased to the shapes schemas get wrong: wrong types, deep nesting, odd keys. */
export const nastyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    nastyString,
    nastyNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(nastyString, fc.string({ maxLength: 10 })), tie('value'), { maxKeys: 5 }),
  ),
})).value;

/**
 * A mutated version of a valid body: one field set to a hostile value, removed, or an extra field added;
 * or a whole hostile value instead of the body.
 */
export function badBodyArb(valid: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(valid);
  return fc.oneof(
    fc.record({ k: fc.constantFrom(...keys), v: nastyJson }).map(({ k, v }) => ({ ...valid, [k]: v })),
    fc.record({ k: fc.constantFrom(...keys), v: nastyJson, k2: fc.constantFrom(...keys), v2: nastyJson }).map(({ k, v, k2, v2 }) => ({
      ...valid,
      [k]: v,
      [k2]: v2,
    })),
    fc.constantFrom(...keys).map((k) => {
      const o = { ...valid };
      delete o[k];
      return o;
    }),
    fc.record({ k: fc.string({ minLength: 1, maxLength: 12 }), v: nastyJson }).map(({ k, v }) => ({ ...valid, [k]: v })),
    nastyJson,
  );
}

// --- hostile XML ---

const XML_NAME = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/);

/** Hostile or malformed XML text: entity bombs, external entities, deep nesting, huge attributes, broken tags. */
export const hostileXmlArb: fc.Arbitrary<string> = fc.oneof(
  fc.constant(
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
      '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><domain>&lol3;</domain>',
  ),
  fc.constant('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><domain><name>&xxe;</name></domain>'),
  fc.constant('<!DOCTYPE domain SYSTEM "http://127.0.0.1:1/x.dtd"><domain/>'),
  fc.constant('<domain><!ENTITY x "y"></domain>'),
  // the heavy ones (up to 600 KB) are about one run in twenty, so 1,000 runs stay fast
  { weight: 1, arbitrary: fc.oneof(
    fc.integer({ min: 40, max: 5_000 }).map((n) => '<domain>' + '<a>'.repeat(n) + '</a>'.repeat(n) + '</domain>'),
    fc.integer({ min: 40, max: 5_000 }).map((n) => '<domain>' + '<a>'.repeat(n) + '</domain>'),
    fc.integer({ min: 1000, max: 600_000 }).map((n) => `<domain type="kvm" name="${'A'.repeat(n)}"/>`),
    fc.integer({ min: 10_000, max: 60_000 }).map((n) => '<domain>' + '<x/>'.repeat(n) + '</domain>'),
  ) },
  fc.tuple(XML_NAME, fc.string({ maxLength: 20 })).map(([p, ns]) => `<${p}:domain xmlns:${p}="${ns.replace(/[<&"]/g, '')}"><${p}:devices/></${p}:domain>`),
  fc.constantFrom(
    '',
    ' ',
    '<',
    '<domain',
    '<domain>',
    '</domain>',
    '<domain></domainx>',
    '<domain a=1/>',
    '<domain a="1" a="2"/>',
    '<domain/><domain/>',
    'plain text',
    '<domain>&unknown;</domain>',
    '<domain a="&#x110000;"/>',
    '<domain a="&#99999999999;"/>',
    '<domain><![CDATA[ unterminated </domain>',
    '<domain><!-- unterminated </domain>',
    '<?xml version="1.0" encoding="UTF-7"?><domain/>',
    '<network/>',
    '<domain xmlns="urn:x" xmlns:qbg="https://qbg.example/xmlns/1"><metadata><qbg:nics><qbg:nic/></qbg:nics></metadata></domain>',
    '\ufeff<domain/>',
    '<domain>\u0000</domain>',
  ),
  { weight: 4, arbitrary: fc.string({ maxLength: 200 }) },
  {
    weight: 6,
    arbitrary: fc
      .array(fc.constantFrom('<', '>', '/', '=', '"', "'", '&', ';', '!', '?', '-', '[', ']', 'domain', 'a', ' ', 'x:', 'xmlns', '&#x110000;', '&#65;'), { maxLength: 60 })
      .map((a) => a.join('')),
  },
);

// --- what a refusal must look like ---

/** Checks an HTTP answer: never 5xx; a 4xx is JSON with a catalogue code and a message, and the catalogue status. */
export function checkRefusal(r: { statusCode: number; body: string }, what: string, opts: { needField?: boolean } = {}): boolean {
  if (r.statusCode >= 500) throw new Error(`${what}: ${r.statusCode} ${r.body.slice(0, 300)}`);
  if (r.statusCode < 400) return false;
  const j = JSON.parse(r.body) as { code?: string; error?: string; field?: string };
  if (!j.code || !(j.code in ERRORS)) throw new Error(`${what}: code ${j.code} is not in the catalogue: ${r.body.slice(0, 300)}`);
  if (typeof j.error !== 'string' || !j.error) throw new Error(`${what}: no message: ${r.body.slice(0, 300)}`);
  if (opts.needField && (typeof j.field !== 'string' || !j.field)) throw new Error(`${what}: no field named: ${r.body.slice(0, 300)}`);
  return true;
}
