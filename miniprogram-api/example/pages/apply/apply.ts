import { type Action, requestSubscriptions } from "@zhangshangban/miniprogram-api";
import { api } from "../../api";
import { describe } from "../index/index";

let submit: Action | undefined;

Page({
  data: { progress: 0, materials: [] as { code: string; materialId: string }[], status: "", error: "" },
  /** Choose a photo of the required material and upload it (field `file`) with progress. */
  async onChoose(code: string) {
    const chosen = await wx.chooseMedia({ count: 1, mediaType: ["image"] });
    const file = chosen.tempFiles[0];
    if (!file) return;
    try {
      const material = await api.upload(file.tempFilePath, { onProgress: (p) => this.setData({ progress: p.progress }) });
      this.setData({ materials: [...this.data.materials, { code, materialId: material.id }] });
    } catch (e) {
      this.setData({ error: describe(e) });
    }
  },
  async onSubmit(itemCode: string) {
    await requestSubscriptions(api, wx, "application");
    submit = submit ?? api.action();
    const application = await api.POST("/api/v1/applications", {
      body: { itemCode, form: { purpose: "办理贷款" }, obtainWay: "COLLECT", materials: this.data.materials },
      action: submit,
    });
    submit = undefined;
    this.setData({ status: application.statusText });
  },
});
