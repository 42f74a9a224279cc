/**
 * Secrets typed or piped into the CLI: keystore passwords (env `STRATOS_KEYSTORE_PASSWORD`, or
 * a prompt without echo when stdin is a terminal), mnemonics and private keys read from stdin.
 * Secrets never come from argv (other users can read it in `ps`).
 */
import { StratosError } from '../errors.ts'

export const KEYSTORE_PASSWORD_ENV = 'STRATOS_KEYSTORE_PASSWORD'
/** Most bytes read from piped stdin for a secret (a 24-word mnemonic is < 250 bytes). */
export const MAX_STDIN_SECRET_BYTES = 4096

/** Prompts on stderr and reads one line from the terminal without echoing it. Ctrl-C → ABORTED. */
export async function promptHidden(
  prompt: string,
  input: NodeJS.ReadStream = process.stdin,
  output: NodeJS.WriteStream = process.stderr,
): Promise<string> {
  if (!input.isTTY) throw new StratosError('BAD_REQUEST', 'cannot prompt: stdin is not a terminal')
  output.write(prompt)
  const wasRaw = input.isRaw
  input.setRawMode(true)
  input.resume()
  return await new Promise<string>((resolve, reject) => {
    let value = ''
    const done = (err?: StratosError) => {
      input.off('data', onData)
      input.setRawMode(wasRaw)
      input.pause()
      output.write('\n')
      if (err) reject(err)
      else resolve(value)
    }
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done()
        if (ch === '\u0003') return done(new StratosError('ABORTED', 'aborted at the password prompt'))
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else if (ch >= ' ') value += ch
      }
    }
    input.on('data', onData)
  })
}

/**
 * The keystore password: `$STRATOS_KEYSTORE_PASSWORD`, else a hidden prompt when stdin is a
 * terminal (asked twice when `confirm`, for new keystores). BAD_REQUEST when neither is possible.
 */
export async function readKeystorePassword(opts: {
  what: string
  confirm?: boolean
  env?: NodeJS.ProcessEnv
}): Promise<string> {
  const fromEnv = (opts.env ?? process.env)[KEYSTORE_PASSWORD_ENV]
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  if (!process.stdin.isTTY) {
    throw new StratosError(
      'BAD_REQUEST',
      `a password is needed for ${opts.what}: set ${KEYSTORE_PASSWORD_ENV} or run in a terminal`,
    )
  }
  const password = await promptHidden(`password for ${opts.what}: `)
  if (password === '') throw new StratosError('BAD_REQUEST', 'the password must not be empty')
  if (opts.confirm && (await promptHidden('repeat the password: ')) !== password)
    throw new StratosError('BAD_REQUEST', 'the passwords do not match')
  return password
}

/** A secret from stdin: a hidden prompt on a terminal, else all of piped stdin (bounded), trimmed. */
export async function readSecretFromStdin(what: string): Promise<string> {
  if (process.stdin.isTTY) return (await promptHidden(`${what}: `)).trim()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_STDIN_SECRET_BYTES)
      throw new StratosError('PAYLOAD_TOO_LARGE', `${what} on stdin is larger than ${MAX_STDIN_SECRET_BYTES} bytes`)
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8').trim()
  if (text === '') throw new StratosError('BAD_REQUEST', `no ${what} on stdin`)
  return text
}
