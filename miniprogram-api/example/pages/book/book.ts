import { type Action, ApiError, requestSubscriptions } from "@zhangshangban/miniprogram-api";
import { api } from "../../api";
import { describe } from "../index/index";

const HALL = "HALL-0571-01";

let tap: Action | undefined;

Page({
  data: { itemCode: "", slots: [] as { id: number; startsAt: string; left: number }[], code: "", error: "" },
  async onLoad(query: Record<string, string | undefined>) {
    const itemCode = query.itemCode ?? "";
    const { days } = await api.GET("/api/v1/halls/{hallCode}/slots", { path: { hallCode: HALL }, query: { itemCode } });
    const slots = days.filter((d) => d.state === "OPEN").flatMap((d) => d.slots.filter((s) => s.left > 0));
    this.setData({ itemCode, slots });
  },
  /** The "book" button: the subscribe prompt must come from the tap itself. */
  async onBook(e: WechatMiniprogram.TouchEvent<Record<string, never>, Record<string, never>, { slotId: number }>) {
    const slotId = e.currentTarget.dataset.slotId;
    await requestSubscriptions(api, wx, "booking");
    // One action per tap: a retry of this tap (the "retry" button after a network error) keeps
    // the Idempotency-Key, so it cannot book twice.
    tap = tap ?? api.action();
    try {
      const booking = await api.POST("/api/v1/bookings", { body: { slotId, itemCode: this.data.itemCode }, action: tap });
      tap = undefined;
      this.setData({ code: booking.code });
    } catch (err) {
      if (err instanceof ApiError) tap = undefined; // answered: a new tap is a new action
      this.setData({ error: describe(err) });
    }
  },
});
