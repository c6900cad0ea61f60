// SHA-1 (FIPS 180-4 §6.1) of a short message, in JavaScript. Its one use is the name-based instance UUID
// (instance-uuid.ts: RFC 4122 §4.3 prescribes SHA-1; no secrecy rests on it): a 70-byte message, two blocks. For
// that, node:crypto's one-shot hash() cost about twice the digest itself in the call into C++ and the Buffer it
// returns, and it ran for every NIC of every domain rewrite; this computes the same digest on the JS heap.
// Checked against node:crypto for random messages of every length up to several blocks (test/unit/domain-sha1.test.ts).

/** The message schedule, reused: all synchronous, nothing can interleave. */
const W = new Int32Array(80);
let block = new Uint8Array(128);

/** The 20-byte SHA-1 digest of the first `length` bytes of `message`. */
export function sha1(message: Uint8Array, length = message.length): Uint8Array {
  // message ‖ 0x80 ‖ zeros ‖ 64-bit big-endian bit length, to a multiple of 64 bytes
  const blocks = ((length + 8) >>> 6) + 1;
  if (block.length < blocks * 64) block = new Uint8Array(blocks * 64);
  const m = block;
  m.set(message.subarray(0, length), 0);
  m.fill(0, length, blocks * 64);
  m[length] = 0x80;
  const bits = length * 8;
  const end = blocks * 64;
  m[end - 1] = bits & 0xff;
  m[end - 2] = (bits >>> 8) & 0xff;
  m[end - 3] = (bits >>> 16) & 0xff;
  m[end - 4] = (bits >>> 24) & 0xff;
  m[end - 5] = Math.floor(bits / 0x100000000) & 0xff; // messages here are far below 512 MiB; written for completeness

  let h0 = 0x67452301;
  let h1 = 0xefcdab89 | 0;
  let h2 = 0x98badcfe | 0;
  let h3 = 0x10325476;
  let h4 = 0xc3d2e1f0 | 0;
  for (let o = 0; o < end; o += 64) {
    for (let t = 0; t < 16; t++) {
      const i = o + 4 * t;
      W[t] = (m[i] << 24) | (m[i + 1] << 16) | (m[i + 2] << 8) | m[i + 3];
    }
    for (let t = 16; t < 80; t++) {
      const x = W[t - 3] ^ W[t - 8] ^ W[t - 14] ^ W[t - 16];
      W[t] = (x << 1) | (x >>> 31);
    }
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    for (let t = 0; t < 80; t++) {
      let f: number;
      if (t < 20) f = ((b & c) | (~b & d)) + 0x5a827999;
      else if (t < 40) f = (b ^ c ^ d) + 0x6ed9eba1;
      else if (t < 60) f = ((b & c) | (b & d) | (c & d)) + (0x8f1bbcdc | 0);
      else f = (b ^ c ^ d) + (0xca62c1d6 | 0);
      const next = (((a << 5) | (a >>> 27)) + f + e + W[t]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = next;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  const out = new Uint8Array(20);
  const h = [h0, h1, h2, h3, h4];
  for (let k = 0; k < 5; k++) {
    out[4 * k] = h[k] >>> 24;
    out[4 * k + 1] = (h[k] >>> 16) & 0xff;
    out[4 * k + 2] = (h[k] >>> 8) & 0xff;
    out[4 * k + 3] = h[k] & 0xff;
  }
  return out;
}
