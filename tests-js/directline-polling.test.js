'use strict';
// Proves the gcbridge emulator speaks real Direct Line 3.0: Microsoft's own client, DirectLineJS,
// talks to it in polling mode, once with the secret and once with a generated token.
//
// Usage: node directline-polling.test.js <emulator base URL> [secret]
//   or:  EMULATOR_URL=http://127.0.0.1:PORT EMULATOR_SECRET=... node directline-polling.test.js
// The emulator must run the demo agent (config/demo-agent.toml). Exits 0 on success, 1 with a
// message on the first failure, and gives up after HARD_TIMEOUT_MS.

// DirectLineJS needs an XMLHttpRequest even in polling mode; without one it hangs at Connecting.
global.XMLHttpRequest = require('xhr2');
const WebSocket = require('ws');
const { DirectLine, ConnectionStatus } = require('botframework-directlinejs');

const HARD_TIMEOUT_MS = 20000;
const base = (process.argv[2] || process.env.EMULATOR_URL || '').replace(/\/+$/, '');
const secret = process.argv[3] || process.env.EMULATOR_SECRET || 'emulator-secret-not-real';

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

function check(condition, message) {
  if (!condition) fail(message);
}

if (!base) fail('usage: node directline-polling.test.js <emulator base URL> [secret]');
setTimeout(() => fail(`no verdict after ${HARD_TIMEOUT_MS} ms`), HARD_TIMEOUT_MS).unref();

/** Wraps a DirectLine client: every activity it receives, and a way to wait for one. */
function connect(options, label) {
  const directLine = new DirectLine({
    ...options,
    domain: `${base}/v3/directline`,
    webSocket: false,
    pollingInterval: 200,
    WebSocket,
  });
  const seen = [];
  const waiters = [];
  // end() makes DirectLineJS error its streams with "conversation ended": expected then.
  let ended = false;
  directLine.connectionStatus$.subscribe((status) => {
    if (ended) return;
    if (status === ConnectionStatus.FailedToConnect) fail(`${label}: DirectLineJS failed to connect`);
    if (status === ConnectionStatus.ExpiredToken) fail(`${label}: DirectLineJS reports an expired token`);
  });
  directLine.activity$.subscribe(
    (activity) => {
      seen.push(activity);
      for (const waiter of waiters.slice()) {
        if (waiter.test(activity)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(activity);
        }
      }
    },
    (error) => ended || fail(`${label}: activity stream error: ${error && error.message}`),
  );
  return {
    seen,
    end() {
      ended = true;
      directLine.end();
    },
    post(activity) {
      return new Promise((resolve, reject) => {
        directLine.postActivity(activity).subscribe(
          (id) => (id === 'retry' ? reject(new Error(`${label}: post failed (retry)`)) : resolve(id)),
          (error) => reject(new Error(`${label}: post failed: ${error && error.message}`)),
        );
      });
    },
    waitFor(test) {
      const already = seen.find(test);
      if (already) return Promise.resolve(already);
      return new Promise((resolve) => waiters.push({ test, resolve }));
    },
  };
}

const isBotReplyTo = (id) => (a) =>
  a.from && a.from.role === 'bot' && a.type === 'message' && a.replyToId === id;

async function withSecret() {
  const user = { id: 'dl_js_test_user', name: 'DirectLineJS test', role: 'user' };
  const client = connect({ secret }, 'secret');

  const startId = await client.post({ type: 'event', name: 'startConversation', from: user, locale: 'en-US' });
  check(/\|\d{7}$/.test(startId), `activity id looks like <conversation>|0000001, got ${startId}`);
  const greeting = await client.waitFor(isBotReplyTo(startId));
  check(greeting.text.includes('Contoso'), `greeting names the agent: ${JSON.stringify(greeting.text)}`);
  check(greeting.from.name === 'Contoso Support', `bot name: ${greeting.from.name}`);

  const messageId = await client.post({ type: 'message', from: user, text: 'What are your opening hours?', locale: 'en-US' });
  const reply = await client.waitFor(isBotReplyTo(messageId));
  check(/open/i.test(reply.text), `scripted opening-hours reply: ${JSON.stringify(reply.text)}`);
  check(
    reply.suggestedActions && reply.suggestedActions.actions.length > 0,
    'the reply carries quick replies',
  );
  // Real Direct Line echoes the user's own activities back to the poller.
  const echo = await client.waitFor((a) => a.id === messageId);
  check(echo.from.id === user.id, 'own message echoed with its from.id');
  check(!client.seen.some((a) => a.type === 'typing'), 'polling never delivers typing');
  const ids = client.seen.map((a) => a.id);
  check(new Set(ids).size === ids.length, 'no activity delivered twice');
  client.end();
  console.log(`ok: secret mode, greeting and reply received (${client.seen.length} activities)`);
}

async function withToken() {
  const response = await fetch(`${base}/v3/directline/tokens/generate`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}` },
  });
  check(response.status === 200, `tokens/generate answered ${response.status}`);
  const { token, conversationId } = await response.json();
  check(token && conversationId, 'tokens/generate returned a token and a conversation id');

  const user = { id: 'dl_js_token_user', role: 'user' };
  const client = connect({ token }, 'token');
  const startId = await client.post({ type: 'event', name: 'startConversation', from: user });
  check(startId.startsWith(`${conversationId}|`), 'the token started its own conversation');
  await client.waitFor(isBotReplyTo(startId));
  const messageId = await client.post({ type: 'message', from: user, text: 'My name is Ada' });
  const reply = await client.waitFor(isBotReplyTo(messageId));
  check(reply.text.includes('Ada'), `captured name in the reply: ${JSON.stringify(reply.text)}`);
  client.end();
  console.log('ok: token mode, conversation started with a generated token');
}

withSecret()
  .then(withToken)
  .then(() => {
    console.log('PASS: DirectLineJS (polling) works against the emulator');
    process.exit(0);
  })
  .catch((error) => fail(error && error.stack ? error.stack : String(error)));
