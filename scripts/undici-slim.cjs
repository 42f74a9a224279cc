// What the CLI bundle gives `import { Agent, request } from 'undici'` (scripts/bundle-cli.mjs): undici's Agent and
// its request API, without the rest of undici's index (fetch, WebSocket, EventSource, cache stores, mocks, proxy
// agents), whose evaluation a fresh CLI process would pay for (~40 ms, and fetch's Headers check loads Node's own
// copy of undici as well). `request` is index.js's makeDispatcher(api.request), copied unchanged. scripts/bundle-cli.mjs
// fails the build when src/ imports a name from undici that this file does not export.
'use strict'
const Dispatcher = require('undici/lib/dispatcher/dispatcher')
const Agent = require('undici/lib/dispatcher/agent')
const api = require('undici/lib/api')
const util = require('undici/lib/core/util')
const { InvalidArgumentError } = require('undici/lib/core/errors')

Object.assign(Dispatcher.prototype, api)

const { getGlobalDispatcher } = require('undici/lib/global')

// undici/index.js's makeDispatcher, unchanged (undici 7).
function makeDispatcher(fn) {
  return (url, opts, handler) => {
    if (typeof opts === 'function') {
      handler = opts
      opts = null
    }
    if (!url || (typeof url !== 'string' && typeof url !== 'object' && !(url instanceof URL))) {
      throw new InvalidArgumentError('invalid url')
    }
    if (opts != null && typeof opts !== 'object') {
      throw new InvalidArgumentError('invalid opts')
    }
    if (opts && opts.path != null) {
      if (typeof opts.path !== 'string') {
        throw new InvalidArgumentError('invalid opts.path')
      }
      let path = opts.path
      if (!opts.path.startsWith('/')) {
        path = `/${path}`
      }
      url = new URL(util.parseOrigin(url).origin + path)
    } else {
      if (!opts) {
        opts = typeof url === 'object' ? url : {}
      }
      url = util.parseURL(url)
    }
    const { agent, dispatcher = getGlobalDispatcher() } = opts
    if (agent) {
      throw new InvalidArgumentError('unsupported opts.agent. Did you mean opts.client?')
    }
    return fn.call(
      dispatcher,
      {
        ...opts,
        origin: url.origin,
        path: url.search ? `${url.pathname}${url.search}` : url.pathname,
        method: opts.method || (opts.body ? 'PUT' : 'GET'),
      },
      handler,
    )
  }
}

module.exports = { Agent, Dispatcher, request: makeDispatcher(api.request), getGlobalDispatcher }
