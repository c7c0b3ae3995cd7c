// Sibyl dashboard entry point: builds the panels and runs the pollers. Each
// kind of poll runs once per second, never overlapping itself; every request
// has a 900 ms deadline (api.ts), so one silent node never stalls the page.

import { every } from "./api";
import { updateBanner } from "./banner";
import { DemoControls } from "./demo";
import { EventTimeline } from "./events";
import { LatencyPanel } from "./latency";
import { LwtRates } from "./lwt";
import { CapPanel } from "./cap";
import { model } from "./model";
import { ReplicaView } from "./replicas";
import { RingPanel, nodeState } from "./ring";
import { SensorChart, SensorList } from "./sensors";
import { stats } from "./stats";
import { byId, setText } from "./dom";

function start(): void {
  const demo = new DemoControls();
  const ring = new RingPanel(byId("ring"), demo);
  const latency = new LatencyPanel();
  const lwt = new LwtRates();
  const cap = new CapPanel();
  const events = new EventTimeline();
  const sensors = new SensorList();
  const chart = new SensorChart(sensors);
  const replicas = new ReplicaView(sensors);
  const title = byId("cluster-title");

  const refresh = () => {
    ring.setDemoMode(demo.active);
    ring.update();
    updateBanner();
    setText(title, `${model.nodes.filter((n) => nodeState(n) === "up").length}/${model.nodes.length} nodes up`);
  };

  every(1000, async () => {
    await model.pollCluster();
    refresh();
  });
  every(1000, async () => {
    await stats.poll();
    latency.update();
    lwt.update();
    refresh();
  });
  every(1000, () => events.poll());
  every(1000, async () => {
    await demo.pollHealth();
    await demo.pollDemo();
    cap.update();
    refresh();
  });
  every(1000, async () => {
    if (await sensors.poll()) {
      chart.refreshOptions();
      replicas.refreshOptions();
    }
    await chart.poll();
  });
  every(1000, () => replicas.poll());
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
