// undici's lib/dispatcher/client-h2.js in the CLI bundle (scripts/bundle-cli.mjs): the CLI never negotiates HTTP/2
// (no `allowH2`), so the bundle does not load node:http2 at start-up. Called only if a server negotiated h2 anyway.
'use strict'
module.exports = function connectH2() {
  throw new Error('HTTP/2 is not available in the stratos CLI bundle')
}
