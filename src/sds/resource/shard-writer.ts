/**
 * Writes one shard file (format 2, shard-file.ts) into tmp/: the data as it arrives, then the hash
 * trailer once every chunk has been verified.
 *
 * Direct I/O (O_DIRECT) where the file system allows it: each staging buffer goes from the node's
 * memory to the disk without being copied into the page cache. Why: a node writes each shard once
 * and serves it later, so the page-cache copy is pure cost, and on this project's VMs it is a large
 * one — touching fresh page-cache pages costs milliseconds of system CPU per MiB, many times what
 * direct writes cost at the same wall time (bench/README.md, "Where the time goes" and
 * "Measurements cited by the code"). Reads stay buffered:
 * served shards are hot data and the page cache is what keeps them hot.
 *
 * Direct I/O wants aligned memory, offsets and lengths (DIRECT_IO_ALIGN_BYTES). Pieces are written
 * at increasing offsets from 0; every piece but the last must be a multiple of the alignment (the
 * pump's staging buffers are). The last piece's unaligned tail is kept and written with the trailer
 * as one zero-padded block, after which the file is cut to its exact length. A piece not in the
 * aligned pool is copied into it first. Where O_DIRECT is refused (tmpfs, some network file
 * systems), the file is written through the page cache instead, with the same calls.
 */
import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { Writable } from 'node:stream'
import { StratosError } from '../../errors.ts'
import { DIRECT_IO_ALIGN_BYTES } from '../../limits.ts'
import { alignUp, type AlignedBufferPool } from '../../util/aligned-buffers.ts'

const BASE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL

export interface ShardFileWriterOptions {
  /** Aligned staging buffers (the pump's pool). */
  pool: AlignedBufferPool
  /** Try O_DIRECT (default true); false writes through the page cache. */
  direct?: boolean
}

export class ShardFileWriter extends Writable {
  readonly path: string
  readonly #pool: AlignedBufferPool
  #fh: FileHandle
  #direct: boolean
  /** File offset of the next aligned write. */
  #position = 0
  /** The last piece's unaligned tail, waiting for the trailer (a pool buffer). */
  #tail: Buffer | undefined
  #tailLength = 0
  /** The write in progress, so destroy() closes the file only after it. */
  #writing: Promise<unknown> = Promise.resolve()
  #closed = false

  private constructor(path: string, fh: FileHandle, direct: boolean, pool: AlignedBufferPool) {
    // One piece at a time, in order; the pump bounds how many wait.
    // No autoDestroy: the file stays open after the last piece for the trailer (complete()).
    super({ highWaterMark: 0, decodeStrings: false, autoDestroy: false })
    this.path = path
    this.#fh = fh
    this.#direct = direct
    this.#pool = pool
  }

  /** Creates the file (it must not exist); `direct` on the result says whether O_DIRECT is in use. */
  static async create(path: string, options: ShardFileWriterOptions): Promise<ShardFileWriter> {
    const wantDirect = (options.direct ?? true) && constants.O_DIRECT !== undefined
    if (wantDirect) {
      try {
        return new ShardFileWriter(path, await open(path, BASE_FLAGS | constants.O_DIRECT, 0o644), true, options.pool)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e
      }
    }
    return new ShardFileWriter(path, await open(path, BASE_FLAGS, 0o644), false, options.pool)
  }

  /** Whether the data bypasses the page cache. */
  get direct(): boolean {
    return this.#direct
  }

  override _write(piece: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const work = this.#writePiece(piece)
    this.#writing = work.catch(() => {})
    work.then(
      () => callback(),
      (e: Error) => callback(e),
    )
  }

  async #writePiece(piece: Buffer): Promise<void> {
    if (this.#tailLength > 0) throw new StratosError('INTERNAL', 'a shard piece after a partial one')
    const aligned = piece.length - (piece.length % DIRECT_IO_ALIGN_BYTES)
    if (aligned > 0) {
      if (this.#direct && !this.#pool.owns(piece)) {
        // Not from the aligned pool: go through one of its buffers.
        for (let off = 0; off < aligned; off += this.#pool.slotBytes) {
          const n = Math.min(this.#pool.slotBytes, aligned - off)
          const buf = this.#pool.take()
          try {
            piece.copy(buf, 0, off, off + n)
            await this.#writeAt(buf, n, this.#position)
          } finally {
            this.#pool.give(buf)
          }
          this.#position += n
        }
      } else {
        await this.#writeAt(piece, aligned, this.#position)
        this.#position += aligned
      }
    }
    if (aligned < piece.length) {
      this.#tail = this.#pool.take()
      this.#tailLength = piece.copy(this.#tail, 0, aligned)
    }
  }

  /**
   * Writes the trailer after the data, cuts the file to its exact length, runs `beforeClose` (the
   * store's fdatasync in `--sync always`) and closes the file. Call once every piece is written
   * (after 'finish').
   */
  async complete(trailer: Buffer, beforeClose?: (fh: FileHandle) => Promise<void>): Promise<void> {
    const tail = this.#tail ?? this.#pool.take()
    this.#tail = undefined
    try {
      const length = this.#tailLength + trailer.length
      if (length > tail.length)
        throw new StratosError('INTERNAL', `a ${trailer.length}-byte trailer does not fit a staging buffer`)
      trailer.copy(tail, this.#tailLength)
      const padded = this.#direct ? alignUp(length) : length
      tail.fill(0, length, padded)
      await this.#writeAt(tail, padded, this.#position)
      if (padded !== length) await this.#fh.truncate(this.#position + length)
    } finally {
      this.#tailLength = 0
      this.#pool.give(tail)
    }
    if (beforeClose) await beforeClose(this.#fh)
    this.#closed = true
    await this.#fh.close()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    void this.#writing
      .then(async () => {
        if (this.#tail) this.#pool.give(this.#tail)
        this.#tail = undefined
        if (!this.#closed) {
          this.#closed = true
          await this.#fh.close().catch(() => {})
        }
      })
      .then(() => callback(error))
  }

  async #writeAt(buf: Buffer, length: number, position: number): Promise<void> {
    let off = 0
    while (off < length) {
      let bytesWritten: number
      try {
        ;({ bytesWritten } = await this.#fh.write(buf, off, length - off, position + off))
      } catch (e) {
        // O_DIRECT accepted at open but refused for this write (alignment rules of an unusual
        // device): go on through the page cache.
        if (!this.#direct || (e as NodeJS.ErrnoException).code !== 'EINVAL') throw e
        await this.#reopenBuffered()
        continue
      }
      if (bytesWritten === 0) throw new StratosError('INTERNAL', 'the disk accepted no bytes')
      off += bytesWritten
    }
  }

  async #reopenBuffered(): Promise<void> {
    const old = this.#fh
    this.#fh = await open(this.path, constants.O_WRONLY)
    this.#direct = false
    await old.close().catch(() => {})
  }
}
