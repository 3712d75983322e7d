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
// 4. `[widget] auth = "genesys"`: a `gcbridge serve` whose Genesys login host and Platform API are
//    a local stand-in. The page sends the agent through the OAuth implicit grant and back, then
//    shows the transcript with the verified token; a token of another org gets no data.
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

// A stand-in for Genesys' login host and Platform API: /oauth/authorize hands out `issued`
// (checking client id and redirect), /api/v2/tokens/me knows two tokens of two orgs.
const ORG = "9a1b2c3d-0000-4000-8000-00000000a0a0";
function genesysStandIn() {
  const seen = { authorize: 0, tokensMe: [] };
  const state = { issued: "agent-token-1" };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/oauth/authorize") {
      seen.authorize += 1;
      const redirect = url.searchParams.get("redirect_uri") || "";
      if (url.searchParams.get("response_type") !== "token" ||
          url.searchParams.get("client_id") !== "implicit-client" || !/\/widget$/.test(redirect)) {
        res.writeHead(400);
        res.end("bad authorize request");
        return;
      }
      const fragment = new URLSearchParams({
        access_token: state.issued, expires_in: "3600", token_type: "bearer",
        state: url.searchParams.get("state") || ""
      });
      res.writeHead(302, { location: `${redirect}#${fragment}` });
      res.end();
    } else if (url.pathname === "/api/v2/tokens/me") {
      const auth = req.headers.authorization || "";
      seen.tokensMe.push(auth);
      const orgs = { "Bearer agent-token-1": ORG, "Bearer agent-token-of-another-org": "11111111-2222-4333-8444-555555555555" };
      if (orgs[auth]) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ organization: { id: orgs[auth] }, OAuthClient: { id: "implicit-client" } }));
      } else {
        res.writeHead(401, { "content-type": "application/json" });
        res.end('{"message":"bad credentials","status":401}');
      }
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve({ server, seen, state }));
  });
}

const plain = (text) => text.replace(/\x1b\[[0-9;]*m/g, "");

async function genesysMode(browser, dataDir) {
  const genesys = await genesysStandIn();
  const gUrl = `http://127.0.0.1:${genesys.server.address().port}`;
  const emulator = start(["emulator", "--port", "0", "--secret", "browser-test-dl-secret"], {});
  const dl = await waitFor("the emulator", () => {
    const m = emulator.output().match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    return m && m[1];
  }, 20000);
  const config = path.join(dataDir, "genesys-mode.toml");
  fs.writeFileSync(config, `listen = "127.0.0.1:0"
store = "memory:"
[genesys]
secrets = ["browser-test-genesys-secret"]
[directline]
url = "${dl}"
secret = "browser-test-dl-secret"
[transcripts]
enabled = true
[widget]
auth = "genesys"
[widget.genesys]
org_id = "${ORG}"
client_id = "implicit-client"
api_url = "${gUrl}"
login_url = "${gUrl}"
`);
  const serve = start(["serve", "--config", config], { NO_COLOR: "1", GCBRIDGE_USER_ID_KEY: "browser-test" });
  const base = await waitFor("gcbridge serve", () => {
    const m = plain(serve.output()).match(/gcbridge serving address=(127\.0\.0\.1:\d+)/);
    return m && `http://${m[1]}`;
  }, 20000);
  const conversationId = "5e1f0c2a-7b8d-4e6f-9a0b-1c2d3e4f5a6b";
  const chat = start(["chat", "--url", base, "--secret", "browser-test-genesys-secret",
    "--param", "CustomerName=Grace", "--conversation-id", conversationId], {}, "agent\n");
  await new Promise((resolve) => chat.child.on("exit", resolve));
  check(/transferring/.test(chat.output()), "genesys mode: a conversation with a handoff went through gcbridge", chat.output());

  const context = await browser.newContext({ viewport: { width: 400, height: 900 } });
  const page = await context.newPage();
  const widget = `${base}/widget?conversationId=${conversationId}&lang=en-US`;
  await page.goto(widget);
  await page.waitForSelector("#handoff:not([hidden])", { timeout: 15000 });
  check(genesys.seen.authorize === 1, "genesys mode: the page sent the agent to the login host once");
  check(page.url() === widget, "genesys mode: back from sign-in, the page's own query is restored and the token is out of the URL", page.url());
  const handoff = await page.locator("#handoff").innerText();
  check(handoff.includes("Grace asked for a human"), "genesys mode: the transcript is shown with the agent's verified token", handoff);
  check(genesys.seen.tokensMe.length === 1 && genesys.seen.tokensMe[0] === "Bearer agent-token-1",
    "genesys mode: gcbridge verified the token with GET /api/v2/tokens/me", genesys.seen.tokensMe.join(","));
  const shot = path.join(outDir, "widget-genesys-screenshot.png");
  await page.screenshot({ path: shot, fullPage: true });

  // An agent of another org: signed in, but refused; the page shows an error, no data.
  genesys.state.issued = "agent-token-of-another-org";
  const other = await (await browser.newContext({ viewport: { width: 400, height: 900 } })).newPage();
  const api = [];
  other.on("response", (r) => { if (r.url().includes("/widget/api/transcript")) { api.push(r.status()); } });
  await other.goto(widget);
  await other.waitForFunction(() => document.getElementById("status").textContent !== "", null, { timeout: 15000 });
  const text = await other.evaluate(() => document.body.innerText);
  check(api.length >= 1 && api.every((s) => s === 401) && !text.includes("Grace"),
    "genesys mode: a token of another org gets 401 and the page shows no data", `${api} ${text}`);
  check(!(await context.request.get(`${base}/widget/api/transcript?conversationId=${conversationId}`)).ok(),
    "genesys mode: the data endpoint without a token refuses");
  genesys.server.close();
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

    // 4. The Genesys sign-in mode.
    await genesysMode(browser, dataDir);
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
