// The status page: polls state.json and draws it. Every value from the server goes into the
// document as text (textContent, attribute values), never as markup: names come from operators.
"use strict";

(function () {
  const TOKEN_KEY = "vigil-ui-token";
  const POLL_MS = 1500;
  const byId = (id) => document.getElementById(id);
  let timer = null;

  // An element with attributes and children; strings become text nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "class") e.className = value;
      else e.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      e.append(child instanceof Node ? child : String(child));
    }
    return e;
  }

  function duration(secs) {
    if (secs === null || secs === undefined) return "";
    if (secs < 60) return secs.toFixed(1) + " s";
    const m = Math.floor(secs / 60);
    const s = Math.floor(secs % 60);
    return m + " min " + s + " s";
  }

  function table(headings, rows) {
    return el("table", {},
      el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows));
  }

  function badge(text, kind) {
    return el("span", { class: "badge " + kind }, text);
  }

  function headroom(h) {
    const label = { ok: "survives a host loss", short: "short of capacity", unknown: "headroom unknown" }[h.state] || h.state;
    return el("p", { class: "headroom", "data-headroom": h.state },
      badge(label, "headroom-" + h.state), " ", h.detail);
  }

  function segment(s) {
    const rows = s.hosts.map((h) => el("tr", { "data-host": h.name, "data-state": h.state },
      el("td", {}, h.name),
      el("td", {}, badge(h.state, "state-" + h.state))));
    return el("article", { class: "segment", "data-segment": s.name },
      el("h3", {}, s.name, " ", el("span", { class: "muted" }, s.recovery_method + (s.enabled ? "" : " · disabled"))),
      headroom(s.headroom),
      rows.length ? table(["Host", "State"], rows) : el("p", { class: "muted" }, "No hosts."));
  }

  function step(st) {
    return el("li", { class: "step step-" + st.state.toLowerCase(), "data-step": st.name },
      st.name, " ", badge(st.state, "step-state"),
      st.detail ? el("span", { class: "muted" }, " " + st.detail) : null);
  }

  function server(v) {
    const where = (v.source || "?") + " → " + (v.dest || "…");
    return el("tr", { "data-server": v.name, "data-phase": v.phase },
      el("td", {}, v.name),
      el("td", {}, badge(v.phase, "phase-" + v.phase.toLowerCase())),
      el("td", { class: "num" }, v.tier == null ? "" : String(v.tier)),
      el("td", {}, where),
      el("td", { class: "num" }, duration(v.elapsed_secs)),
      el("td", { class: "message" }, v.message || ""));
  }

  function recovery(r) {
    const bar = el("progress", { max: Math.max(r.total, 1), value: r.done });
    return el("article", { class: "recovery", "data-host": r.host, "data-status": r.status, "data-notification": r.notification },
      el("h3", {}, r.host, " ", badge(r.status, "status-" + r.status), " ",
        el("span", { class: "muted" }, r.event + " · " + duration(r.elapsed_secs))),
      el("p", { class: "progress" }, bar, " ", el("span", { class: "count" }, r.done + " / " + r.total + " servers done")),
      r.message ? el("p", { class: "message" }, r.message) : null,
      el("ol", { class: "steps" }, ...r.steps.map(step)),
      r.servers.length
        ? table(["Server", "State", "Tier", "From → to", "Elapsed", "Message"], r.servers.map(server))
        : el("p", { class: "muted" }, "No servers recorded yet."));
  }

  function notification(n) {
    return el("tr", { "data-notification": n.uuid, "data-status": n.status },
      el("td", {}, n.generated_time),
      el("td", {}, n.type),
      el("td", {}, n.host),
      el("td", {}, badge(n.status, "status-" + n.status)),
      el("td", { class: "message" }, n.message || ""),
      el("td", { class: "muted mono" }, n.uuid));
  }

  function render(state) {
    byId("recoveries").replaceChildren(...(state.recoveries.length
      ? state.recoveries.map(recovery)
      : [el("p", { class: "muted" }, "No host recovery in flight or in the last hour.")]));
    byId("segments").replaceChildren(...(state.segments.length
      ? state.segments.map(segment)
      : [el("p", { class: "muted" }, "No segments.")]));
    byId("notifications").replaceChildren(state.notifications.length
      ? table(["Generated", "Type", "Host", "Status", "Message", "Notification"], state.notifications.map(notification))
      : el("p", { class: "muted" }, "No notifications."));
    byId("updated").textContent = "updated " + state.generated_at + " UTC";
    byId("main").hidden = false;
  }

  function problem(text) {
    const p = byId("problem");
    p.textContent = text || "";
    p.hidden = !text;
  }

  function askForToken(refused) {
    byId("login-reason").textContent = refused
      ? "The API refused the token; give another."
      : "The API wants a Keystone token.";
    byId("login").hidden = false;
    byId("main").hidden = true;
    byId("token").focus();
  }

  async function poll() {
    timer = null;
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { Accept: "application/json" };
    if (token) headers["X-Auth-Token"] = token;
    let resp;
    try {
      resp = await fetch("state.json", { headers, cache: "no-store" });
    } catch (e) {
      problem("Cannot reach the API: " + e.message);
      return schedule();
    }
    if (resp.status === 401) {
      // No polling until a token is given: each try would be refused the same way.
      return askForToken(Boolean(token));
    }
    if (!resp.ok) {
      let reason = resp.status + " " + resp.statusText;
      try {
        const body = await resp.json();
        const fault = Object.values(body)[0];
        if (fault && fault.message) reason = fault.message;
      } catch (_) { /* not a fault body: the status says enough */ }
      problem("state.json: " + reason);
      return schedule();
    }
    problem(null);
    render(await resp.json());
    byId("forget").hidden = !token;
    schedule();
  }

  function schedule() {
    if (timer === null) timer = setTimeout(poll, POLL_MS);
  }

  byId("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, byId("token").value.trim());
    byId("token").value = "";
    byId("login").hidden = true;
    poll();
  });
  byId("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    byId("forget").hidden = true;
    if (timer !== null) clearTimeout(timer);
    poll();
  });
  poll();
})();
