// 掌上办 mini-program SDK. Start with `createClient({ baseUrl, transport: wxTransport(wx),
// tokens: wxTokenStore(wx), loginCode: wxLoginCode(wx) })`; see the README's section for the
// mini-program team.

export type { ClientOptions, LoginResponse, Material } from "./client.js";
export { Client, createClient } from "./client.js";
export type { ErrorBody, ErrorCode, FieldError } from "./errors.js";
export { ApiError, NetworkError } from "./errors.js";
export type { FetchTransportOptions, HeaderWebSocket, HeaderWebSocketConstructor } from "./fetch.js";
export { fetchTransport } from "./fetch.js";
export type { components, operations, paths } from "./generated/api.js";
export type { Board, LiveMessage, Ticket, Watch, WatchOptions } from "./live.js";
export { watchBoard, watchTicket } from "./live.js";
export type { SubscribeAction, Subscriptions, TemplateSubscription } from "./subscribe.js";
export { reportSubscriptions, requestSubscriptions, templatesToRequest } from "./subscribe.js";
export type { LiveSocket, Transport, TransportRequest, TransportResponse, UploadProgress, UploadRequest } from "./transport.js";
export { TransportError } from "./transport.js";
export type { Action, Answer, InitArgs, Operation, PathsWith, RequestOptions } from "./types.js";
export type { TokenStore } from "./wx.js";
export { TOKEN_STORAGE_KEY, wxLoginCode, wxTokenStore, wxTransport } from "./wx.js";
