// The agent-side widget: renders the bot transcript of one Genesys conversation and polls for
// more while the customer is still with the bot. Data is inserted with textContent only.
(function () {
  "use strict";

  var POLL_MS = 3000;
  var TEXTS = {
    en: { topic: "Topic", language: "Language", withBot: "With the bot", ended: "Bot finished",
          failed: "Bot failed", handoff: "Handoff", reason: "Reason", intent: "Intent",
          variables: "Variables", none: "No bot conversation stored for this interaction yet.",
          dropped: "Older messages are not shown.", error: "Could not load the transcript.",
          customer: "Customer", bot: "Bot", files: "Files" },
    fr: { topic: "Sujet", language: "Langue", withBot: "Avec le bot", ended: "Bot terminé",
          failed: "Échec du bot", handoff: "Transfert", reason: "Motif", intent: "Intention",
          variables: "Variables", none: "Aucune conversation avec le bot pour cette interaction.",
          dropped: "Les messages plus anciens ne sont pas affichés.",
          error: "Impossible de charger la transcription.", customer: "Client", bot: "Bot",
          files: "Fichiers" },
    de: { topic: "Thema", language: "Sprache", withBot: "Beim Bot", ended: "Bot beendet",
          failed: "Bot-Fehler", handoff: "Übergabe", reason: "Grund", intent: "Absicht",
          variables: "Variablen", none: "Noch kein Bot-Gespräch für diese Interaktion.",
          dropped: "Ältere Nachrichten werden nicht angezeigt.",
          error: "Das Transkript konnte nicht geladen werden.", customer: "Kunde", bot: "Bot",
          files: "Dateien" },
    es: { topic: "Tema", language: "Idioma", withBot: "Con el bot", ended: "Bot terminado",
          failed: "Error del bot", handoff: "Transferencia", reason: "Motivo", intent: "Intención",
          variables: "Variables", none: "Aún no hay conversación con el bot para esta interacción.",
          dropped: "Los mensajes anteriores no se muestran.",
          error: "No se pudo cargar la transcripción.", customer: "Cliente", bot: "Bot",
          files: "Archivos" }
  };

  // Genesys sign-in ([widget] auth = "genesys" / "key_and_genesys"): the page signs the agent
  // in with the OAuth implicit grant of the configured client, keeps the token in this tab's
  // sessionStorage only, and sends it as Authorization: Bearer to the data endpoint.
  var authMeta = document.querySelector('meta[name="gcbridge-auth"]');
  var genesys = !!authMeta && authMeta.getAttribute("content") === "genesys";
  var TOKEN_KEY = "gcbridge.widget.token";
  var STATE_KEY = "gcbridge.widget.signin";
  var TRIED_KEY = "gcbridge.widget.signin-at";

  function readJson(key) {
    try { return JSON.parse(window.sessionStorage.getItem(key) || "null"); } catch (e) { return null; }
  }

  // Back from the login page: the token is in the fragment; the query is restored from state.
  if (genesys && window.location.hash.indexOf("access_token=") >= 0) {
    var back = new URLSearchParams(window.location.hash.slice(1));
    var saved = readJson(STATE_KEY);
    window.sessionStorage.removeItem(STATE_KEY);
    window.history.replaceState(null, "", window.location.pathname + (saved ? saved.search : ""));
    if (saved && back.get("state") === saved.nonce && back.get("access_token")) {
      var lifetime = Number(back.get("expires_in")) || 3600;
      window.sessionStorage.setItem(TOKEN_KEY, JSON.stringify({
        token: back.get("access_token"), expires: Date.now() + lifetime * 1000
      }));
    }
  }

  function agentToken() {
    var stored = readJson(TOKEN_KEY);
    return stored && stored.token && stored.expires > Date.now() + 30000 ? stored.token : null;
  }

  // Redirects to the login page; false when a sign-in was tried moments ago (no loops).
  function signIn() {
    var last = Number(window.sessionStorage.getItem(TRIED_KEY) || 0);
    if (Date.now() - last < 60000) { return false; }
    window.sessionStorage.setItem(TRIED_KEY, String(Date.now()));
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var nonce = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    window.sessionStorage.setItem(STATE_KEY, JSON.stringify({ nonce: nonce, search: window.location.search }));
    window.location.assign(authMeta.getAttribute("data-login") + "/oauth/authorize?response_type=token" +
      "&client_id=" + encodeURIComponent(authMeta.getAttribute("data-client-id")) +
      "&redirect_uri=" + encodeURIComponent(window.location.origin + window.location.pathname) +
      "&state=" + encodeURIComponent(nonce));
    return true;
  }

  var params = new URLSearchParams(window.location.search);
  var lang = (params.get("lang") || navigator.language || "en").toLowerCase();
  var t = TEXTS[lang.split("-")[0]] || TEXTS.en;
  document.documentElement.lang = TEXTS[lang.split("-")[0]] ? lang : "en";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function time(ms) {
    var d = new Date(ms);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function summaryItem(label, value) {
    var item = el("span", "item");
    item.appendChild(el("span", "label", label));
    item.appendChild(el("span", "value", value));
    return item;
  }

  function renderCard(card) {
    var box = el("div", "card");
    box.appendChild(el("div", "title", card.title));
    if (card.description) { box.appendChild(el("div", "description", card.description)); }
    var buttons = el("div", "buttons");
    (card.actions || []).forEach(function (a) {
      buttons.appendChild(el("span", null, a.text || a.payload || a.url || ""));
    });
    if (buttons.childNodes.length) { box.appendChild(buttons); }
    (card.actions || []).forEach(function (a) {
      if (a.type === "Link" && a.url) { box.appendChild(el("div", "link", a.url)); }
    });
    return box;
  }

  function renderBot(message, entry) {
    var m = el("div", "msg bot");
    var quick = [];
    var cards = [];
    var files = [];
    (message.content || []).forEach(function (c) {
      if (c.contentType === "QuickReply" && c.quickReply) { quick.push(c.quickReply.text); }
      if (c.contentType === "Card" && c.card) { cards.push(c.card); }
      if (c.contentType === "Carousel" && c.carousel) { cards = cards.concat(c.carousel.cards || []); }
      if (c.contentType === "Attachment" && c.attachment) { files.push(c.attachment.filename); }
    });
    // A structured message's text is its fallback; show it when there is nothing richer.
    var rich = quick.length || cards.length || files.length;
    var text = message.text || "";
    if (message.type === "Structured" && quick.length) {
      // The fallback lists the quick replies as "1. Red"; they are drawn as buttons instead.
      var numbered = quick.map(function (q, i) { return (i + 1) + ". " + q; });
      text = text.split("\n").filter(function (line) {
        return numbered.indexOf(line.trim()) < 0;
      }).join("\n").trim();
    } else if (message.type === "Structured" && rich) {
      text = "";
    }
    if (text) { m.appendChild(el("span", "text", text)); }
    if (cards.length) {
      var list = el("div", "cards");
      cards.forEach(function (c) { list.appendChild(renderCard(c)); });
      m.appendChild(list);
    }
    if (quick.length) {
      var row = el("div", "buttons");
      quick.forEach(function (q) { row.appendChild(el("span", null, q)); });
      m.appendChild(row);
    }
    if (files.length) { m.appendChild(el("div", "files", t.files + ": " + files.join(", "))); }
    m.appendChild(el("span", "meta", t.bot + " · " + time(entry.at_ms)));
    return m;
  }

  function renderCustomer(entry) {
    var m = el("div", "msg customer" + (entry.clicked ? " clicked" : ""));
    var text = entry.text || "";
    if (entry.files && entry.files.length) {
      text += (text ? "\n" : "") + t.files + ": " + entry.files.join(", ");
    }
    m.appendChild(el("span", "text", text));
    m.appendChild(el("span", "meta", t.customer + " · " + time(entry.at_ms)));
    return m;
  }

  function render(data) {
    var summary = document.getElementById("summary");
    var handoff = document.getElementById("handoff");
    var list = document.getElementById("transcript");
    summary.textContent = "";
    handoff.textContent = "";
    list.textContent = "";
    if (!data.found) {
      list.appendChild(el("p", "status", t.none));
      return;
    }
    var tr = data.transcript;
    var h = tr.handoff || null;
    var vars = (h && h.variables) || {};
    var state = tr.state === "withBot" ? t.withBot : tr.state === "failed" ? t.failed : t.ended;
    summary.appendChild(el("span", "badge" + (data.live ? " live" : ""), state));
    var topic = (h && h.topic) || vars.va_LastTopic;
    if (topic) { summary.appendChild(summaryItem(t.topic, topic)); }
    var language = vars.va_Language || tr.language;
    if (language) { summary.appendChild(summaryItem(t.language, language)); }

    if (h) {
      handoff.hidden = false;
      handoff.appendChild(el("h2", null, t.handoff));
      if (h.agent_message) { handoff.appendChild(el("p", "reason", h.agent_message)); }
      var table = el("table", "vars");
      if (h.intent) { table.appendChild(row(t.intent, h.intent)); }
      Object.keys(vars).sort().forEach(function (k) { table.appendChild(row(k, vars[k])); });
      handoff.appendChild(table);
    } else {
      handoff.hidden = true;
    }

    if (tr.dropped) { list.appendChild(el("p", "dropped", t.dropped)); }
    (tr.entries || []).forEach(function (entry) {
      list.appendChild(entry.from === "customer" ? renderCustomer(entry) : renderBot(entry.message || {}, entry));
    });
  }

  function row(name, value) {
    var tr = el("tr");
    tr.appendChild(el("th", null, name));
    tr.appendChild(el("td", null, value));
    return tr;
  }

  function load() {
    var url = "/widget/api/transcript?conversationId=" +
      encodeURIComponent(params.get("conversationId") || "") +
      "&key=" + encodeURIComponent(params.get("key") || "");
    var headers = {};
    if (genesys) {
      var token = agentToken();
      if (!token) {
        if (!signIn()) { document.getElementById("status").textContent = t.error; }
        return;
      }
      headers.Authorization = "Bearer " + token;
    }
    fetch(url, { cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer", headers: headers })
      .then(function (r) {
        if (r.status === 401 && genesys) {
          window.sessionStorage.removeItem(TOKEN_KEY);
          if (signIn()) { return new Promise(function () {}); }
        }
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.json();
      })
      .then(function (data) {
        document.getElementById("status").textContent = "";
        render(data);
        if (data.live) { window.setTimeout(load, POLL_MS); }
      })
      .catch(function () {
        document.getElementById("status").textContent = t.error;
        window.setTimeout(load, POLL_MS * 3);
      });
  }

  load();
})();
