// The README's whole citizen journey through the SDK, against the real gateway.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { SubscribeAction } from "../src/index.js";
import { type Gateway, startGateway } from "./gateway.js";
import { citizen, journey } from "./journey.js";

let gateway: Gateway;
before(async () => {
  gateway = await startGateway();
});
after(async () => {
  await gateway?.stop();
});

test("the README's citizen journey runs through the SDK with one request per step", async () => {
  const walker = citizen(gateway);
  const result = await journey(gateway, walker);

  assert.match(result.bookingCode, /^[A-Z0-9]{8}$/);
  assert.equal(result.qr.split(".").length, 3, "a presentation is header.claims.signature");
  assert.notEqual(result.applicationStatus, "SUBMITTING", "the forwarder took it to the platform");
  assert.ok(result.progress.at(-1) === 100, `upload progress ends at 100: ${result.progress}`);
  assert.equal(result.requests, result.minimum, "no request more than the API needs");
  // The login happened once, silently, and the token is in storage for the next launch.
  assert.equal(walker.shim.sent.filter((s) => s.path === "/api/v1/auth/login").length, 1);
  assert.match(String(walker.shim.storage.get("zsb.token")), /^zsb_/);
  // Every authenticated request carried the bearer token; only the two writes that take one
  // carried an Idempotency-Key.
  const keyed = walker.shim.sent.filter((s) => s.headers["idempotency-key"]).map((s) => s.path);
  assert.deepEqual(keyed, ["/api/v1/bookings", "/api/v1/applications"]);
});

test("each action asks a new citizen for the templates of every kind it leads to", async () => {
  const { api } = citizen(gateway);
  const { templatesToRequest } = await import("../src/index.js");
  // The demo's templates (gateway/config/notifications.toml): a booking is confirmed, reminded,
  // cancelled or missed; a ticket is near or called, then invites an evaluation; so does an
  // application, after its progress; a licence shown is verified.
  const expected = {
    booking: ["demo-booking-reminder", "demo-booking-result"],
    ticket: ["demo-evaluation-invite", "demo-queue-call"],
    application: ["demo-case-progress", "demo-evaluation-invite"],
    licence: ["demo-licence-use"],
  } satisfies Record<SubscribeAction, string[]>;
  for (const [action, templates] of Object.entries(expected)) {
    const asked = await templatesToRequest(api, action as SubscribeAction);
    assert.deepEqual([...asked].sort(), templates, action);
  }
});

test("the subscribe-message flow asks for the action's templates and reports the answers", async () => {
  const { api, shim } = citizen(gateway);
  const { requestSubscriptions, templatesToRequest } = await import("../src/index.js");
  const before = await templatesToRequest(api, "booking");
  assert.ok(before.length > 0, "a new citizen is asked for the booking templates");
  const answers = await requestSubscriptions(api, shim.wx, "booking");
  assert.deepEqual(Object.keys(answers).sort(), [...before].sort());
  const { templates } = await api.GET("/api/v1/subscriptions");
  for (const id of before) {
    const t = templates.find((x) => x.templateId === id);
    assert.equal(t?.lastResult, "accept", id);
  }
});
