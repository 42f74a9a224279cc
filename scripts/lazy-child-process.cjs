// node:child_process for commander in the CLI bundle (scripts/bundle-cli.mjs): loaded on first use, not at start-up.
'use strict'
let real
const load = () => {
  real ??= require('node:child_process')
  return real
}
module.exports = new Proxy(
  {},
  {
    get: (_, key) => load()[key],
    has: (_, key) => key in load(),
  },
)
