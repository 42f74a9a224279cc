/**
 * Polyfills the Helia / libp2p family expects from a newer runtime than Node 20.
 *
 * `Promise.withResolvers` is ES2024: Node 22 has it, Node 20.20 does not. Helia 7 and the
 * libp2p 3 family call it at run time (it-queue's recipients behind @libp2p/utils queues,
 * @libp2p/utils streams, the delegated-routing client), so without this a Helia add or cat
 * fails with "Promise.withResolvers is not a function" deep inside a queue. This module must
 * be imported before anything Helia, which is why bench/helia.ts imports it on its first line
 * and the benchmark entry imports it first too (ESM evaluates imports in order).
 *
 * Only the benchmark needs it: the Stratos code itself does not use Helia.
 */

interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

type PromiseWithResolversCtor = PromiseConstructor & { withResolvers?: <T>() => Resolvers<T> }

const P = Promise as PromiseWithResolversCtor
if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function withResolvers<T>(): Resolvers<T> {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

export {}
