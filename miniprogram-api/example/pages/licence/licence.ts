import { api } from "../../api";

let refresh: ReturnType<typeof setTimeout> | undefined;

Page({
  data: { name: "", qr: "", watermark: "" },
  async onLoad() {
    const { licences } = await api.GET("/api/v1/licences");
    const licence = licences[0];
    if (!licence) return;
    this.setData({ name: licence.typeName });
    await this.present(licence.licenceId);
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
