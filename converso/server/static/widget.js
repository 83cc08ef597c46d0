/* converso chat widget: plain JavaScript, no build step.
 *
 * Embed with one tag:
 *   <script src="https://chat.example.com/widget.js" data-key="CLIENT_KEY" async></script>
 * Optional attributes: data-server (WebSocket URL, default: /ws on the script's host),
 * data-title (panel title), data-open="true" (start opened), data-welcome (the first line shown),
 * data-activity="hidden" (hide what the assistant is doing; default: short phrases),
 * data-token (instead of data-key: a per-visitor token your site signed, see docs/chat-protocol.md).
 *
 * Or mount it yourself: ConversoWidget.mount({key | token, server, target, title, welcome, activity, onKeyError}).
 * Everything shown comes from the server's frames (labels, phrases); the widget holds no agent logic.
 * The protocol is documented in docs/chat-protocol.md.
 */
(function () {
  "use strict";

  var WELCOME = "Hello! Tell me what you would like to do, and I will guide you through it step by step.";
  var KEY_ERRORS = { invalid_api_key: true, invalid_token: true, not_authenticated: true, auth_timeout: true };

  var STYLE = [
    ":host{all:initial;font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2330}",
    ".bubble{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;",
    "background:#2f6fed;color:#fff;font-size:26px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}",
    ".panel{display:flex;flex-direction:column;background:#fff;overflow:hidden}",
    ".floating{position:fixed;right:20px;bottom:88px;width:370px;height:560px;max-height:calc(100vh - 110px);",
    "border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);z-index:2147483000}",
    ".inline{width:100%;height:100%;border:1px solid #d9dde6;border-radius:12px}",
    ".hidden{display:none}",
    ".head{background:#2f6fed;color:#fff;padding:10px 14px;font-weight:600;display:flex;justify-content:space-between;align-items:center}",
    ".status{font-weight:400;font-size:12px;opacity:.9}",
    ".form{border-bottom:1px solid #e6e9f0;padding:8px 14px;background:#f7f9fc;font-size:13px}",
    ".form h2{margin:0 0 4px;font-size:13px}",
    ".form dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 10px}",
    ".form dt{color:#667085}.form dd{margin:0}",
    ".form .next dt,.form .next dd{color:#7a5b00;font-weight:600}",
    ".actions{display:flex;gap:8px;margin-top:8px}",
    ".actions button{border:0;border-radius:8px;padding:6px 14px;font:inherit;cursor:pointer}",
    ".confirm{background:#17803d;color:#fff}.change{background:#e8ecf4;color:#1d2330}",
    "button:focus-visible,input:focus-visible{outline:2px solid #f5a623;outline-offset:2px}",
    ".log{flex:1;overflow-y:auto;padding:12px 14px;display:flex;flex-direction:column;gap:8px}",
    ".msg{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}",
    ".user{align-self:flex-end;background:#2f6fed;color:#fff;border-bottom-right-radius:3px}",
    ".assistant,.welcome{align-self:flex-start;background:#eef1f6;border-bottom-left-radius:3px}",
    ".activity{align-self:flex-start;color:#667085;font-size:12px;font-style:italic}",
    ".error{margin:0 14px 8px;color:#a61b1b;background:#fde8e8;border-radius:8px;padding:6px 10px;font-size:13px}",
    ".compose{display:flex;border-top:1px solid #e6e9f0}",
    ".compose input{flex:1;border:0;padding:12px 14px;font:inherit}",
    ".compose button{border:0;background:#2f6fed;color:#fff;padding:0 16px;font:inherit;cursor:pointer}",
    ".compose button:disabled{background:#9db7f2;cursor:default}",
    ".reset{background:transparent;border:1px solid rgba(255,255,255,.6);color:#fff;border-radius:6px;font-size:12px;cursor:pointer}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
  ].join("\n");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text; // never innerHTML: replies are untrusted text
    return node;
  }

  function defaultServer(scriptSrc) {
    var base = scriptSrc ? new URL(scriptSrc, location.href) : new URL(location.href);
    return (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/ws";
  }

  function safeGet(k) {
    try { return localStorage.getItem(k); } catch (e) { return null; }
  }
  function safeSet(k, v) {
    try { if (v) localStorage.setItem(k, v); else localStorage.removeItem(k); } catch (e) { /* private mode */ }
  }

  function Widget(options) {
    this.options = options;
    this.key = options.key;
    this.server = options.server || defaultServer(options.scriptSrc);
    this.storageKey = "converso.thread." + this.server;
    this.threadId = options.threadId || safeGet(this.storageKey);
    this.showActivity = options.activity !== "hidden";
    this.retry = 0;
    this.busy = false;
    this.current = null;
    this.display = null;
    this.build(options);
    this.connect();
  }

  Widget.prototype.build = function (options) {
    var host = el("div");
    this.host = host;
    host.setAttribute("data-converso", "widget");
    // Inline, the widget fills its target; the target must be positioned (e.g. position: relative).
    if (options.target) host.style.cssText = "position:absolute;inset:0";
    (options.target || document.body).appendChild(host);
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    root.appendChild(el("style", null, STYLE));

    var inline = !!options.target;
    var title = options.title || "Chat with us";
    this.panel = el("section", "panel " + (inline ? "inline" : "floating hidden"));
    this.panel.setAttribute("aria-label", title);
    if (!inline) this.panel.setAttribute("role", "dialog");
    var head = el("div", "head");
    head.appendChild(el("span", null, title));
    this.status = el("span", "status", "connecting…");
    this.status.setAttribute("role", "status");
    var reset = el("button", "reset", "Start over");
    reset.type = "button";
    reset.title = "Drop the form being filled (nothing is saved)";
    reset.addEventListener("click", this.resetForm.bind(this));
    var right = el("span");
    right.appendChild(this.status);
    right.appendChild(document.createTextNode(" "));
    right.appendChild(reset);
    head.appendChild(right);
    this.form = el("div", "form hidden");
    this.form.setAttribute("data-role", "form");
    this.form.setAttribute("role", "region");
    this.form.setAttribute("aria-label", "Form being filled");
    this.log = el("div", "log");
    this.log.setAttribute("role", "log");
    this.log.setAttribute("aria-live", "polite");
    this.log.setAttribute("aria-label", "Conversation");
    this.errorBox = el("div", "error hidden");
    this.errorBox.setAttribute("role", "alert");
    this.errorBox.setAttribute("data-role", "error");
    var compose = el("form", "compose");
    var inputId = "converso-input-" + Math.random().toString(36).slice(2);
    var label = el("label", "sr", "Message");
    label.htmlFor = inputId;
    this.input = el("input");
    this.input.id = inputId;
    this.input.placeholder = "Type a message…";
    this.input.setAttribute("aria-label", "Message");
    this.input.autocomplete = "off";
    this.sendButton = el("button", null, "Send");
    this.sendButton.type = "submit";
    compose.appendChild(label);
    compose.appendChild(this.input);
    compose.appendChild(this.sendButton);
    compose.addEventListener("submit", this.onSubmit.bind(this));
    this.panel.appendChild(head);
    this.panel.appendChild(this.form);
    this.panel.appendChild(this.log);
    this.panel.appendChild(this.errorBox);
    this.panel.appendChild(compose);

    if (!inline) {
      var bubble = el("button", "bubble", "💬");
      bubble.type = "button";
      bubble.setAttribute("aria-label", "Open chat");
      bubble.setAttribute("aria-expanded", "false");
      var panel = this.panel, input = this.input;
      bubble.addEventListener("click", function () {
        panel.classList.toggle("hidden");
        var open = !panel.classList.contains("hidden");
        bubble.setAttribute("aria-expanded", String(open));
        if (open) input.focus();
      });
      // Escape closes the floating panel and gives the focus back to the bubble.
      this.panel.addEventListener("keydown", function (event) {
        if (event.key !== "Escape") return;
        panel.classList.add("hidden");
        bubble.setAttribute("aria-expanded", "false");
        bubble.focus();
      });
      root.appendChild(bubble);
      if (options.open) { this.panel.classList.remove("hidden"); bubble.setAttribute("aria-expanded", "true"); }
    }
    root.appendChild(this.panel);
    this.setBusy(true);
  };

  Widget.prototype.destroy = function () {
    this.fatal = true;
    if (this.ws) this.ws.close();
    if (this.host && this.host.parentNode) this.host.parentNode.removeChild(this.host);
  };

  Widget.prototype.connect = function () {
    var self = this;
    var ws = new WebSocket(this.server);
    this.ws = ws;
    ws.onopen = function () {
      // A per-visitor token signed by the host site, or the site's client key.
      var auth = self.options.token ? { type: "auth", visitor_token: self.options.token } : { type: "auth", api_key: self.key };
      ws.send(JSON.stringify(auth));
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      self.onFrame(frame);
    };
    ws.onclose = function () {
      self.setBusy(true);
      if (self.fatal) return;
      self.status.textContent = "reconnecting…";
      var delay = Math.min(30000, 500 * Math.pow(2, self.retry++));
      setTimeout(function () { self.connect(); }, delay);
    };
  };

  Widget.prototype.onFrame = function (frame) {
    switch (frame.type) {
      case "authenticated":
        this.ws.send(JSON.stringify(this.threadId ? { type: "open", thread_id: this.threadId } : { type: "open" }));
        break;
      case "opened":
        this.retry = 0;
        this.threadId = frame.thread_id;
        safeSet(this.storageKey, frame.thread_id);
        this.status.textContent = "online";
        this.showTranscript(frame.history || []);
        this.renderForm(frame.display);
        this.setBusy(false);
        break;
      case "token":
        this.assistantBubble().textContent += frame.text || "";
        this.scroll();
        break;
      case "tool":
        if (this.showActivity && frame.activity) this.add("activity", frame.activity);
        break;
      case "form":
        this.renderForm(frame.display);
        break;
      case "reply":
        if (frame.failed) {
          // The error frame before it already said so, in one place.
          if (this.current) this.log.removeChild(this.current);
        } else {
          this.assistantBubble().textContent = frame.text || "";
        }
        this.current = null;
        this.renderForm(frame.display);
        this.setBusy(false);
        this.input.focus();
        this.scroll();
        break;
      case "error":
        this.onError(frame);
        break;
    }
  };

  Widget.prototype.onError = function (frame) {
    if (frame.code === "thread_forbidden") {
      // A stale thread id from another key: start afresh instead of failing forever.
      this.threadId = null;
      safeSet(this.storageKey, null);
      this.ws.send(JSON.stringify({ type: "open" }));
      return;
    }
    if (KEY_ERRORS[frame.code]) {
      this.fatal = true;
      this.status.textContent = "offline";
      if (this.options.onKeyError) { this.options.onKeyError(frame); return; }
      this.showError("This chat is not available right now (its access key was refused).");
      return;
    }
    if (this.current && !this.current.textContent) { this.log.removeChild(this.current); }
    this.current = null;
    this.showError(frame.message || "Something went wrong; please try again.");
    if (frame.code !== "turn_failed") this.setBusy(false);
  };

  Widget.prototype.showError = function (text) {
    this.errorBox.textContent = text;
    this.errorBox.classList.remove("hidden");
  };

  Widget.prototype.clearError = function () {
    this.errorBox.textContent = "";
    this.errorBox.classList.add("hidden");
  };

  Widget.prototype.showTranscript = function (history) {
    // On every (re)connection the server sends the recent history: the log shows exactly that.
    this.log.textContent = "";
    this.current = null;
    this.add("welcome", this.options.welcome || WELCOME);
    history.forEach(function (entry) {
      this.add(entry.role === "user" ? "user" : "assistant", entry.text);
    }, this);
  };

  Widget.prototype.assistantBubble = function () {
    if (!this.current) this.current = this.add("assistant", "");
    return this.current;
  };

  Widget.prototype.add = function (kind, text) {
    var node = el("div", "msg " + kind, text);
    node.setAttribute("data-role", kind);
    this.log.appendChild(node);
    this.scroll();
    return node;
  };

  Widget.prototype.scroll = function () {
    this.log.scrollTop = this.log.scrollHeight;
  };

  Widget.prototype.renderForm = function (display) {
    this.display = display || null;
    this.form.textContent = "";
    if (!display) { this.form.classList.add("hidden"); return; }
    this.form.classList.remove("hidden");
    this.form.appendChild(el("h2", null, display.title));
    var list = el("dl");
    (display.fields || []).forEach(function (field) {
      var row = el("div", field.name === display.next ? "next" : "");
      row.style.display = "contents";
      var term = el("dt", null, field.label);
      if (field.hint) term.title = field.hint;
      row.appendChild(term);
      row.appendChild(el("dd", null, field.value === null ? (field.name === display.next ? "asked next" : "missing") : field.value));
      list.appendChild(row);
    });
    this.form.appendChild(list);
    if (display.can_confirm) {
      var actions = el("div", "actions");
      var confirm = el("button", "confirm", "Confirm");
      confirm.type = "button";
      confirm.setAttribute("aria-label", "Confirm and save: " + display.title);
      confirm.addEventListener("click", this.confirm.bind(this));
      var change = el("button", "change", "Change");
      change.type = "button";
      change.setAttribute("aria-label", "Change something before saving");
      var input = this.input;
      change.addEventListener("click", function () {
        input.placeholder = "What should change?";
        input.focus();
      });
      actions.appendChild(confirm);
      actions.appendChild(change);
      this.form.appendChild(actions);
    }
  };

  Widget.prototype.setBusy = function (busy) {
    this.busy = busy;
    this.sendButton.disabled = busy;
    this.form.querySelectorAll("button").forEach(function (b) { b.disabled = busy; });
  };

  Widget.prototype.send = function (frame, shownAs) {
    if (this.busy || !this.ws || this.ws.readyState !== 1) return false;
    this.clearError();
    this.add("user", shownAs);
    this.current = null;
    this.setBusy(true);
    this.ws.send(JSON.stringify(frame));
    return true;
  };

  Widget.prototype.onSubmit = function (event) {
    event.preventDefault();
    var text = this.input.value.trim();
    if (!text) return;
    if (this.send({ type: "message", text: text }, text)) {
      this.input.value = "";
      this.input.placeholder = "Type a message…";
    }
  };

  Widget.prototype.confirm = function () {
    if (this.display) this.send({ type: "confirm", form: this.display.name }, "Yes, save it.");
  };

  Widget.prototype.resetForm = function () {
    if (this.ws && this.ws.readyState === 1 && this.threadId) this.ws.send(JSON.stringify({ type: "reset" }));
  };

  var api = {
    mount: function (options) {
      if (!options || !(options.key || options.token)) {
        throw new Error("ConversoWidget.mount needs {key: 'CLIENT_KEY'} or {token: 'VISITOR_TOKEN'}");
      }
      return new Widget(options);
    },
  };
  window.ConversoWidget = api;

  var script = document.currentScript;
  if (script && (script.getAttribute("data-key") || script.getAttribute("data-token"))) {
    var start = function () {
      api.mount({
        key: script.getAttribute("data-key") || undefined,
        token: script.getAttribute("data-token") || undefined,
        server: script.getAttribute("data-server") || undefined,
        title: script.getAttribute("data-title") || undefined,
        welcome: script.getAttribute("data-welcome") || undefined,
        activity: script.getAttribute("data-activity") || undefined,
        open: script.getAttribute("data-open") === "true",
        scriptSrc: script.src,
      });
    };
    if (document.body) start();
    else document.addEventListener("DOMContentLoaded", start);
  }
})();
