// Path-typed requests, as openapi-fetch types them, over openapi-typescript's `paths`: the path
// picks the operation, and the operation its parameters, body and answer. Type-level only.
import type { paths } from "./generated/api.js";

export type Paths = paths;
export type Method = "get" | "put" | "post" | "delete";

/** The paths that have an operation for `M`. */
export type PathsWith<M extends Method> = {
  [P in keyof paths]: paths[P] extends Record<M, unknown> ? P : never;
}[keyof paths];

export type Operation<P extends keyof paths, M extends Method> = paths[P] extends Record<M, infer O> ? O : never;

type Defined<T> = Exclude<T, undefined>;
type Params<O> = O extends { parameters: infer X } ? X : Record<string, never>;

type PathPart<O> = Params<O> extends { path: infer X } ? { path: X } : unknown;
type QueryPart<O> = Params<O> extends { query: infer X }
  ? { query: X }
  : Params<O> extends { query?: infer X }
    ? [Defined<X>] extends [never]
      ? unknown
      : { query?: Defined<X> }
    : unknown;
type BodyPart<O> = O extends { requestBody: { content: { "application/json": infer B } } }
  ? { body: B }
  : O extends { requestBody?: { content: { "application/json": infer B } } }
    ? { body?: B }
    : unknown;

/** What one user action carries across its retries: the Idempotency-Key (see `Client.action`). */
export interface Action {
  readonly idempotencyKey: string;
}

/** Options every request takes. */
export interface CommonOptions {
  /** The user action this request belongs to: its retries reuse the action's Idempotency-Key. */
  action?: Action;
  timeoutMs?: number;
}

export type RequestOptions<O> = PathPart<O> & QueryPart<O> & BodyPart<O> & CommonOptions;

type HasRequired<T> = {} extends T ? false : true;
/** The options argument, optional when nothing in it is required. */
export type InitArgs<O> = HasRequired<PathPart<O> & QueryPart<O> & BodyPart<O>> extends true
  ? [options: RequestOptions<O>]
  : [options?: RequestOptions<O>];

type Responses<O> = O extends { responses: infer R } ? R : never;
type JsonOf<R> = R extends { content: { "application/json": infer B } } ? B : undefined;
type SuccessStatus = 200 | 201 | 202 | 204;

/** The body of the operation's success answers. */
export type Answer<O> = {
  [S in keyof Responses<O>]: S extends SuccessStatus ? JsonOf<Responses<O>[S]> : never;
}[keyof Responses<O>];
