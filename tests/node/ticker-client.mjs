// The ticker app's generated client (`wsgen client --lang js`) at work in Node.js, on
// `ws`'s WebSocket (Node.js 18 and 20 have none built in), against the running app:
//   node ticker-client.mjs <client module> <stage url>
// It subscribes with a symbol the model refuses, then with a good one, and prints what
// reached which handler as one JSON line once a price came: API Gateway's frame to
// `gatewayError`, the reply to `onSubscribed`, the push to `onPrice`.
import { pathToFileURL } from "node:url";
import { WebSocket } from "ws";

globalThis.WebSocket = WebSocket;
const [module, url] = process.argv.slice(2);
const { TickerApiClient } = await import(pathToFileURL(module).href);

const seen = [];
await new Promise((resolve, reject) => {
  const timer = setTimeout(
    () => reject(new Error(`no price within 30 s; the handlers saw ${JSON.stringify(seen)}`)),
    30_000,
  );
  const client = new TickerApiClient(url, {
    open: () => client.subscribe({ symbol: "no spaces" }),
    gatewayError: (error) => {
      seen.push(["gatewayError", error.message]);
      client.subscribe({ symbol: "amzn" });
    },
    onSubscribed: (reply) => seen.push(["onSubscribed", reply.subscribed]),
    onUnsubscribed: (reply) => seen.push(["onUnsubscribed", reply.unsubscribed]),
    onPrice: (price) => {
      seen.push(["onPrice", price.type, price.symbol, typeof price.price]);
      clearTimeout(timer);
      client.close();
      resolve();
    },
    message: (data) => seen.push(["message", String(data)]),
    close: (code) => {
      clearTimeout(timer);
      reject(new Error(`closed (${code}); the handlers saw ${JSON.stringify(seen)}`));
    },
  });
});
console.log(JSON.stringify(seen));
