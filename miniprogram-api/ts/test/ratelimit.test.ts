// A 429 is waited out: `Retry-After` honoured, then the request goes through.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ApiError } from "../src/index.js";
import { type Gateway, startGateway } from "./gateway.js";
import { citizen } from "./journey.js";

let gateway: Gateway;
before(async () => {
  gateway = await startGateway();
});
after(async () => {
  await gateway?.stop();
});

// The session's 600 requests a minute (README, limits), counted in wall-clock minutes: the
// burst below reaches it, and the 601st waits for the next minute.
const LIMIT = 600;

test("a 429 with Retry-After is waited out and the request then succeeds", { timeout: 180_000 }, async () => {
  const { api, shim } = citizen(gateway, { maxRetryAfterMs: 65_000 });
  await api.GET("/api/v1/me");
  const started = Date.now();
  // Past the limit within the same minute, eight at a time.
  // Twice the limit at most: a burst that straddles a minute meets it in the second.
  for (let sent = 1; sent < 2 * LIMIT + 16; sent += 8) {
    await Promise.all(Array.from({ length: 8 }, () => api.GET("/api/v1/tickets")));
    if (shim.sent.some((s) => s.status === 429)) break;
  }
  const limited = shim.sent.filter((s) => s.status === 429);
  assert.ok(limited.length > 0, "the burst met the limit");
  // Every call above resolved: the 429s were waited out, not thrown.
  const after = await api.GET("/api/v1/tickets");
  assert.ok(Array.isArray(after.tickets));
  assert.ok(Date.now() - started >= 1000, "it waited");
});

test("an impatient client gets RATE_LIMITED with retryAfter", { timeout: 180_000 }, async () => {
  const { api } = citizen(gateway, { maxRetryAfterMs: 0 });
  await api.GET("/api/v1/me");
  let error: unknown;
  for (let i = 0; i < 2 * LIMIT + 20 && !error; i += 10) {
    await Promise.all(Array.from({ length: 10 }, () => api.GET("/api/v1/tickets"))).catch((e: unknown) => {
      error = e;
    });
  }
  assert.ok(error instanceof ApiError, String(error));
  assert.equal(error.code, "RATE_LIMITED");
  assert.equal(error.status, 429);
  assert.ok(error.retryAfter !== undefined && error.retryAfter >= 1 && error.retryAfter <= 60, String(error.retryAfter));
  assert.match(error.requestId, /\S/);
});
