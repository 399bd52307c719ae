// The same transport over `fetch` and a WebSocket constructor that takes headers (Node's `ws`),
// so the client runs in Node: tests, scripts, a server-side job.
import { type LiveSocket, parseBody, type Transport, TransportError, type TransportResponse } from "./transport.js";

/** What the fetch transport needs of a WebSocket: `ws`'s constructor fits. */
export interface HeaderWebSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: unknown }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
}
export type HeaderWebSocketConstructor = new (url: string, options: { headers: Record<string, string> }) => HeaderWebSocket;

/** The part of `fetch` the transport uses (typed here: the mini-program's libraries have none). */
export interface FetchResponseLike {
  status: number;
  headers: { forEach(callback: (value: string, name: string) => void): void };
  text(): Promise<string>;
}
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: unknown; signal?: unknown },
) => Promise<FetchResponseLike>;

/** Node's (and browsers') globals the transport uses when they exist. */
interface FetchGlobals {
  fetch?: FetchLike;
  FormData?: new () => { append(name: string, value: unknown, fileName?: string): void };
  Blob?: new (parts: unknown[], options?: { type?: string }) => unknown;
  AbortSignal?: { timeout(ms: number): unknown };
}

export interface FetchTransportOptions {
  fetch?: FetchLike;
  /** Needed for `connect` (live updates). */
  WebSocket?: HeaderWebSocketConstructor;
  /** Needed for `upload`: the file's bytes and its name. */
  readFile?: (path: string) => Promise<{ bytes: Uint8Array; name: string; type?: string }>;
}

async function answer(res: FetchResponseLike): Promise<TransportResponse> {
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    headers[name.toLowerCase()] = value;
  });
  return { status: res.status, headers, body: parseBody(await res.text()) };
}

export function fetchTransport(options: FetchTransportOptions = {}): Transport {
  const globals = globalThis as unknown as FetchGlobals;
  const send = async (
    url: string,
    init: { method: string; headers: Record<string, string>; body?: unknown },
    timeoutMs: number | undefined,
  ) => {
    const doFetch = options.fetch ?? globals.fetch;
    if (!doFetch) throw new Error("fetchTransport: no fetch");
    try {
      return await answer(await doFetch(url, { ...init, signal: globals.AbortSignal?.timeout(timeoutMs ?? 15_000) }));
    } catch (e) {
      throw new TransportError(e instanceof Error ? e.message : String(e));
    }
  };
  return {
    request: (req) => send(req.url, { method: req.method, headers: req.headers, body: req.body }, req.timeoutMs),
    upload: async (req) => {
      if (!options.readFile) throw new Error("fetchTransport: no readFile, so no uploads");
      const file = await options.readFile(req.filePath);
      if (!globals.FormData || !globals.Blob) throw new Error("fetchTransport: no FormData, so no uploads");
      const form = new globals.FormData();
      form.append(req.name, new globals.Blob([file.bytes], { type: file.type ?? "application/octet-stream" }), file.name);
      const res = await send(req.url, { method: "POST", headers: req.headers, body: form }, req.timeoutMs);
      // fetch tells nothing of upload progress: the whole file, once sent.
      req.onProgress?.({ progress: 100, sent: file.bytes.length, total: file.bytes.length });
      return res;
    },
    connect: (url, headers): LiveSocket => {
      if (!options.WebSocket) throw new Error("fetchTransport: no WebSocket, so no live updates");
      const ws = new options.WebSocket(url, { headers });
      return {
        send: (text) => ws.send(text),
        close: (code, reason) => ws.close(code, reason),
        onOpen: (listener) => {
          ws.onopen = () => listener();
        },
        onMessage: (listener) => {
          ws.onmessage = (event) => listener(String(event.data));
        },
        onClose: (listener) => {
          ws.onclose = (event) => listener(event.code, String(event.reason));
        },
        onError: (listener) => {
          ws.onerror = (event) => listener(event.message ?? "socket error");
        },
      };
    },
  };
}
