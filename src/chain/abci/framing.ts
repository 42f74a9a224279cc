/**
 * The framing of ABCI's socket protocol (CometBFT v0.38): every message is its protobuf bytes preceded by their
 * length as an unsigned varint (LEB128, as Go's binary.PutUvarint writes it). Pure: no sockets here, the server
 * (src/chain/node/abci/server.ts) feeds received chunks to a `FrameDecoder` and sends `encodeFrame` output.
 *
 * A frame longer than the decoder's bound (default MAX_ABCI_MESSAGE_BYTES) throws before any of its body is
 * buffered, so a peer cannot make us hold more than the bound plus one chunk; so does a length prefix longer
 * than 8 bytes (a length beyond 2^56 is never legitimate).
 */
import { StratosError } from '../../errors.ts'
import { MAX_ABCI_MESSAGE_BYTES } from '../../limits.ts'

/** The unsigned varint of `n` (a safe non-negative integer). */
export function encodeUvarint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a varint length: ${n}`)
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return Uint8Array.from(out)
}

/** One message with its length prefix. */
export function encodeFrame(message: Uint8Array): Uint8Array {
  const prefix = encodeUvarint(message.length)
  const out = new Uint8Array(prefix.length + message.length)
  out.set(prefix, 0)
  out.set(message, prefix.length)
  return out
}

const MAX_PREFIX_BYTES = 8

/** Splits a byte stream into messages; `push` returns the messages completed by a chunk, in order. */
export class FrameDecoder {
  readonly #maxBytes: number
  #chunks: Buffer[] = []
  #buffered = 0

  constructor(maxBytes: number = MAX_ABCI_MESSAGE_BYTES) {
    this.#maxBytes = maxBytes
  }

  /** Bytes received but not yet part of a complete message. */
  get buffered(): number {
    return this.#buffered
  }

  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length > 0) {
      this.#chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))
      this.#buffered += chunk.length
    }
    const out: Uint8Array[] = []
    let buf = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered)
    let pos = 0
    for (;;) {
      const header = readUvarint(buf, pos)
      if (header === undefined) break
      const [length, prefixBytes] = header
      if (length > this.#maxBytes)
        throw new StratosError('PAYLOAD_TOO_LARGE', `ABCI message of ${length} bytes exceeds ${this.#maxBytes}`, {
          max: this.#maxBytes,
        })
      const start = pos + prefixBytes
      if (buf.length - start < length) break
      out.push(new Uint8Array(buf.subarray(start, start + length)))
      pos = start + length
    }
    if (pos > 0) buf = buf.subarray(pos)
    this.#chunks = buf.length > 0 ? [buf] : []
    this.#buffered = buf.length
    return out
  }
}

/** [value, bytes] of the varint at `pos`, or undefined when the buffer ends inside it. */
function readUvarint(buf: Uint8Array, pos: number): [number, number] | undefined {
  let value = 0
  let scale = 1
  for (let i = 0; i < MAX_PREFIX_BYTES; i++) {
    if (pos + i >= buf.length) return undefined
    const b = buf[pos + i]!
    value += (b & 0x7f) * scale
    if (b < 0x80) return [value, i + 1]
    scale *= 0x80
  }
  throw new StratosError('BAD_REQUEST', `ABCI length prefix longer than ${MAX_PREFIX_BYTES} bytes`)
}
