// Builds the dashboard into build/web/ (or the directory given as the first
// argument): app.js (TypeScript bundled and minified by esbuild, uPlot
// included), app.css, uPlot.min.css and index.html. The Makefile embeds
// every file of that directory into the sibyl binary.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, process.argv[2] ?? "../build/web");

mkdirSync(out, { recursive: true });
// Stale files would be embedded too: start from an empty directory.
for (const f of readdirSync(out)) rmSync(join(out, f), { recursive: true });

await build({
  entryPoints: [join(here, "src/main.ts")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  outfile: join(out, "app.js"),
  logLevel: "warning",
  legalComments: "eof",
  banner: { js: "/* Sibyl dashboard. Includes uPlot, (c) Leon Sorokin, MIT License, https://github.com/leeoniya/uPlot */" },
});
copyFileSync(join(here, "src/index.html"), join(out, "index.html"));
copyFileSync(join(here, "src/app.css"), join(out, "app.css"));
copyFileSync(join(here, "node_modules/uplot/dist/uPlot.min.css"), join(out, "uPlot.min.css"));
