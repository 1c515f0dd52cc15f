// Validates AsyncAPI documents with the official parser (@asyncapi/parser, pinned in
// package.json): prints every diagnostic and exits non-zero when one has error severity.
// Usage: node tools/node/validate-asyncapi.mjs FILE... ("-" reads the document from stdin)
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Parser, DiagnosticSeverity } = require("@asyncapi/parser");

const SEVERITY = Object.fromEntries(
  Object.entries(DiagnosticSeverity).filter(([, v]) => typeof v === "number").map(([k, v]) => [v, k]),
);

async function readInput(path) {
  if (path !== "-") return readFile(path, "utf8");
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function validate(parser, path) {
  const text = await readInput(path);
  const { document, diagnostics } = await parser.parse(text, { source: path === "-" ? undefined : path });
  let errors = 0;
  for (const d of diagnostics) {
    if (d.severity === DiagnosticSeverity.Error) errors += 1;
    const where = d.path && d.path.length ? d.path.join(".") : "(document)";
    const line = d.range ? `:${d.range.start.line + 1}` : "";
    console.log(`${path}${line}: ${SEVERITY[d.severity] ?? d.severity} ${d.code}: ${d.message} [${where}]`);
  }
  if (document === undefined && errors === 0) errors = 1;
  const version = document ? document.version() : "?";
  console.log(
    `${path}: AsyncAPI ${version}, ${errors} error(s), ${diagnostics.length - errors} other diagnostic(s)` +
      (document ? `, ${document.channels().length} channels, ${document.operations().length} operations, ` +
        `${document.messages().length} messages` : ""),
  );
  return errors;
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error("usage: validate-asyncapi.mjs FILE... (- for stdin)");
  process.exit(2);
}
const parser = new Parser();
let failed = 0;
for (const path of paths) {
  try {
    failed += (await validate(parser, path)) > 0 ? 1 : 0;
  } catch (error) {
    console.log(`${path}: cannot be validated: ${error && error.message ? error.message : error}`);
    failed += 1;
  }
}
process.exit(failed > 0 ? 1 : 0);
