// A ticket watched over the socket: cut, resumed, and the clerk's call still arrives.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type LiveMessage, watchTicket } from "../src/index.js";
import { type Gateway, startGateway } from "./gateway.js";
import { citizen, HALL, idCardItem, staff } from "./journey.js";

let gateway: Gateway;
before(async () => {
  gateway = await startGateway();
});
after(async () => {
  await gateway?.stop();
});

function shanghaiToday(): string {
  return new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
}

test("a socket cut and resumed does not miss the call", async () => {
  // The hall opens all of today, whatever the hour and the calendar say (an exception day).
  const clerk = await staff(gateway);
  const { halls } = await clerk.GET("/staff/v1/halls");
  const hall = halls.find((h) => h.code === HALL);
  assert.ok(hall);
  await clerk.PUT("/staff/v1/halls/{hallId}/exceptions/{date}", {
    path: { hallId: hall.id, date: shanghaiToday() },
    body: { closed: false, opens: "00:00", closes: "23:59", note: "SDK test" },
  });

  const { api, shim } = citizen(gateway);
  const itemCode = await idCardItem(api);
  const ticket = await api.POST("/api/v1/halls/{hallCode}/tickets", { path: { hallCode: HALL }, body: { itemCode } });
  const seen: LiveMessage[] = [];
  const statuses: string[] = [];
  let resolveCalled: (t: LiveMessage) => void = () => {};
  const called = new Promise<LiveMessage>((ok) => {
    resolveCalled = ok;
  });
  let opened: () => void = () => {};
  const firstOpen = new Promise<void>((ok) => {
    opened = ok;
  });
  const watch = watchTicket(api, ticket.id, {
    backoffMs: 200,
    maxBackoffMs: 1000,
    onStatus: (s) => {
      statuses.push(s);
      if (s === "open") opened();
    },
    onMessage: (m) => {
      seen.push(m);
      if (m.type === "ticket" && m.ticket.state === "CALLED") resolveCalled(m);
    },
  });
  try {
    await firstOpen;
    assert.equal(shim.sockets.headers[0]?.authorization?.startsWith("Bearer zsb_"), true, "the bearer header");
    // The network drops for 1.5 s; meanwhile the clerk calls the ticket to a counter.
    shim.cutSockets(1500);
    const detail = await clerk.GET("/staff/v1/halls/{hallId}", { path: { hallId: hall.id } });
    const counter = detail.counters.find((c) => c.active && c.categories.some((k) => k.categoryId === ticket.categoryId));
    assert.ok(counter, "a counter serves the item's category");
    const call = await clerk.POST("/staff/v1/halls/{hallId}/counters/{counterId}/call-next", {
      path: { hallId: hall.id, counterId: counter.id },
    });
    assert.equal(call.id, ticket.id);

    const message = await Promise.race([
      called,
      new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`no call: ${JSON.stringify(seen)}`)), 20_000)),
    ]);
    assert.equal(message.type === "ticket" && message.ticket.counterNumber, counter.number);
    assert.ok(statuses.includes("reconnecting"), `the cut was noticed: ${statuses}`);
    // The socket comes back too.
    const deadline = Date.now() + 10_000;
    while (shim.sockets.opened < 2 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 100));
    assert.ok(shim.sockets.opened >= 2, "the socket reconnected");
  } finally {
    watch.stop();
  }
});
