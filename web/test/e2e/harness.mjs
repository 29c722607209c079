// What the browser scenarios (run.mjs) stand on: a real `chit serve` they can stop and start
// again on the same port and data, headless Chromium through playwright-core, the `chit` CLI
// wallet, a TLS proxy, axe-core, and the few steps every scenario repeats (register, open a
// conversation, send, pay), each by role and accessible name.

import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer as createHttps } from "node:https";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const BIN = process.env.CHIT_BIN ?? "target/debug/chit";
const CHROMIUM = process.env.CHIT_CHROMIUM ?? "/usr/bin/chromium";
export const SHOTS = process.env.CHIT_SCREENSHOTS ?? new URL("../../../target/web-screenshots", import.meta.url).pathname;
export const PASSPHRASE = "a long enough passphrase";
export const IBAN = "DE89370400440532013000";
export const work = mkdtempSync(join(tmpdir(), "chit-web-e2e-"));
mkdirSync(SHOTS, { recursive: true });

// --- the node -------------------------------------------------------------------------------

export async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const port = await freePort();
export const url = `http://127.0.0.1:${port}`;
let node = null;

export async function startNode() {
  const child = spawn(BIN, ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", join(work, "node"), "--impt", "off", "--metrics", "off", "--currency", "EUR/2", "--currency", "JPY/0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) => {
    let seen = "";
    child.stdout.on("data", (d) => {
      seen += d;
      if (seen.includes("chit node listening on")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`chit serve exited (${code}): ${seen}`)));
  });
  node = child;
}

export async function stopNode() {
  if (!node) return;
  const exited = new Promise((r) => node.once("exit", r));
  node.kill("SIGTERM");
  await exited;
  node = null;
}

export function cli(wallet, args, env = {}) {
  return execFileSync(BIN, ["--node", url, "--wallet", join(work, wallet), ...args], {
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
}

// --- the browser ----------------------------------------------------------------------------

export const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });

export async function page() {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  const p = await context.newPage();
  p.on("pageerror", (e) => console.error(`page error: ${e.stack ?? e.message}`));
  await p.goto(url);
  return p;
}

export const button = (p, name) => p.getByRole("button", { name, exact: true });
/** A message in the open conversation (not its preview in the list). */
export const inThread = (p, text) => p.getByRole("list", { name: /^Messages with/ }).getByText(text);

/** Registers `handle` in a new browser; saves the offered backup and returns its path. */
export async function register(handle) {
  const p = await page();
  await p.getByLabel("Handle", { exact: true }).fill(handle);
  await p.getByText(`@${handle} is available`).waitFor();
  await button(p, "Register").click();
  await p.getByLabel("Backup passphrase").fill(PASSPHRASE);
  await p.getByLabel("The same passphrase again").fill(PASSPHRASE);
  const [download] = await Promise.all([p.waitForEvent("download"), button(p, "Save backup").click()]);
  const backup = join(work, `${handle}.backup.json`);
  await download.saveAs(backup);
  await p.getByRole("heading", { name: `Chit · @${handle}` }).waitFor();
  return { p, backup };
}

/** Goes to a tab of the wallet and waits until it is drawn. */
export async function tab(p, name) {
  await button(p, name).click();
  await p.locator('#app[aria-busy="false"]').waitFor();
}

export async function openChat(p, handle) {
  await tab(p, "Chats");
  await p.getByRole("heading", { name: "Conversations" }).waitFor();
  const existing = p.getByRole("list", { name: "Conversations" }).getByRole("button", { name: new RegExp(`^@${handle}`) });
  if (await existing.count()) {
    await existing.first().click();
  } else {
    await p.getByRole("textbox", { name: "Handle" }).fill(handle);
    await button(p, "Find").click();
    // The person's key fingerprint, or the error the page shows instead (said, not timed out).
    const found = p.getByText(/— key fingerprint/);
    const refused = p.locator(".card").filter({ hasText: "New conversation" }).getByRole("alert").filter({ hasText: /./ });
    await found.or(refused).first().waitFor();
    if (!(await found.count())) throw new Error(`Find @${handle}: ${await refused.first().innerText()}`);
    await button(p, "Open conversation").click();
  }
  await p.getByRole("heading", { name: `@${handle}`, exact: true }).waitFor();
}

/** Sends a text and waits for the node to acknowledge it (it is no longer "sending…"). */
export async function say(p, text, acknowledged = true) {
  await p.getByRole("textbox", { name: "Message" }).fill(text);
  await button(p, "Send").click();
  if (acknowledged) {
    await inThread(p, text).waitFor();
    await inThread(p, "sending…").waitFor({ state: "detached" });
  }
}

/** Pay (offer) or Request through the dialog and its confirmation. */
export async function payment(p, kind, amount, note) {
  await button(p, kind === "offer" ? "Pay" : "Request").click();
  const dialog = p.getByRole("dialog");
  await dialog.getByLabel("Amount").fill(amount);
  await dialog.getByLabel("Note").fill(note);
  await button(dialog, "Review").click();
  await dialog.getByText("Fee", { exact: true }).waitFor();
  await button(dialog, "Confirm").click();
}

export const cardOf = (p, amount, note) => p.locator("article.payment").filter({ hasText: amount }).filter({ hasText: note });

export async function balanceOf(p) {
  await tab(p, "Balance");
  const row = p.getByRole("table", { name: "Balance" }).getByRole("row", { name: /^EUR/ });
  await row.waitFor();
  return (await row.innerText()).split(/\s+/);
}

/** A TLS reverse proxy in front of the node, as an operator would put one (a throwaway cert). */
export async function tlsProxy() {
  const key = join(work, "proxy.key");
  const cert = join(work, "proxy.crt");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
  const server = createHttps({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    const upstream = httpRequest({ host: "127.0.0.1", port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  server.on("upgrade", (req, socket, head) => {
    const upstream = connect(port, "127.0.0.1", () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`), "", ""];
      upstream.write(lines.join("\r\n"));
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `https://127.0.0.1:${server.address().port}` };
}

/** WCAG 2.x A and AA violations on the page as it is (axe-core), as readable lines. */
const AXE = readFileSync(new URL("../../node_modules/axe-core/axe.min.js", import.meta.url), "utf8");
export async function violations(p) {
  await p.evaluate(AXE);
  const found = await p.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join("; ")})`);
  });
  return found;
}
