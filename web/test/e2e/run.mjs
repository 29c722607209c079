// The web client end to end: a real `chit serve` (started here, so it can be restarted), real
// headless Chromium through playwright-core, and the `chit` CLI wallet beside it. Each scenario
// drives the page by role and accessible name, as a person with a screen reader or a keyboard
// would. Run by crates/chit/tests/it/web.rs (the README's test command) with CHIT_BIN set.
//
//   CHIT_BIN=target/debug/chit node web/test/e2e/run.mjs
//
// Screenshots of the main screens go to $CHIT_SCREENSHOTS (default target/web-screenshots).

import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import {
  IBAN, PASSPHRASE, SHOTS, balanceOf, browser, button, cardOf, cli, inThread, openChat, page, tab,
  payment, register, say, startNode, stopNode, tlsProxy, url, violations, work,
} from "./harness.mjs";

// --- scenarios ------------------------------------------------------------------------------

const results = [];
async function scenario(name, f) {
  const started = Date.now();
  try {
    await f();
    results.push({ name, ok: true });
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`not ok - ${name}\n  ${String(e.stack ?? e).split("\n").slice(0, 6).join("\n  ")}`);
  }
}

await startNode();
let alice;
let bob;

await scenario("the page is served under a strict policy and says it loaded", async () => {
  const res = await fetch(url + "/", { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(res.status, 200);
  const csp = res.headers.get("content-security-policy");
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  const p = await page();
  await button(p, "Register").waitFor();
  await p.screenshot({ path: join(SHOTS, "welcome.png") });
  await p.context().close();
});

await scenario("two people register in two browsers, each keeping a backup", async () => {
  alice = await register("alice");
  bob = await register("bob");
  await tab(alice.p, "Chats");
  await alice.p.getByText("My QR code").click();
  await alice.p.getByRole("img", { name: /^QR code of chit:\/\/user\/alice\?node=/ }).waitFor();
  const taken = await page();
  await taken.getByLabel("Handle", { exact: true }).fill("alice");
  await taken.getByText("@alice is taken").waitFor();
  await taken.context().close();
});

await scenario("link the sandbox bank, top up, and an over-precise amount is refused in place", async () => {
  const p = alice.p;
  await tab(p, "Balance");
  await p.getByLabel("IBAN").fill("DE00370400440532013000");
  await button(p, "Link account").click();
  await p.getByText(/not a valid IBAN/).waitFor();
  assert.equal(await p.getByText(/^Linked:/).count(), 0);
  await p.getByLabel("IBAN").fill(IBAN);
  await button(p, "Link account").click();
  await p.getByText(/^Linked:/).waitFor();
  await p.getByLabel("Amount").fill("1.234");
  await button(p, "Top up").click();
  await p.getByText("EUR has 2 decimals, the amount has more").waitFor();
  await p.getByLabel("Amount").fill("50");
  await button(p, "Top up").click();
  await p.getByText("Topped up EUR:50.00").waitFor();
  await p.getByLabel("Amount").fill("-5");
  await button(p, "Cash out").click();
  await p.getByText("amount must not be negative").waitFor();
  await p.getByLabel("Amount").fill("1");
  await button(p, "Cash out").click();
  await p.getByText("Cashed out EUR:1.00").waitFor();
  await p.getByLabel("Amount").fill("1");
  await button(p, "Top up").click();
  await p.getByText("Topped up EUR:1.00").waitFor();
  assert.deepEqual((await balanceOf(p)).slice(0, 3), ["EUR", "EUR:50.00", "EUR:50.00"]);
  await p.screenshot({ path: join(SHOTS, "balance.png") });
});

await scenario("chat: a text arrives live, with an unread count", async () => {
  await openChat(alice.p, "bob");
  await say(alice.p, "hello bob");
  await inThread(alice.p, "hello bob").waitFor();
  await tab(bob.p, "Chats");
  await bob.p.getByLabel("1 unread").waitFor();
  await openChat(bob.p, "alice");
  await inThread(bob.p, "hello bob").waitFor();
  // What alice is typing stays while bob's answer arrives.
  await alice.p.getByRole("textbox", { name: "Message" }).fill("a draft in progress");
  await say(bob.p, "hi alice");
  await inThread(alice.p, "hi alice").waitFor();
  assert.equal(await alice.p.getByRole("textbox", { name: "Message" }).inputValue(), "a draft in progress");
});

await scenario("offer → accept: the money is held, then the recipient's", async () => {
  // Amounts the CLI would refuse are refused in the form, and nothing is sent.
  await button(alice.p, "Pay").click();
  const dialog = alice.p.getByRole("dialog");
  for (const [typed, said] of [["abc", /not an amount/], ["1.234", /2 decimals/], ["999", /more than you have available \(EUR:50\.00\)/]]) {
    await dialog.getByLabel("Amount").fill(typed);
    await button(dialog, "Review").click();
    await dialog.getByText(said).waitFor();
  }
  await button(dialog, "Back").click();
  await payment(alice.p, "offer", "5", "lunch");
  await cardOf(bob.p, "EUR:5.00", "lunch").getByRole("button", { name: "Accept" }).click();
  await cardOf(alice.p, "EUR:5.00", "lunch").getByText("accepted", { exact: true }).waitFor();
  await inThread(alice.p, "@bob accepted EUR:5.00 from @alice").waitFor();
  assert.equal((await balanceOf(alice.p))[1], "EUR:45.00");
  await openChat(alice.p, "bob");
});

await scenario("offer → decline, and an offer the sender cancels", async () => {
  await payment(alice.p, "offer", "2", "coffee");
  await cardOf(bob.p, "EUR:2.00", "coffee").getByRole("button", { name: "Decline" }).click();
  await cardOf(alice.p, "EUR:2.00", "coffee").getByText("declined", { exact: true }).waitFor();
  await payment(alice.p, "offer", "3", "cinema");
  await cardOf(alice.p, "EUR:3.00", "cinema").getByRole("button", { name: "Cancel" }).click();
  await cardOf(bob.p, "EUR:3.00", "cinema").getByText("cancelled", { exact: true }).waitFor();
  assert.equal((await balanceOf(alice.p))[1], "EUR:45.00");
  await openChat(alice.p, "bob");
});

await scenario("request → pay now, reject, pay later", async () => {
  await payment(bob.p, "request", "4", "tickets");
  await cardOf(alice.p, "EUR:4.00", "tickets").getByRole("button", { name: "Pay now" }).click();
  await cardOf(bob.p, "EUR:4.00", "tickets").getByText("paid", { exact: true }).waitFor();
  await payment(bob.p, "request", "1", "gum");
  await cardOf(alice.p, "EUR:1.00", "gum").getByRole("button", { name: "Reject" }).click();
  await cardOf(bob.p, "EUR:1.00", "gum").getByText("rejected", { exact: true }).waitFor();
  await payment(bob.p, "request", "9", "changed my mind");
  await cardOf(bob.p, "EUR:9.00", "changed my mind").getByRole("button", { name: "Cancel" }).click();
  await cardOf(alice.p, "EUR:9.00", "changed my mind").getByText("cancelled", { exact: true }).waitFor();
  await payment(bob.p, "request", "6", "rent share");
  await cardOf(alice.p, "EUR:6.00", "rent share").getByRole("button", { name: "Pay later" }).click();
  await alice.p.getByRole("dialog").getByLabel("Pay at").waitFor();
  await button(alice.p.getByRole("dialog"), "Schedule").click();
  await cardOf(alice.p, "EUR:6.00", "rent share").getByText("scheduled", { exact: true }).waitFor();
  await cardOf(bob.p, "EUR:6.00", "rent share").getByText(/^Scheduled: paid on/).waitFor();
  await alice.p.screenshot({ path: join(SHOTS, "thread.png") });
  assert.equal((await balanceOf(alice.p))[1], "EUR:41.00");
});

/** Pay later, a few seconds from now (the picker takes seconds). */
async function payLaterSoon(p, card) {
  await card.getByRole("button", { name: "Pay later" }).click();
  const dialog = p.getByRole("dialog");
  const soon = await p.evaluate(() => new Date(Date.now() + 4000 - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 19));
  await dialog.getByLabel("Pay at").fill(soon);
  await button(dialog, "Schedule").click();
  await card.getByText("scheduled", { exact: true }).waitFor();
}

await scenario("pay later runs at its time; one that cannot be paid then says why on both sides", async () => {
  await openChat(alice.p, "bob");
  await payment(bob.p, "request", "2", "later on");
  await payLaterSoon(alice.p, cardOf(alice.p, "EUR:2.00", "later on"));
  await cardOf(bob.p, "EUR:2.00", "later on").getByText("paid", { exact: true }).waitFor({ timeout: 20_000 });
  await cardOf(alice.p, "EUR:2.00", "later on").getByText("paid", { exact: true }).waitFor({ timeout: 20_000 });
  await payment(bob.p, "request", "500", "too much");
  await payLaterSoon(alice.p, cardOf(alice.p, "EUR:500.00", "too much"));
  const failed = cardOf(bob.p, "EUR:500.00", "too much");
  await failed.getByText(/could not be made: insufficient funds/).waitFor({ timeout: 20_000 });
  await failed.getByText("pending", { exact: true }).waitFor();
  await inThread(alice.p, /^Payment failed: the payment scheduled for .* could not be made: insufficient funds/).waitFor();
  await cardOf(alice.p, "EUR:500.00", "too much").getByRole("button", { name: "Reject" }).click();
  await failed.getByText("rejected", { exact: true }).waitFor();
  assert.equal((await balanceOf(alice.p))[1], "EUR:39.00");
});

await scenario("a receipt opens from the card and is verified in the browser", async () => {
  await openChat(bob.p, "alice");
  await cardOf(bob.p, "EUR:5.00", "lunch").getByRole("button", { name: "Receipt" }).click();
  await bob.p.getByRole("dialog", { name: "Receipt" }).getByText("Verified: signed by this node's key").waitFor();
  await button(bob.p.getByRole("dialog", { name: "Receipt" }), "Close").click();
});

await scenario("log out and log in again; a reload keeps the session, the keys and the conversation", async () => {
  await button(alice.p, "Log out").click();
  await alice.p.getByRole("heading", { name: "Welcome back, @alice" }).waitFor();
  await alice.p.reload();
  await button(alice.p, "Log in").click();
  await alice.p.getByRole("heading", { name: "Chit · @alice" }).waitFor();
  await alice.p.reload();
  await alice.p.getByRole("heading", { name: "Chit · @alice" }).waitFor();
  await openChat(alice.p, "bob");
  await inThread(alice.p, "hello bob").waitFor();
});

await scenario("the browser and the CLI wallet talk both ways", async () => {
  cli("carol", ["register", "carol"]);
  cli("carol", ["say", "@alice", "hi from the command line"]);
  await tab(alice.p, "Chats");
  await openChat(alice.p, "carol");
  await inThread(alice.p, "hi from the command line").waitFor();
  await say(alice.p, "hello carol, from the browser");
  await inThread(alice.p, "hello carol, from the browser").waitFor();
  const inbox = cli("carol", ["inbox"]);
  assert.match(inbox, /hello carol, from the browser/);
});

await scenario("an offer made in the CLI counts down in the browser and expires on both sides", async () => {
  cli("carol", ["link", "sandbox", IBAN]);
  cli("carol", ["topup", "10"]);
  cli("carol", ["send", "@alice", "2", "--expires", "4s"]);
  await openChat(alice.p, "carol");
  const card = alice.p.locator("article.payment").filter({ hasText: "EUR:2.00" });
  await card.getByText(/^expires in 0 min [0-4] s$/).waitFor();
  await card.getByText("expired", { exact: true }).waitFor({ timeout: 20_000 });
  await inThread(alice.p, "The offer of EUR:2.00 expired; nothing was paid").waitFor();
  assert.equal(await card.getByRole("button", { name: "Accept" }).count(), 0);
  assert.match(cli("carol", ["balance"]), /10\.00/);
});

await scenario("a CLI backup restores in a browser, and a browser backup in the CLI", async () => {
  const file = join(work, "carol.backup.json");
  cli("carol", ["key", "export", file], { CHIT_PASSPHRASE: PASSPHRASE });
  const p = await page();
  await p.getByLabel("Backup file").setInputFiles(file);
  await p.getByLabel("Passphrase of the backup").fill("not the passphrase");
  await button(p, "Restore").click();
  await p.getByText("wrong passphrase, or the backup was altered").waitFor();
  await p.getByLabel("Passphrase of the backup").fill(PASSPHRASE);
  await button(p, "Restore").click();
  await p.getByRole("heading", { name: "Chit · @carol" }).waitFor();
  await openChat(p, "alice");
  await inThread(p, "hello carol, from the browser").waitFor();
  await p.context().close();
  cli("alice-cli", ["key", "import", alice.backup], { CHIT_PASSPHRASE: PASSPHRASE });
  const balance = cli("alice-cli", ["balance"]);
  assert.match(balance, /39\.00/);
});

await scenario("a passphrase lock for a shared computer: only the sealed backup is kept, reload and log out ask again", async () => {
  const p = await page();
  // The text form: the backup pasted rather than chosen as a file.
  await p.getByLabel("Or paste the backup").fill(readFileSync(alice.backup, "utf8"));
  await p.getByLabel("Passphrase of the backup").fill(PASSPHRASE);
  await p.getByLabel("Keep it locked on this computer with this passphrase").check();
  await button(p, "Restore").click();
  await p.getByRole("heading", { name: "Chit · @alice" }).waitFor();
  const stored = await p.evaluate(() => new Promise((resolve) => {
    indexedDB.open("chit-wallet").onsuccess = (e) => {
      e.target.result.transaction("kv").objectStore("kv").get("account").onsuccess = (g) => {
        const a = g.target.result;
        resolve({ keys: "identity" in a || "encryption" in a, sealed: Boolean(a.sealed) });
      };
    };
  }));
  assert.deepEqual(stored, { keys: false, sealed: true });
  await p.reload();
  await p.getByRole("heading", { name: "@alice is locked" }).waitFor();
  await p.getByLabel("Passphrase", { exact: true }).fill("not the passphrase");
  await button(p, "Unlock").click();
  await p.getByText("wrong passphrase, or the backup was altered").waitFor();
  await p.getByLabel("Passphrase", { exact: true }).fill(PASSPHRASE);
  await button(p, "Unlock").click();
  await p.getByRole("heading", { name: "Chit · @alice" }).waitFor();
  await openChat(p, "bob");
  await inThread(p, "hello bob").waitFor();
  await button(p, "Log out").click();
  await p.getByRole("heading", { name: "@alice is locked" }).waitFor();
  await p.context().close();
});

await scenario("history: filters, receipts verified, and CSV and JSON byte for byte the CLI's", async () => {
  const p = alice.p;
  await tab(p, "History");
  const table = p.getByRole("table", { name: "History" });
  await table.waitFor();
  await table.getByText("verified", { exact: true }).first().waitFor();
  assert.equal(await table.getByText("NOT verified").count(), 0);
  await p.getByLabel("State").selectOption("declined");
  assert.equal(await table.getByRole("row").count(), 2, "the header and the declined offer");
  await p.getByLabel("State").selectOption("");
  await p.screenshot({ path: join(SHOTS, "history.png") });
  const saved = async (name) => {
    const [download] = await Promise.all([p.waitForEvent("download"), button(p, name).click()]);
    const path = join(work, `web-${name.replace(" ", "-")}`);
    await download.saveAs(path);
    return readFileSync(path, "utf8");
  };
  const csv = await saved("Download CSV");
  const cliCsv = cli("alice-cli", ["history", "--format", "csv"]);
  writeFileSync(join(SHOTS, "history-web.csv"), csv);
  writeFileSync(join(SHOTS, "history-cli.csv"), cliCsv);
  assert.equal(csv, cliCsv);
  assert.match(csv, /,offer,out,@bob,-5\.00,EUR,EUR:5\.00,45\.00,accepted,lunch\n/);
  const json = await saved("Download JSON");
  assert.equal(json, cli("alice-cli", ["history", "--format", "json"]));
});

await scenario("settings: auto-accept, an invoice template used for a request, API tokens made and revoked", async () => {
  const p = bob.p;
  await tab(p, "Settings");
  await p.getByLabel("Accept offers automatically").selectOption("contacts");
  await button(p, "Save").click();
  await p.getByText("Saved", { exact: true }).waitFor();
  await p.getByLabel("Template name").fill("haircut");
  await p.getByLabel("Template amount").fill("18.5");
  await p.getByLabel("Template note").fill("cut and wash");
  await button(p, "Save template").click();
  await p.getByRole("list", { name: "Templates" }).getByText("haircut").waitFor();
  await p.getByLabel("Token label").fill("till");
  await button(p, "Create token").click();
  const token = (await p.getByText(/^chit_/).innerText()).trim();
  assert.match(token, /^chit_[A-Za-z0-9_-]{43}$/);
  await p.getByRole("table", { name: "API tokens" }).getByText("till").waitFor();
  await button(p, "Revoke token till").click();
  await p.getByRole("table", { name: "API tokens" }).getByText(/^revoked/).waitFor();
  // An offer from a contact is now accepted without asking.
  await openChat(alice.p, "bob");
  await payment(alice.p, "offer", "0.50", "tip");
  await cardOf(alice.p, "EUR:0.50", "tip").getByText("accepted", { exact: true }).waitFor();
  // The template fills the request form.
  await openChat(p, "alice");
  await button(p, "Request").click();
  await p.getByRole("dialog").getByLabel("Template").selectOption("haircut");
  assert.equal(await p.getByRole("dialog").getByLabel("Amount").inputValue(), "EUR:18.50");
  await button(p.getByRole("dialog"), "Review").click();
  await button(p.getByRole("dialog"), "Confirm").click();
  await cardOf(alice.p, "EUR:18.50", "cut and wash").getByRole("button", { name: "Reject" }).click();
  await cardOf(p, "EUR:18.50", "cut and wash").getByText("rejected", { exact: true }).waitFor();
  await tab(p, "Settings");
  await p.getByLabel("Accept offers automatically").selectOption("off");
  await button(p, "Save").click();
  await p.getByText("Saved", { exact: true }).waitFor();
});

await scenario("every screen: no WCAG A/AA violations in light and dark, usable at 375 px, keyboard reaches the controls", async () => {
  const p = alice.p;
  const screens = [
    ["Chats", async () => openChat(p, "bob")],
    ["Balance", async () => button(p, "Balance").click()],
    ["History", async () => { await tab(p, "History"); await p.getByRole("table", { name: "History" }).waitFor(); }],
    ["Settings", async () => { await tab(p, "Settings"); await p.getByRole("heading", { name: "API tokens" }).waitFor(); }],
  ];
  const problems = [];
  for (const width of [375, 1100]) {
    await p.setViewportSize({ width, height: 800 });
    for (const scheme of ["light", "dark"]) {
      await p.emulateMedia({ colorScheme: scheme });
      for (const [name, go] of screens) {
        await go();
        await p.waitForTimeout(150);
        for (const v of await violations(p)) problems.push(`${name} ${width}px ${scheme}: ${v}`);
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        if (overflow > 0 && name !== "History") problems.push(`${name} ${width}px: ${overflow}px wider than the screen`);
      }
    }
  }
  await p.setViewportSize({ width: 375, height: 800 });
  await p.emulateMedia({ colorScheme: "dark" });
  await openChat(p, "bob");
  await p.screenshot({ path: join(SHOTS, "thread-phone-dark.png") });
  await p.emulateMedia({ colorScheme: "light" });
  await p.setViewportSize({ width: 1100, height: 900 });
  // The composer is reached from the top of the page with Tab alone.
  await p.getByRole("heading", { name: "Chit · @alice" }).click();
  let reached = false;
  for (let i = 0; i < 80 && !reached; i++) {
    await p.keyboard.press("Tab");
    reached = await p.evaluate(() => document.activeElement?.textContent === "Request");
  }
  if (!reached) problems.push("Tab never reached the Request button");
  const fresh = await page();
  for (const v of await violations(fresh)) problems.push(`Welcome: ${v}`);
  await fresh.context().close();
  if (problems.length) console.log(problems.join("\n"));
  assert.deepEqual(problems, []);
});

await scenario("over https behind a TLS proxy: register, chat live over wss", async () => {
  const proxy = await tlsProxy();
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const p = await context.newPage();
  p.on("pageerror", (e) => console.error(`page error (https): ${e.message}`));
  await p.goto(proxy.url);
  await p.getByLabel("Handle", { exact: true }).fill("dave");
  await p.getByText("@dave is available").waitFor();
  await button(p, "Register").click();
  await button(p, "Skip").click();
  await p.getByRole("heading", { name: "Chit · @dave" }).waitFor();
  await openChat(p, "alice");
  await say(p, "hello over https");
  await openChat(alice.p, "dave");
  await inThread(alice.p, "hello over https").waitFor();
  await say(alice.p, "and back over wss");
  await inThread(p, "and back over wss").waitFor();
  await context.close();
  proxy.server.close();
});

await scenario("the node goes away: a banner, a message kept as sending, a reload still shows the page; back, nothing lost or doubled", async () => {
  await openChat(bob.p, "alice");
  await openChat(alice.p, "bob");
  await payment(alice.p, "offer", "1", "while away");
  const offered = cardOf(bob.p, "EUR:1.00", "while away");
  await offered.getByRole("button", { name: "Accept" }).waitFor();
  await stopNode();
  await bob.p.getByText("Connection to the node lost").waitFor();
  await say(bob.p, "written while the node was down", false);
  await inThread(bob.p, "sending…").first().waitFor();
  await offered.getByRole("button", { name: "Accept" }).click();
  await inThread(bob.p, "Accepting EUR:1.00…").waitFor();
  await offered.getByText("your decision is being sent…").waitFor();
  assert.equal(await offered.getByRole("button", { name: "Decline" }).count(), 0);
  await alice.p.reload();
  await alice.p.getByText("The node cannot be reached").waitFor();
  await startNode();
  await bob.p.locator("#banner").waitFor({ state: "hidden", timeout: 30_000 });
  await alice.p.getByRole("heading", { name: "Chit · @alice" }).waitFor({ timeout: 30_000 });
  await openChat(alice.p, "bob");
  await inThread(alice.p, "written while the node was down").waitFor({ timeout: 30_000 });
  assert.equal(await inThread(alice.p, "written while the node was down").count(), 1);
  await inThread(bob.p, "sending…").first().waitFor({ state: "detached" });
  await cardOf(alice.p, "EUR:1.00", "while away").getByText("accepted", { exact: true }).waitFor();
  assert.equal(await inThread(alice.p, "@bob accepted EUR:1.00 from @alice").count(), 1);
  await say(bob.p, "still here after the restart");
  await inThread(alice.p, "still here after the restart").waitFor({ timeout: 30_000 });
});

await browser.close();
await stopNode();
const failed = results.filter((r) => !r.ok);
console.log(`# ${results.length - failed.length} passed, ${failed.length} failed`);
writeFileSync(join(SHOTS, "results.json"), JSON.stringify(results, null, 2));
rmSync(work, { recursive: true, force: true });
process.exit(failed.length ? 1 : 0);
