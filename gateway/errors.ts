/**
 * The only place that maps error codes to transport statuses (STYLE 10). Codes not listed are
 * client errors (400) when they come from validation, and 500 otherwise.
 */
import { DispatchError, ErrorCode } from "../engine/errors.js";

const httpStatus: Record<string, string> = {
  [ErrorCode.InvalidArgument]: "400 Bad Request",
  [ErrorCode.InvalidCoordinate]: "400 Bad Request",
  [ErrorCode.InvalidResolution]: "400 Bad Request",
  [ErrorCode.LengthMismatch]: "400 Bad Request",
  [ErrorCode.Unauthenticated]: "401 Unauthorized",
  [ErrorCode.TokenExpired]: "401 Unauthorized",
  [ErrorCode.RefreshReused]: "401 Unauthorized",
  [ErrorCode.Forbidden]: "403 Forbidden",
  [ErrorCode.NotFound]: "404 Not Found",
  [ErrorCode.IllegalTransition]: "409 Conflict",
  [ErrorCode.Conflict]: "409 Conflict",
  [ErrorCode.TooEarly]: "409 Conflict",
  [ErrorCode.QuoteUsed]: "409 Conflict",
  [ErrorCode.QuoteExpired]: "410 Gone",
  [ErrorCode.OfferExpired]: "410 Gone",
  [ErrorCode.QuoteInvalid]: "400 Bad Request",
  [ErrorCode.PayloadTooLarge]: "413 Payload Too Large",
  [ErrorCode.RateLimited]: "429 Too Many Requests",
  [ErrorCode.Unavailable]: "503 Service Unavailable",
  [ErrorCode.InvalidConfig]: "500 Internal Server Error",
  [ErrorCode.Internal]: "500 Internal Server Error",
};

/**
 * WebSocket close codes (4000-4999 are the application's): the driver socket closes with these
 * when it gives up on a connection; ordinary per-message errors are answered, not closed.
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  /** Authentication failed or expired on a live socket. */
  Unauthenticated: 4001,
  /** The role may not use this socket. */
  Forbidden: 4003,
  /** Rate limit exceeded repeatedly. */
  RateLimited: 4029,
  /** The client does not read its pushes (backpressure limit held for too long). */
  SlowConsumer: 4008,
  /** Replaced by a newer connection of the same driver. */
  Replaced: 4009,
  /** Too many malformed frames. */
  ProtocolError: 4002,
} as const;

export function statusOf(code: string): string {
  return httpStatus[code] ?? "500 Internal Server Error";
}

/** The one error body shape: `{code, message}`. Unexpected errors hide their details. */
export function errorBody(err: unknown): { status: string; body: { code: string; message: string } } {
  if (err instanceof DispatchError) {
    return { status: statusOf(err.code), body: { code: err.code, message: err.message } };
  }
  return {
    status: statusOf(ErrorCode.Internal),
    body: { code: ErrorCode.Internal, message: "internal error" },
  };
}
