// usagectl dashboard: fetch /api/dashboard, draw it, follow /events and redraw on each fact.
// No framework and no build step. Data only ever reaches the page as text nodes (never as
// HTML), and the event stream is read with fetch so it can carry the bearer token.
"use strict";

let TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const PATTERNS = ["solid", "diagonal", "dots", "cross", "horizontal", "vertical"];
const COLOURS = ["#1f6feb", "#d1495b", "#2e8b57", "#8e6cc6", "#c27c0e", "#4b5563"];
const MODERATE_TPM = 2000, HIGH_TPM = 5000; // ccusage's burn-rate levels
const state = {
  token: null, seq: 0, lastId: null, data: null, loading: false, wanted: null,
  retryMs: 1000, firstRenderMs: null, events: null,
};
window.usagectl = state; // for tests and the curious: what the page holds

// ---- formatting -------------------------------------------------------------------------
const money = (x) => "$" + (x || 0).toLocaleString("en-US",
  {minimumFractionDigits: 2, maximumFractionDigits: 2});
function tokens(n) {
  n = n || 0;
  if (n >= 1e9) return (n / 1e9).toFixed(2) + "B tokens";
  if (n >= 1e6) return (n / 1e6).toFixed(2) + "M tokens";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k tokens";
  return n.toLocaleString("en-US") + " tokens";
}
const dayOf = (d) => new Intl.DateTimeFormat("en-CA", {timeZone: TZ}).format(d);
// A time carries its day when it is not today (a 7-day reset is days away).
const clock = (iso) => iso ? new Intl.DateTimeFormat("en-GB",
  {timeZone: TZ, hour: "2-digit", minute: "2-digit",
   ...(dayOf(new Date(iso)) === dayOf(new Date()) ? {} : {weekday: "short"})})
  .format(new Date(iso)) : "–";
// One rounding on every surface (statusline, watch, dash, reports): one decimal.
const pct = (x) => x.toFixed(1) + "%";
function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}
// claude-sonnet-4-5-20250929 -> sonnet-4-5; a provider's id keeps its prefix after the name.
function short(model) {
  const m = /^(.*?)claude-(\w[\w.-]*?)(-\d{8})?(-v\d+:\d+)?$/.exec(model || "");
  if (!m) return model || "";
  return m[1] ? `${m[2]} (${m[1].replace(/\.$/, "")})` : m[2];
}
const OTHER = "other models";
const count = (n) => { // a table cell: the column says "tokens"
  n = n || 0;
  return n >= 1e6 ? (n / 1e6).toFixed(2) + "M" : n >= 1e4 ? (n / 1e3).toFixed(1) + "k"
    : n.toLocaleString("en-US");
};
const folder = (path) => (path || "").replace(/[\\/]+$/, "").split(/[\\/]/).pop() || path;
const level = (tpm) => tpm >= HIGH_TPM ? "HIGH" : tpm >= MODERATE_TPM ? "MODERATE" : "NORMAL";

// ---- DOM helpers ------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}
const $ = (id) => document.getElementById(id);
function fill(id, ...children) { $(id).replaceChildren(...children.filter((c) => c)); }
function table(id, heads, rows, empty) {
  if (!rows.length) { fill(id, el("caption", {class: "empty"}, empty)); return; }
  const head = el("tr", {}, ...heads.map(([h, cls]) => el("th", {class: cls, scope: "col"}, h)));
  fill(id, el("thead", {}, head), el("tbody", {}, ...rows.map((cells) => el("tr", {},
    ...cells.map((c, i) => el("td", {class: heads[i][1]}, c))))));
}
function setStatus(text, error) {
  $("status").textContent = text;
  $("status").classList.toggle("error", !!error);
}

// ---- data -------------------------------------------------------------------------------
class Unauthorised extends Error {}

async function api(path) {
  const headers = state.token ? {Authorization: "Bearer " + state.token} : {};
  const response = await fetch(path, {headers, cache: "no-store"});
  if (response.status === 401) throw new Unauthorised("access token needed");
  const body = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function load(after) {
  if (state.loading) { state.wanted = Math.max(state.wanted || 0, after || 0); return; }
  state.loading = true;
  try {
    const query = new URLSearchParams({timezone: TZ});
    if (after) query.set("after", after);
    const data = await api("/api/dashboard?" + query);
    state.data = data;
    if (state.lastId === null) state.lastId = data.seq;
    render(data);
    liveStatus(data.machines);
    if (!state.events) follow();
  } catch (err) {
    if (err instanceof Unauthorised) askForToken();
    else if (TZ !== "UTC" && /invalid timezone/.test(err.message)) { TZ = "UTC"; state.wanted = 0; }
    else setStatus("cannot load: " + err.message, true);
  } finally {
    state.loading = false;
    if (state.wanted !== null) { const next = state.wanted; state.wanted = null; load(next); }
  }
}

// Nothing keeps the read model current without a producer: say so, as watch and dash do.
function liveStatus(machines) {
  const live = (machines || []).some((m) => m.status === "online");
  setStatus(live ? `all machines · ${TZ}` : `not live: start \`usagectl up\` · ${TZ}`, !live);
}

let timer = null;
function refreshSoon(seq) { // a burst of events: one reload for all of it, soon after its start
  state.seq = Math.max(state.seq, seq || 0);
  if (timer === null) timer = setTimeout(() => { timer = null; load(state.seq); }, 150);
}

// ---- rendering --------------------------------------------------------------------------
function render(d) {
  for (const key of ["today", "week", "month"]) {
    const cost = $(key + "-cost");
    cost.textContent = money(d[key].totalCost);
    cost.dataset.cost = d[key].totalCost;
    $(key + "-tokens").textContent = tokens(d[key].totalTokens) +
      (key === "today" ? "" : ` since ${d[key].from}`);
  }
  renderUnpriced(d.unpriced || []);
  renderChart(d);
  renderBlock(d);
  renderSessions(d.sessions);
  renderProjects(d.projects);
  renderMachines(d.machines, d.blocks);
  renderAlerts(d.alerts);
  $("updated").textContent = clock(d.now);
  $("updated").setAttribute("datetime", d.now);
  document.body.dataset.seq = d.seq;
  if (state.firstRenderMs === null) {
    state.firstRenderMs = performance.now();
    document.body.dataset.state = "ready";
  }
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

// Each model gets a colour AND a pattern, so the stack reads in greyscale too.
function pattern(i, id) {
  const colour = COLOURS[i % COLOURS.length], kind = PATTERNS[i % PATTERNS.length];
  const p = svg("pattern", {id, width: 6, height: 6, patternUnits: "userSpaceOnUse"});
  p.append(svg("rect", {width: 6, height: 6, fill: colour, "fill-opacity": kind === "solid" ? 1 : 0.35}));
  const ink = {stroke: colour, "stroke-width": 1.5};
  if (kind === "diagonal") p.append(svg("path", {d: "M-1,7 L7,-1", ...ink}));
  if (kind === "cross") p.append(svg("path", {d: "M0,0 L6,6 M6,0 L0,6", ...ink}));
  if (kind === "horizontal") p.append(svg("path", {d: "M0,3 L6,3", ...ink}));
  if (kind === "vertical") p.append(svg("path", {d: "M3,0 L3,6", ...ink}));
  if (kind === "dots") p.append(svg("circle", {cx: 3, cy: 3, r: 1.6, fill: colour}));
  return p;
}

function renderChart(d) {
  // Drawn at the box's own pixel width, so labels stay readable in any window.
  const W = Math.max(280, $("chart").clientWidth || 600), H = 180, left = 52, bottom = 18, top = 8;
  const max = Math.max(...d.days.map((x) => x.totalCost), 0.01);
  const slot = (W - left) / d.days.length, bar = Math.max(2, slot * 0.75);
  // Five models by cost, the rest as one: six styles stay tell-apart-able without colour.
  const models = d.models.length > PATTERNS.length
    ? [...d.models.slice(0, PATTERNS.length - 1), OTHER] : d.models;
  const named = new Set(models);
  const costOf = (day, m) => m !== OTHER ? day.models[m] || 0
    : Object.entries(day.models).reduce((t, [k, v]) => t + (named.has(k) ? 0 : v), 0);
  const defs = svg("defs", {}, ...models.map((_, i) => pattern(i, "bar" + i)));
  const root = svg("svg", {viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `Cost per day for the last ${d.days.length} days, stacked by model`}, defs);
  root.append(svg("line", {class: "axis", x1: left, y1: H - bottom, x2: W, y2: H - bottom}));
  root.append(svg("text", {x: 0, y: top + 8}, money(max)));
  root.append(svg("text", {x: 0, y: H - bottom}, "$0"));
  d.days.forEach((day, n) => {
    const x = left + n * slot + (slot - bar) / 2;
    let y = H - bottom;
    models.forEach((m, i) => {
      const cost = costOf(day, m);
      if (!cost) return;
      const h = (cost / max) * (H - bottom - top);
      y -= h;
      root.append(svg("rect", {x, y, width: bar, height: Math.max(h, 0.5), fill: `url(#bar${i})`,
        stroke: COLOURS[i % COLOURS.length], "stroke-width": 0.5},
        svg("title", {}, `${day.date} · ${m === OTHER ? m : short(m)}: ${money(cost)}`)));
    });
    const every = W < 500 ? 10 : 5, last = n === d.days.length - 1;
    if (n % every === 0 || last) {
      root.append(svg("text", {x: last ? W : x, y: H - 4, "text-anchor": last ? "end" : "start"},
        day.date.slice(5)));
    }
  });
  fill("chart", root);
  fill("legend", ...models.map((m, i) => el("li", {}, svg("svg", {viewBox: "0 0 14 10"},
    svg("defs", {}, pattern(i, "key" + i)), svg("rect", {width: 14, height: 10, fill: `url(#key${i})`})),
    m === OTHER ? m : short(m))));
  table("days-table", [["day"], ["cost", "num"], ["tokens", "num"], ["models"]],
    d.days.slice().reverse().filter((x) => x.totalTokens).map((x) => [x.date,
      money(x.totalCost), count(x.totalTokens), Object.keys(x.models).map(short).join(", ")]),
    "No usage in the last 30 days.");
}

function blockFacts(b) {
  const rate = b.burnRate, proj = b.projection;
  const rows = [
    ["window", `${clock(b.startTime)} – ${clock(b.endTime)}` +
      ` (${Math.max(0, Math.round((Date.parse(b.endTime) - Date.now()) / 60000))} min left)`],
    ["used", `${money(b.costUSD)} · ${tokens(b.totalTokens)}`],
  ];
  if (rate) {
    const lvl = level(rate.tokensPerMinuteForIndicator);
    rows.push(["burn rate", el("span", {}, `${Math.round(rate.tokensPerMinute).toLocaleString("en-US")}` +
      ` tokens/min · ${money(rate.costPerHour)}/h · `, el("span", {class: "level-" + lvl}, lvl))]);
  }
  if (proj) rows.push(["projected", `${money(proj.totalCost)} · ${tokens(proj.totalTokens)} by ${clock(b.endTime)}`]);
  return rows;
}

function official(limits) {
  const rows = [];
  for (const [key, label] of [["fiveHour", "official 5-hour"], ["sevenDay", "official 7-day"]]) {
    const w = limits && limits[key];
    if (!w) continue;
    const pct = Math.max(0, Math.min(100, w.usedPercentage));
    rows.push([label, el("span", {}, `${pct(w.usedPercentage)} used` +
      (w.resetsAt ? `, resets ${clock(w.resetsAt)}` : "") + (w.expired ? " (expired)" : ""),
      el("span", {class: "bar", role: "presentation"}, el("span", {style: null}, "")))]);
    rows[rows.length - 1][1].querySelector(".bar > span").style.width = pct + "%";
  }
  return rows;
}

function renderBlock(d) {
  const b = d.blocks.account;
  const facts = b ? blockFacts(b) : [];
  facts.push(...official(d.limits));
  if (!b) facts.unshift(["account", el("span", {class: "empty"}, "No activity in the last 5 hours.")]);
  fill("block", el("dl", {class: "kv"}, ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  const byMachine = d.limits && d.limits.byMachine || [];
  table("machine-blocks", [["machine"], ["block cost", "num"], ["tokens", "num opt"], ["burn", ""],
    ["projected", "num opt"], ["official %", "num"]],
  d.blocks.machines.map(({machine, block}) => {
    const share = byMachine.find((x) => x.machine === machine);
    const tpm = block.burnRate ? block.burnRate.tokensPerMinuteForIndicator : 0;
    return [machine, money(block.costUSD), count(block.totalTokens),
      el("span", {class: "level-" + level(tpm)}, level(tpm)),
      block.projection ? money(block.projection.totalCost) : "–",
      share ? pct(share.fiveHourPercentage) : "–"];
  }), "No machine has an active block.");
}

function renderSessions(sessions) {
  table("sessions", [["session"], ["project", "path"], ["machine", "opt"], ["last", ""],
    ["session total", "num"]],
    sessions.map((s) => [s.sessionId.slice(0, 8), folder(s.project), s.machine,
      ago(s.lastActivity), money(s.totalCost)]), "No sessions in the last 5 hours.");
}

function renderProjects(projects) {
  table("projects", [["project", "path"], ["cost", "num"], ["tokens", "num"]],
    projects.map((p) => [el("span", {title: p.project}, folder(p.project)), money(p.totalCost),
      count(p.totalTokens)]), "No projects in the last 30 days.");
}

function renderMachines(machines, blocks) {
  const items = machines.map((m) => {
    const status = m.status || "unknown"; // online | offline | unknown (usage, no heartbeat)
    return el("li", {}, el("strong", {}, m.machine), " — ",
      el("span", {class: status}, status === "online" ? status : status.toUpperCase()),
      m.lastHeartbeat ? `, last heartbeat ${ago(m.lastHeartbeat)}` : "",
      m.lagBytes ? `, ${m.lagBytes.toLocaleString("en-US")} bytes behind` : "");
  });
  if (!items.length) {
    const active = blocks.machines.map((x) => x.machine);
    items.push(el("li", {class: "empty"}, active.length
      ? `No heartbeats yet; active in this block: ${active.join(", ")}.`
      : "No producer heartbeats yet."));
  }
  fill("machines", ...items);
}

function renderUnpriced(unpriced) {
  // Models without a price are not free: their cost is missing from every figure above.
  const box = $("unpriced");
  box.hidden = !unpriced.length;
  box.textContent = unpriced.length ? "Not in these costs (no price known): " + unpriced.map(
    (u) => `${u.model} · ${count(u.totalTokens)} tokens`).join("; ") +
    " — `usagectl prices update` may know them." : "";
}

function renderAlerts(alerts) {
  // Rows of `usagectl alerts --json`, or alert payloads live from /events.
  const items = alerts.map((a) => {
    const state = a.test ? "test" : (a.status || "firing");
    const when = a.firedAt || a.fired_at;
    return el("li", {}, el("span", {class: "sev-" + (state === "firing" ? "warning" : "info")},
      `[${state.toUpperCase()}]`), ` ${a.text || a.rule || "alert"}`,
      a.window ? ` · ${a.window}` : "", when ? ` · ${ago(when)}` : "");
  });
  fill("alerts", ...(items.length ? items : [el("li", {class: "empty"}, "No recent alerts.")]));
}

// ---- live events ------------------------------------------------------------------------
function onEvent(type, id, data) {
  if (id !== null) state.lastId = Number(id);
  if (type === "usage" || type === "limit" || type === "reset") refreshSoon(data.seq);
  else if (type === "hello") { state.retryMs = 1000; $("live").textContent = "on"; }
  else if (type === "error") $("live").textContent = "hub unavailable";
  else if (type === "heartbeat" && state.data) {
    const list = state.data.machines.filter((m) => m.machine !== data.machine);
    const known = state.data.machines.find((m) => m.machine === data.machine) || {};
    list.push({...known, machine: data.machine, status: "online", lastHeartbeat: data.ts,
      lagBytes: data.lag_bytes, version: data.version, filesWatched: data.files});
    list.sort((a, b) => a.machine.localeCompare(b.machine));
    state.data.machines = list;
    renderMachines(list, state.data.blocks);
    liveStatus(list);
  } else if (type === "alert" && state.data) {
    state.data.alerts = [data, ...state.data.alerts].slice(0, 20);
    renderAlerts(state.data.alerts);
  }
}

// Server-Sent Events over fetch: an EventSource cannot send the Authorization header.
async function follow() {
  const controller = new AbortController();
  state.events = controller;
  const headers = {Accept: "text/event-stream"};
  if (state.token) headers.Authorization = "Bearer " + state.token;
  if (state.lastId !== null) headers["Last-Event-ID"] = String(state.lastId);
  try {
    const response = await fetch("/events", {headers, signal: controller.signal});
    if (response.status === 401) { state.events = null; askForToken(); return; }
    if (!response.ok) throw new Error("HTTP " + response.status);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (err) {
    if (controller.signal.aborted) return;
  }
  $("live").textContent = "reconnecting";
  state.events = null;
  setTimeout(follow, state.retryMs);
  state.retryMs = Math.min(state.retryMs * 2, 30000);
}

function dispatch(block) {
  let type = "message", id = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "event") type = value;
    else if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return;
  try { onEvent(type, id, JSON.parse(data.join("\n"))); } catch (err) { /* not ours */ }
}

// ---- access token -----------------------------------------------------------------------
function askForToken() {
  setStatus("access token needed", true);
  $("token-form").hidden = false;
  $("token-input").focus();
}

function start() {
  const fromHash = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (fromHash) {
    sessionStorage.setItem("usagectl-token", decodeURIComponent(fromHash[1]));
    history.replaceState(null, "", location.pathname + location.search); // out of the URL bar
  }
  state.token = sessionStorage.getItem("usagectl-token");
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("token-input").value.trim();
    sessionStorage.setItem("usagectl-token", state.token);
    $("token-form").hidden = true;
    load();
  });
  load();
  let resized = null;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(() => state.data && renderChart(state.data), 100);
  });
  // Time moves even when nothing happens: block clocks, burn rates, "last seen".
  setInterval(() => { if (!state.loading) load(); }, 30000);
}

start();
