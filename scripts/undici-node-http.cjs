// What the CLI bundle gives `import { Agent, request } from 'undici'` (scripts/bundle-cli.mjs): the part of undici's
// API a client command uses — an Agent (keep-alive, bounded connections per origin) and request() with a string or
// bytes body, a signal, and the response's statusCode, headers and body.text()/json()/arrayBuffer()/dump() — on
// node:http and node:https. Why: undici's evaluation, its llhttp WebAssembly compile and its first request cost a fresh
// process ~45 ms more CPU than node:http's, whose parser is built into Node (bench/README.md, issue 15). The
// long-running roles (per-file build, dist/cli/main.js) keep undici. Errors keep the shapes json-request.ts maps:
// a socket error's `code` (ECONNREFUSED, …), and an aborted or timed-out signal's AbortError.
'use strict'
const http = require('node:http')

let https
const httpsModule = () => {
  https ??= require('node:https')
  return https
}

class Dispatcher {}

class Agent extends Dispatcher {
  #options
  #http
  #https
  constructor(options = {}) {
    super()
    const connections = options.connections ?? Number.POSITIVE_INFINITY
    this.#options = { keepAlive: true, maxSockets: connections, scheduling: 'lifo' }
  }

  /** The node:http (or node:https) agent for a URL's protocol. */
  agentFor(protocol) {
    if (protocol === 'https:') {
      this.#https ??= new (httpsModule().Agent)(this.#options)
      return this.#https
    }
    this.#http ??= new http.Agent(this.#options)
    return this.#http
  }

  close() {
    this.#http?.destroy()
    this.#https?.destroy()
    return Promise.resolve()
  }

  destroy() {
    return this.close()
  }
}

let globalAgent
function getGlobalDispatcher() {
  globalAgent ??= new Agent()
  return globalAgent
}

/**
 * The response body, as undici's body mixin (readable once). Read as it arrives: a client command's answers are small
 * JSON documents, and a listener is then always there for the response's errors (an abort after the headers).
 */
function bodyOf(res) {
  const parts = []
  const done = new Promise((resolve, reject) => {
    res.on('data', (d) => parts.push(d))
    res.once('end', () => resolve(Buffer.concat(parts)))
    res.on('error', reject)
    res.once('aborted', () => reject(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })))
  })
  done.catch(() => undefined)
  let used = false
  const bytes = () => {
    if (used) return Promise.reject(new TypeError('Body is unusable: Body has already been read'))
    used = true
    return done
  }
  return {
    text: async () => (await bytes()).toString('utf8'),
    json: async () => JSON.parse((await bytes()).toString('utf8')),
    arrayBuffer: async () => {
      const b = await bytes()
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)
    },
    dump: async () => {
      used = true
      await done.catch(() => undefined)
    },
  }
}

function request(url, opts = {}) {
  return new Promise((resolve, reject) => {
    let target
    try {
      target = typeof url === 'string' ? new URL(url) : url
    } catch (e) {
      reject(e)
      return
    }
    const dispatcher = opts.dispatcher ?? getGlobalDispatcher()
    const body = opts.body
    const method = opts.method ?? (body !== undefined && body !== null ? 'PUT' : 'GET')
    const mod = target.protocol === 'https:' ? httpsModule() : http
    const req = mod.request(target, {
      method,
      headers: opts.headers ?? {},
      agent: dispatcher.agentFor(target.protocol),
      ...(opts.signal ? { signal: opts.signal } : {}),
    })
    req.on('error', reject)
    req.once('response', (res) => {
      resolve({ statusCode: res.statusCode, headers: res.headers, body: bodyOf(res) })
    })
    if (body === undefined || body === null) req.end()
    else req.end(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength))
  })
}

module.exports = { Agent, Dispatcher, request, getGlobalDispatcher }
