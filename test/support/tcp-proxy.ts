/**
 * A loopback TCP proxy a test can cut: while cut, every open connection is destroyed and new ones are accepted and
 * then left hanging (nothing forwarded, nothing answered) — a host whose packets are dropped; `heal()` forwards
 * again. `cut({ reset: true })` ends the open connections with a TCP reset (the socket errors with ECONNRESET) instead
 * of a clean close. Used to cut one meta process off from PostgreSQL while the others keep their direct connections.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  port: number
  cut(options?: { reset?: boolean }): void
  heal(): void
  close(): Promise<void>
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let cut = false
  const open = new Set<Socket>()
  const server: Server = createServer((client) => {
    open.add(client)
    client.on('close', () => open.delete(client))
    client.on('error', () => {})
    if (cut) return // accepted, never answered
    const upstream = connect(targetPort, targetHost)
    open.add(upstream)
    upstream.on('close', () => {
      open.delete(upstream)
      client.destroy()
    })
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return {
    port,
    cut({ reset = false } = {}) {
      cut = true
      for (const s of open) reset ? s.resetAndDestroy() : s.destroy()
    },
    heal() {
      cut = false
    },
    close() {
      for (const s of open) s.destroy()
      return new Promise((r) => server.close(() => r()))
    },
  }
}
