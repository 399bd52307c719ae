import { type Watch, requestSubscriptions, watchTicket } from "@zhangshangban/miniprogram-api";
import { api } from "../../api";

let watch: Watch | undefined;

Page({
  data: { number: "", ahead: -1, wait: -1, counter: "", reconnecting: false },
  async onTake(itemCode: string) {
    await requestSubscriptions(api, wx, "ticket");
    const ticket = await api.POST("/api/v1/halls/{hallCode}/tickets", { path: { hallCode: "HALL-0571-01" }, body: { itemCode } });
    this.setData({ number: ticket.number });
    watch = watchTicket(api, ticket.id, {
      onStatus: (status) => this.setData({ reconnecting: status === "reconnecting" }),
      onMessage: (m) => {
        if (m.type === "position") this.setData({ ahead: m.ahead, wait: m.estimatedWaitMinutes ?? -1 });
        if (m.type === "ticket" && m.ticket.state === "CALLED") {
          this.setData({ counter: m.ticket.counterName ?? `${m.ticket.counterNumber}号窗口` });
          wx.vibrateLong();
        }
      },
    });
  },
  onUnload() {
    watch?.stop();
  },
});
