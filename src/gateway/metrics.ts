/**
 * The gateway's own metrics and readiness (src/net/ops.ts serves them): response body bytes served, and the
 * hot-range cache (bytes held per tier, hits, misses, bytes fetched from the network), read at scrape time. Ready
 * means the gateway has reached its meta node (it connects on first use, so it starts while the meta node is down).
 */
import { toStratosError } from '../errors.ts'
import type { Ops } from '../net/ops.ts'
import type { HotRangeCache } from './cache.ts'
import type { GatewayStats } from './stats.ts'

export interface GatewayMetricsParts {
  stats: GatewayStats
  cache: HotRangeCache
  /** Resolves once the gateway's SDK client is connected to the meta node. */
  connect: () => Promise<unknown>
}

export function registerGatewayMetrics(ops: Ops, p: GatewayMetricsParts): void {
  const m = ops.metrics
  m.counterFrom('stratos_gateway_served_bytes_total', 'Response body bytes served', () => p.stats.view().bytesServed)
  m.gauge(
    'stratos_gateway_cache_bytes',
    'Bytes held by the hot-range cache, by tier',
    () => {
      const s = p.cache.stats()
      return new Map([
        ['memory', s.memoryBytes],
        ['disk', s.diskBytes],
      ])
    },
    'tier',
  )
  m.counterFrom(
    'stratos_gateway_cache_lookups_total',
    'Hot-range cache lookups, by result',
    () => {
      const s = p.cache.stats()
      return new Map([
        ['memory_hit', s.hits],
        ['disk_hit', s.diskHits],
        ['miss', s.misses],
      ])
    },
    'result',
  )
  m.counterFrom(
    'stratos_gateway_fetched_bytes_total',
    'Bytes the cache fetched from the network',
    () => p.cache.stats().fetchedBytes,
  )
  ops.health.addCheck('meta', () =>
    p.connect().then(
      () => undefined,
      (e: unknown) => `meta node not reachable (${toStratosError(e).code})`,
    ),
  )
}
