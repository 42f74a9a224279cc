/**
 * Streaming tar writer for `get` (POSIX ustar; a PAX extended header carries names that do not fit
 * ustar's 100+155 bytes or are not ASCII). Headers as Kubo's tar writer makes them: directories mode
 * 0777, files 0644, modification time "now". File bytes are passed through as they arrive, padded to
 * 512-byte blocks; the archive ends with two zero blocks.
 */
const BLOCK = 512

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0'
}

function putString(buf: Buffer, s: Buffer, offset: number, length: number): void {
  s.copy(buf, offset, 0, Math.min(length, s.length))
}

function headerBlock(p: {
  name: Buffer
  prefix?: Buffer
  size: number
  mode: number
  mtime: number
  type: string
}): Buffer {
  const h = Buffer.alloc(BLOCK)
  putString(h, p.name, 0, 100)
  h.write(octal(p.mode, 8), 100, 'ascii')
  h.write(octal(0, 8), 108, 'ascii') // uid
  h.write(octal(0, 8), 116, 'ascii') // gid
  h.write(octal(p.size, 12), 124, 'ascii')
  h.write(octal(p.mtime, 12), 136, 'ascii')
  h.fill(0x20, 148, 156) // checksum placeholder: spaces
  h.write(p.type, 156, 'ascii')
  h.write('ustar\0', 257, 'ascii')
  h.write('00', 263, 'ascii')
  if (p.prefix) putString(h, p.prefix, 345, 155)
  let sum = 0
  for (const b of h) sum += b
  h.write(octal(sum, 7) + ' ', 148, 'ascii')
  return h
}

function padding(size: number): Buffer {
  const r = size % BLOCK
  return r === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - r)
}

/** A PAX record "len path=value\n" (len counts itself). */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`
  let len = Buffer.byteLength(body) + 1
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body)
  return Buffer.from(`${len}${body}`)
}

/** The header block(s) of one entry: ustar if the name fits, else a PAX header first. */
export function tarHeader(name: string, p: { size: number; directory: boolean; mtime: number }): Buffer {
  const full = p.directory && !name.endsWith('/') ? `${name}/` : name
  const mode = p.directory ? 0o777 : 0o644
  const type = p.directory ? '5' : '0'
  const size = p.directory ? 0 : p.size
  const bytes = Buffer.from(full)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ustar names are 7-bit ASCII without NUL, control characters included
  const ascii = /^[\x01-\x7f]*$/.test(full)
  if (ascii && bytes.length <= 100) return headerBlock({ name: bytes, size, mode, mtime: p.mtime, type })
  if (ascii && bytes.length <= 256) {
    // Split at a '/' so that prefix ≤ 155 and name ≤ 100.
    for (let i = bytes.length - 1; i > 0; i--) {
      if (bytes[i] === 0x2f && i <= 155 && bytes.length - i - 1 <= 100 && bytes.length - i - 1 > 0) {
        return headerBlock({
          name: bytes.subarray(i + 1),
          prefix: bytes.subarray(0, i),
          size,
          mode,
          mtime: p.mtime,
          type,
        })
      }
    }
  }
  const pax = paxRecord('path', full)
  const paxHeader = headerBlock({
    name: Buffer.from('PaxHeaders/entry'),
    size: pax.length,
    mode: 0o644,
    mtime: p.mtime,
    type: 'x',
  })
  const shortName = Buffer.from(full.replace(/[^\x20-\x7e]/g, '_')).subarray(0, 100)
  return Buffer.concat([
    paxHeader,
    pax,
    padding(pax.length),
    headerBlock({ name: shortName, size, mode, mtime: p.mtime, type }),
  ])
}

export interface TarEntry {
  /** Path inside the archive, '/'-separated. */
  name: string
  directory: boolean
  size: number
  /** File bytes (exactly `size` of them); absent for directories. */
  content?: () => AsyncIterable<Uint8Array>
}

/** Streams a tar archive of the entries, in order. A file whose content is not `size` bytes is an error. */
export async function* tarStream(entries: AsyncIterable<TarEntry>, mtime: number): AsyncIterable<Uint8Array> {
  for await (const e of entries) {
    yield tarHeader(e.name, { size: e.size, directory: e.directory, mtime })
    if (e.directory) continue
    let n = 0
    for await (const chunk of e.content?.() ?? []) {
      n += chunk.length
      if (n > e.size) throw new Error(`${e.name}: more bytes than its size ${e.size}`)
      yield chunk
    }
    if (n !== e.size) throw new Error(`${e.name}: ${n} bytes, expected ${e.size}`)
    const pad = padding(e.size)
    if (pad.length) yield pad
  }
  yield Buffer.alloc(2 * BLOCK)
}
