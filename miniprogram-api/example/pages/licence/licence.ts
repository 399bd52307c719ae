import { requestSubscriptions } from "@zhangshangban/miniprogram-api";
import { api } from "../../api";

let refresh: ReturnType<typeof setTimeout> | undefined;

Page({
  data: { id: "", name: "", qr: "", watermark: "" },
  async onLoad() {
    const { licences } = await api.GET("/api/v1/licences");
    const licence = licences[0];
    if (!licence) return;
    this.setData({ id: licence.licenceId, name: licence.typeName });
  },
  /** The 亮证 button: from the tap, ask to be told when the licence is verified, then show it. */
  async onShowLicence() {
    await requestSubscriptions(api, wx, "licence");
    await this.present(this.data.id);
  },
  /** A QR lives 60 s: ask for a new one shortly before it expires. */
  async present(id: string) {
    const qr = await api.POST("/api/v1/licences/{id}/presentations", { path: { id } });
    this.setData({ qr: qr.payload, watermark: qr.watermark });
    const left = Date.parse(qr.expiresAt) - Date.now();
    refresh = setTimeout(() => void this.present(id), Math.max(5_000, left - 10_000));
  },
  onUnload() {
    if (refresh !== undefined) clearTimeout(refresh);
  },
});
