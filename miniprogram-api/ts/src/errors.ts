// Every failure the SDK reports is one of two values: an `ApiError` (the gateway answered with
// its error body: a stable `code`, the Chinese `message` to show, the `requestId` to quote) or
// a `NetworkError` (no answer came: the request may or may not have happened).
import type { components } from "./generated/api.js";

/** The stable error codes of the API (generated: a new code is a compile-time change). */
export type ErrorCode = components["schemas"]["ErrorCode"];
/** The body of every error response. */
export type ErrorBody = components["schemas"]["ErrorBody"];
export type FieldError = components["schemas"]["FieldError"];

/** The gateway answered with an error body. Switch on `code`; show `message`. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly code: ErrorCode;
  readonly status: number;
  /** Quote it when asking for help: it is also in the gateway's log lines. */
  readonly requestId: string;
  readonly fields: FieldError[];
  /** When the refusal's condition ends (a ban's last day, when slots are released …). */
  readonly until: string | undefined;
  /** Seconds, from `Retry-After` (429). */
  readonly retryAfter: number | undefined;

  constructor(status: number, body: ErrorBody, retryAfter?: number) {
    super(body.message);
    this.code = body.code;
    this.status = status;
    this.requestId = body.requestId;
    this.fields = body.fields ?? [];
    this.until = body.until ?? undefined;
    this.retryAfter = retryAfter;
  }
}

/** No answer: the connection failed or timed out. A retry of the same action is safe where the
 * operation takes an Idempotency-Key (the SDK reuses it) and for reads. */
export class NetworkError extends Error {
  override readonly name = "NetworkError";
  readonly code = "NETWORK_ERROR" as const;
  constructor(readonly detail: string) {
    super("网络连接失败，请检查网络后重试");
  }
}

export function isErrorBody(body: unknown): body is ErrorBody {
  return (
    typeof body === "object" &&
    body !== null &&
    typeof (body as ErrorBody).code === "string" &&
    typeof (body as ErrorBody).message === "string"
  );
}

/** `Retry-After` in seconds (the gateway sends whole seconds; an HTTP date is read too). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}
