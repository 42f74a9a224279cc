/**
 * src/net/router.ts: literal, `:param` and `*rest` segments; literal before param before rest, with backtracking
 * when the first match lacks the method; 404 / 405 (Allow in insertion order); 400 on malformed percent-encoding.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Router, isMethodMiss } from '../../src/net/router.ts'
import { StratosError } from '../../src/errors.ts'

function router(): Router<string> {
  return new Router<string>()
    .on('GET', '/v1/info', 'info')
    .on('HEAD', '/v1/info', 'info-head')
    .on('GET', '/v1/shards/*id', 'get')
    .on('HEAD', '/v1/shards/*id', 'head')
    .on('PUT', '/v1/shards/*id', 'put')
    .on('POST', '/txs/batch', 'batch')
    .on('GET', '/txs/:hash', 'tx')
    .on('GET', '/txs/:hash/wait', 'wait')
    .on('POST', '/v1/uploads', 'create')
    .on('DELETE', '/v1/uploads/:id', 'abort')
    .on('POST', '/v1/uploads/:id/segments', 'plan')
}

test('finds literal, parameter and rest routes', () => {
  const r = router()
  assert.deepEqual(r.find('GET', '/v1/info'), { handler: 'info', params: {}, pattern: '/v1/info' })
  assert.deepEqual(r.find('PUT', '/v1/shards/ab'), { handler: 'put', params: { id: 'ab' }, pattern: '/v1/shards/*id' })
  assert.deepEqual(r.find('GET', '/v1/shards/'), { handler: 'get', params: { id: '' }, pattern: '/v1/shards/*id' })
  assert.deepEqual(
    r.find('GET', '/v1/shards/a%2Fb/c'),
    { handler: 'get', params: { id: 'a%2Fb/c' }, pattern: '/v1/shards/*id' },
    'rest stays as sent',
  )
  assert.deepEqual(
    r.find('POST', '/v1/uploads/u%201/segments'),
    { handler: 'plan', params: { id: 'u 1' }, pattern: '/v1/uploads/:id/segments' },
    ':param is decoded',
  )
  assert.equal(r.find('GET', '/v1/shards'), undefined)
  assert.equal(r.find('GET', '/txs//wait'), undefined, 'a parameter is never empty')
  assert.equal(r.find('GET', '/nope'), undefined)
  assert.equal(r.find('GET', ''), undefined)
})

test('a literal match without the method falls back to a parameter route that has it', () => {
  const r = router()
  assert.deepEqual(r.find('GET', '/txs/batch'), { handler: 'tx', params: { hash: 'batch' }, pattern: '/txs/:hash' })
  assert.deepEqual(r.find('POST', '/txs/batch'), { handler: 'batch', params: {}, pattern: '/txs/batch' })
})

test('a known path with another method is a miss that lists the methods', () => {
  const r = router()
  const miss = r.find('DELETE', '/v1/shards/x')
  assert.ok(miss && isMethodMiss(miss))
  assert.equal(miss.allow, 'GET, HEAD, PUT')
  const first = r.find('DELETE', '/txs/batch')
  assert.ok(first && isMethodMiss(first))
  assert.equal(first.allow, 'POST', 'the first pattern that matched makes the 405')
  assert.throws(
    () => r.route('POST', '/v1/info'),
    (e: unknown) => e instanceof StratosError && e.code === 'METHOD_NOT_ALLOWED',
  )
  assert.throws(
    () => r.route('GET', '/nope'),
    (e: unknown) => e instanceof StratosError && e.code === 'NOT_FOUND',
  )
})

test('malformed percent-encoding in a parameter is BAD_REQUEST', () => {
  assert.throws(
    () => router().find('GET', '/txs/%E0%A4%A/wait'),
    (e: unknown) => e instanceof StratosError && e.code === 'BAD_REQUEST',
  )
})

test('a method defined twice on one pattern, or a rest segment not last, is refused at registration', () => {
  assert.throws(() => router().on('GET', '/v1/info', 'again'))
  assert.throws(() => new Router<string>().on('GET', '/a/*rest/b', 'x'))
})
