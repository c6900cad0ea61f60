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
  for (let i = 0; i < length; i++) m[i] = message[i];
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
    // the four rounds of 20 steps, each its own loop (no branch per step)
    for (let t = 0; t < 20; t++) {
      const next = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + 0x5a827999 + e + W[t]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = next;
    }
    for (let t = 20; t < 40; t++) {
      const next = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + 0x6ed9eba1 + e + W[t]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = next;
    }
    for (let t = 40; t < 60; t++) {
      const next = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + (0x8f1bbcdc | 0) + e + W[t]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = next;
    }
    for (let t = 60; t < 80; t++) {
      const next = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + (0xca62c1d6 | 0) + e + W[t]) | 0;
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
  put(out, 0, h0);
  put(out, 4, h1);
  put(out, 8, h2);
  put(out, 12, h3);
  put(out, 16, h4);
  return out;
}

function put(out: Uint8Array, at: number, word: number): void {
  out[at] = word >>> 24;
  out[at + 1] = (word >>> 16) & 0xff;
  out[at + 2] = (word >>> 8) & 0xff;
  out[at + 3] = word & 0xff;
}
