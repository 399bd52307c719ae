// A booking tap whose answer the network lost, retried, books once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { NetworkError } from "../src/index.js";
import { type Gateway, startGateway } from "./gateway.js";
import { citizen, idCardItem, idCardNo, openSlot, verify } from "./journey.js";

let gateway: Gateway;
before(async () => {
  gateway = await startGateway();
});
after(async () => {
  await gateway?.stop();
});

test("a lost booking answer is retried with the same Idempotency-Key and books once", async () => {
  const { api, shim } = citizen(gateway);
  await api.GET("/api/v1/me");
  await verify(gateway, api, { name: "李四", idCardNo: idCardNo(1) });
  const itemCode = await idCardItem(api);
  const slotId = await openSlot(api, itemCode);

  // The gateway books, the answer never arrives: the SDK retries once, by itself.
  shim.loseAnswers(/^POST \/api\/v1\/bookings$/, 1);
  const booking = await api.POST("/api/v1/bookings", { body: { slotId, itemCode }, action: api.action() });
  const posts = shim.sent.filter((s) => s.method === "POST" && s.path === "/api/v1/bookings");
  assert.equal(posts.length, 2);
  assert.equal(posts[0]?.lost, true);
  assert.equal(posts[0]?.headers["idempotency-key"], posts[1]?.headers["idempotency-key"]);
  assert.equal(posts[1]?.status, 200, "the retry gets the first answer again");

  const { bookings } = await api.GET("/api/v1/bookings");
  assert.deepEqual(
    bookings.filter((b) => b.status === "BOOKED").map((b) => b.id),
    [booking.id],
  );
});

test("a tap retried by the citizen after a network error reuses its action's key", async () => {
  const { api, shim } = citizen(gateway);
  await api.GET("/api/v1/me");
  await verify(gateway, api, { name: "王五", idCardNo: idCardNo(2) });
  const itemCode = await idCardItem(api);
  const slotId = await openSlot(api, itemCode);
  // Both the try and the SDK's own retry lose their answers: the page shows a network error …
  shim.loseAnswers(/^POST \/api\/v1\/bookings$/, 2);
  const tap = api.action();
  await assert.rejects(
    api.POST("/api/v1/bookings", { body: { slotId, itemCode }, action: tap }),
    (e: unknown) => e instanceof NetworkError,
  );
  // … and the citizen taps "retry": the same action, so the same key, and still one booking.
  const booking = await api.POST("/api/v1/bookings", { body: { slotId, itemCode }, action: tap });
  const keys = new Set(
    shim.sent.filter((s) => s.method === "POST" && s.path === "/api/v1/bookings").map((s) => s.headers["idempotency-key"]),
  );
  assert.equal(keys.size, 1);
  const { bookings } = await api.GET("/api/v1/bookings");
  assert.deepEqual(
    bookings.filter((b) => b.status === "BOOKED").map((b) => b.id),
    [booking.id],
  );
});
