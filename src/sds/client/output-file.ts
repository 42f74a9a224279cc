/**
 * The file a download writes (`StratosClient.get`): chunks appended in order, made durable by `finish`.
 *
 * Chunks whose memory is page-aligned (an aligned pool's buffers: RecyclingBufferPool `directIoReady`) and that land
 * on aligned file offsets go to the disk with direct I/O (O_DIRECT): the device reads them from the download's own
 * buffers, with no copy into the page cache. That copy, with the page-cache pages it allocates and the write-back
 * behind it, was the largest single cost of a whole-process `stratos get` (bench/README.md, issue 15). Everything
 * else — a file's unaligned tail, a range that starts mid-block, a file system that refuses O_DIRECT (tmpfs) — is
 * written through the page cache, as before, with an fdatasync started every CLIENT_WRITE_SYNC_BYTES of it (one at
 * a time, not awaited) so that the closing fsync finds little left to write.
 *
 * Durability is the same either way: `finish` returns once an fsync has covered every byte and the file's size.
 * A file written with direct I/O is not in the page cache afterwards (a program reading it next reads the disk).
 */
import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { CLIENT_WRITE_SYNC_BYTES, DIRECT_IO_ALIGN_BYTES } from '../../limits.ts'
import { isAligned } from '../../util/aligned-buffers.ts'
import { localFileError } from './source.ts'

export class OutputFile {
  /** Bytes handed to write() so far (the next chunk's file offset). */
  bytes = 0
  /** Bytes that went through direct I/O (tests, diagnostics). */
  directBytes = 0
  readonly #direct: FileHandle | undefined
  /** Set once the file system refused a direct write: the page cache from then on. */
  #directRefused = false
  #unsynced = 0
  #syncing: Promise<void> | undefined
  #syncError: unknown

  private constructor(
    readonly path: string,
    readonly fh: FileHandle,
    direct: FileHandle | undefined,
  ) {
    this.#direct = direct
  }

  /** Creates `path` (it must not exist); `direct: false` writes everything through the page cache. */
  static async create(path: string, options: { direct?: boolean } = {}): Promise<OutputFile> {
    const fh = await open(path, 'wx').catch((e: unknown) => {
      throw localFileError(e, path)
    })
    let direct: FileHandle | undefined
    if ((options.direct ?? true) && constants.O_DIRECT !== undefined) {
      // EINVAL where the file system has no direct I/O (tmpfs, some network file systems): page cache only.
      direct = await open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => undefined)
    }
    return new OutputFile(path, fh, direct)
  }

  /** Whether direct I/O is in use (false when the file system refused it). */
  get direct(): boolean {
    return this.#direct !== undefined && !this.#directRefused
  }

  /**
   * Appends `chunk` (its offset is taken when this is called, so several writes may run at once); `aligned` says
   * its memory starts on a DIRECT_IO_ALIGN_BYTES boundary. Resolves once the bytes are written (the buffer may then
   * be reused); a failed write rejects with the system's error as it is.
   */
  async write(chunk: Uint8Array, aligned: boolean): Promise<void> {
    if (this.#syncError) throw localFileError(this.#syncError, this.path)
    const position = this.bytes
    this.bytes += chunk.length
    let done = 0
    const directBytes = chunk.length - (chunk.length % DIRECT_IO_ALIGN_BYTES)
    if (this.#direct && !this.#directRefused && aligned && directBytes > 0 && isAligned(position)) {
      try {
        await writeFully(this.#direct, chunk, 0, directBytes, position)
        done = directBytes
        this.directBytes += directBytes
      } catch (e) {
        if ((e as { code?: string }).code !== 'EINVAL') throw e
        // O_DIRECT accepted at open but refused for this write (alignment rules of an unusual device): the page
        // cache from here on (the refused write wrote nothing; its bytes go through the page cache below).
        this.#directRefused = true
      }
    }
    if (done < chunk.length) {
      await writeFully(this.fh, chunk, done, chunk.length - done, position + done)
      this.#unsynced += chunk.length - done
      if (this.#unsynced >= CLIENT_WRITE_SYNC_BYTES && !this.#syncing) {
        this.#unsynced = 0
        this.#syncing = this.fh.datasync().then(
          () => {
            this.#syncing = undefined
          },
          (e: unknown) => {
            this.#syncError ??= e
            this.#syncing = undefined
          },
        )
      }
    }
  }

  /** Makes every byte and the size durable (fsync), then closes the file. Call once no write() is running. */
  async finish(): Promise<void> {
    await this.#syncing
    if (this.#syncError) throw localFileError(this.#syncError, this.path)
    await this.fh.sync()
    await this.close()
  }

  /** Closes the file without syncing (after a failure; the caller removes it). Call once no write() is running. */
  async close(): Promise<void> {
    await this.#syncing
    await this.#direct?.close().catch(() => undefined)
    await this.fh.close().catch(() => undefined)
  }
}

async function writeFully(fh: FileHandle, buf: Uint8Array, from: number, length: number, position: number) {
  let off = 0
  while (off < length) {
    const { bytesWritten } = await fh.write(buf, from + off, length - off, position + off)
    if (bytesWritten === 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' })
    off += bytesWritten
  }
}
