// The conn-status banner: which addresses the page talks to are not
// answering, in plain words. Empty and hidden when every one answers.

import { byId, fmtTime, h } from "./dom";
import { model } from "./model";

export function updateBanner(): void {
  const el = byId("conn-status");
  const lines: string[] = [];
  const bases = new Set<string>();
  for (const n of model.nodes) {
    const b = model.baseOf(n);
    if (b) bases.add(b);
  }
  bases.add(location.origin);
  if (model.demoControl) bases.add(model.demoControl);
  for (const b of bases) {
    const r = model.reach.get(b);
    if (!r || r.ok) continue;
    const addr = b.replace(/^https?:\/\//, "");
    const what = b === model.demoControl ? "The demo control server " : "";
    lines.push(`${what}${addr} is not answering (since ${fmtTime(r.since)}).`);
  }
  if (model.nodes.length === 0 && model.viewError) lines.push(`No node answers: ${model.viewError}.`);
  const sig = lines.join("\n");
  if (el.dataset.sig === sig) return;
  el.dataset.sig = sig;
  el.replaceChildren(...lines.map((l) => h("div", {}, l)));
  el.hidden = lines.length === 0;
}
