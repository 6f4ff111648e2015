// Parses an AsyncAPI document with the AsyncAPI project's parser (@asyncapi/parser,
// pinned in package.json) and prints what it found as one JSON object: the diagnostics
// (errors are severity 0) and, when the document parsed, its servers, channels,
// operations and messages with their payload schemas, as the parser resolved them.
//
// usage: node tests/node/parse-asyncapi.mjs FILE
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const file = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"), {
  source: file,
});
const out = {
  errors: diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join("/")}: ${d.message}`),
  warnings: diagnostics.filter((d) => d.severity === 1).map((d) => `${d.path.join("/")}: ${d.message}`),
};
if (document) {
  out.version = document.version();
  out.servers = Object.fromEntries(
    document.servers().all().map((s) => [s.id(), { protocol: s.protocol(), url: s.url() }]),
  );
  out.channels = Object.fromEntries(
    document.channels().all().map((c) => [
      c.id(),
      {
        address: c.address(),
        messages: c.messages().all().map((m) => m.id()),
        bindings: Object.fromEntries(c.bindings().all().map((b) => [b.protocol(), b.value()])),
      },
    ]),
  );
  out.operations = Object.fromEntries(
    document.operations().all().map((o) => [
      o.id(),
      {
        action: o.action(),
        title: o.title(),
        messages: o.messages().all().map((m) => m.id()),
        reply: o.reply() !== undefined,
      },
    ]),
  );
  out.messages = Object.fromEntries(
    document.components().messages().all().map((m) => [m.id(), m.payload()?.json() ?? null]),
  );
}
console.log(JSON.stringify(out, null, 2));
process.exit(out.errors.length === 0 && document ? 0 : 1);
