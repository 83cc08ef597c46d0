/* converso chat widget: plain JavaScript, no build step.
 *
 * Embed with one tag:
 *   <script src="https://chat.example.com/widget.js" data-key="CLIENT_KEY" async></script>
 * Optional attributes: data-server (WebSocket URL, default: /ws on the script's host),
 * data-title (panel title), data-open="true" (start opened).
 *
 * Or mount it yourself: ConversoWidget.mount({key, server, target, title}).
 * The protocol is documented in the README ("converso serve protocol").
 */
(function () {
  "use strict";

  var STYLE = [
    ":host{all:initial;font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2330}",
    ".bubble{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;",
    "background:#2f6fed;color:#fff;font-size:26px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}",
    ".panel{display:flex;flex-direction:column;background:#fff;overflow:hidden}",
    ".floating{position:fixed;right:20px;bottom:88px;width:370px;height:540px;max-height:calc(100vh - 110px);",
    "border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);z-index:2147483000}",
    ".inline{width:100%;height:100%;border:1px solid #d9dde6;border-radius:12px}",
    ".hidden{display:none}",
    ".head{background:#2f6fed;color:#fff;padding:10px 14px;font-weight:600;display:flex;justify-content:space-between;align-items:center}",
    ".status{font-weight:400;font-size:12px;opacity:.9}",
    ".form{border-bottom:1px solid #e6e9f0;padding:8px 14px;background:#f7f9fc;font-size:13px}",
    ".form h4{margin:0 0 4px;font-size:13px}",
    ".field{display:inline-block;margin:2px 6px 2px 0;padding:1px 8px;border-radius:10px;background:#e8ecf4}",
    ".field.filled{background:#dff3e4;color:#17622d}",
    ".field.next{background:#fff3cd;color:#7a5b00;font-weight:600;outline:1px solid #e0c060}",
    ".log{flex:1;overflow-y:auto;padding:12px 14px;display:flex;flex-direction:column;gap:8px}",
    ".msg{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}",
    ".user{align-self:flex-end;background:#2f6fed;color:#fff;border-bottom-right-radius:3px}",
    ".assistant{align-self:flex-start;background:#eef1f6;border-bottom-left-radius:3px}",
    ".tool{align-self:flex-start;color:#8a93a6;font-size:12px}",
    ".error{align-self:stretch;color:#a61b1b;background:#fde8e8;border-radius:8px;padding:6px 10px;font-size:13px}",
    ".compose{display:flex;border-top:1px solid #e6e9f0}",
    ".compose input{flex:1;border:0;padding:12px 14px;font:inherit;outline:none}",
    ".compose button{border:0;background:#2f6fed;color:#fff;padding:0 16px;font:inherit;cursor:pointer}",
    ".compose button:disabled{background:#9db7f2;cursor:default}",
    ".reset{background:transparent;border:1px solid rgba(255,255,255,.6);color:#fff;border-radius:6px;font-size:12px;cursor:pointer}",
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

  function Widget(options) {
    this.key = options.key;
    this.server = options.server || defaultServer(options.scriptSrc);
    this.storageKey = "converso.thread." + this.server;
    this.threadId = options.threadId || safeGet(this.storageKey);
    this.retry = 0;
    this.busy = false;
    this.current = null;
    this.build(options);
    this.connect();
  }

  function safeGet(k) {
    try { return localStorage.getItem(k); } catch (e) { return null; }
  }
  function safeSet(k, v) {
    try { if (v) localStorage.setItem(k, v); else localStorage.removeItem(k); } catch (e) { /* private mode */ }
  }

  Widget.prototype.build = function (options) {
    var host = el("div");
    host.setAttribute("data-converso", "widget");
    // Inline, the widget fills its target; the target must be positioned (e.g. position: relative).
    if (options.target) host.style.cssText = "position:absolute;inset:0";
    (options.target || document.body).appendChild(host);
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    root.appendChild(el("style", null, STYLE));

    var inline = !!options.target;
    this.panel = el("div", "panel " + (inline ? "inline" : "floating hidden"));
    this.panel.setAttribute("role", "dialog");
    var head = el("div", "head");
    head.appendChild(el("span", null, options.title || "Chat with us"));
    this.status = el("span", "status", "connecting…");
    var reset = el("button", "reset", "reset form");
    reset.title = "Drop the form being filled";
    reset.addEventListener("click", this.resetForm.bind(this));
    var right = el("span");
    right.appendChild(this.status);
    right.appendChild(document.createTextNode(" "));
    right.appendChild(reset);
    head.appendChild(right);
    this.form = el("div", "form hidden");
    this.form.setAttribute("data-role", "form");
    this.log = el("div", "log");
    this.log.setAttribute("aria-live", "polite");
    var compose = el("form", "compose");
    this.input = el("input");
    this.input.placeholder = "Type a message…";
    this.input.setAttribute("aria-label", "Message");
    this.sendButton = el("button", null, "Send");
    this.sendButton.type = "submit";
    compose.appendChild(this.input);
    compose.appendChild(this.sendButton);
    compose.addEventListener("submit", this.onSubmit.bind(this));
    this.panel.appendChild(head);
    this.panel.appendChild(this.form);
    this.panel.appendChild(this.log);
    this.panel.appendChild(compose);

    if (!inline) {
      var bubble = el("button", "bubble", "💬");
      bubble.setAttribute("aria-label", "Open chat");
      var panel = this.panel, input = this.input;
      bubble.addEventListener("click", function () {
        panel.classList.toggle("hidden");
        if (!panel.classList.contains("hidden")) input.focus();
      });
      root.appendChild(bubble);
      if (options.open) this.panel.classList.remove("hidden");
    }
    root.appendChild(this.panel);
    this.setBusy(true);
  };

  Widget.prototype.connect = function () {
    var self = this;
    var ws = new WebSocket(this.server);
    this.ws = ws;
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: "auth", api_key: self.key }));
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      self.onFrame(frame);
    };
    ws.onclose = function (event) {
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
        this.status.textContent = frame.resumed ? "resumed" : "online";
        this.renderForm(frame.form);
        this.setBusy(false);
        break;
      case "token":
        this.assistantBubble().textContent += frame.text || "";
        this.scroll();
        break;
      case "tool":
        this.add("tool", "⚙ " + describeTool(frame));
        break;
      case "form":
        this.renderForm(frame.form);
        break;
      case "reply":
        this.assistantBubble().textContent = frame.text || "";
        this.current = null;
        if ("form" in frame) this.renderForm(frame.form);
        this.setBusy(false);
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
    if (frame.code === "invalid_api_key" || frame.code === "not_authenticated") this.fatal = true;
    this.current = null;
    this.add("error", frame.message || frame.code);
    this.setBusy(this.fatal === true);
  };

  function describeTool(frame) {
    var name = frame.name || frame.tool || "tool";
    return frame.status ? name + " " + frame.status : name;
  }

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

  Widget.prototype.renderForm = function (form) {
    this.form.textContent = "";
    if (!form) { this.form.classList.add("hidden"); return; }
    this.form.classList.remove("hidden");
    this.form.appendChild(el("h4", null, form.name + " · " + String(form.state).toLowerCase()));
    var values = form.values || {};
    Object.keys(values).forEach(function (name) {
      var v = values[name];
      var text = "✓ " + name + ": " + (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
      this.form.appendChild(el("span", "field filled", text));
    }, this);
    (form.missing || []).forEach(function (name, i) {
      this.form.appendChild(el("span", i === 0 ? "field next" : "field", (i === 0 ? "→ " : "") + name));
    }, this);
  };

  Widget.prototype.setBusy = function (busy) {
    this.busy = busy;
    this.sendButton.disabled = busy;
  };

  Widget.prototype.onSubmit = function (event) {
    event.preventDefault();
    var text = this.input.value.trim();
    if (!text || this.busy) return;
    this.input.value = "";
    this.add("user", text);
    this.current = null;
    this.setBusy(true);
    this.ws.send(JSON.stringify({ type: "message", text: text }));
  };

  Widget.prototype.resetForm = function () {
    if (this.ws && this.ws.readyState === 1 && this.threadId) this.ws.send(JSON.stringify({ type: "reset" }));
  };

  var api = {
    mount: function (options) {
      if (!options || !options.key) throw new Error("ConversoWidget.mount needs {key: 'CLIENT_KEY'}");
      return new Widget(options);
    },
  };
  window.ConversoWidget = api;

  var script = document.currentScript;
  if (script && script.getAttribute("data-key")) {
    var start = function () {
      api.mount({
        key: script.getAttribute("data-key"),
        server: script.getAttribute("data-server") || undefined,
        title: script.getAttribute("data-title") || undefined,
        open: script.getAttribute("data-open") === "true",
        scriptSrc: script.src,
      });
    };
    if (document.body) start();
    else document.addEventListener("DOMContentLoaded", start);
  }
})();
