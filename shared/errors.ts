// Typed errors that carry a machine code and a sentence a user can act on.
// HTTP status codes are mapped from codes in one place: statusOf().

export type ErrorCode =
  | 'invalid_json' | 'invalid_yaml' | 'invalid_request'
  | 'missing_token' | 'invalid_token'
  | 'forbidden' | 'not_admin' | 'wrong_tenant'
  | 'not_found' | 'method_not_allowed' | 'version_not_supported'
  | 'conflict' | 'in_use' | 'invalid_state' | 'pool_exhausted' | 'no_cnci' | 'no_egress'
  | 'too_large' | 'uri_too_long' | 'too_many_requests'
  | 'over_quota' | 'unknown_image' | 'unknown_workload'
  | 'unavailable' | 'timeout' | 'internal';

const STATUS: Record<ErrorCode, number> = {
  invalid_json: 400, invalid_yaml: 400, invalid_request: 400,
  missing_token: 401, invalid_token: 401,
  forbidden: 403, not_admin: 403, wrong_tenant: 403,
  not_found: 404, method_not_allowed: 405, version_not_supported: 406,
  conflict: 409, in_use: 409, invalid_state: 409, pool_exhausted: 409, no_cnci: 409, no_egress: 409,
  too_large: 413, uri_too_long: 414, too_many_requests: 429,
  over_quota: 422, unknown_image: 422, unknown_workload: 422,
  unavailable: 503, timeout: 504, internal: 500,
};

export class ApiError extends Error {
  /** `retryAfterSeconds`: sent as Retry-After (429, 503, 504). */
  constructor(readonly code: ErrorCode, message: string, readonly retryAfterSeconds?: number) {
    super(message);
    this.name = 'ApiError';
  }
  get status(): number {
    return STATUS[this.code];
  }
  toJSON() {
    return { error: { code: this.code, message: this.message } };
  }
}

export const statusOf = (code: ErrorCode): number => STATUS[code];

export const notFound = (what: string, id: string) => new ApiError('not_found', `${what} ${id} does not exist`);
export const badRequest = (message: string) => new ApiError('invalid_request', message);
