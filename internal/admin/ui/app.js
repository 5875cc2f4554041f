// levee dashboard. One file, no build step, no other origin. Every change
// echoes the CSRF cookie in a header; the token itself stays in an
// HttpOnly cookie this script cannot read.
"use strict";

const $ = (id) => document.getElementById(id);

function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)levee_csrf=([0-9a-f]+)/);
  return m ? m[1] : "";
}

// api sends one request and returns {status, data}; a 401 sends the
// browser to the login page.
async function api(method, path, body, type) {
  const opts = { method, credentials: "same-origin", headers: { "X-Levee-CSRF": csrfToken() } };
  if (body !== undefined) {
    opts.body = body;
    opts.headers["Content-Type"] = type || "application/json";
  }
  const res = await fetch(path, opts);
  let data = null;
  const text = await res.text();
  try { data = JSON.parse(text); } catch (e) { data = text; }
  if (res.status === 401 && document.body.dataset.page !== "login") {
    location.assign("/ui/login.html");
  }
  return { status: res.status, data };
}

function errorText(r) {
  if (r.data && r.data.error) {
    return r.data.error.message || String(r.data.error);
  }
  return "the API answered " + r.status;
}

// poll fetches url (or each of a list of urls, in turn) every `every` ms
// while it answers; once a request errors the rest of that round is
// skipped and the page waits at least 10 s, doubling up to 2 min, plus up
// to half again at random, so an API in trouble gets at most one request
// per 10 s from a page, and many pages do not come back in step.
function poll(url, every, onData) {
  let failures = 0;
  const status = $("poll-status");
  async function tick() {
    let delay = every;
    try {
      const urls = Array.isArray(url) ? url : [url];
      const data = [];
      for (const u of urls) {
        const r = await api("GET", typeof u === "function" ? u() : u);
        if (r.status !== 200) {
          throw new Error(errorText(r));
        }
        data.push(r.data);
      }
      failures = 0;
      onData(...data);
      if (status) { status.textContent = "live, updated " + new Date().toLocaleTimeString(); status.className = "status"; }
    } catch (e) {
      failures++;
      const base = Math.min(10000 * 2 ** (failures - 1), 120000);
      delay = base + Math.random() * base / 2;
      if (status) {
        status.textContent = "the API failed (" + e.message + "); retrying in " + Math.round(delay / 1000) + " s";
        status.className = "status error";
      }
    }
    setTimeout(tick, delay);
  }
  tick();
}

// table fills the table id with a header row and rows; a cell is text,
// or {text, cls}. Each row carries its first cell in data-key, so tests
// and scripts can find it.
function table(id, headers, rows) {
  const t = $(id);
  if (!t) return;
  while (t.firstChild) t.removeChild(t.firstChild);
  const head = document.createElement("tr");
  for (const h of headers) {
    const th = document.createElement("th");
    th.textContent = h;
    head.appendChild(th);
  }
  t.appendChild(head);
  for (const row of rows) {
    const tr = document.createElement("tr");
    row.forEach((c, i) => {
      const td = document.createElement("td");
      if (c instanceof Node) {
        td.appendChild(c);
      } else if (c !== null && typeof c === "object") {
        td.textContent = c.text;
        if (c.cls) td.className = c.cls;
      } else {
        td.textContent = c;
      }
      if (i === 0) tr.dataset.key = td.textContent;
      tr.appendChild(td);
    });
    t.appendChild(tr);
  }
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function pct(ratio, any) {
  return any ? (100 * ratio).toFixed(1) + " %" : "–";
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? fmt(n) : n.toFixed(1)) + " " + units[i];
}

function fmt(n) {
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: 0, useGrouping: false });
}

function ms(seconds) {
  return (seconds * 1000).toFixed(1) + " ms";
}

// draw plots each series of values as a polyline over the last hour.
function draw(svgId, lists) {
  const svg = $(svgId);
  if (!svg) return;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  let max = 0;
  for (const l of lists) for (const v of l) max = Math.max(max, v);
  if (max === 0) max = 1;
  lists.forEach((l, i) => {
    const pts = l.map((v, j) => {
      const x = 600 - (l.length - 1 - j) * (600 / 3599);
      const y = 118 - (v / max) * 114;
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", pts.join(" "));
    if (i > 0) line.setAttribute("class", "second");
    svg.appendChild(line);
  });
}

function overview() {
  let samples = [];
  let last = 0;
  poll(() => "/api/v1/overview?since=" + last, 2000, (d) => {
    const t = d.totals;
    $("requests-total").textContent = fmt(t.requests);
    for (const c of ["2xx", "3xx", "4xx", "5xx"]) {
      $("class-" + c).textContent = fmt(t.classes[c] || 0);
    }
    $("hit-ratio").textContent = t.cache_lookups > 0 ? (100 * t.cache_hit_ratio).toFixed(1) + " %" : "–";
    $("origins").textContent = fmt(t.origins_up) + " / " + fmt(t.origins_down);
    $("shield-actions").textContent = fmt(t.shield_actions);
    $("latency").textContent = ms(t.p50_seconds) + " / " + ms(t.p99_seconds);
    samples = samples.concat(d.series || []).slice(-3600);
    if (samples.length > 0) last = samples[samples.length - 1].t;
    const col = (k) => samples.map((s) => s[k]);
    draw("chart-requests", [col("requests")]);
    draw("chart-errors", [col("4xx"), col("5xx")]);
    draw("chart-hits", [samples.map((s) => (s.cache_lookups > 0 ? s.cache_hits / s.cache_lookups : 0))]);
    draw("chart-origins", [col("origins_down")]);
    draw("chart-shield", [col("shield_actions")]);
  });
}

function cachePage() {
  purge();
  poll("/api/v1/cache", 2000, (d) => {
    $("cache-hit-ratio").textContent = pct(d.hit_ratio, d.lookups > 0);
    $("cache-hits").textContent = fmt(d.hits) + " / " + fmt(d.lookups);
    $("cache-stale").textContent = fmt(d.stale_served);
    $("cache-stale-error").textContent = fmt(d.stale_on_error);
    $("cache-purged").textContent = fmt((d.purged.hard || 0) + (d.purged.soft || 0));
    $("cache-coalesced").textContent = fmt(d.coalesced) + " / " + fmt(d.fill_errors);
    table("cache-tiers", ["Tier", "Objects", "Bytes", "Size", "Evictions"],
      (d.tiers || []).map((t) => [t.tier, fmt(t.objects), fmt(t.bytes), bytes(t.bytes), fmt(t.evictions)]));
    table("cache-results", ["Result", "Requests"],
      Object.keys(d.requests || {}).sort().map((k) => [k, fmt(d.requests[k])]));
  });
}

function originsPage() {
  poll("/api/v1/origins", 2000, (d) => {
    $("origins-pools").textContent = fmt(d.pools.length);
    $("origins-failovers").textContent = fmt(d.failovers);
    $("origins-fallbacks").textContent = fmt(d.fallbacks);
    $("origins-retries").textContent = fmt(d.retries);
    const rows = [];
    for (const p of d.pools) {
      rows.push([p.pool, "pool", fmt(p.up_origins) + " / " + fmt(p.origins.length) + " up",
        p.panic_mode ? { text: "PANIC", cls: "down" } : { text: "no", cls: "up" },
        fmt(p.ejections) + (p.ejections_refused ? " (+" + fmt(p.ejections_refused) + " refused)" : ""),
        fmt(p.panic_requests), fmt(p.went_down) + " / " + fmt(p.came_up), fmt(p.checks_ok) + " / " + fmt(p.checks_failed)]);
      for (const o of p.origins) {
        rows.push([p.pool + " " + o.origin, "origin", o.up ? { text: "up", cls: "up" } : { text: "down", cls: "down" }, "", "", "", "", ""]);
      }
    }
    table("origins-table", ["Pool / origin", "Kind", "Health", "Panic mode", "Ejections", "Panic requests", "Went down / came up", "Checks ok / failed"], rows);
  });
}

function dnsPage() {
  poll("/api/v1/dns", 2000, (d) => {
    $("dns-zones").textContent = d.zones.length ? d.zones.join(", ") : "none";
    $("dns-queries").textContent = fmt(d.queries);
    $("dns-qps").textContent = d.queries_per_second.toFixed(1);
    table("dns-rcodes", ["Rcode", "Answers"], Object.keys(d.by_rcode || {}).sort().map((k) => [k, fmt(d.by_rcode[k])]));
    table("dns-steered", ["Pool state", "Answers"], Object.keys(d.steered_answers || {}).sort().map((k) => [k, fmt(d.steered_answers[k])]));
    table("dns-steering", ["Name", "Zone", "Pool", "Pool origins up", "Fallback pool", "Fallback up", "Health"],
      d.steering.map((s) => [s.name, s.zone, s.pool, fmt(s.pool_up_origins), s.fallback_pool || "–",
        s.fallback_pool ? fmt(s.fallback_up_origins || 0) : "–", s.healthy ? { text: "healthy", cls: "up" } : { text: "all down", cls: "down" }]));
  });
}

function switchesPage() {
  const result = $("module-result");
  const act = (name, what) => async () => {
    const r = await api("POST", "/api/v1/modules/" + encodeURIComponent(name) + "/" + what);
    result.textContent = r.status === 200 ? name + (what === "kill" ? " killed" : " revived") : "not switched: " + errorText(r);
    result.className = r.status === 200 ? "status ok" : "status error";
    if (r.status === 200) showModules(r.data);
  };
  const showModules = (mods) => {
    table("modules-table", ["Module", "State", "Breaker", "Policy", ""], Object.keys(mods).sort().map((n) => {
      const m = mods[n];
      return [n, m.killed ? { text: "killed", cls: "down" } : { text: "running", cls: "up" },
        m.breaker_open ? { text: "open", cls: "down" } : "closed", String(m.policy),
        m.killed ? button("Revive", act(n, "revive")) : button("Kill", act(n, "kill"))];
    }));
  };
  poll(["/api/v1/modules", "/api/v1/shield"], 5000, (mods, sh) => {
    showModules(mods);
    $("kill-state").textContent = (sh.killed || []).join(", ") || "none";
  });
}

function purge() {
  $("purge-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const kind = $("purge-kind").value;
    const body = {};
    if (kind === "all") body.all = true; else body[kind] = $("purge-value").value.trim();
    if ($("purge-soft").checked) body.soft = true;
    const out = $("purge-result");
    out.textContent = "purging…";
    const r = await api("POST", "/api/v1/purge", JSON.stringify(body));
    if (r.status === 200) {
      out.textContent = "purged " + r.data.purged + " objects";
      out.className = "status ok";
    } else {
      out.textContent = "not purged: " + errorText(r);
      out.className = "status error";
    }
  });
}

// switchForm wires a form whose two submit buttons carry on=true|false
// to a POST of path?NAME=VALUE&on=..., then refreshes the shown state.
function switchForm(form, field, param, path, result, describe, refresh) {
  let clicked = "true";
  for (const b of $(form).querySelectorAll("button")) {
    b.addEventListener("click", (ev) => { clicked = ev.currentTarget.value; });
  }
  $(form).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = $(field).value;
    const out = $(result);
    const r = await api("POST", path + "?" + param + "=" + encodeURIComponent(value) + "&on=" + clicked);
    if (r.status === 204) {
      out.textContent = describe(value, clicked === "true");
      out.className = "status ok";
      await refresh();
    } else {
      out.textContent = "not switched: " + errorText(r);
      out.className = "status error";
    }
  });
}

function shield() {
  api("GET", "/api/v1/status").then((r) => {
    if (r.status !== 200) return;
    const sel = $("attack-site");
    for (const s of r.data.sites || []) {
      const o = document.createElement("option");
      o.value = o.textContent = s;
      sel.appendChild(o);
    }
  });
  const show = (d) => {
    $("attack-state").textContent = (d.under_attack || []).join(", ") || "none";
    $("kill-state").textContent = (d.killed || []).join(", ") || "none";
  };
  const refresh = async () => {
    const s = await api("GET", "/api/v1/shield");
    if (s.status === 200) show(s.data);
  };
  switchForm("attack-form", "attack-site", "site", "/api/v1/shield/under-attack", "attack-result",
    (v, on) => "under attack " + (on ? "on" : "off") + " for " + v, refresh);
  switchForm("kill-form", "kill-phase", "phase", "/api/v1/shield/kill", "kill-result",
    (v, on) => (on ? "killed " : "restored ") + v, refresh);
  poll(["/api/v1/shield", "/api/v1/shield/decisions"], 5000, (d, dec) => {
    show(d);
    $("shield-overload").textContent = fmt(d.overload_level);
    $("shield-conns").textContent = fmt(d.open_connections);
    $("shield-ratelimit").textContent = fmt(dec.rate_limit_actions);
    table("shield-decisions", ["Phase", "Result", "Requests"], dec.decisions.map((x) => [x.phase + " " + x.result, x.result, fmt(x.count)]));
    const adm = d.admission || {};
    table("shield-admission", ["Pool", "Limit", "In flight", "Queued"],
      Object.keys(adm).sort().map((k) => [k, fmt(adm[k].limit), fmt(adm[k].inflight), fmt(adm[k].queued)]));
    const rooms = d.waiting_rooms || {};
    table("shield-rooms", ["Room", "Active", "Queue length", "Estimated wait"],
      Object.keys(rooms).sort().map((k) => [k, fmt(rooms[k].active), fmt(rooms[k].queued),
        rooms[k].queued > 0 ? fmt(rooms[k].estimated_wait_seconds) + " s" : "none"]));
  });
}

function configPage() {
  const loadText = async () => {
    const r = await api("GET", "/api/v1/config");
    if (r.status === 200) $("config-text").value = r.data;
  };
  const showDiff = async (version) => {
    const r = await api("GET", "/api/v1/config/history/" + version);
    const pre = $("config-diff");
    while (pre.firstChild) pre.removeChild(pre.firstChild);
    if (r.status !== 200) { pre.textContent = errorText(r); return; }
    $("config-diff-title").textContent = "Diff of version " + version +
      (r.data.previous ? " against version " + r.data.previous : " (the oldest held)");
    for (const l of r.data.diff) {
      const span = document.createElement("span");
      span.textContent = l.op + " " + l.text;
      if (l.op === "+") span.className = "add";
      if (l.op === "-") span.className = "del";
      pre.appendChild(span);
    }
  };
  const rollback = async (version) => {
    const out = $("rollback-result");
    const r = await api("POST", "/api/v1/config/rollback", JSON.stringify(version ? { version } : {}));
    if (r.status === 200) {
      out.textContent = "rolled back to version " + r.data.from + ": now version " + r.data.version;
      out.className = "status ok";
      await loadText();
    } else {
      out.textContent = "not rolled back: " + errorText(r);
      out.className = "status error";
    }
    await loadHistory();
  };
  const loadHistory = async () => {
    const r = await api("GET", "/api/v1/config/history");
    if (r.status !== 200) return;
    $("config-active").textContent = r.data.active ? String(r.data.active) : "not in the history";
    table("config-history", ["Version", "Time", "Who", "Source", "Note", "Bytes", "", ""], r.data.versions.map((v) => [
      String(v.version), v.time.replace("T", " ").replace(/\.\d+Z$/, "Z"), v.who, v.source, v.note || "", fmt(v.bytes),
      button("Diff", () => showDiff(v.version)),
      v.version === r.data.active ? "active" : button("Roll back to this", () => rollback(v.version))]));
    if (r.data.versions.length > 0) await showDiff(r.data.versions[0].version);
  };
  const showErrors = (r) => {
    const list = $("config-errors");
    for (const e of (r.data && r.data.error && r.data.error.details) || []) {
      const li = document.createElement("li");
      li.textContent = (e.line ? "line " + e.line + ": " : "") + e.message;
      list.appendChild(li);
    }
  };
  const send = async (path, okText) => {
    const out = $("config-result");
    const list = $("config-errors");
    while (list.firstChild) list.removeChild(list.firstChild);
    out.textContent = "validating…";
    const r = await api("POST", path, $("config-text").value, "application/yaml");
    if (r.status === 200) {
      out.textContent = okText(r.data);
      out.className = "status ok";
      return true;
    }
    out.textContent = errorText(r);
    out.className = "status error";
    showErrors(r);
    return false;
  };
  loadText();
  loadHistory();
  $("config-rollback").addEventListener("click", () => rollback(0));
  $("config-validate").addEventListener("click", () => send("/api/v1/config/validate", () => "valid: not applied"));
  $("config-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (await send("/api/v1/config", (d) => "applied: generation " + d.status.generation)) await loadHistory();
  });
}

function login() {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", "/ui/login", JSON.stringify({ token: $("login-token").value.trim() }));
    if (r.status === 200) {
      location.assign("/ui/");
    } else {
      $("login-error").textContent = errorText(r);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const out = $("logout");
  if (out) {
    out.addEventListener("click", async () => {
      await api("POST", "/ui/logout");
      location.assign("/ui/login.html");
    });
  }
  const pages = { overview, cache: cachePage, origins: originsPage, dns: dnsPage, shield, switches: switchesPage, config: configPage, login };
  const page = pages[document.body.dataset.page];
  if (page) page();
});
