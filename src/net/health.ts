/**
 * Liveness and readiness of one role. Liveness (/healthz) is the process answering at all. Readiness (/readyz) is
 * every registered check passing: each check names what the role needs before it should get traffic (its index
 * open, the chain synced, its meta node hearing its heartbeats…) and returns undefined when ready or a short reason
 * when not. A check that throws or takes longer than READY_CHECK_TIMEOUT_MS is not ready. Roles and add-ons (the S3
 * gateway) register their own checks; checks run concurrently on each probe, so they must be cheap.
 */
import { READY_CHECK_TIMEOUT_MS } from '../limits.ts'

/** undefined: ready; a string: why not. */
export type ReadyCheck = () => string | undefined | Promise<string | undefined>

export interface Readiness {
  ready: boolean
  /** Every check by name: `ok`, or the reason it is not ready. */
  checks: Record<string, string>
}

export class Health {
  readonly #checks = new Map<string, ReadyCheck>()
  readonly #timeoutMs: number

  constructor(options: { timeoutMs?: number } = {}) {
    this.#timeoutMs = options.timeoutMs ?? READY_CHECK_TIMEOUT_MS
  }

  /** Adds a readiness check; a name used twice is a programming error. */
  addCheck(name: string, check: ReadyCheck): this {
    if (this.#checks.has(name)) throw new Error(`readiness check ${name} is registered twice`)
    this.#checks.set(name, check)
    return this
  }

  async readiness(): Promise<Readiness> {
    const entries = await Promise.all(
      [...this.#checks].map(async ([name, check]) => [name, await this.#run(check)] as const),
    )
    const checks: Record<string, string> = {}
    for (const [name, result] of entries) checks[name] = result ?? 'ok'
    return { ready: entries.every(([, r]) => r === undefined), checks }
  }

  async #run(check: ReadyCheck): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        Promise.resolve().then(check),
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve(`no answer within ${this.#timeoutMs} ms`), this.#timeoutMs)
        }),
      ])
    } catch (e) {
      return `check failed: ${(e as Error).message}`
    } finally {
      clearTimeout(timer)
    }
  }
}
