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

// poll fetches url every `every` ms while it answers; once it errors it
// waits at least 10 s, doubling up to 2 min, plus up to half again at
// random, so an API in trouble gets at most one request per 10 s from a
// page, and many pages do not come back in step.
function poll(url, every, onData) {
  let failures = 0;
  const status = $("poll-status");
  async function tick() {
    let delay = every;
    try {
      const r = await api("GET", typeof url === "function" ? url() : url);
      if (r.status !== 200) {
        throw new Error(errorText(r));
      }
      failures = 0;
      onData(r.data);
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
  poll("/api/v1/shield", 5000, show);
}

function configPage() {
  api("GET", "/api/v1/config").then((r) => {
    if (r.status === 200) $("config-text").value = r.data;
  });
  $("config-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("config-result");
    const list = $("config-errors");
    while (list.firstChild) list.removeChild(list.firstChild);
    out.textContent = "validating…";
    const r = await api("POST", "/api/v1/config", $("config-text").value, "application/yaml");
    if (r.status === 200) {
      out.textContent = "applied: generation " + r.data.status.generation;
      out.className = "status ok";
      return;
    }
    out.textContent = errorText(r);
    out.className = "status error";
    for (const e of (r.data && r.data.error && r.data.error.details) || []) {
      const li = document.createElement("li");
      li.textContent = (e.line ? "line " + e.line + ": " : "") + e.message;
      list.appendChild(li);
    }
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
  const pages = { overview, purge, shield, config: configPage, login };
  const page = pages[document.body.dataset.page];
  if (page) page();
});
