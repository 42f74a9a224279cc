/**
 * S3 errors: S3's own codes and HTTP statuses (what S3 clients switch on), answered as S3 XML
 * (`<Error><Code>…</Code><Message>…</Message><Resource>…</Resource><RequestId>…</RequestId></Error>`).
 * Errors of the network underneath (StratosError) are mapped to the nearest S3 code by `toS3Error`.
 */
import { isStratosError } from '../errors.ts'

/** Every S3 error code this gateway answers, with its HTTP status (exhaustive: a new code needs a status here). */
export const S3_ERRORS = {
  AccessDenied: 403,
  BadDigest: 400,
  BucketAlreadyExists: 409,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  KeyTooLongError: 400,
  MalformedXML: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  MissingSecurityHeader: 400,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NotImplemented: 501,
  NotModified: 304,
  PreconditionFailed: 412,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  SlowDown: 503,
  XAmzContentSHA256Mismatch: 400,
  InvalidChunkSizeError: 400,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  ExpiredToken: 400,
  TooManyBuckets: 400,
  PaymentRequired: 402,
} as const satisfies Record<string, number>

export type S3ErrorCode = keyof typeof S3_ERRORS

export class S3Error extends Error {
  readonly code: S3ErrorCode
  readonly extra: Record<string, string>
  constructor(code: S3ErrorCode, message: string, extra: Record<string, string> = {}) {
    super(message)
    this.name = 'S3Error'
    this.code = code
    this.extra = extra
  }
  get status(): number {
    return S3_ERRORS[this.code]
  }
}

/** The S3 error for anything thrown while serving a request. */
export function toS3Error(e: unknown): S3Error {
  if (e instanceof S3Error) return e
  if (isStratosError(e)) {
    switch (e.code) {
      case 'ACCESS_DENIED':
      case 'NOT_OWNER':
      case 'DELEGATION_NOT_FOUND':
      case 'DELEGATION_EXPIRED':
      case 'DELEGATION_REVOKED':
      case 'DELEGATION_SCOPE':
      case 'INVALID_SIGNATURE':
        return new S3Error('AccessDenied', e.message)
      case 'INSUFFICIENT_OZONE':
      case 'BUDGET_EXCEEDED':
        return new S3Error('PaymentRequired', e.message)
      case 'FILE_NOT_FOUND':
        return new S3Error('NoSuchKey', e.message)
      case 'BAD_REQUEST':
        return new S3Error('InvalidRequest', e.message)
      case 'PAYLOAD_TOO_LARGE':
        return new S3Error('EntityTooLarge', e.message)
      case 'RANGE_NOT_SATISFIABLE':
        return new S3Error('InvalidRange', e.message)
      case 'NOT_ENOUGH_NODES':
      case 'NODE_UNAVAILABLE':
      case 'DATA_UNAVAILABLE':
      case 'BUSY':
      case 'TIMEOUT':
      case 'UPSTREAM_ERROR':
      case 'INSUFFICIENT_STORAGE':
        return new S3Error('ServiceUnavailable', e.message)
      default:
        return new S3Error('InternalError', e.message)
    }
  }
  return new S3Error('InternalError', e instanceof Error ? e.message : String(e))
}
