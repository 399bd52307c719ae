// Live updates: a ticket's position and calls (`/api/v1/tickets/{id}/live`, bearer header) and
// a hall's board (`/api/v1/halls/{hallCode}/board/live`, public), over `wx.connectSocket`.
// The gateway's protocol (gateway/src/routes/queue.rs): JSON text frames of `LiveMessage`; the
// current state first on every connection; WebSocket pings every 20 s and a close after 60 s of
// silence from the client; close 1008 when the session ends. So the watcher sends a small
// heartbeat frame, reconnects with jittered back-off after any close it did not ask for (a
// new login first after 1008), and after a gap reads the REST state, so a call made while the
// socket was down is delivered even if the socket stays down.
import type { Client } from "./client.js";
import type { components } from "./generated/api.js";
import type { LiveSocket } from "./transport.js";

export type LiveMessage = components["schemas"]["LiveMessage"];
export type Ticket = components["schemas"]["Ticket"];
export type Board = components["schemas"]["Board"];

export interface WatchOptions {
  /** Every message, the resynchronised REST state included (as `ticket` / `board`). */
  onMessage: (message: LiveMessage) => void;
  /** Connection state, for a "reconnecting…" hint. */
  onStatus?: (status: "open" | "reconnecting" | "stopped") => void;
  /** A failure the watcher cannot get past (the ticket is gone, say); it stops. */
  onError?: (error: unknown) => void;
  heartbeatMs?: number;
  /** First back-off (doubles up to `maxBackoffMs`, with full jitter). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface Watch {
  stop(): void;
}

const FINAL_STATES = new Set(["DONE", "CANCELLED", "NO_SHOW"]);
const POLICY_VIOLATION = 1008;

function watch(
  client: Client,
  path: string,
  needsToken: boolean,
  resync: () => Promise<LiveMessage>,
  isFinal: (message: LiveMessage) => boolean,
  options: WatchOptions,
): Watch {
  const heartbeatMs = options.heartbeatMs ?? 20_000;
  const backoffMs = options.backoffMs ?? 1_000;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  let stopped = false;
  let socket: LiveSocket | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  const quiet = () => {
    if (heartbeat !== undefined) clearInterval(heartbeat);
    heartbeat = undefined;
  };
  let failures = 0;
  let hadGap = false;

  const deliver = (message: LiveMessage) => {
    if (stopped) return;
    options.onMessage(message);
    if (isFinal(message)) stop();
  };

  const stop = () => {
    if (stopped) return;
    stopped = true;
    quiet();
    if (retry !== undefined) clearTimeout(retry);
    socket?.close(1000, "stopped");
    options.onStatus?.("stopped");
  };

  const fail = (error: unknown) => {
    options.onError?.(error);
    stop();
  };

  const scheduleReconnect = (renewSession: boolean) => {
    if (stopped) return;
    quiet();
    hadGap = true;
    options.onStatus?.("reconnecting");
    const cap = Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(failures, 16));
    failures += 1;
    retry = setTimeout(
      async () => {
        // While the socket is down the REST state keeps the page right; a vanished ticket ends it.
        try {
          deliver(await resync());
          if (renewSession) await client.login();
        } catch (error) {
          if ((error as { status?: number }).status === 404) return fail(error);
        }
        void connect();
      },
      Math.round(cap / 2 + (Math.random() * cap) / 2),
    );
  };

  const connect = async () => {
    if (stopped) return;
    const headers: Record<string, string> = {};
    if (needsToken) {
      try {
        headers.authorization = `Bearer ${await client.bearer()}`;
      } catch {
        return scheduleReconnect(false);
      }
    }
    const current = client.options.transport.connect(client.socketUrl(path), headers);
    socket = current;
    let closed = false;
    current.onOpen(() => {
      failures = 0;
      options.onStatus?.("open");
      heartbeat = setInterval(() => {
        try {
          current.send('{"type":"heartbeat"}');
        } catch {
          current.close(4000, "heartbeat failed");
        }
      }, heartbeatMs);
      // The first frame is the whole state; a REST read covers what the gap hid before it.
      if (hadGap) {
        hadGap = false;
        resync().then(deliver, () => undefined);
      }
    });
    current.onMessage((text) => {
      let message: LiveMessage;
      try {
        message = JSON.parse(text) as LiveMessage;
      } catch {
        return;
      }
      deliver(message);
    });
    const onGone = (code: number) => {
      if (closed || socket !== current) return;
      closed = true;
      scheduleReconnect(code === POLICY_VIOLATION);
    };
    current.onClose((code) => onGone(code));
    current.onError(() => onGone(0));
  };

  void connect();
  return { stop };
}

/** Watches the citizen's ticket: `ticket` on connecting and on every change (called, recalled,
 * served …), `position` as it moves up; stops by itself once the ticket is done, cancelled or a
 * no-show. */
export function watchTicket(client: Client, ticketId: number, options: WatchOptions): Watch {
  return watch(
    client,
    `/api/v1/tickets/${ticketId}/live`,
    true,
    async () => ({
      type: "ticket",
      ticket: await client.GET("/api/v1/tickets/{id}", { path: { id: ticketId } }),
    }),
    (m) => m.type === "ticket" && FINAL_STATES.has(m.ticket.state),
    options,
  );
}

/** Watches a hall's board: `board` on connecting, `call` for every call and recall, `waiting`
 * when a category's count changes. */
export function watchBoard(client: Client, hallCode: string, options: WatchOptions): Watch {
  return watch(
    client,
    `/api/v1/halls/${encodeURIComponent(hallCode)}/board/live`,
    false,
    async () => ({
      type: "board",
      board: await client.GET("/api/v1/halls/{hallCode}/board", { path: { hallCode } }),
    }),
    () => false,
    options,
  );
}
