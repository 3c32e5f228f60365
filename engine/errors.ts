/**
 * One error type for the whole engine. `code` is stable and machine-readable; only `gateway/`
 * maps codes to HTTP statuses and WebSocket close codes. Expected outcomes ("no driver in
 * range") are returned as data, never thrown.
 */
export const ErrorCode = {
  /** A coordinate is NaN, infinite or out of range. */
  InvalidCoordinate: "INVALID_COORDINATE",
  InvalidResolution: "INVALID_RESOLUTION",
  LengthMismatch: "LENGTH_MISMATCH",
  UnknownHandle: "UNKNOWN_HANDLE",
  UnknownVehicleClass: "UNKNOWN_VEHICLE_CLASS",
  InvalidArgument: "INVALID_ARGUMENT",
  /** Configuration failed validation at boot. */
  InvalidConfig: "INVALID_CONFIG",
  /** A dependency (native addon, service) is missing or is the wrong one. */
  Unavailable: "UNAVAILABLE",
  Internal: "INTERNAL",
  /** No credentials, or credentials that are malformed, tampered, expired or of the wrong audience. */
  Unauthenticated: "UNAUTHENTICATED",
  /** An access token that was valid once but has expired (clients refresh on this code). */
  TokenExpired: "TOKEN_EXPIRED",
  /** A refresh token presented a second time: its whole family is revoked. */
  RefreshReused: "REFRESH_REUSED",
  /** Authenticated, but the role may not do this. */
  Forbidden: "FORBIDDEN",
  /** A request body or socket frame over its size limit. */
  PayloadTooLarge: "PAYLOAD_TOO_LARGE",
  /** Too many requests or messages; retry later. */
  RateLimited: "RATE_LIMITED",
  /** No such thing, or the caller may not see it: the two are never told apart, so nothing leaks. */
  NotFound: "NOT_FOUND",
  /** The action is not allowed in the order's current state. */
  IllegalTransition: "ILLEGAL_TRANSITION",
  /** A rule allows the action only later (no-show before the wait is over); `temporary` is set. */
  TooEarly: "TOO_EARLY",
  /** Lost a race, or repeated a one-time action (already rated, idempotency key reused differently). */
  Conflict: "CONFLICT",
  /** The quote token was not signed by us, was altered, or is malformed. */
  QuoteInvalid: "QUOTE_INVALID",
  /** The quote was genuine but its time ran out; ask for a new one. */
  QuoteExpired: "QUOTE_EXPIRED",
  /** The quote already produced an order (under another idempotency key). */
  QuoteUsed: "QUOTE_USED",
  /** The offer ran out or was withdrawn before the driver answered. */
  OfferExpired: "OFFER_EXPIRED",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class DispatchError extends Error {
  override readonly name = "DispatchError";
  readonly code: ErrorCode;
  /** True when the same call may succeed later (a service restarting, a lock held). */
  readonly temporary: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; temporary?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.temporary = options.temporary ?? false;
  }
}

const codes = new Set<string>(Object.values(ErrorCode));

/** Native addon errors carry their code as `err.code`; this lifts them into DispatchError. */
export function fromNative(err: unknown): DispatchError {
  if (err instanceof DispatchError) return err;
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    if (typeof code === "string" && codes.has(code)) {
      return new DispatchError(code as ErrorCode, err.message, { cause: err });
    }
    // napi-rs reports argument-type failures with its own status names (e.g. "InvalidArg").
    return new DispatchError(ErrorCode.InvalidArgument, err.message, { cause: err });
  }
  return new DispatchError(ErrorCode.Internal, String(err));
}
