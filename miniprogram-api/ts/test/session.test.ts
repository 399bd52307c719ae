// A session ended mid-journey is recovered silently, once; never two logins at once, never a loop.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ApiError, createClient, fetchTransport } from "../src/index.js";
import { type Gateway, startGateway } from "./gateway.js";
import { citizen } from "./journey.js";

let gateway: Gateway;
before(async () => {
  gateway = await startGateway();
});
after(async () => {
  await gateway?.stop();
});

const logins = (sent: { path: string }[]) => sent.filter((s) => s.path === "/api/v1/auth/login").length;

test("a session ended by a logout from another client is renewed by one silent login", async () => {
  const { api, shim } = citizen(gateway);
  const me = await api.GET("/api/v1/me");
  // A second client (another device of the same account, or the citizen's "log out everywhere")
  // ends the session behind the first one's back.
  const token = String(shim.storage.get("zsb.token"));
  const other = createClient({
    baseUrl: gateway.url,
    transport: fetchTransport(),
    tokens: { get: () => token, set: () => {}, remove: () => {} },
  });
  await other.POST("/api/v1/auth/logout");

  // Five requests at once all find the session gone: one login serves them all.
  const answers = await Promise.all([1, 2, 3, 4, 5].map(() => api.GET("/api/v1/me")));
  for (const again of answers) assert.equal(again.id, me.id, "the same citizen (same openid)");
  assert.equal(logins(shim.sent), 2, "the first login and exactly one renewal");
  assert.notEqual(shim.storage.get("zsb.token"), token, "the new token is stored");
  const expired = shim.sent.filter((s) => s.status === 401).length;
  assert.equal(expired, 5, "each request met SESSION_EXPIRED once, then succeeded");
});

test("sessions flushed from the store (Redis) are renewed silently", { skip: !process.env.APP_TEST_REDIS_URL }, async () => {
  const { api, shim } = citizen(gateway);
  await api.GET("/api/v1/me");
  gateway.flushSessions();
  // Each gateway keeps a session it read from the store for up to 2 s (services/src/sessions/cache.rs,
  // CACHE_DEPTH): past that depth the flush shows.
  await new Promise((resolve) => setTimeout(resolve, 2200));
  const bookings = await api.GET("/api/v1/bookings");
  assert.ok(Array.isArray(bookings.bookings));
  assert.equal(logins(shim.sent), 2);
});

test("a renewal that fails is reported, not retried in a loop", async () => {
  const { api, shim } = citizen(gateway);
  await api.GET("/api/v1/me");
  api.forget();
  shim.storage.set("zsb.token", "zsb_not-a-live-session");
  const stale = createClient({
    baseUrl: gateway.url,
    transport: api.options.transport,
    tokens: { get: () => "zsb_not-a-live-session", set: () => {}, remove: () => {} },
    // wx.login answers a code WeChat does not know.
    loginCode: async () => "a-code-wechat-never-issued",
  });
  await assert.rejects(stale.GET("/api/v1/me"), (e: unknown) => e instanceof ApiError && e.code === "WECHAT_CODE_INVALID");
  const tries = shim.sent.filter((s) => s.path === "/api/v1/me").length;
  assert.equal(tries, 2, "the first call and the one before it, no retry after the failed login");
});
