import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RateLimiter, retryAfterOf, retryAfterSeconds } from '../../src/util/rate-limit.ts'
import { ManualClock } from '../../src/util/components.ts'
import { isStratosError, StratosError } from '../../src/errors.ts'

test('a client gets its burst at once, then the refill rate; other clients are not affected', () => {
  const clock = new ManualClock()
  const rl = new RateLimiter({ clock }, { ratePerSecond: 10, burst: 5 })
  for (let i = 0; i < 5; i++) assert.deepEqual(rl.take('a'), { allowed: true })
  assert.deepEqual(rl.take('a'), { allowed: false, retryAfterMs: 100 })
  // Another address has its own bucket.
  assert.deepEqual(rl.take('b'), { allowed: true })
  clock.advance(50)
  assert.deepEqual(rl.take('a'), { allowed: false, retryAfterMs: 50 })
  clock.advance(50)
  assert.deepEqual(rl.take('a'), { allowed: true })
  assert.equal(rl.take('a').allowed, false)
  // A long pause refills to the burst, never beyond.
  clock.advance(60_000)
  for (let i = 0; i < 5; i++) assert.equal(rl.take('a').allowed, true)
  assert.equal(rl.take('a').allowed, false)
})

test('a clock stepping back adds no tokens', () => {
  const clock = new ManualClock()
  const rl = new RateLimiter({ clock }, { ratePerSecond: 1, burst: 1 })
  assert.equal(rl.take('a').allowed, true)
  clock.advance(-10_000)
  assert.equal(rl.take('a').allowed, false)
  clock.advance(10_000)
  assert.equal(rl.take('a').allowed, false)
  clock.advance(1_000)
  assert.equal(rl.take('a').allowed, true)
})

test('the map is bounded: the least recently seen client is evicted first', () => {
  const clock = new ManualClock()
  const rl = new RateLimiter({ clock }, { ratePerSecond: 1, burst: 1, maxClients: 3 })
  assert.equal(rl.take('a').allowed, true)
  assert.equal(rl.take('b').allowed, true)
  assert.equal(rl.take('c').allowed, true)
  assert.equal(rl.take('a').allowed, false) // a is now the most recently seen
  assert.equal(rl.take('d').allowed, true) // evicts b, the least recently seen
  assert.equal(rl.size, 3)
  assert.equal(rl.take('a').allowed, false) // still limited: kept
  assert.equal(rl.take('b').allowed, true) // forgotten, so a fresh bucket (evicts c)
  assert.equal(rl.size, 3)
})

test('check() throws RATE_LIMITED with the wait; Retry-After is whole seconds, at least 1', () => {
  const clock = new ManualClock()
  const rl = new RateLimiter({ clock }, { ratePerSecond: 0.5, burst: 1 })
  rl.check('x')
  let err: unknown
  try {
    rl.check('x')
  } catch (e) {
    err = e
  }
  assert.ok(isStratosError(err, 'RATE_LIMITED'))
  assert.equal(err.httpStatus, 429)
  assert.equal(err.details?.retryAfterMs, 2000)
  assert.equal(retryAfterOf(err), 2)
  assert.equal(retryAfterSeconds(1), 1)
  assert.equal(retryAfterSeconds(1001), 2)
  assert.equal(retryAfterOf(new StratosError('BAD_REQUEST', 'x')), undefined)
})

test('refuses nonsensical settings', () => {
  const clock = new ManualClock()
  assert.throws(
    () => new RateLimiter({ clock }, { ratePerSecond: 0, burst: 1 }),
    (e: unknown) => isStratosError(e, 'BAD_REQUEST'),
  )
  assert.throws(
    () => new RateLimiter({ clock }, { ratePerSecond: 1, burst: 0 }),
    (e: unknown) => isStratosError(e, 'BAD_REQUEST'),
  )
  assert.throws(
    () => new RateLimiter({ clock }, { ratePerSecond: Number.NaN, burst: 1 }),
    (e: unknown) => isStratosError(e, 'BAD_REQUEST'),
  )
})
