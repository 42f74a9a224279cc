/**
 * keccak-256 (the original Keccak padding 0x01, as Ethereum and Stratos wallet signatures use;
 * not NIST SHA3-256, which is the only variant node:crypto offers).
 *
 * Why not @noble/hashes: its keccak is a large share of a native signer recovery (two permutations
 * for a ~200-byte transfer; bench/README.md, "Measurements cited by the code"). This is the same
 * function with the 24 rounds of keccak-f[1600] written out over 50 int32 locals (lane i = low
 * word s(2i), high word s(2i+1); theta, rho+pi, chi, iota as in the Keccak reference), which V8
 * keeps in registers: an order of magnitude faster. test/crypto/keccak256.test.ts checks it against @noble/hashes
 * on every length 0…600 and on random inputs.
 *
 * The round body below was generated from the step definitions (rotation offsets r[x][y],
 * pi: (x, y) → (y, 2x + 3y)); edit the generator's logic, not single lines.
 */

const RATE_BYTES = 136
const RATE_WORDS = RATE_BYTES / 4
const RC_LO = new Int32Array([
  0x1, 0x8082, 0x808a, 0x80008000, 0x808b, 0x80000001, 0x80008081, 0x8009, 0x8a, 0x88, 0x80008009, 0x8000000a,
  0x8000808b, 0x8b, 0x8089, 0x8003, 0x8002, 0x80, 0x800a, 0x8000000a, 0x80008081, 0x8080, 0x80000001, 0x80008008,
])
const RC_HI = new Int32Array([
  0x0, 0x0, 0x80000000, 0x80000000, 0x0, 0x0, 0x80000000, 0x80000000, 0x0, 0x0, 0x0, 0x0, 0x0, 0x80000000, 0x80000000,
  0x80000000, 0x80000000, 0x80000000, 0x0, 0x80000000, 0x80000000, 0x80000000, 0x0, 0x80000000,
])

/** keccak-256 of `data` (32 bytes). */
export function keccak256(data: Uint8Array): Uint8Array {
  const st = new Int32Array(50)
  let off = 0
  for (; off + RATE_BYTES <= data.length; off += RATE_BYTES) {
    absorb(st, data, off)
    keccakF1600(st)
  }
  const last = new Uint8Array(RATE_BYTES)
  last.set(data.subarray(off))
  last[data.length - off]! ^= 0x01
  last[RATE_BYTES - 1]! ^= 0x80
  absorb(st, last, 0)
  keccakF1600(st)
  const out = new Uint8Array(32)
  for (let i = 0; i < 8; i++) {
    const w = st[i]!
    out[4 * i] = w
    out[4 * i + 1] = w >>> 8
    out[4 * i + 2] = w >>> 16
    out[4 * i + 3] = w >>> 24
  }
  return out
}

/** XORs one rate block (little-endian 32-bit words) into the state. */
function absorb(st: Int32Array, b: Uint8Array, off: number): void {
  for (let i = 0; i < RATE_WORDS; i++) {
    const p = off + 4 * i
    st[i]! ^= b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)
  }
}

/** keccak-f[1600] on the state, in place. */
function keccakF1600(st: Int32Array): void {
  let s0 = st[0]!,
    s1 = st[1]!,
    s2 = st[2]!,
    s3 = st[3]!,
    s4 = st[4]!,
    s5 = st[5]!,
    s6 = st[6]!,
    s7 = st[7]!,
    s8 = st[8]!,
    s9 = st[9]!,
    s10 = st[10]!,
    s11 = st[11]!,
    s12 = st[12]!,
    s13 = st[13]!,
    s14 = st[14]!,
    s15 = st[15]!,
    s16 = st[16]!,
    s17 = st[17]!,
    s18 = st[18]!,
    s19 = st[19]!,
    s20 = st[20]!,
    s21 = st[21]!,
    s22 = st[22]!,
    s23 = st[23]!,
    s24 = st[24]!,
    s25 = st[25]!,
    s26 = st[26]!,
    s27 = st[27]!,
    s28 = st[28]!,
    s29 = st[29]!,
    s30 = st[30]!,
    s31 = st[31]!,
    s32 = st[32]!,
    s33 = st[33]!,
    s34 = st[34]!,
    s35 = st[35]!,
    s36 = st[36]!,
    s37 = st[37]!,
    s38 = st[38]!,
    s39 = st[39]!,
    s40 = st[40]!,
    s41 = st[41]!,
    s42 = st[42]!,
    s43 = st[43]!,
    s44 = st[44]!,
    s45 = st[45]!,
    s46 = st[46]!,
    s47 = st[47]!,
    s48 = st[48]!,
    s49 = st[49]!
  for (let round = 0; round < 24; round++) {
    const c0 = s0 ^ s10 ^ s20 ^ s30 ^ s40
    const c1 = s1 ^ s11 ^ s21 ^ s31 ^ s41
    const c2 = s2 ^ s12 ^ s22 ^ s32 ^ s42
    const c3 = s3 ^ s13 ^ s23 ^ s33 ^ s43
    const c4 = s4 ^ s14 ^ s24 ^ s34 ^ s44
    const c5 = s5 ^ s15 ^ s25 ^ s35 ^ s45
    const c6 = s6 ^ s16 ^ s26 ^ s36 ^ s46
    const c7 = s7 ^ s17 ^ s27 ^ s37 ^ s47
    const c8 = s8 ^ s18 ^ s28 ^ s38 ^ s48
    const c9 = s9 ^ s19 ^ s29 ^ s39 ^ s49
    const d0 = c8 ^ ((c2 << 1) | (c3 >>> 31))
    const d1 = c9 ^ ((c3 << 1) | (c2 >>> 31))
    const d2 = c0 ^ ((c4 << 1) | (c5 >>> 31))
    const d3 = c1 ^ ((c5 << 1) | (c4 >>> 31))
    const d4 = c2 ^ ((c6 << 1) | (c7 >>> 31))
    const d5 = c3 ^ ((c7 << 1) | (c6 >>> 31))
    const d6 = c4 ^ ((c8 << 1) | (c9 >>> 31))
    const d7 = c5 ^ ((c9 << 1) | (c8 >>> 31))
    const d8 = c6 ^ ((c0 << 1) | (c1 >>> 31))
    const d9 = c7 ^ ((c1 << 1) | (c0 >>> 31))
    const a0 = s0 ^ d0,
      a1 = s1 ^ d1
    const b0 = a0,
      b1 = a1
    const a10 = s10 ^ d0,
      a11 = s11 ^ d1
    const b32 = (a11 << 4) | (a10 >>> 28),
      b33 = (a10 << 4) | (a11 >>> 28)
    const a20 = s20 ^ d0,
      a21 = s21 ^ d1
    const b14 = (a20 << 3) | (a21 >>> 29),
      b15 = (a21 << 3) | (a20 >>> 29)
    const a30 = s30 ^ d0,
      a31 = s31 ^ d1
    const b46 = (a31 << 9) | (a30 >>> 23),
      b47 = (a30 << 9) | (a31 >>> 23)
    const a40 = s40 ^ d0,
      a41 = s41 ^ d1
    const b28 = (a40 << 18) | (a41 >>> 14),
      b29 = (a41 << 18) | (a40 >>> 14)
    const a2 = s2 ^ d2,
      a3 = s3 ^ d3
    const b20 = (a2 << 1) | (a3 >>> 31),
      b21 = (a3 << 1) | (a2 >>> 31)
    const a12 = s12 ^ d2,
      a13 = s13 ^ d3
    const b2 = (a13 << 12) | (a12 >>> 20),
      b3 = (a12 << 12) | (a13 >>> 20)
    const a22 = s22 ^ d2,
      a23 = s23 ^ d3
    const b34 = (a22 << 10) | (a23 >>> 22),
      b35 = (a23 << 10) | (a22 >>> 22)
    const a32 = s32 ^ d2,
      a33 = s33 ^ d3
    const b16 = (a33 << 13) | (a32 >>> 19),
      b17 = (a32 << 13) | (a33 >>> 19)
    const a42 = s42 ^ d2,
      a43 = s43 ^ d3
    const b48 = (a42 << 2) | (a43 >>> 30),
      b49 = (a43 << 2) | (a42 >>> 30)
    const a4 = s4 ^ d4,
      a5 = s5 ^ d5
    const b40 = (a5 << 30) | (a4 >>> 2),
      b41 = (a4 << 30) | (a5 >>> 2)
    const a14 = s14 ^ d4,
      a15 = s15 ^ d5
    const b22 = (a14 << 6) | (a15 >>> 26),
      b23 = (a15 << 6) | (a14 >>> 26)
    const a24 = s24 ^ d4,
      a25 = s25 ^ d5
    const b4 = (a25 << 11) | (a24 >>> 21),
      b5 = (a24 << 11) | (a25 >>> 21)
    const a34 = s34 ^ d4,
      a35 = s35 ^ d5
    const b36 = (a34 << 15) | (a35 >>> 17),
      b37 = (a35 << 15) | (a34 >>> 17)
    const a44 = s44 ^ d4,
      a45 = s45 ^ d5
    const b18 = (a45 << 29) | (a44 >>> 3),
      b19 = (a44 << 29) | (a45 >>> 3)
    const a6 = s6 ^ d6,
      a7 = s7 ^ d7
    const b10 = (a6 << 28) | (a7 >>> 4),
      b11 = (a7 << 28) | (a6 >>> 4)
    const a16 = s16 ^ d6,
      a17 = s17 ^ d7
    const b42 = (a17 << 23) | (a16 >>> 9),
      b43 = (a16 << 23) | (a17 >>> 9)
    const a26 = s26 ^ d6,
      a27 = s27 ^ d7
    const b24 = (a26 << 25) | (a27 >>> 7),
      b25 = (a27 << 25) | (a26 >>> 7)
    const a36 = s36 ^ d6,
      a37 = s37 ^ d7
    const b6 = (a36 << 21) | (a37 >>> 11),
      b7 = (a37 << 21) | (a36 >>> 11)
    const a46 = s46 ^ d6,
      a47 = s47 ^ d7
    const b38 = (a47 << 24) | (a46 >>> 8),
      b39 = (a46 << 24) | (a47 >>> 8)
    const a8 = s8 ^ d8,
      a9 = s9 ^ d9
    const b30 = (a8 << 27) | (a9 >>> 5),
      b31 = (a9 << 27) | (a8 >>> 5)
    const a18 = s18 ^ d8,
      a19 = s19 ^ d9
    const b12 = (a18 << 20) | (a19 >>> 12),
      b13 = (a19 << 20) | (a18 >>> 12)
    const a28 = s28 ^ d8,
      a29 = s29 ^ d9
    const b44 = (a29 << 7) | (a28 >>> 25),
      b45 = (a28 << 7) | (a29 >>> 25)
    const a38 = s38 ^ d8,
      a39 = s39 ^ d9
    const b26 = (a38 << 8) | (a39 >>> 24),
      b27 = (a39 << 8) | (a38 >>> 24)
    const a48 = s48 ^ d8,
      a49 = s49 ^ d9
    const b8 = (a48 << 14) | (a49 >>> 18),
      b9 = (a49 << 14) | (a48 >>> 18)
    s0 = b0 ^ (~b2 & b4)
    s1 = b1 ^ (~b3 & b5)
    s2 = b2 ^ (~b4 & b6)
    s3 = b3 ^ (~b5 & b7)
    s4 = b4 ^ (~b6 & b8)
    s5 = b5 ^ (~b7 & b9)
    s6 = b6 ^ (~b8 & b0)
    s7 = b7 ^ (~b9 & b1)
    s8 = b8 ^ (~b0 & b2)
    s9 = b9 ^ (~b1 & b3)
    s10 = b10 ^ (~b12 & b14)
    s11 = b11 ^ (~b13 & b15)
    s12 = b12 ^ (~b14 & b16)
    s13 = b13 ^ (~b15 & b17)
    s14 = b14 ^ (~b16 & b18)
    s15 = b15 ^ (~b17 & b19)
    s16 = b16 ^ (~b18 & b10)
    s17 = b17 ^ (~b19 & b11)
    s18 = b18 ^ (~b10 & b12)
    s19 = b19 ^ (~b11 & b13)
    s20 = b20 ^ (~b22 & b24)
    s21 = b21 ^ (~b23 & b25)
    s22 = b22 ^ (~b24 & b26)
    s23 = b23 ^ (~b25 & b27)
    s24 = b24 ^ (~b26 & b28)
    s25 = b25 ^ (~b27 & b29)
    s26 = b26 ^ (~b28 & b20)
    s27 = b27 ^ (~b29 & b21)
    s28 = b28 ^ (~b20 & b22)
    s29 = b29 ^ (~b21 & b23)
    s30 = b30 ^ (~b32 & b34)
    s31 = b31 ^ (~b33 & b35)
    s32 = b32 ^ (~b34 & b36)
    s33 = b33 ^ (~b35 & b37)
    s34 = b34 ^ (~b36 & b38)
    s35 = b35 ^ (~b37 & b39)
    s36 = b36 ^ (~b38 & b30)
    s37 = b37 ^ (~b39 & b31)
    s38 = b38 ^ (~b30 & b32)
    s39 = b39 ^ (~b31 & b33)
    s40 = b40 ^ (~b42 & b44)
    s41 = b41 ^ (~b43 & b45)
    s42 = b42 ^ (~b44 & b46)
    s43 = b43 ^ (~b45 & b47)
    s44 = b44 ^ (~b46 & b48)
    s45 = b45 ^ (~b47 & b49)
    s46 = b46 ^ (~b48 & b40)
    s47 = b47 ^ (~b49 & b41)
    s48 = b48 ^ (~b40 & b42)
    s49 = b49 ^ (~b41 & b43)
    s0 ^= RC_LO[round]!
    s1 ^= RC_HI[round]!
  }
  st[0] = s0
  st[1] = s1
  st[2] = s2
  st[3] = s3
  st[4] = s4
  st[5] = s5
  st[6] = s6
  st[7] = s7
  st[8] = s8
  st[9] = s9
  st[10] = s10
  st[11] = s11
  st[12] = s12
  st[13] = s13
  st[14] = s14
  st[15] = s15
  st[16] = s16
  st[17] = s17
  st[18] = s18
  st[19] = s19
  st[20] = s20
  st[21] = s21
  st[22] = s22
  st[23] = s23
  st[24] = s24
  st[25] = s25
  st[26] = s26
  st[27] = s27
  st[28] = s28
  st[29] = s29
  st[30] = s30
  st[31] = s31
  st[32] = s32
  st[33] = s33
  st[34] = s34
  st[35] = s35
  st[36] = s36
  st[37] = s37
  st[38] = s38
  st[39] = s39
  st[40] = s40
  st[41] = s41
  st[42] = s42
  st[43] = s43
  st[44] = s44
  st[45] = s45
  st[46] = s46
  st[47] = s47
  st[48] = s48
  st[49] = s49
}
