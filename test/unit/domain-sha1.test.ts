// qbg's SHA-1 (src/domain/sha1.ts, for the name-based instance UUIDs) is SHA-1: FIPS 180-4 / RFC 3174 test
// vectors, and node:crypto's digest for random messages of every length around the block boundaries.
import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { sha1 } from '../../src/domain/sha1.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

t.test('the standard test vectors', async (t) => {
  t.equal(hex(sha1(ascii(''))), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
  t.equal(hex(sha1(ascii('abc'))), 'a9993e364706816aba3e25717850c26c9cd0d89d');
  t.equal(hex(sha1(ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))), '84983e441c3bd26ebaae4aa1f95129e5e54670f1');
  t.equal(hex(sha1(ascii('a'.repeat(1_000_000)))), '34aa973cd4c4daa4f61eeb2bdbad27316534016f', 'one million a (many blocks, the buffer grows)');
  const big = new Uint8Array(2_200_000).map((_, i) => i & 0xff); // a bit length above 2^24: the fourth length byte
  t.equal(hex(sha1(big)), createHash('sha1').update(big).digest('hex'), '2.2 MB');
});

t.test('the digest node:crypto computes, for any message up to 300 bytes, also a prefix of a longer buffer', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 20 }), (bytes, extra) => {
      const want = createHash('sha1').update(bytes).digest('hex');
      const padded = new Uint8Array(bytes.length + extra).fill(0xa5);
      padded.set(bytes, 0);
      return hex(sha1(bytes)) === want && hex(sha1(padded, bytes.length)) === want;
    }),
    { numRuns: 2000 },
  );
  // every length across the one/two/three block boundaries (55/56, 119/120 bytes)
  for (let n = 0; n <= 200; n++) {
    const m = new Uint8Array(n).map((_, i) => (i * 7 + n) & 0xff);
    t.equal(hex(sha1(m)), createHash('sha1').update(m).digest('hex'), `length ${n}`);
  }
});
