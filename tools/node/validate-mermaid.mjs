// Parses every ```mermaid block of Markdown files with Mermaid's own parser (the `mermaid`
// package, pinned in package.json; jsdom stands in for the browser its sanitizer needs), offline.
// Prints one line per diagram and exits non-zero when one does not parse, or a file has none.
// Usage: node tools/node/validate-mermaid.mjs FILE... ("-" reads Markdown from stdin)
import { readFile } from "node:fs/promises";
import { JSDOM } from "jsdom";

// before mermaid is loaded: DOMPurify binds to the window it finds at import time, and the
// sequence diagram's `box` checks its colour with the DOM's `Option`
const { window } = new JSDOM("");
globalThis.window = window;
globalThis.document = window.document;
globalThis.Option = window.Option;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

const FENCE = /^```mermaid[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;

async function readInput(path) {
  if (path !== "-") return readFile(path, "utf8");
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function diagrams(markdown) {
  return [...markdown.matchAll(FENCE)].map((match) => ({
    line: markdown.slice(0, match.index).split("\n").length + 1, // the block's first line
    text: match[1],
  }));
}

async function validate(path) {
  const found = diagrams(await readInput(path));
  let errors = 0;
  for (const { line, text } of found) {
    try {
      const { diagramType } = await mermaid.parse(text);
      console.log(`${path}:${line}: ${diagramType} ok`);
    } catch (error) {
      errors += 1;
      const message = String(error && error.message ? error.message : error).replace(/\n/g, "\n    ");
      console.log(`${path}:${line}: error: ${message}`);
    }
  }
  if (found.length === 0) {
    errors += 1;
    console.log(`${path}: error: no \`\`\`mermaid block`);
  }
  console.log(`${path}: ${found.length} diagram(s), ${errors} error(s)`);
  return errors;
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error("usage: validate-mermaid.mjs FILE... (- for stdin)");
  process.exit(2);
}
let failed = 0;
for (const path of paths) {
  try {
    failed += (await validate(path)) > 0 ? 1 : 0;
  } catch (error) {
    console.log(`${path}: cannot be validated: ${error && error.message ? error.message : error}`);
    failed += 1;
  }
}
process.exit(failed > 0 ? 1 : 0);
