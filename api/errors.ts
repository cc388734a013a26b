/**
 * Every error the API returns, with a stable code, its HTTP status and a message template.
 * Clients match on `code`; `message` names the input and the value that were wrong.
 */
export const API_ERRORS = {
  BAD_REQUEST: { status: 400, title: 'The request is invalid' },
  INVALID_VALUE: { status: 400, title: 'A value is not a finite number' },
  TIMESTAMPS_OUT_OF_ORDER: { status: 400, title: 'Timestamps must be strictly increasing' },
  LENGTH_MISMATCH: { status: 400, title: "'timestamps' and 'values' differ in length" },
  DETECTOR_NOT_FOUND: { status: 404, title: 'No such detector' },
  VERSION_NOT_FOUND: { status: 404, title: 'No such model version' },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  BODY_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The body must be JSON' },
  NO_CHAMPION: { status: 503, title: 'The detector has no champion model yet' },
  MODEL_CORRUPT: { status: 500, title: 'The stored model failed its checksum' },
  INTERNAL: { status: 500, title: 'Internal error' },
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly statusCode: number;
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.statusCode = API_ERRORS[code].status;
  }
}

/** The body of every error response. */
export interface ApiErrorBody {
  readonly error: { code: ApiErrorCode; message: string; details?: Record<string, unknown> };
}
