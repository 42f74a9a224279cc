/**
 * Speculative assembly of a multipart object while its parts arrive.
 *
 * Most clients (aws-cli, lib-storage, rclone, s3cmd) complete an upload with exactly the parts 1…N they sent. So as
 * soon as a part starts to arrive, an Assembler starts one network upload (through the SDK, as the object's wallet)
 * fed with the parts in order, and waits for the next. CompleteMultipartUpload then only has to name where it ends:
 * if its list is exactly the parts fed so far (and the ones still to come) with the same ETags and staged files, the
 * upload is finished with the tail and committed — the bytes moved into the network while the client was still
 * sending. Anything else (a part replaced after it was fed, a gap, a subset, the assembly failed, the gateway
 * restarted) abandons the speculation and Complete streams the staged parts itself (multipart.ts), as before.
 * Abort and expiry stop it; an abandoned speculative upload is aborted at the meta node (its shards are freed).
 *
 * Where the fed bytes come from: a part whose size fits in S3_LIVE_PART_BYTES (all uploads together) is a LivePart —
 * its decoded request-body buffers are kept in memory as they arrive, and the assembly feeds them from there while
 * the same buffers are written to the staging file (no read-back, and the network upload follows the client's bytes
 * instead of waiting for each part to be received, fsynced and recorded: with awscli's 10 parts in flight, part 1
 * alone completes only after ~80 MiB have arrived). A live part counts as fed once its body passed every check
 * (payload hash, Content-MD5, checksums); the assembly then moves on without waiting for its fsync. Durability does
 * not change: a part is acknowledged only once staged and recorded (multipart.ts), and Complete commits the assembly
 * only when every part it fed is the recorded one. A live part that fails after some of its bytes were fed (bad
 * digest, client gone, disk error) abandons the speculation. Parts that do not fit are read from their staged files.
 */
import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import { StratosError } from '../errors.ts'
import { S3_LIVE_PART_BYTES } from '../limits.ts'
import type { StratosClient } from '../sds/client/client.ts'
import type { PutResult } from '../sds/client/types.ts'
import type { S3Services } from './context.ts'
import type { PartRecord, UploadRecord } from './store.ts'

/** One part's body on its way in, held in memory for the assembly (see above). */
export class LivePart {
  readonly partNumber: number
  /** Bytes reserved against S3_LIVE_PART_BYTES (the declared size). */
  readonly reserved: number
  /** Received buffers not yet fed (a fed one is dropped at once). */
  readonly chunks: (Buffer | undefined)[] = []
  /** Set once the whole body arrived and passed its checks. */
  record: PartRecord | undefined
  failed = false
  /** Bytes pushed so far; more than `reserved` fails the part (an aws-chunked body longer than it declared). */
  #pushed = 0
  /** The assembly is done with it (fed, or no longer needed): buffers are not kept any more. */
  released = false
  /** Whether the assembly yielded any of its bytes (a failure then spoils the assembly). */
  consumed = false
  #onChange: () => void
  #onFail: (p: LivePart) => void

  constructor(partNumber: number, reserved: number, onChange: () => void, onFail: (p: LivePart) => void) {
    this.partNumber = partNumber
    this.reserved = reserved
    this.#onChange = onChange
    this.#onFail = onFail
  }

  push(b: Uint8Array): void {
    if (this.failed || this.released) return
    this.#pushed += b.byteLength
    if (this.#pushed > this.reserved) {
      this.fail()
      return
    }
    this.chunks.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength))
    this.#onChange()
  }

  /** The body arrived and passed its checks; `record` is the part as it is being recorded. */
  verified(record: PartRecord): void {
    if (this.failed) return
    this.record = record
    this.#onChange()
  }

  /** The part failed (body, staging or record): its bytes must not be used. Idempotent. */
  fail(): void {
    if (this.failed) return
    this.failed = true
    this.chunks.length = 0
    this.#onFail(this)
  }
}

export class Assembler {
  readonly uploadId: string
  /** Parts fed so far, in order (1, 2, …). */
  readonly fed: PartRecord[] = []
  readonly result: Promise<PutResult>
  readonly #ac = new AbortController()
  readonly #live = new Map<number, LivePart>()
  readonly #budget: LiveBudget
  #wake: (() => void) | undefined
  /** Set by finish(): feed exactly this many parts, then end. */
  #last: number | undefined
  #failed = false

  constructor(s: S3Services, u: UploadRecord, client: Promise<StratosClient>, name: string, budget: LiveBudget) {
    this.uploadId = u.uploadId
    this.#budget = budget
    const dir = join(s.partsDir, u.uploadId)
    const self = this
    const aborted = (): void => {
      if (self.#ac.signal.aborted) throw new StratosError('ABORTED', 'speculative assembly abandoned')
    }
    async function* fromLive(lp: LivePart): AsyncGenerator<Uint8Array, boolean> {
      let i = 0
      for (;;) {
        aborted()
        if (lp.failed) {
          if (lp.consumed) throw new StratosError('ABORTED', `part ${lp.partNumber} failed after it was fed`)
          return false
        }
        if (i < lp.chunks.length) {
          const c = lp.chunks[i] as Buffer
          lp.chunks[i++] = undefined
          lp.consumed = true
          yield c
          continue
        }
        if (lp.record) return true
        await self.#sleep()
      }
    }
    async function* feed(): AsyncGenerator<Uint8Array> {
      for (;;) {
        aborted()
        const n = self.fed.length + 1
        if (self.#last !== undefined && n > self.#last) return
        const lp = self.#live.get(n)
        if (lp) {
          const done = yield* fromLive(lp)
          self.#release(lp)
          if (done && lp.record) self.fed.push(lp.record)
          continue
        }
        const p = s.store.parts.get([u.uploadId, n])
        if (p) {
          self.fed.push(p)
          yield* createReadStream(join(dir, p.file), { highWaterMark: 1 << 20 })
          continue
        }
        await self.#sleep()
      }
    }
    this.result = client.then((c) => c.put(feed(), { name, public: u.public === true, signal: this.#ac.signal }))
    this.result.then(
      () => this.#releaseAll(),
      () => {
        this.#failed = true
        this.#releaseAll()
      },
    )
  }

  #sleep(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve
    })
  }

  /**
   * A LivePart for part `partNumber` of `size` bytes when it can be fed from memory: the assembly has not passed it,
   * no other body of that part is live, and the bytes fit in the budget. Undefined: stage only.
   */
  openLive(partNumber: number, size: number): LivePart | undefined {
    if (this.#failed || this.#ac.signal.aborted || partNumber <= this.fed.length || this.#live.has(partNumber))
      return undefined
    if (this.#last !== undefined && partNumber > this.#last) return undefined
    if (!this.#budget.take(size)) return undefined
    const lp = new LivePart(
      partNumber,
      size,
      () => this.poke(),
      (p) => {
        if (p.consumed) this.abandon()
        else this.poke()
      },
    )
    this.#live.set(partNumber, lp)
    return lp
  }

  #release(lp: LivePart): void {
    if (this.#live.get(lp.partNumber) !== lp) return
    this.#live.delete(lp.partNumber)
    lp.released = true
    lp.chunks.length = 0
    this.#budget.give(lp.reserved)
  }

  #releaseAll(): void {
    for (const lp of [...this.#live.values()]) this.#release(lp)
  }

  /** A part was staged (or replaced) or a live part moved: a waiting feed looks again. */
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
    // A live body of a later part than the last is not needed.
    for (const lp of [...this.#live.values()]) if (lp.partNumber > parts.length) this.#release(lp)
    this.poke()
    return true
  }

  /** Abandons the speculation (its network upload is aborted). */
  abandon(): void {
    this.#ac.abort()
    this.#releaseAll()
    this.poke()
  }
}

/** The bytes of live parts all uploads hold at once (S3_LIVE_PART_BYTES). */
export class LiveBudget {
  #free: number
  constructor(bytes = S3_LIVE_PART_BYTES) {
    this.#free = bytes
  }
  get free(): number {
    return this.#free
  }
  take(n: number): boolean {
    if (n > this.#free) return false
    this.#free -= n
    return true
  }
  give(n: number): void {
    this.#free += n
  }
}

/** The speculative assemblies of this gateway's open multipart uploads (in memory: a restart falls back to Complete). */
export class Assemblers {
  readonly #all = new Map<string, Assembler>()
  readonly budget: LiveBudget

  constructor(budget = new LiveBudget()) {
    this.budget = budget
  }

  get(uploadId: string): Assembler | undefined {
    return this.#all.get(uploadId)
  }

  /**
   * A body of part `partNumber` (`size` bytes, when declared) starts to arrive: the LivePart to tee it into, when the
   * assembly can take it from memory. The first body of any part starts the assembly (which waits for part 1): awscli
   * sends 10 parts at once, and part 1's request is not always the first to arrive.
   */
  openLive(
    s: S3Services,
    u: UploadRecord,
    partNumber: number,
    size: number | undefined,
    client: () => Promise<StratosClient>,
    name: string,
  ): LivePart | undefined {
    if (size === undefined) return undefined
    let a = this.#all.get(u.uploadId)
    if (!a) {
      if (this.budget.free < size) return undefined
      a = this.#start(s, u, client, name)
    }
    return a.openLive(partNumber, size)
  }

  #start(s: S3Services, u: UploadRecord, client: () => Promise<StratosClient>, name: string): Assembler {
    const a = new Assembler(s, u, client(), name, this.budget)
    this.#all.set(u.uploadId, a)
    // A client that cannot connect spoils only the speculation (Complete streams the staged parts).
    a.result.catch(() => {})
    return a
  }

  /** Part `part` was staged and recorded: starts the assembly on part 1 (when no live body did), wakes it otherwise. */
  onPart(s: S3Services, u: UploadRecord, part: PartRecord, client: () => Promise<StratosClient>, name: string): void {
    const a = this.#all.get(u.uploadId)
    if (a) {
      // A part it already fed was replaced by another body: the speculation is wrong from here on.
      const fed = a.fed[part.partNumber - 1]
      if (fed !== undefined && fed.file !== part.file) this.drop(u.uploadId)
      else a.poke()
      return
    }
    if (part.partNumber !== 1 || !s.store.uploads.get(u.uploadId)) return
    this.#start(s, u, client, name)
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
