// What the client needs from the platform: one request, one upload, one socket. The mini-program
// uses `wxTransport` (wx.request, wx.uploadFile, wx.connectSocket); Node and tests use
// `fetchTransport` or a `wx` shim. The client never touches a platform API itself.

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

export interface TransportRequest {
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  /** JSON text. */
  body?: string;
  timeoutMs?: number;
}

export interface TransportResponse {
  status: number;
  /** Names in lower case. */
  headers: Record<string, string>;
  /** The parsed JSON body, or the text when it is not JSON, or undefined when empty. */
  body: unknown;
}

export interface UploadProgress {
  /** 0–100. */
  progress: number;
  sent: number;
  total: number;
}

export interface UploadRequest {
  url: string;
  headers: Record<string, string>;
  /** A local file path (`wx.chooseMedia`'s `tempFilePath`). */
  filePath: string;
  /** The multipart field: the gateway reads `file`. */
  name: string;
  onProgress?: (progress: UploadProgress) => void;
  timeoutMs?: number;
}

/** A WebSocket as both `wx.connectSocket` and Node's `ws` can give it. */
export interface LiveSocket {
  send(text: string): void;
  close(code?: number, reason?: string): void;
  onOpen(listener: () => void): void;
  onMessage(listener: (text: string) => void): void;
  onClose(listener: (code: number, reason: string) => void): void;
  onError(listener: (message: string) => void): void;
}

export interface Transport {
  /** Rejects with `TransportError` when no answer came. */
  request(request: TransportRequest): Promise<TransportResponse>;
  upload(request: UploadRequest): Promise<TransportResponse>;
  connect(url: string, headers: Record<string, string>): LiveSocket;
}

/** No answer: the transport's own failure (`errMsg` of wx, a fetch TypeError …). */
export class TransportError extends Error {
  override readonly name = "TransportError";
}

export function lowerCaseHeaders(headers: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = String(value);
  return out;
}

/** JSON when it parses, else the text itself. */
export function parseBody(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
