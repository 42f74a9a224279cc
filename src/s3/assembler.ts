/**
 * Speculative assembly of a multipart object while its parts arrive.
 *
 * Most clients (aws-cli, lib-storage, rclone, s3cmd) complete an upload with exactly the parts 1…N they sent. So as
 * soon as part 1 is staged, an Assembler starts one network upload (through the SDK, as the object's wallet) fed with
 * the staged parts in order, each as soon as it is staged, and waits for the next. CompleteMultipartUpload then only
 * has to name where it ends: if its list is exactly the parts fed so far (and the ones still to come) with the same
 * ETags, the upload is finished with the tail and committed — the bytes moved into the network while the client was
 * still sending. Anything else (a part replaced after it was fed, a gap, a subset, the assembly failed, the gateway
 * restarted) abandons the speculation and Complete streams the staged parts itself (multipart.ts), as before.
 * Abort and expiry stop it; an abandoned speculative upload is aborted at the meta node (its shards are freed).
 */
import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import { StratosError } from '../errors.ts'
import type { PutResult } from '../sds/client/types.ts'
import type { S3Services } from './context.ts'
import type { PartRecord, UploadRecord } from './store.ts'
import type { StratosClient } from '../sds/client/client.ts'

export class Assembler {
  readonly uploadId: string
  /** Parts fed so far, in order (1, 2, …). */
  readonly fed: PartRecord[] = []
  readonly result: Promise<PutResult>
  readonly #ac = new AbortController()
  #wake: (() => void) | undefined
  /** Set by finish(): feed exactly this many parts, then end. */
  #last: number | undefined
  #failed = false

  constructor(s: S3Services, u: UploadRecord, client: StratosClient, name: string) {
    this.uploadId = u.uploadId
    const dir = join(s.partsDir, u.uploadId)
    const self = this
    async function* feed(): AsyncGenerator<Uint8Array> {
      for (;;) {
        if (self.#ac.signal.aborted) throw new StratosError('ABORTED', 'speculative assembly abandoned')
        const n = self.fed.length + 1
        if (self.#last !== undefined && n > self.#last) return
        const p = s.store.parts.get([u.uploadId, n])
        if (p) {
          self.fed.push(p)
          yield* createReadStream(join(dir, p.file), { highWaterMark: 1 << 20 })
          continue
        }
        await new Promise<void>((resolve) => {
          self.#wake = resolve
        })
      }
    }
    this.result = client.put(feed(), { name, public: u.public === true, signal: this.#ac.signal })
    this.result.catch(() => {
      this.#failed = true
    })
  }

  /** A part was staged (or replaced): a waiting feed looks again. */
  poke(): void {
    const w = this.#wake
    this.#wake = undefined
    w?.()
  }

  /**
   * The upload completes with exactly `parts` (numbers 1…N in order): true when the speculation can end with them
   * (every part fed so far is the listed one, unchanged); the caller then awaits `result`.
   */
  finish(parts: PartRecord[]): boolean {
    if (this.#failed || this.#ac.signal.aborted) return false
    if (parts.some((p, i) => p.partNumber !== i + 1)) return false
    if (this.fed.length > parts.length) return false
    for (const [i, f] of this.fed.entries()) if (f.md5 !== parts[i].md5 || f.file !== parts[i].file) return false
    this.#last = parts.length
    this.poke()
    return true
  }

  /** Abandons the speculation (its network upload is aborted). */
  abandon(): void {
    this.#ac.abort()
    this.poke()
  }
}

/** The speculative assemblies of this gateway's open multipart uploads (in memory: a restart falls back to Complete). */
export class Assemblers {
  readonly #all = new Map<string, Assembler>()

  get(uploadId: string): Assembler | undefined {
    return this.#all.get(uploadId)
  }

  /** Starts the assembly of `u` once its part 1 is staged; wakes it on every later part. */
  onPart(s: S3Services, u: UploadRecord, partNumber: number, client: () => Promise<StratosClient>, name: string): void {
    const a = this.#all.get(u.uploadId)
    if (a) {
      // A part it already fed was replaced: the speculation is wrong from here on.
      if (partNumber <= a.fed.length) this.drop(u.uploadId)
      else a.poke()
      return
    }
    if (partNumber !== 1) return
    void client().then(
      (c) => {
        if (this.#all.has(u.uploadId) || !s.store.uploads.get(u.uploadId)) return
        this.#all.set(u.uploadId, new Assembler(s, u, c, name))
      },
      () => {},
    )
  }

  /** Takes the assembly out (Complete uses or abandons it). */
  take(uploadId: string): Assembler | undefined {
    const a = this.#all.get(uploadId)
    this.#all.delete(uploadId)
    return a
  }

  drop(uploadId: string): void {
    this.take(uploadId)?.abandon()
  }

  dropAll(): void {
    for (const id of [...this.#all.keys()]) this.drop(id)
  }
}
