// The README's citizen journey through the SDK, and the fixtures the scenarios share. Used by
// the tests and by `npm run bench` (which counts the requests it takes at the transport).
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Client,
  type ClientOptions,
  createClient,
  fetchTransport,
  wxLoginCode,
  wxTokenStore,
  wxTransport,
} from "../src/index.js";
import { type Gateway, simPost } from "./gateway.js";
import { createShim, type Shim } from "./wx-shim.js";

export const HALL = "HALL-0571-01";
export const NAME = "张三";
export const ID_CARD_NO = "11010519491231002X";

export interface Citizen {
  api: Client;
  shim: Shim;
}

export function citizen(gateway: Gateway, options: Pick<ClientOptions, "maxRetryAfterMs" | "sleep"> = {}): Citizen {
  const shim = createShim(gateway);
  const api = createClient({
    baseUrl: gateway.url,
    transport: wxTransport(shim.wx),
    tokens: wxTokenStore(shim.wx),
    loginCode: wxLoginCode(shim.wx),
    ...options,
  });
  return { api, shim };
}

/** A valid resident ID number (GB 11643 check digit) for the `n`th made-up person. */
export function idCardNo(n: number): string {
  const base = `11010519900307${String(n % 1000).padStart(3, "0")}`;
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...base].reduce((acc, d, i) => acc + Number(d) * (weights[i] ?? 0), 0);
  return base + "10X98765432"[sum % 11];
}

/** A face-verified citizen (张三 unless told), as the journey's steps 4–5 make one. */
export async function verify(gateway: Gateway, api: Client, person = { name: NAME, idCardNo: ID_CARD_NO }): Promise<void> {
  const started = await api.POST("/api/v1/me/identity/verifications", { body: person });
  await simPost(gateway, "/__sim/face-result", { verifyId: started.verifyId, verifyRet: 10000 });
  await api.POST("/api/v1/me/identity/verifications/{id}/complete", { path: { id: started.id } });
}

/** The demo administrator, through the same client over fetch (a staff token, no wx.login). */
export async function staff(gateway: Gateway): Promise<Client> {
  let token: string | undefined;
  const memoryTokens = () => ({
    get: () => token,
    set: (t: string) => {
      token = t;
    },
    remove: () => {
      token = undefined;
    },
  });
  const api = createClient({
    baseUrl: gateway.url,
    transport: fetchTransport(),
    tokens: memoryTokens(),
  });
  const login = await api.POST("/staff/v1/auth/login", { body: { username: "admin", password: "demo-admin-password" } });
  token = login.token;
  return createClient({
    baseUrl: gateway.url,
    transport: fetchTransport(),
    tokens: memoryTokens(),
  });
}

/** An open slot of the demo hall for the ID-card item: the first day that is OPEN with a seat. */
export async function openSlot(api: Client, itemCode: string): Promise<number> {
  const { days } = await api.GET("/api/v1/halls/{hallCode}/slots", { path: { hallCode: HALL }, query: { itemCode } });
  for (const day of days) {
    const slot = day.state === "OPEN" ? day.slots.find((s) => s.left > 0) : undefined;
    if (slot) return slot.id;
  }
  throw new Error(`no open slot at ${HALL}: ${JSON.stringify(days.map((d) => d.state))}`);
}

export async function idCardItem(api: Client): Promise<string> {
  const { items } = await api.GET("/api/v1/items", { query: { q: "身份证" } });
  const item = items[0];
  if (!item) throw new Error("no 身份证 item in the demo catalogue");
  return item.itemCode;
}

export function materialFiles(): { pdf: string; png: string } {
  const dir = tmpdir();
  const pdf = join(dir, `zsb-sdk-form-${process.pid}.pdf`);
  const png = join(dir, `zsb-sdk-id-${process.pid}.png`);
  writeFileSync(pdf, "%PDF-1.4\n%%EOF\n");
  writeFileSync(png, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]));
  return { pdf, png };
}

export interface JourneyResult {
  /** API requests the steps took through the SDK (at the transport), polling excluded. */
  requests: number;
  /** Polls of the application's progress, apart. */
  polls: number;
  /** The fewest API requests the README's steps can take (one per step). */
  minimum: number;
  bookingCode: string;
  qr: string;
  applicationStatus: string;
  progress: number[];
}

/** The README's journey (steps 1–12), each step one SDK call. */
export async function journey(gateway: Gateway, { api, shim }: Citizen): Promise<JourneyResult> {
  // 1–3: wx.login and POST /auth/login happen on the first call, silently.
  const me = await api.GET("/api/v1/me");
  if (me.identity) throw new Error("a new citizen has no identity");
  // 4: the phone.
  const { code: phoneCode } = await simPost<{ code: string }>(gateway, "/__sim/phone-code", { phone: "13800138000" });
  const withPhone = await api.POST("/api/v1/me/phone", { body: { code: phoneCode } });
  if (withPhone.phone !== "138****8000") throw new Error(`phone ${withPhone.phone}`);
  // 5: face verification (the simulator stands in for wx.requestFacialVerify).
  await verify(gateway, api);
  // 7: the item and a slot.
  const itemCode = await idCardItem(api);
  const slotId = await openSlot(api, itemCode);
  // 8: book, with the tap's Idempotency-Key.
  const booking = await api.POST("/api/v1/bookings", { body: { slotId, itemCode }, action: api.action() });
  // 10: the identity card and its QR.
  const { licences } = await api.GET("/api/v1/licences");
  const licence = licences[0];
  if (!licence) throw new Error("the demo's 张三 holds an identity card");
  const qr = await api.POST("/api/v1/licences/{id}/presentations", { path: { id: licence.licenceId } });
  // 11: two materials and the application.
  const files = materialFiles();
  const progress: number[] = [];
  const form = await api.upload(files.pdf, { onProgress: (p) => progress.push(p.progress) });
  const id = await api.upload(files.png);
  const { items } = await api.GET("/api/v1/items", { query: { q: "查询" } });
  const item2 = items[0];
  if (!item2) throw new Error("no 查询 item");
  const application = await api.POST("/api/v1/applications", {
    body: {
      itemCode: item2.itemCode,
      form: { purpose: "办理贷款" },
      obtainWay: "COLLECT",
      materials: [
        { code: "M001", materialId: form.id },
        { code: "M002", materialId: id.id },
      ],
    },
    action: api.action(),
  });
  // 12: its progress, once the forwarder took it to the platform.
  const before = shim.sent.length;
  let followed = await api.GET("/api/v1/applications/{id}", { path: { id: application.id } });
  const deadline = Date.now() + 30_000;
  while (followed.status === "SUBMITTING" && Date.now() < deadline) {
    await new Promise((ok) => setTimeout(ok, 500));
    followed = await api.GET("/api/v1/applications/{id}", { path: { id: application.id } });
  }
  const polls = shim.sent.length - before - 1;
  return {
    requests: shim.sent.length - polls,
    polls,
    // login, me, phone, verification start and complete, items, slots, book, licences,
    // presentation, two uploads, items, application, its progress.
    minimum: 15,
    bookingCode: booking.code,
    qr: qr.payload,
    applicationStatus: followed.status,
    progress,
  };
}
