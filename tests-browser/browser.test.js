// Real-browser test of the agent's side, in Debian's headless Chromium driven by playwright-core:
//
// 1. `gcbridge demo --no-chat` (emulated Copilot Studio agent + gcbridge with transcripts, a
//    widget key and the Web Chat token server) and `gcbridge chat` with piped input play a
//    Genesys conversation: greeting (quick replies), a hero card, a handoff.
// 2. Chromium opens the widget URL the demo printed, 400 px wide, and the test checks what is on
//    the page: customer and bot turns, the card with its buttons, the quick replies, the handoff
//    reason, every handoff variable, topic and language; no horizontal scrolling; 401 without the
//    key. A screenshot is written for a person to look at.
// 3. Microsoft's official Web Chat (botframework-webchat, served by this test from node_modules,
//    no CDN) on a page of another origin takes a token from gcbridge's /webchat/token (CORS) and
//    talks to the emulator: the test sends a message and waits for the demo agent's reply.
//
// Usage: node browser.test.js <gcbridge binary> <output folder for screenshots>
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const [bin, outDir] = process.argv.slice(2);
if (!bin || !outDir) {
  console.error("usage: node browser.test.js <gcbridge binary> <output folder>");
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// Flags for a closed network and a root user; Playwright gives each run a fresh, empty profile.
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

let passed = 0;
function check(condition, what, detail) {
  if (!condition) {
    throw new Error(`FAIL: ${what}${detail === undefined ? "" : `\n--- got:\n${detail}`}`);
  }
  passed += 1;
  console.log(`ok ${passed} - ${what}`);
}

const children = [];
function start(args, env, input) {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  if (input !== undefined) { child.stdin.end(input); }
  return { child, output: () => out };
}

async function waitFor(what, probe, timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) { return value; }
    if (Date.now() > until) { throw new Error(`FAIL: timed out waiting for ${what}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The Web Chat page: served from this test's own origin, so the token request is cross-origin.
function webChatPage() {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Web Chat via gcbridge</title>
<style>html,body{height:100%;margin:0} #webchat{height:100%}</style>
<script src="/webchat.js"></script></head>
<body><div id="webchat" role="main"></div>
<script>
(async function () {
  const q = new URLSearchParams(location.search);
  const response = await fetch(q.get("gcbridge") + "/webchat/token", { method: "POST" });
  const body = await response.json();
  window.tokenStatus = response.status;
  window.tokenKeys = Object.keys(body).sort().join(",");
  const directLine = window.WebChat.createDirectLine({
    token: body.token, domain: q.get("directline") + "/v3/directline"
  });
  window.WebChat.renderWebChat({ directLine, userID: body.userId }, document.getElementById("webchat"));
})().catch(function (e) { window.webChatError = String(e); });
</script></body></html>`;
}

function staticServer() {
  const bundle = path.join(__dirname, "node_modules", "botframework-webchat", "dist", "webchat.js");
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/webchat.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(webChatPage());
    } else if (url.pathname === "/webchat.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
      fs.createReadStream(bundle).pipe(res);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const site = await staticServer();
  const origin = `http://127.0.0.1:${site.address().port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gcbridge-browser-"));

  // 1. The demo, and a conversation through gcbridge as Genesys would have it.
  const demo = start(["demo", "--no-chat", "--data-dir", dataDir], { GCBRIDGE_WEBCHAT_ORIGINS: origin });
  const printed = await waitFor("the demo's widget URL", () => {
    const m = demo.output().match(/(http:\/\/127\.0\.0\.1:\d+)\/widget\?conversationId=([0-9a-f-]+)&lang=en-US&key=([0-9a-f]+)/);
    return m && demo.output().includes("--conversation-id") ? m : null;
  }, 20000);
  const [widgetUrl, base, conversationId, key] = printed;
  const secret = demo.output().match(/Authorization: ([0-9a-f]+)/)[1];
  const emulator = demo.output().match(/Direct Line emulator\s+(http:\/\/127\.0\.0\.1:\d+)\/v3\/directline/)[1];
  check(widgetUrl.startsWith(base), "gcbridge demo prints the widget URL of its conversation, with the key");

  const chat = start(
    ["chat", "--url", base, "--secret", secret, "--bot-id", "contoso-support",
      "--param", "CustomerName=Ada", "--conversation-id", conversationId],
    {}, "backpack\nagent\n");
  const code = await new Promise((resolve) => chat.child.on("exit", resolve));
  check(code === 0 && chat.output().includes("Contoso Travel Backpack"),
    "the chat went through gcbridge to the emulated agent (card)", chat.output());
  check(/escalat|handoff|transfer/i.test(chat.output()), "the chat ended in a handoff", chat.output());

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    // 2. The widget page at a widget's width.
    const context = await browser.newContext({ viewport: { width: 400, height: 900 }, locale: "en-US" });
    const page = await context.newPage();
    const external = [];
    page.on("request", (r) => { if (!r.url().startsWith(base)) { external.push(r.url()); } });
    const response = await page.goto(widgetUrl);
    check(response.status() === 200, "the widget page loads with the key");
    await page.waitForSelector("#handoff:not([hidden])", { timeout: 15000 });
    await page.waitForFunction(() => document.querySelectorAll(".msg").length >= 7, null, { timeout: 15000 });
    const text = await page.evaluate(() => document.body.innerText);
    check(text.includes("Hello Ada"), "the greeting is shown", text);
    for (const quick of ["Opening hours", "Track my order", "Talk to an agent"]) {
      check(await page.locator(".msg.bot .buttons span", { hasText: quick }).count() > 0,
        `the greeting's quick reply "${quick}" is drawn as a button`);
    }
    check(await page.locator(".msg.customer", { hasText: "backpack" }).count() === 1, "the customer's turn is shown", text);
    const card = page.locator(".card", { hasText: "Contoso Travel Backpack" });
    check(await card.count() === 1, "the hero card is shown with its title", text);
    check((await card.innerText()).includes("Buy now") && (await card.innerText()).includes("Details"),
      "the card's buttons are shown", await card.innerText());
    check(text.includes("I'm transferring you to one of our agents now."), "the bot's last message is shown", text);
    const handoff = await page.locator("#handoff").innerText();
    check(handoff.includes("Ada asked for a human after: Product: backpack."),
      "the handoff reason (va_AgentMessage) is shown", handoff);
    for (const [name, value] of [["va_OrderNumber", "12345"], ["va_CustomerIntent", "talk-to-agent"], ["va_CustomerTier", "gold"]]) {
      check(await page.locator("#handoff tr", { hasText: name }).filter({ hasText: value }).count() === 1,
        `the handoff variable ${name} = ${value} is shown`, handoff);
    }
    const summary = await page.locator("#summary").innerText();
    check(summary.includes("Escalate") || handoff.includes("Escalate"), "the handoff intent is shown", summary + handoff);
    check(/Topic/.test(summary) && /Language/.test(summary) && /en-us/i.test(summary),
      "topic and language are shown", summary);
    const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    check(widths[0] <= widths[1], "no horizontal scrolling at 400 px", widths.join(" > "));
    check(external.length === 0, "everything the page loads comes from gcbridge (no CDN)", external.join("\n"));
    const shot = path.join(outDir, "widget-screenshot.png");
    await page.screenshot({ path: shot, fullPage: true });
    check(fs.statSync(shot).size > 10000, `screenshot written: ${shot}`);

    const fr = await context.newPage();
    await fr.goto(widgetUrl.replace("lang=en-US", "lang=fr-FR"));
    await fr.waitForSelector("#handoff:not([hidden])", { timeout: 15000 });
    const frText = await fr.evaluate(() => document.body.innerText);
    check(frText.includes("Transfert") && frText.includes("Sujet") && frText.includes("Langue") &&
      await fr.evaluate(() => document.documentElement.lang) === "fr-fr",
      "the page follows the agent's language tag (fr-FR)", frText);

    const noKey = await context.request.get(`${base}/widget?conversationId=${conversationId}&lang=en-US`);
    check(noKey.status() === 401 && (await noKey.text()) === "", "without the key: 401 and no data");
    const wrongKey = await context.request.get(`${base}/widget/api/transcript?conversationId=${conversationId}&key=${key}x`);
    check(wrongKey.status() === 401 && (await wrongKey.text()) === "", "the data endpoint refuses a wrong key");

    // 3. Microsoft's Web Chat through a token from gcbridge.
    const webchat = await context.newPage();
    await webchat.goto(`${origin}/webchat.html?gcbridge=${encodeURIComponent(base)}&directline=${encodeURIComponent(emulator)}`);
    await webchat.waitForFunction(() => window.tokenStatus !== undefined || window.webChatError, null, { timeout: 15000 });
    const token = await webchat.evaluate(() => [window.tokenStatus, window.tokenKeys, window.webChatError]);
    check(token[0] === 200 && token[1] === "conversationId,expires_in,token,userId",
      "Web Chat got a token from /webchat/token across origins (no secret in it)", token.join(" | "));
    const box = webchat.locator("[data-id='webchat-sendbox-input'], textarea, input[type='text']").first();
    await box.waitFor({ timeout: 20000 });
    await box.fill("opening hours");
    await box.press("Enter");
    await webchat.getByText("Our stores are open", { exact: false }).first().waitFor({ timeout: 20000 });
    check(true, "Web Chat sent a message and shows the emulated agent's reply");
    const chatShot = path.join(outDir, "webchat-screenshot.png");
    await webchat.screenshot({ path: chatShot });
    check(fs.statSync(chatShot).size > 5000, `screenshot written: ${chatShot}`);
  } finally {
    await browser.close();
  }
}

main()
  .then(() => {
    console.log(`browser test: ${passed} passed, 0 failed`);
  })
  .catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    console.error(`browser test: ${passed} passed, 1 failed`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) { if (c.exitCode === null) { c.kill("SIGTERM"); } }
    setTimeout(() => process.exit(process.exitCode || 0), 500).unref();
  });
