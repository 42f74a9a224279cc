/**
 * Streaming multipart/form-data parser for `add` bodies (RFC 7578 / 2046), with bounded buffers.
 *
 * Parts are yielded one at a time; a part's body is an async iterable of views into the received
 * chunks and must be consumed (or is skipped) before the next part is read. Memory held at any time is
 * one received chunk plus the delimiter length, or at most RPC_MAX_PART_HEADER_BYTES while a part's
 * headers are read. A file's bytes are never collected.
 *
 * Framing errors (no boundary, headers without an end, a body that ends before the closing
 * delimiter) are BAD_REQUEST with Kubo's Code 1.
 */
import { clientError } from './kubo-error.ts'

export interface PartHeaders {
  /** Lower-cased header names. */
  raw: Map<string, string>
  /** Content-Disposition's `name` parameter (Kubo: "file", "file-1", "dir"…, maybe with `?mode=…&mtime=…`). */
  fieldName: string
  /** Content-Disposition's `filename` parameter, still URL-encoded as the client sent it (undefined if absent). */
  filename: string | undefined
  /** Media type without parameters, lower-cased ('' if absent). */
  contentType: string
}

export interface MultipartPart {
  headers: PartHeaders
  body: AsyncIterable<Uint8Array>
}

export interface MultipartLimits {
  maxHeaderBytes: number
  /** Bytes after the closing delimiter read and ignored (more: the rest is left unread). Default 0. */
  maxEpilogueBytes?: number
}

const CRLF = Buffer.from('\r\n')
const HEADER_END = Buffer.from('\r\n\r\n')

/** The boundary of a `multipart/form-data; boundary=…` content type, or a client error. */
export function boundaryOf(contentType: string | undefined): string {
  if (!contentType) throw clientError('request has no Content-Type: add takes a multipart/form-data body')
  const { type, params } = parseHeaderValue(contentType)
  if (type !== 'multipart/form-data' && type !== 'multipart/mixed') {
    throw clientError(`unsupported Content-Type ${JSON.stringify(type)}: add takes a multipart/form-data body`)
  }
  const b = params.get('boundary')
  if (!b || b.length > 70) throw clientError('multipart: boundary is missing or longer than 70 characters')
  return b
}

/** Parses `type; a=b; c="d"` (RFC 7231 media type / RFC 6266 disposition), names lower-cased. */
export function parseHeaderValue(value: string): { type: string; params: Map<string, string> } {
  const params = new Map<string, string>()
  let i = value.indexOf(';')
  const type = (i < 0 ? value : value.slice(0, i)).trim().toLowerCase()
  while (i >= 0 && i < value.length) {
    i++
    while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++
    const eq = value.indexOf('=', i)
    if (eq < 0) break
    const name = value.slice(i, eq).trim().toLowerCase()
    let j = eq + 1
    let v = ''
    if (value[j] === '"') {
      j++
      while (j < value.length && value[j] !== '"') {
        if (value[j] === '\\' && j + 1 < value.length) j++
        v += value[j]
        j++
      }
      j++ // closing quote
      const next = value.indexOf(';', j)
      i = next
    } else {
      const next = value.indexOf(';', j)
      v = (next < 0 ? value.slice(j) : value.slice(j, next)).trim()
      i = next
    }
    if (name.endsWith('*')) {
      // RFC 5987 ext-value: charset'lang'percent-encoded
      const m = /^([^']*)'[^']*'(.*)$/.exec(v)
      if (m) {
        try {
          params.set(name.slice(0, -1), decodeURIComponent(m[2]))
        } catch {
          // keep the plain parameter, if any
        }
      }
      continue
    }
    if (!params.has(name)) params.set(name, v)
    if (i < 0) break
  }
  return { type, params }
}

function parseHeaders(block: Buffer): PartHeaders {
  const raw = new Map<string, string>()
  for (const line of block.toString('utf8').split('\r\n')) {
    if (line === '') continue
    const colon = line.indexOf(':')
    if (colon <= 0) throw clientError(`multipart: malformed part header ${JSON.stringify(line.slice(0, 100))}`)
    raw.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
  }
  const disposition = raw.get('content-disposition')
  let fieldName = ''
  let filename: string | undefined
  if (disposition !== undefined) {
    const d = parseHeaderValue(disposition)
    fieldName = d.params.get('name') ?? ''
    filename = d.params.get('filename')
  }
  const ct = raw.get('content-type')
  return { raw, fieldName, filename, contentType: ct ? parseHeaderValue(ct).type : '' }
}

/**
 * Pull-based reader over the body chunks: a window of unconsumed bytes and the source iterator.
 * Exported for tests.
 */
class Window {
  #buf: Buffer = Buffer.alloc(0)
  #done = false
  readonly #it: AsyncIterator<Uint8Array>

  constructor(source: AsyncIterable<Uint8Array>, initial?: Buffer) {
    this.#it = source[Symbol.asyncIterator]()
    if (initial) this.#buf = initial
  }

  get buffer(): Buffer {
    return this.#buf
  }

  get ended(): boolean {
    return this.#done
  }

  consume(n: number): void {
    this.#buf = this.#buf.subarray(n)
  }

  /** Reads one more chunk; false at the end of the source. */
  async more(): Promise<boolean> {
    if (this.#done) return false
    const r = await this.#it.next()
    if (r.done) {
      this.#done = true
      return false
    }
    const chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength)
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    return true
  }

  /** Reads to the end of the source, discarding, unless more than `max` bytes remain. */
  async drain(max: number): Promise<void> {
    let seen = this.#buf.length
    this.#buf = Buffer.alloc(0)
    while (seen <= max && (await this.more())) {
      seen += this.#buf.length
      this.#buf = Buffer.alloc(0)
    }
  }

  async close(): Promise<void> {
    if (!this.#done) await this.#it.return?.()
  }
}

/**
 * Yields the parts of a multipart body. The caller must finish iterating a part's body before asking
 * for the next part (unread bytes are skipped).
 */
export async function* parseMultipart(
  source: AsyncIterable<Uint8Array>,
  boundary: string,
  limits: MultipartLimits,
): AsyncGenerator<MultipartPart> {
  // Every delimiter, the first included, is searched as CRLF "--" boundary: a virtual CRLF is put in front.
  const delimiter = Buffer.from(`\r\n--${boundary}`)
  const w = new Window(source, Buffer.from(CRLF))
  try {
    // Preamble: skip to the first delimiter.
    await skipToDelimiter(w, delimiter)
    for (;;) {
      // After a delimiter: "--" closes the body, otherwise optional whitespace then CRLF starts a part.
      while (w.buffer.length < 2) if (!(await w.more())) throw clientError('multipart: NextPart: EOF')
      if (w.buffer[0] === 0x2d && w.buffer[1] === 0x2d) {
        // The closing delimiter: read the (normally empty) epilogue, a bounded amount, so the connection stays usable.
        await w.drain(limits.maxEpilogueBytes ?? 0)
        return
      }
      let lineEnd: number
      for (;;) {
        lineEnd = w.buffer.indexOf(CRLF)
        if (lineEnd >= 0) break
        if (w.buffer.length > 1024) throw clientError('multipart: boundary line too long')
        if (!(await w.more())) throw clientError('multipart: NextPart: EOF')
      }
      if (w.buffer.subarray(0, lineEnd).toString('latin1').trim() !== '')
        throw clientError('multipart: bad boundary line')
      w.consume(lineEnd + 2)
      // Part headers up to the empty line (an immediately empty line means no headers).
      let headers: PartHeaders
      for (;;) {
        if (w.buffer.length >= 2 && w.buffer[0] === 0x0d && w.buffer[1] === 0x0a) {
          w.consume(2)
          headers = parseHeaders(Buffer.alloc(0))
          break
        }
        const end = w.buffer.indexOf(HEADER_END)
        if (end >= 0) {
          if (end > limits.maxHeaderBytes)
            throw clientError(`multipart: part headers exceed ${limits.maxHeaderBytes} bytes`)
          headers = parseHeaders(w.buffer.subarray(0, end))
          w.consume(end + 4)
          break
        }
        if (w.buffer.length > limits.maxHeaderBytes)
          throw clientError(`multipart: part headers exceed ${limits.maxHeaderBytes} bytes`)
        if (!(await w.more())) throw clientError('multipart: NextPart: EOF')
      }
      const body = new PartBody(w, delimiter)
      yield { headers, body }
      await body.drain()
    }
  } finally {
    await w.close()
  }
}

async function skipToDelimiter(w: Window, delimiter: Buffer): Promise<void> {
  for (;;) {
    const i = w.buffer.indexOf(delimiter)
    if (i >= 0) {
      w.consume(i + delimiter.length)
      return
    }
    // Keep only what could be the start of a delimiter.
    w.consume(Math.max(0, w.buffer.length - delimiter.length + 1))
    if (!(await w.more())) throw clientError('multipart: NextPart: EOF')
  }
}

/** One part's body: the bytes up to the next delimiter, as views (no copies). */
class PartBody implements AsyncIterable<Uint8Array> {
  #finished = false
  #started = false

  constructor(
    readonly w: Window,
    readonly delimiter: Buffer,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#started) throw new Error('a part body can be read once')
    this.#started = true
    const w = this.w
    const d = this.delimiter
    while (!this.#finished) {
      const i = w.buffer.indexOf(d)
      if (i >= 0) {
        const data = w.buffer.subarray(0, i)
        w.consume(i + d.length)
        this.#finished = true
        if (data.length > 0) yield data
        return
      }
      // Everything but a possible delimiter prefix at the end is data.
      const safe = w.buffer.length - d.length + 1
      if (safe > 0) {
        const data = w.buffer.subarray(0, safe)
        w.consume(safe)
        yield data
      }
      if (!(await w.more())) throw clientError('multipart: NextPart: EOF')
    }
  }

  /** Skips what the consumer did not read. */
  async drain(): Promise<void> {
    if (this.#finished) return
    if (!this.#started) {
      for await (const _ of this) {
        /* skip */
      }
      return
    }
    // Started but abandoned mid-way (the consumer threw): skip to the delimiter.
    await skipToDelimiter(this.w, this.delimiter)
    this.#finished = true
  }
}
