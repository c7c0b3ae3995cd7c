// The conn-status banner: which addresses the page talks to are not
// answering, in plain words. Empty and hidden when every one answers.

import { byId, fmtTime, h } from "./dom";
import { model } from "./model";

export function updateBanner(): void {
  const el = byId("conn-status");
  const lines: string[] = [];
  // Each address the page talks to, named the way the rest of the page
  // names it: a node by its listen address, with the HTTP address the page
  // actually failed to reach.
  const names = new Map<string, string>();
  for (const n of model.nodes) {
    const b = model.baseOf(n);
    if (b && !names.has(b)) names.set(b, `Node ${n.listen} (HTTP ${b.replace(/^https?:\/\//, "")})`);
  }
  const self = location.origin;
  if (!names.has(self)) names.set(self, `The node that served this page (HTTP ${self.replace(/^https?:\/\//, "")})`);
  if (model.demoControl && !names.has(model.demoControl))
    names.set(model.demoControl, `The demo control server (${model.demoControl.replace(/^https?:\/\//, "")})`);
  for (const [b, name] of names) {
    const r = model.reach.get(b);
    if (!r || r.ok) continue;
    lines.push(`${name} is not answering (since ${fmtTime(r.since)}).`);
  }
  if (model.nodes.length === 0 && model.viewError) lines.push(`No node answers: ${model.viewError}.`);
  const sig = lines.join("\n");
  if (el.dataset.sig === sig) return;
  el.dataset.sig = sig;
  el.replaceChildren(...lines.map((l) => h("div", {}, l)));
  el.hidden = lines.length === 0;
}
