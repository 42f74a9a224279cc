/**
 * The test-host harness itself: hosts reach each other over the bridge, a host cut off (link down) and a pair cut
 * apart (packets dropped) time out and heal, and nothing — process, namespace, veth, bridge — survives close(), nor a
 * test process killed with SIGKILL (the next network sweeps it).
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { HostNetwork, skipWithoutHosts, type TestHost } from './netns.ts'

const skip = skipWithoutHosts()

/** GET http://HOST:8000/ from inside `from` (or from the test process): 'ok' or the failure's name. */
function probe(net: HostNetwork, from: TestHost | undefined, to: TestHost, timeoutMs = 1_500): string {
  const script = `fetch('http://${to.ip}:8000/',{signal:AbortSignal.timeout(${timeoutMs})}).then(r=>r.text()).then(t=>console.log(t),e=>console.log(e.cause?.code??e.name))`
  const argv = [...(from ? net.launcher(from) : []), process.execPath, '-e', script]
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: timeoutMs + 10_000 })
  return r.stdout.trim()
}

function namespaces(): string {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
}

function links(): string {
  return spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout
}

test('hosts talk over their own addresses; cut, cutBetween and heal; close leaves nothing', { skip }, async () => {
  const net = await HostNetwork.create()
  after(() => net.close())
  const [a, b, c] = [net.addHost('a'), net.addHost('b'), net.addHost('c')]
  assert.notEqual(a.ip, b.ip)
  assert.ok(a.ip.startsWith(`${net.subnet}.`))
  // A server on a, bound to a's own address: unreachable on any other host's loopback.
  const server = spawn(
    net.launcher(a)[0]!,
    [
      ...net.launcher(a).slice(1),
      process.execPath,
      '-e',
      `require('http').createServer((q,r)=>r.end('ok')).listen(8000,'${a.ip}',()=>console.log('up'))`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()))
  assert.equal(probe(net, b, a), 'ok')
  assert.equal(probe(net, undefined, a), 'ok')

  net.cutBetween(a, b)
  assert.equal(probe(net, b, a), 'TimeoutError', 'a dropped pair times out (silent drop, not a refusal)')
  assert.equal(probe(net, c, a), 'ok', 'a third host still reaches a')
  net.healBetween(a, b)
  assert.equal(probe(net, b, a), 'ok')

  net.cut(a)
  assert.equal(probe(net, c, a), 'TimeoutError')
  assert.equal(probe(net, undefined, a), 'TimeoutError')
  net.heal(a)
  assert.equal(probe(net, c, a, 5_000), 'ok')

  await net.close()
  assert.equal(server.exitCode !== null || server.signalCode !== null, true, 'the process inside was killed')
  for (const h of [a, b, c]) {
    assert.ok(!namespaces().includes(h.ns), `${h.ns} removed`)
    assert.ok(!links().includes(h.veth), `${h.veth} removed`)
  }
  assert.ok(!links().includes(net.bridge), 'bridge removed')
})

test('a network whose test process died by SIGKILL is swept by the next one', { skip }, async () => {
  const netns = fileURLToPath(new URL('./netns.ts', import.meta.url))
  const script = `
    const { HostNetwork } = await import(${JSON.stringify(netns)})
    const net = await HostNetwork.create()
    const h = net.addHost('orphan')
    const { spawn } = await import('node:child_process')
    const sleeper = spawn('ip', ['netns', 'exec', h.ns, 'sleep', '600'], { stdio: 'ignore', detached: true })
    console.log(JSON.stringify({ ns: h.ns, bridge: net.bridge, pid: sleeper.pid }))
    setInterval(() => {}, 1000)`
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const line = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(String(d))))
  const left = JSON.parse(line) as { ns: string; bridge: string; pid: number }
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('exit', resolve))
  assert.ok(namespaces().includes(left.ns), 'the killed test left its namespace behind')

  const next = await HostNetwork.create()
  after(() => next.close())
  assert.ok(!namespaces().includes(left.ns), 'swept')
  assert.ok(!links().includes(left.bridge), 'bridge swept')
  assert.throws(() => process.kill(left.pid, 0), 'the process left inside was killed')
})
