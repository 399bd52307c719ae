// The subscribe-message flow (订阅消息): WeChat sends a message only after the citizen accepted
// its template in `wx.requestSubscribeMessage`, which must be called from a tap, with at most 3
// templates at a time. Before an action (booking, taking a ticket, applying, showing a licence)
// the page asks the gateway which templates follow from that action and are worth asking for
// again, asks WeChat, and reports the answers, which the gateway counts (one message per
// "accept"; long-term templates once). Which template follows which action is the gateway's to
// say (each template's `actions`, from its notification kinds): the SDK keeps no map of it.
import type { Client } from "./client.js";
import type { components } from "./generated/api.js";

type Wx = WechatMiniprogram.Wx;
export type TemplateSubscription = components["schemas"]["TemplateSubscription"];
export type Subscriptions = components["schemas"]["Subscriptions"];

/** `booking`, `ticket` (taking one, or checking in), `application`, `licence` (showing one). */
export type SubscribeAction = components["schemas"]["SubscribeAction"];

/** WeChat's limit per `wx.requestSubscribeMessage` call. */
const MAX_TEMPLATES = 3;

/** The template ids worth asking for before `action`: the templates that follow from it which
 * the gateway says to ask again for (none consented, or consents used up). */
export async function templatesToRequest(client: Client, action: SubscribeAction): Promise<string[]> {
  const { templates } = await client.GET("/api/v1/subscriptions");
  return templates
    .filter((t) => t.askAgain && t.actions.includes(action))
    .map((t) => t.templateId)
    .slice(0, MAX_TEMPLATES);
}

/** Reports what `wx.requestSubscribeMessage` answered (`{templateId: "accept" | "reject" …}`). */
export function reportSubscriptions(client: Client, answers: Record<string, string>): Promise<Subscriptions> {
  const results: Record<string, string> = {};
  for (const [id, answer] of Object.entries(answers)) if (id !== "errMsg") results[id] = answer;
  return client.POST("/api/v1/subscriptions", { body: results });
}

/** The whole flow, from a tap handler: which templates, ask WeChat, report. Resolves to the
 * answers (empty when there was nothing to ask); a refusal by WeChat itself is not an error of
 * the action, so it resolves with what was known. */
export async function requestSubscriptions(
  client: Client,
  wx: Pick<Wx, "requestSubscribeMessage">,
  action: SubscribeAction,
): Promise<Record<string, string>> {
  const tmplIds = await templatesToRequest(client, action);
  if (tmplIds.length === 0) return {};
  const answers = await new Promise<Record<string, string>>((resolve) => {
    wx.requestSubscribeMessage({
      tmplIds,
      success: (res) => resolve(res as unknown as Record<string, string>),
      fail: () => resolve({}),
    });
  });
  const results = Object.fromEntries(Object.entries(answers).filter(([id]) => tmplIds.includes(id)));
  if (Object.keys(results).length > 0) await reportSubscriptions(client, results);
  return results;
}
