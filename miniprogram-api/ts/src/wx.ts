// The mini-program's platform: wx.request, wx.uploadFile, wx.connectSocket, wx.login and
// storage, typed by WeChat's own `miniprogram-api-typings`. Each takes the `wx` object, so the
// same code runs on a shim in Node.
import {
  type LiveSocket,
  lowerCaseHeaders,
  parseBody,
  type Transport,
  TransportError,
  type TransportResponse,
} from "./transport.js";

type Wx = WechatMiniprogram.Wx;

/** Where the SDK keeps the bearer token between launches. */
export interface TokenStore {
  get(): string | undefined;
  set(token: string): void;
  remove(): void;
}

export const TOKEN_STORAGE_KEY = "zsb.token";

/** The token in `wx.setStorageSync` under `key`. */
export function wxTokenStore(
  wx: Pick<Wx, "getStorageSync" | "setStorageSync" | "removeStorageSync">,
  key = TOKEN_STORAGE_KEY,
): TokenStore {
  return {
    get: () => {
      const value: unknown = wx.getStorageSync(key);
      return typeof value === "string" && value !== "" ? value : undefined;
    },
    set: (token) => wx.setStorageSync(key, token),
    remove: () => wx.removeStorageSync(key),
  };
}

/** A fresh `wx.login` code, for `POST /api/v1/auth/login`. */
export function wxLoginCode(wx: Pick<Wx, "login">): () => Promise<string> {
  return () =>
    new Promise((resolve, reject) => {
      wx.login({
        success: (res) => (res.code ? resolve(res.code) : reject(new TransportError(`wx.login: ${res.errMsg}`))),
        fail: (err) => reject(new TransportError(`wx.login: ${err.errMsg}`)),
      });
    });
}

export function wxTransport(wx: Pick<Wx, "request" | "uploadFile" | "connectSocket">): Transport {
  return {
    request: (req) =>
      new Promise<TransportResponse>((resolve, reject) => {
        wx.request({
          url: req.url,
          method: req.method,
          header: req.headers,
          // The text as it came: the client parses it (an error body is JSON too).
          data: req.body,
          dataType: "其他",
          responseType: "text",
          timeout: req.timeoutMs,
          success: (res) =>
            resolve({
              status: res.statusCode,
              headers: lowerCaseHeaders(res.header as Record<string, unknown>),
              body: typeof res.data === "string" ? parseBody(res.data) : res.data,
            }),
          fail: (err) => reject(new TransportError(err.errMsg)),
        });
      }),
    upload: (req) =>
      new Promise<TransportResponse>((resolve, reject) => {
        const task = wx.uploadFile({
          url: req.url,
          filePath: req.filePath,
          name: req.name,
          header: req.headers,
          timeout: req.timeoutMs,
          success: (res) =>
            resolve({
              status: res.statusCode,
              // wx.uploadFile gives no response headers; Retry-After is then unknown.
              headers: {},
              body: parseBody(res.data),
            }),
          fail: (err) => reject(new TransportError(err.errMsg)),
        });
        const onProgress = req.onProgress;
        if (onProgress) {
          task.onProgressUpdate((p) =>
            onProgress({ progress: p.progress, sent: p.totalBytesSent, total: p.totalBytesExpectedToSend }),
          );
        }
      }),
    connect: (url, headers): LiveSocket => {
      const task = wx.connectSocket({ url, header: headers });
      return {
        send: (text) => task.send({ data: text }),
        close: (code, reason) => task.close({ code, reason }),
        onOpen: (listener) => task.onOpen(() => listener()),
        onMessage: (listener) =>
          task.onMessage((m) => {
            if (typeof m.data === "string") listener(m.data);
          }),
        onClose: (listener) => task.onClose((r) => listener(r.code, r.reason)),
        onError: (listener) => task.onError((e) => listener(e.errMsg)),
      };
    },
  };
}
