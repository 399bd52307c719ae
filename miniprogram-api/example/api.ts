// One client for the whole mini-program: wx.request underneath, the token in storage, a silent
// wx.login whenever the session is missing or ended.
import { createClient, wxLoginCode, wxTokenStore, wxTransport } from "@zhangshangban/miniprogram-api";

export const BASE_URL = "https://zsb.example.gov.cn";

export const api = createClient({
  baseUrl: BASE_URL,
  transport: wxTransport(wx),
  tokens: wxTokenStore(wx),
  loginCode: wxLoginCode(wx),
});
