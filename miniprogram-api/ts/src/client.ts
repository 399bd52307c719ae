// The typed client: `api.GET("/api/v1/me")`, `api.POST("/api/v1/bookings", { body, action })`.
// One request loop decides everything the mini-program used to get wrong by hand:
// - the bearer token, from storage or a silent `wx.login` (never two logins at once);
// - one silent re-login and retry on SESSION_EXPIRED / UNAUTHENTICATED, never a loop;
// - the Idempotency-Key of every operation that takes one, made once per user action and sent
//   again on each retry of it, so a retried tap cannot book twice;
// - 429: `Retry-After` waited out when short, a typed `ApiError` with `retryAfter` otherwise;
// - a lost answer retried once where a retry is safe (reads, and idempotent writes).
import { ApiError, isErrorBody, NetworkError, parseRetryAfter } from "./errors.js";
import type { components } from "./generated/api.js";
import { OPERATIONS } from "./generated/operations.js";
import { type HttpMethod, type Transport, TransportError, type TransportResponse, type UploadProgress } from "./transport.js";
import type { Action, Answer, CommonOptions, InitArgs, Operation, PathsWith } from "./types.js";
import type { TokenStore } from "./wx.js";

export type LoginResponse = components["schemas"]["LoginResponse"];
export type Material = components["schemas"]["Material"];

const AUTH = 1;
const IDEMPOTENT = 2;

export interface ClientOptions {
  /** `https://gov.example.cn` (no trailing slash needed). */
  baseUrl: string;
  transport: Transport;
  /** Where the token lives between launches (`wxTokenStore(wx)`); memory only when absent. */
  tokens?: TokenStore;
  /** A fresh `wx.login` code (`wxLoginCode(wx)`); without it the client cannot log in. */
  loginCode?: () => Promise<string>;
  /** Called after every login with what the gateway answered (the citizen's profile). */
  onLogin?: (login: LoginResponse) => void;
  /** Wait out a 429 whose `Retry-After` is at most this long (default 10 s); longer ones throw. */
  maxRetryAfterMs?: number;
  /** Per request (default 15 s). */
  timeoutMs?: number;
  /** For tests: how the client waits. */
  sleep?: (ms: number) => Promise<void>;
}

function randomKey(): string {
  const bytes = new Uint8Array(16);
  const crypto = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}

type Init = CommonOptions & {
  path?: Record<string, string | number>;
  query?: Record<string, unknown>;
  body?: unknown;
};

export class Client {
  private token: string | undefined;
  private loggingIn: Promise<string> | undefined;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(readonly options: ClientOptions) {
    this.token = options.tokens?.get();
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** A user action (a tap): pass it to every try of the same request, so the gateway sees one
   * Idempotency-Key and answers the retry with the first answer. */
  action(): Action {
    return { idempotencyKey: randomKey() };
  }

  GET<P extends PathsWith<"get">>(path: P, ...init: InitArgs<Operation<P, "get">>): Promise<Answer<Operation<P, "get">>> {
    return this.call("GET", path, init[0]) as Promise<Answer<Operation<P, "get">>>;
  }
  POST<P extends PathsWith<"post">>(path: P, ...init: InitArgs<Operation<P, "post">>): Promise<Answer<Operation<P, "post">>> {
    return this.call("POST", path, init[0]) as Promise<Answer<Operation<P, "post">>>;
  }
  PUT<P extends PathsWith<"put">>(path: P, ...init: InitArgs<Operation<P, "put">>): Promise<Answer<Operation<P, "put">>> {
    return this.call("PUT", path, init[0]) as Promise<Answer<Operation<P, "put">>>;
  }
  DELETE<P extends PathsWith<"delete">>(
    path: P,
    ...init: InitArgs<Operation<P, "delete">>
  ): Promise<Answer<Operation<P, "delete">>> {
    return this.call("DELETE", path, init[0]) as Promise<Answer<Operation<P, "delete">>>;
  }

  /** The current token, logging in first when there is none. */
  async bearer(): Promise<string> {
    return this.token ?? this.renew(undefined);
  }

  /** Logs in now (at launch, say), joining a login already under way. */
  async login(): Promise<string> {
    return this.loggingIn ?? this.renew(this.token);
  }

  /** Ends the session at the gateway and forgets the token. */
  async logout(): Promise<void> {
    if (this.token === undefined) return;
    try {
      await this.call("POST", "/api/v1/auth/logout", undefined, { relogin: false });
    } finally {
      this.forget();
    }
  }

  /** Forgets the token without telling the gateway. */
  forget(): void {
    this.token = undefined;
    this.options.tokens?.remove();
  }

  /** A new session unless `stale` is no longer the current token (someone renewed it already);
   * one login at a time however many requests found their session ended. */
  private renew(stale: string | undefined): Promise<string> {
    if (this.token !== undefined && this.token !== stale) return Promise.resolve(this.token);
    if (!this.loggingIn) {
      this.loggingIn = this.freshLogin().finally(() => {
        this.loggingIn = undefined;
      });
    }
    return this.loggingIn;
  }

  private async freshLogin(): Promise<string> {
    const loginCode = this.options.loginCode;
    if (!loginCode) throw new Error("no loginCode in ClientOptions: the client cannot log in");
    this.forget();
    const code = await loginCode();
    const answer = (await this.call("POST", "/api/v1/auth/login", { body: { code } }, { relogin: false })) as LoginResponse;
    this.token = answer.token;
    this.options.tokens?.set(answer.token);
    this.options.onLogin?.(answer);
    return answer.token;
  }

  /** `POST /api/v1/materials` through `wx.uploadFile` (field `file`), with progress. */
  async upload(filePath: string, options: { onProgress?: (p: UploadProgress) => void; action?: Action } = {}): Promise<Material> {
    return (await this.send("POST", "/api/v1/materials", undefined, {}, (headers) =>
      this.options.transport.upload({
        url: this.url("/api/v1/materials"),
        headers,
        filePath,
        name: "file",
        onProgress: options.onProgress,
        timeoutMs: 120_000,
      }),
    )) as Material;
  }

  /** The base URL turned into `ws(s)://`, for the live sockets. */
  socketUrl(path: string): string {
    return this.url(path).replace(/^http/, "ws");
  }

  url(path: string, query?: Record<string, unknown>): string {
    let url = this.options.baseUrl.replace(/\/+$/, "") + path;
    const pairs: string[] = [];
    for (const [name, value] of Object.entries(query ?? {})) {
      for (const v of Array.isArray(value) ? value : [value]) {
        if (v !== undefined && v !== null) pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(v))}`);
      }
    }
    if (pairs.length > 0) url += `?${pairs.join("&")}`;
    return url;
  }

  private call(
    method: HttpMethod,
    template: string,
    init: Init | undefined,
    flags: { relogin?: boolean } = {},
  ): Promise<unknown> {
    const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
      const value = init?.path?.[name];
      if (value === undefined) throw new Error(`${template}: no value for {${name}}`);
      return encodeURIComponent(String(value));
    });
    const url = this.url(path, init?.query);
    const body = init?.body === undefined ? undefined : JSON.stringify(init.body);
    return this.send(method, template, init, flags, (headers) => {
      if (body !== undefined) headers["content-type"] = "application/json";
      return this.options.transport.request({
        method,
        url,
        headers,
        body,
        timeoutMs: init?.timeoutMs ?? this.options.timeoutMs ?? 15_000,
      });
    });
  }

  /** The one request loop: token, Idempotency-Key, re-login once, 429, one retry of a lost
   * answer where a retry is safe. */
  private async send(
    method: HttpMethod,
    template: string,
    init: CommonOptions | undefined,
    flags: { relogin?: boolean },
    attempt: (headers: Record<string, string>) => Promise<TransportResponse>,
  ): Promise<unknown> {
    const operation = OPERATIONS[`${method} ${template}`] ?? 0;
    const auth = (operation & AUTH) !== 0;
    const idempotent = (operation & IDEMPOTENT) !== 0;
    const key = idempotent ? (init?.action ?? this.action()).idempotencyKey : undefined;
    const safeToRepeat = method === "GET" || idempotent;
    let relogin = flags.relogin !== false && auth;
    let lostAnswers = 0;
    let rateLimited = 0;
    for (;;) {
      const headers: Record<string, string> = {};
      const token = auth ? await this.bearer() : undefined;
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      if (key !== undefined) headers["idempotency-key"] = key;
      let res: TransportResponse;
      try {
        res = await attempt(headers);
      } catch (e) {
        if (!(e instanceof TransportError)) throw e;
        if (safeToRepeat && lostAnswers < 1) {
          lostAnswers += 1;
          continue;
        }
        throw new NetworkError(e.message);
      }
      if (res.status >= 200 && res.status < 300) return res.body;
      if (!isErrorBody(res.body)) {
        throw new ApiError(res.status, {
          code: res.status >= 500 ? "INTERNAL" : "BAD_REQUEST",
          message: "系统繁忙，请稍后再试",
          requestId: res.headers["x-request-id"] ?? "",
        });
      }
      const error = new ApiError(res.status, res.body, parseRetryAfter(res.headers["retry-after"]));
      if (relogin && token !== undefined && (error.code === "SESSION_EXPIRED" || error.code === "UNAUTHENTICATED")) {
        relogin = false;
        await this.renew(token);
        continue;
      }
      const wait = (error.retryAfter ?? 1) * 1000;
      if (res.status === 429 && rateLimited < 2 && wait <= (this.options.maxRetryAfterMs ?? 10_000)) {
        rateLimited += 1;
        await this.sleep(wait);
        continue;
      }
      throw error;
    }
  }
}

export function createClient(options: ClientOptions): Client {
  return new Client(options);
}
