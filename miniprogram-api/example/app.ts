import { api } from "./api";

App({
  onLaunch() {
    // Optional: every call logs in by itself when it must. Logging in at launch only saves the
    // first page a round trip.
    api.login().catch(() => undefined);
  },
});
