// The same client for every server: N sequential messages over one WebSocket, each
// sent when the previous answer arrived; prints p50/p90/p99 and messages per second as
// one JSON line. node roundtrip.mjs URL N [MESSAGE]
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const WebSocket = require(process.env.WS_MODULE || "ws");

const [url, n = "2000", message = "hello, echo"] = process.argv.slice(2);
const total = Number(n);
const warmup = 100;
const ws = new WebSocket(url);
const times = [];
let sent = 0;
let began = 0n;
let first = 0n;
ws.on("open", () => send());
ws.on("message", () => {
  const took = Number(process.hrtime.bigint() - began) / 1e6;
  if (sent > warmup) times.push(took);
  if (sent === warmup) first = process.hrtime.bigint();
  if (sent < warmup + total) return send();
  const wall = Number(process.hrtime.bigint() - first) / 1e9;
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  console.log(JSON.stringify({
    url, messages: times.length,
    p50_ms: +q(0.5).toFixed(3), p90_ms: +q(0.9).toFixed(3), p99_ms: +q(0.99).toFixed(3),
    msgs_per_s: Math.round(times.length / wall),
  }));
  ws.close();
});
ws.on("error", (e) => { console.error(`${url}: ${e.message}`); process.exit(1); });
function send() { sent++; began = process.hrtime.bigint(); ws.send(message); }
