import { ApiError, NetworkError } from "@zhangshangban/miniprogram-api";
import { api } from "../../api";

Page({
  data: { phone: "", verified: false, error: "" },
  async onShow() {
    try {
      const me = await api.GET("/api/v1/me");
      this.setData({ phone: me.phone ?? "", verified: me.identity?.verified ?? false });
    } catch (e) {
      this.setData({ error: describe(e) });
    }
  },
  /** The getPhoneNumber button's code. */
  async onGetPhoneNumber(e: WechatMiniprogram.ButtonGetPhoneNumber) {
    const code = e.detail.code;
    if (!code) return;
    const me = await api.POST("/api/v1/me/phone", { body: { code } });
    this.setData({ phone: me.phone ?? "" });
  },
  /** Face verification (人脸核身): the gateway asks WeChat for a verify_id, the phone does the face. */
  async onVerify(name: string, idCardNo: string) {
    const started = await api.POST("/api/v1/me/identity/verifications", { body: { name, idCardNo } });
    await new Promise<void>((resolve) => {
      (wx as unknown as { requestFacialVerify(o: { verifyId: string; complete(): void }): void }).requestFacialVerify({
        verifyId: started.verifyId,
        complete: () => resolve(),
      });
    });
    try {
      const me = await api.POST("/api/v1/me/identity/verifications/{id}/complete", { path: { id: started.id } });
      this.setData({ verified: me.identity?.verified ?? false });
    } catch (e) {
      this.setData({ error: describe(e) });
    }
  },
});

/** What to show: the gateway's Chinese message, with the request id for the help desk. */
export function describe(e: unknown): string {
  if (e instanceof ApiError) {
    switch (e.code) {
      case "FACE_VERIFY_CANCELLED":
        return "已取消人脸核验";
      case "RATE_LIMITED":
        return `${e.message}（${e.retryAfter ?? 60}秒后再试）`;
      default:
        return `${e.message}（${e.requestId}）`;
    }
  }
  if (e instanceof NetworkError) return e.message;
  return "系统繁忙，请稍后再试";
}
