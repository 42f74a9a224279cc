/**
 * Response shapes of go-ipfs-cmds over HTTP, as Kubo sends them:
 *  - a single value: `application/json`, the JSON plus "\n";
 *  - a channel of values (add, pin/ls?stream…): `X-Chunked-Output: 1`, newline-delimited JSON, chunked;
 *  - a byte stream (cat, get, block/get, dag/export): `X-Stream-Output: 1`, raw bytes.
 * Every response announces the `X-Stream-Error` trailer, where an error after the head is reported.
 */
import type { ServerResponse } from 'node:http'
import { once } from 'node:events'
import { StratosError } from '../../errors.ts'

const EXPOSED = 'X-Stream-Output, X-Chunked-Output, X-Content-Length'

/** `streamed`: chunked responses announce the X-Stream-Error trailer (node:http allows trailers only there). */
function commonHeaders(streamed = true): Record<string, string> {
  return {
    'access-control-allow-headers': EXPOSED,
    'access-control-expose-headers': EXPOSED,
    ...(streamed ? { trailer: 'X-Stream-Error' } : {}),
    vary: 'Origin',
  }
}

/** One JSON value (Kubo's cmds.Single / plain Emit of one value). */
export function sendValue(res: ServerResponse, value: unknown): void {
  const text = JSON.stringify(value) + '\n'
  res.writeHead(200, {
    ...commonHeaders(false),
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

/** Writes `data` and resolves once the socket has taken all of it (the write callback), or fails if it closes first. */
async function writeCompletely(res: ServerResponse, data: Uint8Array): Promise<void> {
  if (res.destroyed) throw new StratosError('ABORTED', 'client went away')
  const listeners = new AbortController()
  try {
    await Promise.race([
      new Promise<void>((resolve, reject) => {
        res.write(data, (err) => (err ? reject(new StratosError('ABORTED', 'client went away')) : resolve()))
      }),
      once(res, 'close', { signal: listeners.signal }).then(() => {
        throw new StratosError('ABORTED', 'client went away')
      }),
    ])
  } finally {
    listeners.abort()
  }
}

async function write(res: ServerResponse, data: string | Uint8Array): Promise<void> {
  if (res.destroyed) throw new StratosError('ABORTED', 'client went away')
  if (res.write(data)) return
  // Wait for the socket to drain, or fail if it closes first; both listeners go once either fires.
  const listeners = new AbortController()
  try {
    await Promise.race([
      once(res, 'drain', { signal: listeners.signal }),
      once(res, 'close', { signal: listeners.signal }).then(() => {
        throw new StratosError('ABORTED', 'client went away')
      }),
    ])
  } finally {
    listeners.abort()
  }
}

/** Newline-delimited JSON values; the head goes out with the first value (or at end()). */
export class NdjsonStream {
  #started = false

  constructor(readonly res: ServerResponse) {}

  get started(): boolean {
    return this.#started
  }

  #head(): void {
    if (this.#started) return
    this.#started = true
    this.res.writeHead(200, { ...commonHeaders(), 'content-type': 'application/json', 'x-chunked-output': '1' })
  }

  async write(value: unknown): Promise<void> {
    this.#head()
    await write(this.res, JSON.stringify(value) + '\n')
  }

  end(): void {
    this.#head()
    this.res.end()
  }
}

/** Raw bytes (cat, get, block/get, dag/export); the head goes out with the first chunk. */
export async function sendBytes(
  res: ServerResponse,
  chunks: AsyncIterable<Uint8Array>,
  o: {
    contentType?: string
    length?: number
    /**
     * The chunks' buffers are reused once the next chunk is asked for: each is written completely (its write
     * callback: the socket holds no reference to it any more) before the next is pulled.
     */
    recycled?: boolean
  } = {},
): Promise<void> {
  let started = false
  const head = (): void => {
    if (started) return
    started = true
    res.writeHead(200, {
      ...commonHeaders(),
      'content-type': o.contentType ?? 'text/plain',
      'x-stream-output': '1',
      ...(o.length !== undefined ? { 'x-content-length': String(o.length) } : {}),
    })
  }
  for await (const chunk of chunks) {
    head()
    if (chunk.length > 0) await (o.recycled ? writeCompletely(res, chunk) : write(res, chunk))
  }
  head()
  res.end()
}
