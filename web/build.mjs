// Builds the web client into dist/ (committed, so the node embeds it and serving it never needs
// npm): src/main.js bundled by esbuild with the npm libraries, index.html and app.css copied,
// and a gzip copy of each for browsers that take it. `--check` builds into a scratch folder and
// fails if dist/ differs: the test run calls it, so a stale bundle cannot land.

import { build } from "esbuild";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const here = new URL(".", import.meta.url).pathname;
const check = process.argv.includes("--check");
const out = check ? mkdtempSync(join(tmpdir(), "chit-web-")) : join(here, "dist");
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(here, "src/main.js")],
  bundle: true,
  format: "esm",
  minify: true,
  target: ["chrome120", "firefox121", "safari17"],
  outfile: join(out, "app.js"),
  legalComments: "eof",
  logLevel: "warning",
});
for (const file of ["index.html", "app.css", "icon.svg", "sw.js"]) {
  writeFileSync(join(out, file), readFileSync(join(here, "src", file)));
}
for (const file of ["index.html", "app.css", "app.js", "icon.svg", "sw.js"]) {
  writeFileSync(join(out, `${file}.gz`), gzipSync(readFileSync(join(out, file)), { level: 9 }));
}

if (check) {
  const dist = join(here, "dist");
  const stale = readdirSync(out).filter((f) => {
    try {
      return !readFileSync(join(out, f)).equals(readFileSync(join(dist, f)));
    } catch {
      return true;
    }
  });
  rmSync(out, { recursive: true, force: true });
  if (stale.length > 0) {
    console.error(`web/dist is stale (${stale.join(", ")}): run \`npm run build\` in web/ and commit dist/`);
    process.exit(1);
  }
  console.log("web/dist is up to date");
}
