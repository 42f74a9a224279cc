/**
 * Prometheus metrics of one role (prom-client): its own registry, labelled `role`, so several roles in one process
 * (tests) never mix. Every server feeds the two shared families — request latency by route pattern (never by raw
 * path: bounded label values) and error replies by StratosError code — through observe(); each role adds its own
 * gauges and counters whose values are read from the role's state at scrape time (collect), so the hot paths pay
 * nothing but a counter increment. Served at GET /metrics by ops.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { METRICS_LATENCY_BUCKETS_S, SOFTWARE_VERSION } from '../limits.ts'
import { errorCodeOf } from './http-server.ts'

/** A value read at scrape time: one number, or numbers by label value. */
export type Sample = number | ReadonlyMap<string, number>

export class Metrics {
  readonly registry = new Registry()
  readonly role: string
  readonly #duration: Histogram<'method' | 'route' | 'status'>
  readonly #errors: Counter<'code'>
  #processMetrics = false

  constructor(role: string) {
    this.role = role
    this.registry.setDefaultLabels({ role })
    this.#duration = new Histogram({
      name: 'stratos_http_request_duration_seconds',
      help: 'Time from a request’s arrival until its response is finished or its connection closes, by route pattern',
      labelNames: ['method', 'route', 'status'],
      buckets: [...METRICS_LATENCY_BUCKETS_S],
      registers: [this.registry],
    })
    this.#errors = new Counter({
      name: 'stratos_errors_total',
      help: 'Error replies by StratosError code (docs/api.md lists the codes)',
      labelNames: ['code'],
      registers: [this.registry],
    })
    new Gauge({
      name: 'stratos_build_info',
      help: 'Always 1; the software version as a label',
      labelNames: ['version'],
      registers: [this.registry],
    }).set({ version: SOFTWARE_VERSION }, 1)
  }

  /** Node.js process metrics (CPU, memory, event loop lag, GC); once per process, by the role that owns it. */
  collectProcessMetrics(): void {
    if (this.#processMetrics) return
    this.#processMetrics = true
    collectDefaultMetrics({ register: this.registry })
  }

  /**
   * Times `req` until its response finishes (or the connection closes first: status 0) under `route`, a route
   * pattern or a fixed name; counts the reply's error code when it is an error reply (http-server.ts sendError).
   */
  observe(req: IncomingMessage, res: ServerResponse, route: string): void {
    const end = this.#duration.startTimer({ method: req.method ?? 'GET', route })
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      const status = res.writableFinished ? res.statusCode : 0
      end({ status: String(status) })
      const code = errorCodeOf(res)
      if (code !== undefined) this.#errors.inc({ code })
    }
    res.once('finish', finish)
    res.once('close', finish)
  }

  /**
   * Times a request that does not end through a ServerResponse (a shard body read straight off an upgraded socket):
   * call the returned function with the status answered, once.
   */
  startTimer(method: string, route: string): (status: number) => void {
    const end = this.#duration.startTimer({ method, route })
    return (status) => {
      end({ status: String(status) })
    }
  }

  /** Counts an error that has no HTTP reply of its own (a direct shard body, a background loop). */
  error(code: string): void {
    this.#errors.inc({ code })
  }

  /** A gauge read from the role's state at scrape time; with `label`, one series per key of the map it returns. */
  gauge(name: string, help: string, read: () => Sample | Promise<Sample>, label?: string): void {
    const registry = this.registry
    new Gauge({
      name,
      help,
      labelNames: label ? [label] : [],
      registers: [registry],
      async collect() {
        setSample(this, await read(), label)
      },
    })
  }

  /**
   * A counter whose total the role keeps itself (a monotonic stats field), read at scrape time. Prometheus's rate()
   * handles the reset to 0 when the process restarts.
   */
  counterFrom(name: string, help: string, read: () => Sample | Promise<Sample>, label?: string): void {
    new Counter({
      name,
      help,
      labelNames: label ? [label] : [],
      registers: [this.registry],
      async collect() {
        const v = await read()
        this.reset()
        if (typeof v === 'number') this.inc(v)
        else for (const [k, n] of v) if (label) this.inc({ [label]: k }, n)
      },
    })
  }

  /** A counter the role increments as things happen. */
  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter<L>({ name, help, labelNames: [...labelNames], registers: [this.registry] })
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() }
  }
}

function setSample(g: Gauge, v: Sample, label: string | undefined): void {
  if (typeof v === 'number') {
    g.set(v)
    return
  }
  g.reset()
  if (label) for (const [k, n] of v) g.set({ [label]: k }, n)
}
