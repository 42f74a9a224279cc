/**
 * Scripts the browser tests (test/e2e/video.test.ts, wallet.test.ts) evaluate in the page to drive a media element.
 */

/** The result of {@link seekToMiddle}: where the seek went and where playback had got to when the script stopped. */
export interface SeekResult {
  mid: number
  currentTime: number
}

/**
 * A page script: seeks the media element `selector` to the middle, then plays until a second past it, throwing on a
 * media error or when playback does not get there within `timeoutMs`; resolves to a {@link SeekResult}.
 */
export function seekToMiddle(selector: string, timeoutMs: number): string {
  return `(async () => {
  const v = document.querySelector(${JSON.stringify(selector)})
  const mid = v.duration / 2
  const done = new Promise((r) => v.addEventListener('seeked', r, { once: true }))
  v.currentTime = mid
  await done
  const t0 = performance.now()
  while (v.currentTime < mid + 1) {
    if (v.error) throw new Error('media error ' + v.error.code + ': ' + v.error.message)
    if (v.paused) await v.play()
    if (performance.now() - t0 > ${timeoutMs}) throw new Error('no playback after seek: currentTime ' + v.currentTime)
    await new Promise((r) => setTimeout(r, 50))
  }
  v.pause()
  return { mid, currentTime: v.currentTime }
})()`
}
