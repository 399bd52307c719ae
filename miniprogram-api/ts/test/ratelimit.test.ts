// A 429 is waited out: `Retry-After` honoured, then the request goes through. The gateway of
// this file gives a session a budget of 10 requests per 2-second window (`gateway demo
// --session-requests 10 --session-window-secs 2`) instead of the production 600 a minute, so
// the burst meets the limit at once and the window ends within two seconds: the same limiter,
// store and Retry-After arithmetic, without waiting for the next wall-clock minute.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ApiError } from "../src/index.js";
import { type Gateway, startGateway } from "./gateway.js";
import { citizen } from "./journey.js";

const BUDGET = 10;
const WINDOW_SECS = 2;

let gateway: Gateway;
before(async () => {
  gateway = await startGateway(["--session-requests", String(BUDGET), "--session-window-secs", String(WINDOW_SECS)]);
});
after(async () => {
  await gateway?.stop();
});

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

test("a 429 with Retry-After is waited out and the request then succeeds", { timeout: 60_000 }, async () => {
  const waits: number[] = [];
  const { api, shim } = citizen(gateway, {
    maxRetryAfterMs: 5_000,
    // The real wait, recorded.
    sleep: (ms) => {
      waits.push(ms);
      return sleep(ms);
    },
  });
  await api.GET("/api/v1/me");
  // Eight at a time until one burst is over the budget: the second burst at the latest, unless
  // a window ended in between.
  let calls = 0;
  for (let burst = 0; burst < 20 && !shim.sent.some((s) => s.status === 429); burst++) {
    const answers = await Promise.all(Array.from({ length: 8 }, () => api.GET("/api/v1/tickets")));
    calls += answers.length;
    // Every call resolved with the list: the 429s were waited out, not thrown.
    for (const answer of answers) assert.ok(Array.isArray(answer.tickets));
  }
  const tickets = shim.sent.filter((s) => s.path === "/api/v1/tickets");
  const limited = tickets.filter((s) => s.status === 429);
  assert.ok(limited.length > 0, "the burst met the limit");
  // The gateway said how long: until its window ends, in whole seconds.
  const told = limited.map((s) => Number(s.retryAfter));
  for (const secs of told) assert.ok(secs >= 1 && secs <= WINDOW_SECS, `Retry-After ${secs}`);
  // The client slept exactly what each 429 told it to, once per 429 (a retry that met the
  // limit again waited again), and every call ended in one success.
  assert.deepEqual(
    [...waits].sort((a, b) => a - b),
    told.map((s) => s * 1000).sort((a, b) => a - b),
  );
  assert.equal(tickets.filter((s) => s.status === 200).length, calls);
  assert.equal(tickets.length, calls + limited.length);
});

test("an impatient client gets RATE_LIMITED with retryAfter", { timeout: 60_000 }, async () => {
  const { api } = citizen(gateway, { maxRetryAfterMs: 0 });
  await api.GET("/api/v1/me");
  let error: unknown;
  for (let burst = 0; burst < 20 && !error; burst++) {
    await Promise.all(Array.from({ length: 8 }, () => api.GET("/api/v1/tickets"))).catch((e: unknown) => {
      error = e;
    });
  }
  assert.ok(error instanceof ApiError, String(error));
  assert.equal(error.code, "RATE_LIMITED");
  assert.equal(error.status, 429);
  assert.ok(error.retryAfter !== undefined && error.retryAfter >= 1 && error.retryAfter <= WINDOW_SECS, String(error.retryAfter));
  assert.match(error.requestId, /\S/);
});
