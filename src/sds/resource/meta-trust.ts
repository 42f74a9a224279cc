/**
 * Which meta nodes this resource node takes orders from (tickets, delete lists).
 *
 * Either configured (`metaAddresses`), or learned once from the meta node's /v1/info and pinned
 * in DATA/meta.json (trust on first use). A pinned node keeps trusting only the pinned address:
 * if the meta URL later answers with another address, its tickets and replies are refused (and
 * an error is logged) until an operator deletes meta.json.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { StratosError } from '../../errors.ts'
import { isNodeAddress } from '../../crypto/node-key.ts'
import { writeFileAtomic } from '../../util/fs.ts'
import type { Clock, Logger } from '../../util/components.ts'
import type { MetaClient } from '../../net/meta-client.ts'

export const META_PIN_FILE = 'meta.json'

const zPinFile = z.object({
  addresses: z.array(z.string().refine(isNodeAddress)).min(1),
  metaUrl: z.string().optional(),
  chainId: z.string().optional(),
  pinnedAt: z.number().optional(),
})

export interface MetaTrustOptions {
  dataDir: string
  chainId: string
  metaUrl: string
  /** Fixed trust: when set, nothing is fetched or pinned. */
  addresses?: readonly string[]
  clock: Clock
  logger: Logger
}

export class MetaTrust {
  readonly #o: MetaTrustOptions
  readonly #path: string
  #issuers: ReadonlySet<string> = new Set()
  #mismatchLogged: string | undefined

  constructor(options: MetaTrustOptions) {
    this.#o = options
    this.#path = join(options.dataDir, META_PIN_FILE)
    if (options.addresses) {
      for (const a of options.addresses)
        if (!isNodeAddress(a)) throw new StratosError('NETWORK_CONFIG', `meta address ${a} is not a stsds1… address`)
      this.#issuers = new Set(options.addresses)
    }
  }

  /** Meta node addresses whose signatures are accepted now (empty until learned). */
  get issuers(): ReadonlySet<string> {
    return this.#issuers
  }

  get known(): boolean {
    return this.#issuers.size > 0
  }

  /** Loads the pin file, if any (configured addresses take precedence). Throws NETWORK_CONFIG on a damaged file. */
  load(): void {
    if (this.#o.addresses || !existsSync(this.#path)) return
    let pinned: z.infer<typeof zPinFile>
    try {
      pinned = zPinFile.parse(JSON.parse(readFileSync(this.#path, 'utf8')))
    } catch (e) {
      throw new StratosError(
        'NETWORK_CONFIG',
        `${this.#path} is damaged; delete it to learn the meta node again`,
        undefined,
        { cause: e },
      )
    }
    this.#issuers = new Set(pinned.addresses)
    this.#o.logger.info({ addresses: pinned.addresses }, 'trusting the pinned meta node')
  }

  /**
   * Learns the meta node's address from its /v1/info (first use: pins it). With a pin or configured
   * addresses already in place, checks that the meta URL still answers as a trusted node and logs
   * an error otherwise. Network failures propagate (the caller retries).
   */
  async resolve(meta: MetaClient, signal?: AbortSignal): Promise<void> {
    const info = await meta.info({ signal })
    if (info.chainId !== this.#o.chainId) {
      this.#logOnce(
        `chain:${info.chainId}`,
        { metaUrl: meta.url, metaChain: info.chainId, chainId: this.#o.chainId },
        'meta node is on another chain: not trusting it',
      )
      return
    }
    if (this.known) {
      if (!this.#issuers.has(info.address)) {
        this.#logOnce(
          `addr:${info.address}`,
          {
            metaUrl: meta.url,
            address: info.address,
            trusted: [...this.#issuers],
            pinFile: this.#o.addresses ? undefined : this.#path,
          },
          'meta node answers with an untrusted address: its tickets are refused (delete meta.json to trust a new meta node)',
        )
      }
      return
    }
    writeFileAtomic(
      this.#path,
      JSON.stringify(
        { addresses: [info.address], metaUrl: meta.url, chainId: info.chainId, pinnedAt: this.#o.clock.now() },
        null,
        2,
      ) + '\n',
    )
    this.#issuers = new Set([info.address])
    this.#o.logger.info({ address: info.address, pinFile: this.#path }, 'pinned the meta node (trust on first use)')
  }

  #logOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.#mismatchLogged === key) return
    this.#mismatchLogged = key
    this.#o.logger.error(fields, message)
  }
}
