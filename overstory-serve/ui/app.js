// overstory web UI: dependency-free; talks to /api and /ws of this server.
"use strict";

// ---------- small helpers ----------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const $ = (sel) => document.querySelector(sel);
function ago(ts) {
  if (!ts) return "—";
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 60) return Math.floor(s) + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}
function clock(ts) {
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toLocaleTimeString([], { hour12: false });
}
function badge(text) { return h("span", { class: "badge " + text }, text); }
function json(text) { try { return JSON.parse(text); } catch { return null; } }

// ---------- API ----------
async function api(path, opts = {}) {
  const init = { credentials: "same-origin", headers: {} , method: opts.method || "GET" };
  if (opts.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  const r = await fetch(path, init);
  let env = null;
  try { env = await r.json(); } catch { /* not JSON */ }
  if (!r.ok || !env || env.success !== true) {
    const msg = env && env.error ? env.error : r.status + " " + r.statusText;
    if (r.status === 401) showAuthHelp();
    throw new Error(msg);
  }
  return env;
}
function showAuthHelp() {
  $("#app").replaceChildren(h("div", { class: "pane" },
    h("h1", {}, "Not signed in"),
    h("p", {}, "Open the URL in ", h("code", {}, ".overstory/serve.json"),
      " (it carries this server's token), or the one ", h("code", {}, "ov serve"), " printed.")));
}
async function authenticate() {
  const m = location.hash.match(/token=([0-9a-zA-Z]+)/);
  if (!m) return;
  await fetch("/api/session", { method: "POST", credentials: "same-origin",
    headers: { Authorization: "Bearer " + m[1] } });
  history.replaceState(null, "", location.pathname + location.search);
}

// ---------- live sockets ----------
const sockets = new Set();
function updateConn() {
  const states = [...sockets].map((s) => s.state);
  const [cls, label] = states.includes("open") ? ["open", "Live"]
    : states.includes("connecting") ? ["connecting", "Connecting…"]
    : states.includes("closed") ? ["closed", "Disconnected"] : ["idle", "Idle"];
  const el = $("#conn");
  el.className = "conn " + cls;
  el.lastChild.textContent = label;
}
// A socket that reconnects with backoff and resumes from the last ids seen.
class Live {
  constructor(query, onFrame) {
    this.query = query; this.onFrame = onFrame; this.delay = 500;
    this.afterEventId = null; this.afterMailSeq = null; this.stopped = false;
    sockets.add(this); this.connect();
  }
  connect() {
    if (this.stopped) return;
    let q = this.query;
    if (this.afterEventId !== null) q += "&afterEventId=" + this.afterEventId;
    if (this.afterMailSeq !== null) q += "&afterMailId=" + this.afterMailSeq;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    this.state = "connecting"; updateConn();
    const ws = new WebSocket(proto + "//" + location.host + "/ws?" + q);
    this.ws = ws;
    ws.onopen = () => { this.state = "open"; this.delay = 500; updateConn(); };
    ws.onmessage = (m) => {
      const f = json(m.data);
      if (!f) return;
      if (f.type === "reset") {
        // A database was replaced: its ids start again.
        if (f.payload.database === "events") this.afterEventId = null; else this.afterMailSeq = null;
      }
      if (f.type === "event") {
        const ids = f.payload.batched ? f.payload.events.map((e) => e.id) : [f.payload.id];
        for (const id of ids) if (typeof id === "number") this.afterEventId = Math.max(this.afterEventId ?? 0, id);
      }
      if (f.type === "mail" && typeof f.payload.seq === "number")
        this.afterMailSeq = Math.max(this.afterMailSeq ?? 0, f.payload.seq);
      try { this.onFrame(f); } catch (e) { console.error("frame handler", e); }
    };
    ws.onclose = () => {
      if (this.stopped) return;
      this.state = "closed"; updateConn();
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 30000);
    };
  }
  close() { this.stopped = true; sockets.delete(this); if (this.ws) this.ws.close(); updateConn(); }
}

// ---------- router ----------
let cleanup = [];
function onLeave(fn) { cleanup.push(fn); }
function navigate(path) { history.pushState(null, "", path); route(); }
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (a && !e.metaKey && !e.ctrlKey && a.origin === location.origin) {
    e.preventDefault(); navigate(a.pathname + a.search);
  }
});
window.addEventListener("popstate", () => route());
function selectedRun() { return new URLSearchParams(location.search).get("run") || ""; }

async function route() {
  for (const fn of cleanup) fn();
  cleanup = [];
  const p = location.pathname;
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active",
    (a.dataset.nav === "fleet" && (p === "/" || p.startsWith("/agents")))
    || (a.dataset.nav !== "fleet" && p.startsWith("/" + a.dataset.nav))));
  const app = $("#app");
  app.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    let m;
    if (p === "/") await fleetPage(app);
    else if ((m = p.match(/^\/agents\/([^/]+)$/))) await agentPage(app, decodeURIComponent(m[1]));
    else if (p === "/mail") await mailPage(app);
    else if (p === "/runs") await runsPage(app);
    else if ((m = p.match(/^\/runs\/([^/]+)$/))) await runPage(app, decodeURIComponent(m[1]));
    else if (p === "/coordinator") await coordinatorPage(app);
    else app.replaceChildren(h("p", {}, "404 — page not found."));
  } catch (e) {
    if (!String(e.message).startsWith("401")) app.replaceChildren(h("p", { class: "error" }, String(e.message)));
  }
}

// ---------- run picker ----------
async function loadRuns() {
  try {
    const env = await api("/api/runs?limit=50");
    const sel = $("#runpick");
    const cur = selectedRun();
    sel.replaceChildren(h("option", { value: "" }, "all"),
      ...env.data.map((r) => h("option", { value: r.id, selected: r.id === cur },
        r.id + " — " + r.status)));
    $("#runpick-wrap").hidden = env.data.length === 0;
  } catch { /* shown elsewhere */ }
}
$("#runpick").addEventListener("change", (e) => {
  const u = new URL(location.href);
  if (e.target.value) u.searchParams.set("run", e.target.value); else u.searchParams.delete("run");
  history.replaceState(null, "", u.pathname + u.search); route();
});

// ---------- Fleet ----------
async function fleetPage(app) {
  const run = selectedRun();
  const env = await api("/api/agents?limit=500" + (run ? "&run=" + encodeURIComponent(run) : ""));
  const agents = new Map(env.data.map((a) => [a.agentName, a]));
  const cards = h("div", { class: "cards" });
  const body = h("tbody", { id: "fleet-rows" });
  const empty = h("p", { class: "muted" },
    "No agents yet. Start one with ", h("code", {}, "ov sling <task-id> --capability builder --name <name>"),
    " or ", h("code", {}, "ov coordinator start"), ".");
  function render() {
    const list = [...agents.values()].sort((a, b) => a.startedAt < b.startedAt ? -1 : 1);
    const n = (f) => list.filter(f).length;
    cards.replaceChildren(
      h("div", { class: "card" }, h("b", {}, n((a) => a.state === "working" || a.state === "booting")), "active"),
      h("div", { class: "card" }, h("b", {}, n((a) => a.state === "completed")), "completed"),
      h("div", { class: "card err" }, h("b", {}, n((a) => a.state === "stalled" || a.state === "zombie")), "errors"));
    body.replaceChildren(...list.map((a) => h("tr", { class: "click", "data-agent": a.agentName,
      onclick: () => navigate("/agents/" + encodeURIComponent(a.agentName)) },
      h("td", { class: "mono" }, a.agentName), h("td", {}, a.capability), h("td", {}, badge(a.state)),
      h("td", { class: "mono" }, a.taskId || "—"), h("td", { class: "mono" }, a.parentAgent || "—"),
      h("td", {}, ago(a.startedAt)), h("td", {}, ago(a.lastActivity)))));
    empty.hidden = list.length > 0;
  }
  app.replaceChildren(h("h1", {}, "Fleet"), cards,
    h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Capability", "State", "Task", "Parent", "Started", "Last activity"].map((t) => h("th", {}, t)))), body),
    empty);
  render();
  const live = new Live("fleet=true", (f) => {
    if (f.type === "agent_state" && f.payload.agent) {
      if (!run || f.payload.agent.runId === run) { agents.set(f.payload.agentName, f.payload.agent); render(); }
    } else if (f.type === "run") loadRuns();
  });
  const tick = setInterval(render, 5000);
  onLeave(() => { live.close(); clearInterval(tick); });
}

// ---------- Agent timeline ----------
function eventText(e) {
  const d = json(e.data);
  if (e.level === "error" || e.eventType === "error")
    return { cls: "err", kind: "error", text: e.data || e.level + " / " + e.eventType };
  if (e.eventType === "tool_start") {
    const args = json(e.toolArgs) || {};
    const what = args.summary || args.command || args.file_path || args.pattern || args.path || "";
    return { cls: "tool", kind: "tool", text: (e.toolName || "tool") + (what ? "  " + what : "") };
  }
  if (e.eventType === "tool_end") {
    const out = d && typeof d.content === "string" ? d.content : "";
    const first = out.split("\n").find((l) => l.trim()) || "";
    return { cls: d && d.isError ? "err" : "tool", kind: "result",
      text: (e.toolName ? e.toolName + " " : "") + (d && d.isError ? "failed" : "OK")
        + (e.toolDurationMs != null ? " " + e.toolDurationMs + "ms" : "") + (first ? "  " + first.slice(0, 200) : ""),
      raw: out.length > 200 || out.includes("\n") ? out : null };
  }
  if (e.eventType === "mail_sent" && d)
    return { cls: "", kind: "mail", text: "→ " + d.to + ": " + d.subject + " (" + d.type + ")" };
  if (e.eventType === "session_start" && d)
    return { cls: "", kind: "session", text: "session started" + (d.model ? " · " + d.model : "") };
  if (d && typeof d === "object") {
    const t = d.delta || d.text || (d.message && messageText(d.message)) || (d.event && messageText(d.event)) || d.result;
    if (typeof t === "string" && t) {
      const usage = d.usage || (d.message && d.message.usage);
      const tok = usage ? "  [" + (usage.input_tokens ?? "?") + " in / " + (usage.output_tokens ?? "?") + " out]" : "";
      return { cls: "msg", kind: e.eventType === "result" ? "result" : "text", text: t + tok, raw: e.data };
    }
  }
  return { cls: "", kind: e.eventType, text: e.data && e.data.length < 300 ? e.data : "", raw: e.data && e.data.length >= 300 ? e.data : null };
}
function messageText(m) {
  if (typeof m === "string") return m;
  const c = m.content || (m.message && m.message.content);
  if (typeof c === "string") return c;
  if (Array.isArray(c)) return c.map((b) => b.text || (b.type === "tool_use" ? "→ " + b.name : "")).filter(Boolean).join("\n");
  return m.text || null;
}
function eventRow(e) {
  const t = eventText(e);
  return h("div", { class: "ev " + t.cls, "data-id": e.id },
    h("span", { class: "t", title: e.createdAt }, clock(e.createdAt)),
    h("span", { class: "k" }, t.kind),
    h("div", { class: "body" }, t.text, t.raw ? h("details", {}, h("summary", {}, "raw"), h("pre", {}, t.raw)) : null));
}
async function agentPage(app, name) {
  const [agentEnv, evEnv] = await Promise.all([
    api("/api/agents/" + encodeURIComponent(name)).catch(() => null),
    api("/api/events?agent=" + encodeURIComponent(name) + "&tail=100")]);
  const events = new Map(evEnv.data.map((e) => [e.id, e]));
  const meta = h("div", { class: "muted" });
  function showMeta(a) {
    meta.replaceChildren(...(a ? [badge(a.state), "  ", a.capability, " · task ", a.taskId || "—",
      " · parent ", a.parentAgent || "—", " · last activity ", ago(a.lastActivity)] : ["no session"]));
  }
  showMeta(agentEnv && agentEnv.data);
  const tl = h("div", { class: "timeline", id: "timeline" });
  const older = h("button", { onclick: loadOlder }, "Load older");
  function render() {
    const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 50;
    const list = [...events.values()].sort((a, b) => a.id - b.id);
    tl.replaceChildren(...(list.length ? list.map(eventRow)
      : [h("p", { class: "muted" }, "No events for " + name + ". Try ", h("code", {}, "ov nudge " + name + " \"Status check\""))]));
    if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
  }
  async function loadOlder() {
    const list = [...events.values()].sort((a, b) => a.id - b.id);
    if (!list.length) return;
    const env = await api("/api/events?agent=" + encodeURIComponent(name) + "&tail=100&until=" + encodeURIComponent(list[0].createdAt));
    const before = events.size;
    for (const e of env.data) if (e.id < list[0].id) events.set(e.id, e);
    older.disabled = events.size === before;
    render();
  }
  app.replaceChildren(h("h1", { class: "mono" }, name), meta, h("div", { class: "toolbar" }, older), tl);
  render();
  const maxId = Math.max(0, ...events.keys());
  const live = new Live("agent=" + encodeURIComponent(name), (f) => {
    if (f.type === "event") {
      for (const e of f.payload.batched ? f.payload.events : [f.payload]) events.set(e.id, e);
      render();
    }
    else if (f.type === "agent_state") showMeta(f.payload.agent);
  });
  live.afterEventId = maxId;
  onLeave(() => live.close());
}

// ---------- Mail ----------
const TYPES = ["status", "question", "result", "error", "dispatch", "escalation"];
async function mailPage(app) {
  const filters = { unread: false, from: "", to: "" };
  let selected = null;
  const list = h("div", { class: "list", id: "mail-list" });
  const detail = h("div", { class: "pane", id: "mail-detail" }, h("p", { class: "muted" }, "Select a message."));
  const agentsEnv = await api("/api/agents?limit=500").catch(() => ({ data: [] }));
  const names = [...new Set(agentsEnv.data.map((a) => a.agentName))].sort();
  const sel = (label, key) => h("select", { onchange: (e) => { filters[key] = e.target.value; load(); } },
    h("option", { value: "" }, label), ...["operator", ...names].map((n) => h("option", { value: n }, n)));
  let messages = [];
  async function load() {
    const q = new URLSearchParams({ limit: "200" });
    if (filters.unread) q.set("unread", "true");
    if (filters.from) q.set("from", filters.from);
    if (filters.to) q.set("to", filters.to);
    messages = (await api("/api/mail?" + q)).data;
    renderList();
  }
  function matches(m) {
    return (!filters.unread || !m.read) && (!filters.from || m.from === filters.from) && (!filters.to || m.to === filters.to);
  }
  function renderList() {
    list.replaceChildren(...(messages.length ? messages.map((m) => h("div", {
      class: "item" + (m.read ? "" : " unread") + (selected === m.id ? " sel" : ""), "data-id": m.id,
      onclick: () => open(m.id) },
      h("div", { class: "subj" }, m.subject || "(no subject)", " ", badge(m.type)),
      h("div", { class: "meta" }, m.from + " → " + m.to + " · " + ago(m.createdAt))))
      : [h("p", { class: "muted pad" }, "No mail. Send some with Compose or ", h("code", {}, "ov mail send"), ".")]));
  }
  async function open(id) {
    selected = id;
    const env = await api("/api/mail/" + encodeURIComponent(id));
    const m = env.data.message;
    if (!m.read) {
      api("/api/mail/" + encodeURIComponent(id) + "/read", { method: "POST" }).catch(() => {});
      m.read = true;
      const row = messages.find((x) => x.id === id); if (row) row.read = true;
    }
    renderList();
    detail.replaceChildren(
      h("h2", {}, m.subject || "(no subject)", " ", badge(m.type), " ", badge(m.priority)),
      h("div", { class: "muted" }, m.from + " → " + m.to + " · " + m.createdAt),
      h("pre", { class: "mono gap" }, m.body),
      m.payload ? h("details", {}, h("summary", {}, "payload"), h("pre", {}, JSON.stringify(json(m.payload) ?? m.payload, null, 2))) : null,
      h("div", { class: "toolbar" },
        h("button", { id: "reply", onclick: () => composer({ reply: m, onSent: load }) }, "Reply"),
        h("button", { class: "ghost", onclick: async () => {
          await api("/api/mail/" + encodeURIComponent(id), { method: "DELETE" });
          messages = messages.filter((x) => x.id !== id); selected = null; renderList();
          detail.replaceChildren(h("p", { class: "muted" }, "Deleted."));
        } }, "Delete")),
      h("h2", {}, "Thread (" + env.data.thread.length + ")"),
      ...env.data.thread.map((t) => h("div", { class: "item" + (t.id === id ? " sel" : ""), onclick: () => open(t.id) },
        h("div", { class: "meta" }, t.from + " → " + t.to + " · " + clock(t.createdAt)), h("pre", {}, t.body))));
  }
  app.replaceChildren(
    h("div", { class: "toolbar" }, h("h1", {}, "Mail"),
      h("button", { class: "primary", id: "compose", onclick: () => composer({ onSent: load }) }, "Compose"),
      h("label", {}, h("input", { type: "checkbox", onchange: (e) => { filters.unread = e.target.checked; load(); } }), " unread"),
      sel("All from", "from"), sel("All to", "to")),
    h("div", { class: "split" }, list, detail));
  await load();
  const live = new Live("mail=true", (f) => {
    if (f.type === "mail") {
      const m = f.payload.message;
      if (matches(m) && !messages.some((x) => x.id === m.id)) { messages.unshift(m); renderList(); }
    } else if (f.type === "mail_update") {
      if (f.payload.deleted) messages = messages.filter((x) => x.id !== f.payload.id);
      else { const row = messages.find((x) => x.id === f.payload.id); if (row) row.read = true; }
      renderList();
    }
  });
  onLeave(() => live.close());
}
function composer({ reply, onSent, to }) {
  const err = h("div", { class: "error", id: "compose-error" });
  const f = {
    to: h("input", { id: "c-to", list: "c-names", value: reply ? (reply.from === "operator" ? reply.to : reply.from) : (to || ""), readonly: !!reply }),
    subject: h("input", { id: "c-subject", value: reply ? "Re: " + reply.subject : "", readonly: !!reply }),
    body: h("textarea", { id: "c-body" }),
    from: h("input", { id: "c-from", value: "operator" }),
    type: h("select", { id: "c-type" }, ...TYPES.map((t) => h("option", {}, t))),
    priority: h("select", { id: "c-priority" }, ...["normal", "low", "high", "urgent"].map((t) => h("option", {}, t))),
  };
  const names = h("datalist", { id: "c-names" }, ...["@all", "@builders", "@scouts", "@reviewers", "@leads", "@mergers", "coordinator"].map((n) => h("option", { value: n })));
  api("/api/agents?limit=500").then((env) => env.data.forEach((a) => names.append(h("option", { value: a.agentName })))).catch(() => {});
  const close = () => modal.remove();
  async function send() {
    err.textContent = "";
    if (!f.to.value.trim()) return (err.textContent = "To is required");
    if (!reply && !f.subject.value.trim()) return (err.textContent = "Subject is required");
    if (!f.body.value.trim()) return (err.textContent = "Body is required");
    try {
      if (reply) await api("/api/mail/" + encodeURIComponent(reply.id) + "/reply", { method: "POST", body: { body: f.body.value, from: f.from.value } });
      else await api("/api/mail", { method: "POST", body: { to: f.to.value.trim(), subject: f.subject.value, body: f.body.value,
        from: f.from.value, type: f.type.value, priority: f.priority.value } });
      close(); if (onSent) onSent();
    } catch (e) { err.textContent = e.message; }
  }
  const modal = h("div", { class: "modal", onclick: (e) => { if (e.target === modal) close(); } },
    h("div", { class: "pane", onkeydown: (e) => {
      if (e.key === "Escape") close();
      if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) send();
    } },
      h("h2", {}, reply ? "Reply" : "New message"), names,
      h("div", { class: "field" }, h("label", {}, "To"), f.to),
      h("div", { class: "field" }, h("label", {}, "Subject"), f.subject),
      h("div", { class: "field" }, h("label", {}, "From"), f.from),
      reply ? null : h("div", { class: "field" }, h("label", {}, "Type"), f.type),
      reply ? null : h("div", { class: "field" }, h("label", {}, "Priority"), f.priority),
      f.body, err,
      h("div", { class: "toolbar" }, h("button", { class: "primary", id: "c-send", onclick: send }, reply ? "Send reply" : "Send"),
        h("button", { class: "ghost", onclick: close }, "Cancel"))));
  document.body.append(modal);
  (reply ? f.body : f.to).focus();
}

// ---------- Runs ----------
async function runsPage(app) {
  const env = await api("/api/runs?limit=200");
  app.replaceChildren(h("h1", {}, "Runs"), env.data.length
    ? h("table", {}, h("thead", {}, h("tr", {}, ["Run", "Status", "Agents", "Started", "Completed", "Coordinator"].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...env.data.map((r) => h("tr", { class: "click", onclick: () => navigate("/runs/" + encodeURIComponent(r.id)) },
        h("td", { class: "mono" }, r.id), h("td", {}, badge(r.status)), h("td", {}, r.agentCount),
        h("td", {}, ago(r.startedAt)), h("td", {}, r.completedAt ? ago(r.completedAt) : "—"), h("td", {}, r.coordinatorName || "—")))))
    : h("p", { class: "muted" }, "No runs yet. Start one with ", h("code", {}, "ov coordinator start"), "."));
}
async function runPage(app, id) {
  const env = await api("/api/runs/" + encodeURIComponent(id));
  const r = env.data;
  app.replaceChildren(h("h1", { class: "mono" }, r.id), h("p", {}, badge(r.status), " started ", ago(r.startedAt), " · ", r.agentCount, " agents"),
    h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Capability", "State", "Last activity"].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...r.agents.map((a) => h("tr", { class: "click", onclick: () => navigate("/agents/" + encodeURIComponent(a.agentName)) },
        h("td", { class: "mono" }, a.agentName), h("td", {}, a.capability), h("td", {}, badge(a.state)), h("td", {}, ago(a.lastActivity)))))));
}

// ---------- Coordinator console ----------
async function coordinatorPage(app) {
  const pill = h("span", { class: "badge", id: "coord-state" }, "…");
  const chat = h("div", { class: "chat pane", id: "coord-chat" });
  const out = h("div", { class: "timeline", id: "coord-output" });
  const input = h("textarea", { id: "coord-input", placeholder: "Message the coordinator (Ctrl+Enter sends, Ctrl+Shift+Enter asks)" });
  const turns = new Map();
  const system = [];
  async function refreshState() {
    try {
      const s = (await api("/api/coordinator/state")).data;
      pill.textContent = s.running ? "running (" + (s.headless ? "headless" : "tmux") + ")" : "stopped";
      pill.className = "badge " + (s.running ? "working" : "");
      pill.title = s.running ? "pid " + s.pid + " · run " + s.runId + " · started " + s.startedAt : "";
    } catch { pill.textContent = "state unavailable"; }
  }
  async function loadThread() {
    const [a, b] = await Promise.all([api("/api/mail?from=operator&to=coordinator&limit=200"), api("/api/mail?from=coordinator&to=operator&limit=200")]);
    for (const m of [...a.data, ...b.data]) turns.set(m.id, m);
    renderChat();
  }
  function renderChat() {
    const list = [...turns.values()].sort((x, y) => x.createdAt < y.createdAt ? -1 : 1);
    chat.replaceChildren(...list.map((m) => h("div", { class: "bubble" + (m.from === "operator" ? " op" : "") },
      h("div", { class: "subj" }, m.subject + " · " + clock(m.createdAt)), h("pre", {}, m.body))),
      ...system.map((s) => h("div", { class: "bubble sys" }, h("pre", {}, s))));
    chat.scrollTop = chat.scrollHeight;
  }
  function note(text) { system.push(text); renderChat(); }
  async function send(ask) {
    const text = input.value.trim();
    if (!text) return;
    const subject = (text.split("\n")[0] || "message").slice(0, 80);
    input.value = "";
    try {
      if (ask) {
        note("Asking…");
        const r = (await api("/api/coordinator/ask", { method: "POST", body: { subject, body: text, timeoutSec: 120 } })).data;
        note(r.timedOut ? "Timed out waiting for reply." : r.reply.subject + "\n\n" + r.reply.body);
      } else await api("/api/coordinator/send", { method: "POST", body: { subject, body: text } });
    } catch (e) { note("send failed: " + e.message); }
  }
  const action = (label, path, fmt) => h("button", { onclick: async () => {
    try { note(label + ": " + fmt((await api("/api/coordinator/" + path, { method: "POST" })).data)); refreshState(); }
    catch (e) { note(label + " failed: " + e.message); }
  } }, label);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(e.shiftKey); } });
  app.replaceChildren(
    h("div", { class: "toolbar" }, h("h1", {}, "Coordinator"), pill,
      action("Start", "start", (d) => d.started ? "started, pid " + d.pid + ", run " + d.runId : "already running (pid " + d.pid + ")"),
      action("Stop", "stop", (d) => "stopped: " + d.stopped),
      action("Check complete", "check-complete", (d) => Object.entries(d.triggers).map(([k, t]) => (t.met ? "✓ " : t.enabled ? "· " : "○ ") + k + " — " + t.detail).join("\n") + "\nComplete: " + (d.complete ? "YES" : "NO"))),
    chat, input,
    h("div", { class: "toolbar" }, h("button", { class: "primary", onclick: () => send(false) }, "Send"), h("button", { onclick: () => send(true) }, "Ask")),
    h("h2", {}, "Output"), out);
  await Promise.all([refreshState(), loadThread()]);
  const live = new Live("agent=coordinator", (f) => {
    if (f.type === "mail") {
      const m = f.payload.message;
      if ((m.from === "operator" && m.to === "coordinator") || (m.from === "coordinator" && m.to === "operator")) { turns.set(m.id, m); renderChat(); }
    } else if (f.type === "event") {
      for (const e of f.payload.batched ? f.payload.events : [f.payload]) out.append(eventRow(e));
    }
    else if (f.type === "agent_state") refreshState();
  });
  const tick = setInterval(refreshState, 5000);
  onLeave(() => { live.close(); clearInterval(tick); });
}

// ---------- theme + start ----------
function applyTheme(t) {
  document.documentElement.classList.toggle("dark", t === "dark");
  document.documentElement.classList.toggle("light", t === "light");
  $("#theme").title = "Theme: " + t;
}
applyTheme(localStorage.getItem("overstory-theme") || "system");
$("#theme").addEventListener("click", () => {
  const order = ["system", "light", "dark"];
  const next = order[(order.indexOf(localStorage.getItem("overstory-theme") || "system") + 1) % 3];
  localStorage.setItem("overstory-theme", next); applyTheme(next);
});
(async () => {
  await authenticate();
  await loadRuns();
  route();
})();
