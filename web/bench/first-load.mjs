// First load of the web wallet, cold: bytes transferred (as sent over the wire, gzip where the
// browser takes it) and the time until the page is usable (the Register button is shown, which
// needs the script parsed, IndexedDB opened and the node's key fetched). Headless Chromium over
// loopback against a real `chit serve`; prints the machine it ran on.
//
//   CHIT_BIN=target/release/chit node web/bench/first-load.mjs [runs]

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BIN = process.env.CHIT_BIN ?? "target/release/chit";
const RUNS = Number(process.argv[2] ?? 7);
const data = mkdtempSync(join(tmpdir(), "chit-web-bench-"));
const node = spawn(BIN, ["serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--impt", "off", "--metrics", "off"], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((resolve) => {
  let seen = "";
  node.stdout.on("data", (d) => {
    seen += d;
    const m = /chit node listening on (\S+)/.exec(seen);
    if (m) resolve(m[1].startsWith("http") ? m[1] : `http://${m[1]}`);
  });
});

const browser = await chromium.launch({ executablePath: process.env.CHIT_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
const version = browser.version();
const results = [];
for (let i = 0; i < RUNS; i++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  let bytes = 0;
  const files = new Map();
  cdp.on("Network.responseReceived", (e) => files.set(e.requestId, new URL(e.response.url).pathname));
  cdp.on("Network.loadingFinished", (e) => {
    bytes += e.encodedDataLength;
  });
  const started = performance.now();
  await page.goto(url);
  await page.getByRole("button", { name: "Register", exact: true }).waitFor();
  const usable = performance.now() - started;
  const nav = await page.evaluate(() => JSON.stringify(performance.getEntriesByType("navigation")[0]));
  const { domContentLoadedEventEnd } = JSON.parse(nav);
  results.push({ bytes, usable, dcl: domContentLoadedEventEnd, requests: files.size });
  await context.close();
}
await browser.close();
node.kill("SIGTERM");
rmSync(data, { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpu = cpus()[0]?.model ?? "unknown CPU";
console.log(`machine: ${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Chromium ${version}; ${RUNS} cold loads over loopback`);
console.log(`first load: ${results[0].requests} requests, ${(median(results.map((r) => r.bytes)) / 1024).toFixed(1)} KiB transferred (median)`);
console.log(`DOMContentLoaded: median ${median(results.map((r) => r.dcl)).toFixed(0)} ms`);
console.log(`usable (Register shown, node key fetched): median ${median(results.map((r) => r.usable)).toFixed(0)} ms, worst ${Math.max(...results.map((r) => r.usable)).toFixed(0)} ms`);
