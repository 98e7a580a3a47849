// microstack console. Plain JavaScript, no build step, no outside requests.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("microstack-token") || "";
if (params.get("token")) {
  sessionStorage.setItem("microstack-token", token);
  history.replaceState(null, "", location.pathname); // keep the token out of the address bar
}
const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const k of kids) e.append(k);
  return e;
};

async function api(path, opts = {}) {
  // Without a token in this tab, the console's cookie authorizes the call.
  opts.headers = Object.assign(token ? { Authorization: "Bearer " + token } : {}, opts.headers || {});
  const res = await fetch(path, opts);
  if (res.status === 401) { document.body.classList.add("unauthorized"); throw new Error("wrong or missing token"); }
  return res;
}
async function json(path, opts) {
  const res = await api(path, opts);
  const body = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error((body && body.error) || res.statusText);
  return body;
}

// ---- actor tree ----
const lastRestarts = new Map();
function buildTree(list) {
  const byPath = new Map(list.map((a) => [a.path, Object.assign({ children: [] }, a)]));
  const roots = [];
  for (const a of byPath.values()) {
    const parent = byPath.get(a.path.slice(0, a.path.lastIndexOf("/")));
    (parent ? parent.children : roots).push(a);
  }
  const order = (a, b) => a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : a.path.localeCompare(b.path);
  const render = (a) => {
    a.children.sort(order);
    const name = a.path.slice(a.path.lastIndexOf("/") + 1);
    const counters = Object.entries(a.counters || {}).map(([k, v]) => `${k}=${v}`).join(" ");
    const restarts = el("span", { class: "stat restarts" }, `restarts ${a.restarts}`);
    if (lastRestarts.has(a.path) && lastRestarts.get(a.path) < a.restarts) restarts.classList.add("bumped");
    lastRestarts.set(a.path, a.restarts);
    const node = el("div", { class: "node " + a.state, title: `${a.path}\nstate ${a.state}\nstarted ${a.startedAt}` },
      el("span", { class: "dot" }), el("span", { class: "name" }, name), el("span", { class: "kind" }, a.kind),
      restarts, el("span", { class: "stat" }, `mailbox ${a.mailbox}`), el("span", { class: "stat" }, counters));
    if (a.path.includes("/")) {
      const b = el("button", { class: "crash", type: "button", title: "make this actor fail (fault injection)" }, "crash");
      b.onclick = async () => {
        try { await json("/api/actors/crash?path=" + encodeURIComponent(a.path), { method: "POST" }); }
        catch (e) { alert(e.message); }
      };
      node.append(b);
    }
    const li = el("li", { "data-path": a.path, "data-restarts": String(a.restarts), "data-kind": a.kind, "data-state": a.state }, node);
    if (a.children.length) li.append(el("ul", {}, ...a.children.map(render)));
    return li;
  };
  roots.sort(order);
  return roots.map(render);
}
let connectionKinds = [];
function renderConnections(list) {
  const conns = list.filter((a) => connectionKinds.includes(a.kind));
  $("#conns tbody").replaceChildren(...(conns.length ? conns.map((a) => {
    const close = el("button", { type: "button", class: "close" }, "close");
    close.onclick = async () => {
      try { await json("/api/actors/close?path=" + encodeURIComponent(a.path), { method: "POST" }); }
      catch (e) { alert(e.message); }
    };
    const counters = Object.entries(a.counters || {}).map(([k, v]) => `${k}=${v}`).join(" ");
    return el("tr", { "data-path": a.path }, el("td", {}, a.path), el("td", {}, a.kind),
      el("td", {}, new Date(a.startedAt).toLocaleTimeString()), el("td", {}, counters), el("td", {}, close));
  }) : [el("tr", {}, el("td", { colSpan: 5 }, "no open connections"))]));
}
async function refreshTree() {
  try {
    const list = await json("/api/tree");
    $("#tree").replaceChildren(...buildTree(list));
    renderConnections(list);
    const kinds = {};
    for (const a of list) kinds[a.kind] = (kinds[a.kind] || 0) + 1;
    $("#summary").textContent = `${list.length} actors · ` + Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(", ");
    if (list.length) $("#agent-name").textContent = list[0].path.split("/")[0];
  } catch (e) { $("#summary").textContent = e.message; }
}
async function refreshHealth() {
  const h = $("#health");
  try {
    const res = await fetch("/healthz");
    const body = await res.json();
    h.textContent = res.ok ? "healthy" : "failing: " + (body.failing || []).join(", ");
    h.className = "badge " + (res.ok ? "ok" : "bad");
  } catch (e) { h.textContent = "unreachable"; h.className = "badge bad"; }
}

// ---- logs ----
let logSource;
const maxLogLines = 500;
function logLine(r) {
  const attrs = Object.entries(r.attrs || {}).filter(([k]) => k !== "actor" && k !== "module").map(([k, v]) => `${k}=${v}`).join(" ");
  const time = new Date(r.time).toLocaleTimeString();
  return el("li", { "data-seq": String(r.seq), class: "lvl-" + levelName(r.level) },
    `${time} `, el("span", { class: "lvl" }, levelName(r.level)), el("span", { class: "mod" }, r.module), " ",
    r.actor ? el("span", { class: "attrs" }, r.actor + " ") : "", r.msg, " ", el("span", { class: "attrs" }, attrs));
}
// Levels come as slog writes them ("INFO", "WARN+2") or as numbers.
function levelName(l) {
  if (typeof l === "string") return l.replace(/[+-]\d+$/, "");
  return l >= 8 ? "ERROR" : l >= 4 ? "WARN" : l >= 0 ? "INFO" : "DEBUG";
}
function appendLogs(records) {
  const ol = $("#logs");
  const atBottom = ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 20;
  for (const r of records) ol.append(logLine(r));
  while (ol.children.length > maxLogLines) ol.firstChild.remove();
  if (atBottom) ol.scrollTop = ol.scrollHeight;
}
async function startLogs() {
  if (logSource) logSource.close();
  const q = new URLSearchParams({ level: $("#log-level").value });
  const mod = $("#log-module").value.trim();
  if (mod) q.set("module", mod);
  try {
    const recent = await json("/api/logs?limit=100&" + q.toString());
    $("#logs").replaceChildren();
    appendLogs(recent.records);
    q.set("after", String(recent.last));
  } catch (e) { $("#log-status").textContent = e.message; return; }
  logSource = new EventSource("/api/logs/stream?" + q.toString());
  logSource.onopen = () => { $("#log-status").textContent = "live"; };
  logSource.onerror = () => { $("#log-status").textContent = "reconnecting…"; };
  logSource.onmessage = (ev) => appendLogs([JSON.parse(ev.data)]);
  logSource.addEventListener("dropped", (ev) => appendLogs([{ seq: 0, time: new Date().toISOString(), level: "WARN", module: "console", msg: `${ev.data} records were dropped: this page fell behind` }]));
}
$("#log-level").onchange = startLogs;
$("#log-module").onchange = startLogs;
$("#log-clear").onclick = () => $("#logs").replaceChildren();
$("#lvl-set").onclick = async () => {
  try {
    await json("/api/logs/levels", { method: "PUT", body: JSON.stringify({ module: $("#lvl-module").value.trim() || "default", level: $("#lvl-level").value }) });
  } catch (e) { alert(e.message); }
};

// ---- store ----
async function refreshStore() {
  try {
    const q = new URLSearchParams({ prefix: $("#store-prefix").value, limit: "200" });
    const res = await json("/api/store?" + q.toString());
    $("#store tbody").replaceChildren(...res.items.map((it) => {
      const del = el("button", { type: "button" }, "delete");
      del.onclick = async () => { await json("/api/store/" + encodeURIComponent(it.key), { method: "DELETE" }); refreshStore(); };
      const edit = el("td", {}, it.value !== undefined ? it.value : "(binary) " + it.base64);
      edit.onclick = () => { $("#store-key").value = it.key; $("#store-value").value = it.value || ""; };
      return el("tr", { "data-key": it.key }, el("td", {}, it.key + (it.cached ? " (cached)" : "")), edit, el("td", {}, del));
    }));
  } catch (e) { $("#store tbody").replaceChildren(el("tr", {}, el("td", { colSpan: 3 }, e.message))); }
}
$("#store-refresh").onclick = refreshStore;
$("#store-form").onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    await json("/api/store/" + encodeURIComponent($("#store-key").value), { method: "PUT", body: $("#store-value").value });
    refreshStore();
  } catch (e) { alert(e.message); }
};

// ---- peers ----
async function refreshPeers() {
  try {
    const peers = await json("/api/peers");
    $("#peers tbody").replaceChildren(...(peers.length ? peers.map((p) => el("tr", { "data-peer": p.id },
      el("td", {}, p.id), el("td", {}, p.name || ""), el("td", {}, p.addr), el("td", {}, (p.services || []).join(", ")),
      el("td", {}, new Date(p.lastSeen).toLocaleTimeString()), el("td", {}, p.heartbeat || ""))) :
      [el("tr", {}, el("td", { colSpan: 6 }, "no peers seen"))]));
  } catch (e) { /* shown by the health badge */ }
}

// ---- WebRTC ----
let pc, channel;
function rtcLog(text) { const ol = $("#rtc-log"); ol.append(el("li", {}, text)); ol.scrollTop = ol.scrollHeight; }
$("#rtc-connect").onclick = async () => {
  if (pc) pc.close();
  pc = new RTCPeerConnection({ iceServers: [] });
  channel = pc.createDataChannel("console");
  channel.onopen = () => { $("#rtc-state").textContent = "open"; $("#rtc-state").className = "badge ok"; $("#rtc-send").disabled = false; rtcLog("channel open"); };
  channel.onclose = () => { $("#rtc-state").textContent = "closed"; $("#rtc-state").className = "badge"; $("#rtc-send").disabled = true; };
  channel.onmessage = (ev) => rtcLog("echo: " + ev.data);
  // The badge shows the connection's state until the channel opens, and
  // "open" from then on unless the connection is lost: the browser may
  // report "connected" after the channel's open event.
  pc.onconnectionstatechange = () => {
    const s = pc.connectionState;
    if (channel.readyState !== "open" || s === "failed" || s === "disconnected" || s === "closed") {
      $("#rtc-state").textContent = s;
    }
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === "complete") return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
    setTimeout(done, 3000);
  });
  try {
    const answer = await json("/api/webrtc/offer", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(pc.localDescription) });
    await pc.setRemoteDescription(answer);
  } catch (e) { rtcLog("signaling failed: " + e.message); }
};
$("#rtc-send").onclick = () => { const t = $("#rtc-text").value || "ping " + Date.now(); channel.send(t); rtcLog("sent: " + t); };

// ---- process runner ----
$("#exec-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const words = $("#exec-cmd").value.trim().split(/\s+/);
  const out = $("#exec-out");
  out.replaceChildren();
  const res = await api("/api/exec", { method: "POST", body: JSON.stringify({ path: words[0], args: words.slice(1) }) });
  if (!res.ok) { out.textContent = (await res.json()).error; return; }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i); buf = buf.slice(i + 2);
      const kind = (block.match(/^event: (.*)$/m) || [])[1];
      const data = (block.match(/^data: (.*)$/m) || [])[1];
      if (!kind || data === undefined) continue;
      const v = JSON.parse(data);
      if (kind === "stdout") out.append(v);
      else if (kind === "stderr") out.append(el("span", { class: "err" }, v));
      else if (kind === "exit") out.append(el("span", { class: "err" }, `\n[exit ${v.code}${v.signal !== "signal 0" ? " " + v.signal : ""} after ${v.duration}]\n`));
      else if (kind === "error") out.append(el("span", { class: "err" }, v + "\n"));
    }
  }
};

// ---- start ----
(async function main() {
  try {
    const info = await json("/api/info");
    $("#store-panel").hidden = !info.store;
    $("#webrtc-panel").hidden = !info.webrtc;
    $("#peers-panel").hidden = !info.peers;
    $("#exec-panel").hidden = !info.exec;
    connectionKinds = info.connectionKinds || [];
    if (info.store) refreshStore();
    if (info.peers) { refreshPeers(); setInterval(refreshPeers, 2000); }
  } catch (e) { $("#summary").textContent = e.message + " — open the address the agent printed (with ?token=)"; return; }
  refreshTree(); refreshHealth(); startLogs();
  setInterval(refreshTree, 1000);
  setInterval(refreshHealth, 3000);
})();
