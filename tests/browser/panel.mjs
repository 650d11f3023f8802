// Drives the operator panel in Debian's chromium for tests/browser.rs.
//
//   node panel.mjs PANEL_URL TOKEN SCREENSHOT_PNG hangup|hold
//
// It talks to the Rust test over stdout, one line per step, and the test
// feeds the fake Asterisk between steps. Both scenarios start with
//   SIGNED_IN {"who":..}             the login form was used and the page shows the line
// "hangup" then goes on with
//   RINGING {call card}              a call card with the ringing badge appeared
//   SCREEN_POP url                   the page opened the CRM record of the caller
//   TALKING {call card}              the same card now says talking (screenshot taken)
//   HANGUP_RESULT {sent, result}     "Hang up" was clicked: the command and its answer
//   GONE {"empty":..}                the card is gone
// and "hold" with
//   TALKING {call card}
//   HOLD_RESULT {sent, result}       "Hold" was clicked
//   PARKED {call card}               the call ended but its card offers Resume (screenshot taken)
//   UNHOLD_RESULT {sent, result}     "Resume" was clicked
//   GONE {"empty":..}
// Anything else (a page error, a timeout) ends it with a non-zero status and
// a FAIL line. It also ends when its standard input closes (the test died).

import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, token, screenshot, scenario] = process.argv.slice(2);
if (!url || !token || !screenshot || !["hangup", "hold"].includes(scenario)) {
  console.error("usage: node panel.mjs PANEL_URL TOKEN SCREENSHOT_PNG hangup|hold");
  process.exit(2);
}
const STEP_MS = 20000;
const say = (tag, value) =>
  process.stdout.write(tag + (value === undefined ? "" : " " + (typeof value === "string" ? value : JSON.stringify(value))) + "\n");

const profile = mkdtempSync(join(tmpdir(), "ctibridge-chromium-"));
let context = null, finishing = false;
async function finish(code) {
  if (finishing) return;
  finishing = true;
  if (context) await context.close().catch(() => {});
  try { rmSync(profile, { recursive: true, force: true, maxRetries: 5 }); } catch (_) { /* left in tmp */ }
  process.exit(code);
}
process.stdin.on("end", () => finish(3));
process.stdin.resume();
setTimeout(() => { say("FAIL", "gave up after 120 s"); finish(4); }, 120000).unref();

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--disable-quic",
    ],
    viewport: { width: 820, height: 640 },
  });
  // The CRM of the screen pop is not reachable here: answer it locally.
  const popups = [];
  await context.route("http://crm.invalid/**", (route) =>
    route.fulfill({ contentType: "text/html", body: "<title>CRM</title>CRM record" }));
  context.on("page", (p) => popups.push(p));

  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  // Every frame the page receives and sends, to read the commands and their answers.
  const frames = [];
  page.on("websocket", (ws) => ws.on("framereceived", (f) => {
    try { frames.push(JSON.parse(f.payload)); } catch (_) { /* not JSON */ }
  }));
  const sent = [];
  page.on("websocket", (ws) => ws.on("framesent", (f) => {
    try { sent.push(JSON.parse(f.payload)); } catch (_) { /* not JSON */ }
  }));
  const check = () => { if (problems.length) throw new Error(problems.join("; ")); };

  await page.goto(url);
  await page.locator("#token").fill(token);
  await page.getByRole("button", { name: "Connect" }).click();
  await page.locator("#app").waitFor({ state: "visible", timeout: STEP_MS });
  check();
  say("SIGNED_IN", {
    who: await page.locator("#who").innerText(),
    status: await page.locator("#status").innerText(),
    loginHidden: await page.locator("#login").isHidden(),
  });

  const card = page.locator("#calls .call");
  const describe = async () => ({
    count: await card.count(),
    badge: await card.locator(".badge").innerText(),
    number: await card.locator(".who").innerText(),
    name: await card.locator(".name").innerText(),
    meta: await card.locator(".meta").innerText(),
    crm: await card.locator(".meta a").count() ? await card.locator(".meta a").getAttribute("href") : null,
    buttons: await card.locator("button").allInnerTexts(),
  });

  // The command the page sent for `op`, and the bridge's answer to it.
  const command = async (op) => {
    const sentOf = () => sent.find((f) => f.op === op);
    const answer = () => sentOf() && frames.find((f) => f.op === "result" && f.id === sentOf().id);
    for (let t = 0; t < STEP_MS && !answer(); t += 50) await page.waitForTimeout(50);
    check();
    return { sent: sentOf() || null, result: answer() || null };
  };
  const gone = async () => {
    await card.waitFor({ state: "detached", timeout: STEP_MS });
    check();
    say("GONE", {
      count: await card.count(),
      empty: await page.locator("#calls").evaluate((el) => getComputedStyle(el, "::after").content),
    });
  };

  if (scenario === "hangup") {
    await card.locator(".badge.ringing").waitFor({ timeout: STEP_MS });
    check();
    say("RINGING", await describe());

    // The screen pop opens with the ringing call (screenPopUrl is set).
    for (let t = 0; t < STEP_MS && popups.length === 0; t += 50) await page.waitForTimeout(50);
    say("SCREEN_POP", popups.length ? popups[0].url() : "none");
  }

  await card.locator(".badge.talking").waitFor({ timeout: STEP_MS });
  check();
  if (scenario === "hangup") await page.screenshot({ path: screenshot, fullPage: true });
  say("TALKING", await describe());

  if (scenario === "hangup") {
    await card.getByRole("button", { name: "Hang up" }).click();
    say("HANGUP_RESULT", await command("hangup"));
  } else {
    await card.getByRole("button", { name: "Hold" }).click();
    say("HOLD_RESULT", await command("hold"));
    await card.getByRole("button", { name: "Resume" }).waitFor({ timeout: STEP_MS });
    check();
    await page.screenshot({ path: screenshot, fullPage: true });
    say("PARKED", await describe());
    await card.getByRole("button", { name: "Resume" }).click();
    say("UNHOLD_RESULT", await command("unhold"));
  }
  await gone();
  await finish(0);
} catch (e) {
  say("FAIL", String(e && e.message ? e.message : e).split("\n")[0]);
  await finish(1);
}
