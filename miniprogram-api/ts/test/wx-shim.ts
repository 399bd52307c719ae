// A `wx` for Node: wx.request and wx.uploadFile over fetch, wx.connectSocket over `ws` (which,
// like wx, sends headers on the upgrade), wx.login minting a code from the WeChat simulator,
// storage in a Map. Typed against `miniprogram-api-typings`, so it cannot accept what wx would
// not. Tests use its knobs to lose answers and cut sockets, and read what went over the wire.
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import WebSocket from "ws";
import type { Gateway } from "./gateway.js";
import { simPost } from "./gateway.js";

type Wx = WechatMiniprogram.Wx;
export type ShimWx = Pick<
  Wx,
  | "request"
  | "uploadFile"
  | "connectSocket"
  | "login"
  | "getStorageSync"
  | "setStorageSync"
  | "removeStorageSync"
  | "requestSubscribeMessage"
>;

export interface Sent {
  method: string;
  url: string;
  path: string;
  headers: Record<string, string>;
  status?: number;
  /** The answer's `Retry-After` header, when it had one. */
  retryAfter?: string;
  /** The answer was produced by the gateway but never given to the caller. */
  lost?: boolean;
}

export interface Shim {
  wx: ShimWx;
  /** Every request and upload, in order (sockets apart). */
  sent: Sent[];
  /** Lose the answer of the next `times` requests whose `METHOD path` matches: the gateway
   * handles them, the caller gets `request:fail`. */
  loseAnswers(match: RegExp, times?: number): void;
  /** Close every open socket abruptly (as a lost network does), and refuse new ones for `ms`. */
  cutSockets(ms: number): void;
  sockets: { opened: number; headers: Record<string, string>[] };
  /** The WeChat user of this shim's wx.login (made by the first login when unset). */
  openid: string | undefined;
  storage: Map<string, unknown>;
  /** What wx.requestSubscribeMessage answers for each template (default "accept"). */
  subscribeAnswer: string;
}

export function createShim(gateway: Gateway): Shim {
  const sent: Sent[] = [];
  const losing: { match: RegExp; times: number }[] = [];
  const open = new Set<WebSocket>();
  let refuseUntil = 0;
  const shim: Shim = {
    sent,
    sockets: { opened: 0, headers: [] },
    openid: undefined,
    storage: new Map(),
    subscribeAnswer: "accept",
    loseAnswers: (match, times = 1) => losing.push({ match, times }),
    cutSockets: (ms) => {
      refuseUntil = Date.now() + ms;
      for (const ws of open) ws.terminate();
    },
    wx: undefined as unknown as ShimWx,
  };
  const lose = (line: string) => {
    const rule = losing.find((r) => r.times > 0 && r.match.test(line));
    if (rule) rule.times -= 1;
    return rule !== undefined;
  };
  const record = (method: string, url: string, headers: Record<string, string>): Sent => {
    const entry: Sent = { method, url, path: new URL(url).pathname, headers };
    sent.push(entry);
    return entry;
  };

  const request: Wx["request"] = (option) => {
    const method = option.method ?? "GET";
    const headers = (option.header ?? {}) as Record<string, string>;
    const entry = record(method, option.url, headers);
    const body =
      typeof option.data === "string" ? option.data : option.data === undefined ? undefined : JSON.stringify(option.data);
    fetch(option.url, { method, headers, body })
      .then(async (res) => {
        entry.status = res.status;
        entry.retryAfter = res.headers.get("retry-after") ?? undefined;
        const text = await res.text();
        if (lose(`${method} ${entry.path}`)) {
          entry.lost = true;
          option.fail?.({ errMsg: "request:fail timeout", errno: 5 } as WechatMiniprogram.RequestFailCallbackErr);
          return;
        }
        const header: Record<string, string> = {};
        res.headers.forEach((v, k) => {
          header[k] = v;
        });
        // The shim answers text, as the SDK asks wx for (dataType other, responseType text).
        option.success?.({ data: text, statusCode: res.status, header, cookies: [], errMsg: "request:ok" } as never);
      })
      .catch((e: Error) =>
        option.fail?.({ errMsg: `request:fail ${e.message}`, errno: 600001 } as WechatMiniprogram.RequestFailCallbackErr),
      );
    return {} as WechatMiniprogram.RequestTask;
  };

  const uploadFile: Wx["uploadFile"] = (option) => {
    const headers = (option.header ?? {}) as Record<string, string>;
    const entry = record("POST", option.url, headers);
    const listeners: WechatMiniprogram.UploadTaskOnProgressUpdateCallback[] = [];
    (async () => {
      const bytes = await readFile(option.filePath);
      const form = new FormData();
      form.append(option.name, new Blob([bytes]), basename(option.filePath));
      for (const l of listeners) l({ progress: 50, totalBytesSent: bytes.length / 2, totalBytesExpectedToSend: bytes.length });
      const res = await fetch(option.url, { method: "POST", headers, body: form });
      entry.status = res.status;
      const data = await res.text();
      for (const l of listeners) l({ progress: 100, totalBytesSent: bytes.length, totalBytesExpectedToSend: bytes.length });
      option.success?.({
        data,
        statusCode: res.status,
        errMsg: "uploadFile:ok",
      } as WechatMiniprogram.UploadFileSuccessCallbackResult);
    })().catch((e: Error) => option.fail?.({ errMsg: `uploadFile:fail ${e.message}` }));
    return {
      onProgressUpdate: (l: WechatMiniprogram.UploadTaskOnProgressUpdateCallback) => listeners.push(l),
    } as unknown as WechatMiniprogram.UploadTask;
  };

  const connectSocket: Wx["connectSocket"] = (option) => {
    const headers = (option.header ?? {}) as Record<string, string>;
    shim.sockets.headers.push(headers);
    const handlers = {
      open: [] as (() => void)[],
      message: [] as ((m: { data: string }) => void)[],
      close: [] as ((r: { code: number; reason: string }) => void)[],
      error: [] as ((e: { errMsg: string }) => void)[],
    };
    let ws: WebSocket | undefined;
    setTimeout(() => {
      if (Date.now() < refuseUntil) {
        for (const h of handlers.error) h({ errMsg: "connectSocket:fail network down" });
        return;
      }
      ws = new WebSocket(option.url, { headers });
      open.add(ws);
      ws.on("open", () => {
        shim.sockets.opened += 1;
        for (const h of handlers.open) h();
      });
      ws.on("message", (data) => {
        for (const h of handlers.message) h({ data: data.toString() });
      });
      ws.on("close", (code, reason) => {
        open.delete(ws as WebSocket);
        for (const h of handlers.close) h({ code, reason: reason.toString() });
      });
      ws.on("error", (e) => {
        for (const h of handlers.error) h({ errMsg: e.message });
      });
    }, 0);
    return {
      send: (o: { data: string }) => ws?.send(o.data),
      close: (o: { code?: number; reason?: string }) => ws?.close(o.code, o.reason),
      onOpen: (h: () => void) => handlers.open.push(h),
      onMessage: (h: (m: { data: string }) => void) => handlers.message.push(h),
      onClose: (h: (r: { code: number; reason: string }) => void) => handlers.close.push(h),
      onError: (h: (e: { errMsg: string }) => void) => handlers.error.push(h),
    } as unknown as WechatMiniprogram.SocketTask;
  };

  const login: Wx["login"] = (option) => {
    // One WeChat user per shim, as one phone is: the first code makes the user, later ones are theirs.
    simPost<{ code: string; openid: string }>(gateway, "/__sim/login-code", shim.openid ? { openid: shim.openid } : {})
      .then(({ code, openid }) => {
        shim.openid = openid;
        option?.success?.({ code, errMsg: "login:ok" });
      })
      .catch((e: Error) => option?.fail?.({ errMsg: `login:fail ${e.message}`, errno: 1 }));
    return undefined as never;
  };

  const requestSubscribeMessage: Wx["requestSubscribeMessage"] = (option) => {
    const answer: Record<string, string> = { errMsg: "requestSubscribeMessage:ok" };
    for (const id of option.tmplIds) answer[id] = shim.subscribeAnswer;
    setTimeout(() => option.success?.(answer as unknown as WechatMiniprogram.RequestSubscribeMessageSuccessCallbackResult), 0);
    return undefined as never;
  };

  shim.wx = {
    request,
    uploadFile,
    connectSocket,
    login,
    getStorageSync: ((key: string) => shim.storage.get(key) ?? "") as Wx["getStorageSync"],
    setStorageSync: ((key: string, value: unknown) => {
      shim.storage.set(key, value);
    }) as Wx["setStorageSync"],
    removeStorageSync: ((key: string) => {
      shim.storage.delete(key);
    }) as Wx["removeStorageSync"],
    requestSubscribeMessage,
  };
  return shim;
}
