// shoal dashboard: renders /ui/api/state, reloads it when the event
// stream says something changed, and posts the operator's actions.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const open = new Set();        // IDs of expanded services
  const drafts = new Map();      // scale input values being typed
  const armed = new Set();       // services whose Remove awaits its confirmation
  let current = null;
  const $ = (id) => document.getElementById(id);

  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const clock = (t) => { const d = new Date(t); return isNaN(d) || d.getFullYear() < 2000 ? "" : d.toLocaleTimeString([], { hour12: false }); };
  const ago = (t) => {
    const s = Math.max(0, (Date.now() - new Date(t)) / 1000);
    if (s < 60) return Math.floor(s) + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 86400) return Math.floor(s / 3600) + "h ago";
    return Math.floor(s / 86400) + "d ago";
  };
  const state = (s) => `<span class="state ${esc(s)}">${esc(String(s).replace(/_/g, " "))}</span>`;

  function toast(msg, error) {
    const el = $("toast");
    el.textContent = msg;
    el.className = "toast" + (error ? " error" : "");
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, error ? 6000 : 2500);
  }

  async function load() {
    const r = await fetch("/ui/api/state", { credentials: "same-origin" });
    if (r.status === 401) { document.body.innerHTML = '<p class="empty">Session ended: open a new login URL (<code>shoal ui url</code>).</p>'; return; }
    if (!r.ok) { toast("Reading the cluster failed: " + (await r.text()), true); return; }
    current = await r.json();
    render();
  }

  let pending = null;
  function reload() { // many events arrive together: read the state once
    if (pending) return;
    pending = setTimeout(() => { pending = null; load().catch((e) => toast(String(e), true)); }, 200);
  }

  function render() {
    const st = current;
    const svcs = st.services, bad = svcs.filter((s) => s.running < s.desired).length;
    const tasks = svcs.reduce((n, s) => n + s.running, 0);
    const down = st.nodes.filter((n) => n.status !== "ready").length;
    $("summary").innerHTML =
      `<span class="stat"><b>${st.nodes.length}</b>nodes</span>` +
      (down ? `<span class="stat bad"><b>${down}</b>down</span>` : "") +
      `<span class="stat"><b>${svcs.length}</b>services</span>` +
      `<span class="stat${bad ? " bad" : ""}" id="degraded"><b>${bad}</b>degraded</span>` +
      `<span class="stat"><b>${tasks}</b>tasks running</span>`;
    $("node-rows").innerHTML = st.nodes.map((n) =>
      `<tr title="${esc(n.id)} ${esc(n.addr)} ${esc(n.message)}"><td class="name">${esc(n.hostname || n.id.slice(0, 12))}</td><td>${state(n.status)}</td>` +
      `<td>${state(n.availability)}</td><td>${esc(n.role)}</td><td class="num">${n.tasks}</td></tr>`).join("");
    $("stack-rows").innerHTML = st.stacks.map((s) =>
      `<tr><td class="name">${esc(s.name)}</td><td class="num">${s.services}</td><td class="num">${s.running}/${s.desired}</td></tr>`).join("");
    $("no-stacks").hidden = st.stacks.length > 0;
    renderServices();
    renderRoutes();
  }

  const maxBackends = 8; // per router; the rest are counted
  function renderRoutes() {
    const q = $("filter").value.trim().toLowerCase();
    const routes = current.routes.filter((r) => !q || r.service.toLowerCase().includes(q) || r.router.toLowerCase().includes(q));
    $("route-count").textContent = !current.ingress ? "ingress off" : current.routes.length === 1 ? "1 router" : `${current.routes.length} routers`;
    $("route-rows").innerHTML = routes.map((r) => {
      const bes = r.backends.slice(0, maxBackends).map((b) =>
        `<span class="be" data-backend="${esc(b.task)}" data-healthy="${b.healthy}" title="${esc(b.addr)}${b.node ? " on " + esc(b.node) : ""}">${state(b.healthy ? "healthy" : "unhealthy")} ${esc(b.task)}</span>`).join("") +
        (r.backends.length > maxBackends ? `<span class="muted">+${r.backends.length - maxBackends} more</span>` : "") +
        (r.backends.length ? "" : `<span class="state unhealthy">no backend</span>`);
      return `<tr class="route${r.refused ? " refused" : ""}" data-router="${esc(r.router)}" data-route-service="${esc(r.service)}">` +
        `<td class="name" title="${esc(r.router)}@${esc(r.service)}${r.middlewares.length ? " · middlewares: " + esc(r.middlewares.join(", ")) : ""}">${esc(r.router)}<span class="muted">@${esc(r.service)}</span></td>` +
        `<td class="mono" title="${esc(r.refused || r.rule)}">${r.refused ? `<span class="err">refused: ${esc(r.refused)}</span>` : esc(r.rule)}</td>` +
        `<td>${esc(r.entryPoints.join(", "))}</td>` +
        `<td title="${esc(r.loadBalancer)}">${esc(r.loadBalancer)}${r.sticky ? `<span class="chip" data-sticky title="sticky: cookie ${esc(r.sticky)}">sticky</span>` : ""}</td>` +
        `<td class="backends">${bes}</td></tr>`;
    }).join("");
    $("no-routes").hidden = routes.length > 0 || !current.ingress;
  }

  function renderServices() {
    const focus = document.activeElement && document.activeElement.dataset.scale;
    const q = $("filter").value.trim().toLowerCase();
    const svcs = current.services.filter((s) => !q || s.name.toLowerCase().includes(q) || (s.stack || "").toLowerCase().includes(q));
    $("service-rows").innerHTML = svcs.map(serviceRows).join("");
    $("no-services").hidden = current.services.length > 0;
    for (const p of document.querySelectorAll("progress[data-value]")) p.value = Number(p.dataset.value);
    if (focus) {
      const el = document.querySelector(`input[data-scale="${CSS.escape(focus)}"]`);
      if (el) el.focus();
    }
  }

  function serviceRows(s) {
    const isOpen = open.has(s.id);
    const cls = s.running >= s.desired ? "ok" : s.running === 0 && s.desired > 0 ? "bad" : "warn";
    let upd = `<span class="muted">—</span>`;
    if (s.update) {
      const u = s.update, label = u.state.replace(/_/g, " ");
      upd = u.active
        ? `<div class="upd"><progress class="${u.rollback ? "rollback" : ""}" max="${Math.max(u.total, 1)}" data-value="${u.done}"></progress><span class="label">${esc(label)} ${u.done}/${u.total}</span></div>`
        : `<span class="state ${esc(u.state)}" title="${esc(u.message)}">${esc(label)}</span>`;
    }
    let html = `<tr class="svc${isOpen ? " open" : ""}" data-id="${esc(s.id)}" data-service="${esc(s.name)}">` +
      `<td><span class="caret">${isOpen ? "▾" : "▸"}</span><span class="name">${esc(s.name)}</span>${s.stack ? `<span class="chip">${esc(s.stack)}</span>` : ""}</td>` +
      `<td>${esc(s.mode)}</td><td class="mono" title="${esc(s.image)}">${esc(s.image)}</td>` +
      `<td><span class="rep ${cls}" data-replicas>${s.running}/${s.desired}</span></td><td>${upd}</td></tr>`;
    if (isOpen) html += `<tr class="detail" data-detail="${esc(s.name)}"><td colspan="5">${detail(s)}</td></tr>`;
    return html;
  }

  function detail(s) {
    const draft = drafts.has(s.id) ? drafts.get(s.id) : s.desired;
    const actions = `<div class="actions">` +
      (s.scalable ? `<label class="muted">Replicas</label><input type="number" min="0" max="1000" data-scale="${esc(s.id)}" value="${esc(draft)}">` +
        `<button class="primary" data-act="scale" data-id="${esc(s.id)}">Scale</button><span class="sep"></span>` : "") +
      `<button data-act="force" data-id="${esc(s.id)}" title="Replace every task (service update --force)">Force update</button>` +
      `<button data-act="rollback" data-id="${esc(s.id)}" title="Back to the previous spec">Roll back</button>` +
      `<button class="danger${armed.has(s.id) ? " armed" : ""}" data-act="remove" data-id="${esc(s.id)}">${armed.has(s.id) ? "Confirm remove" : "Remove"}</button>` +
      (s.ports ? `<span class="sep"></span><span class="muted">ports ${esc(s.ports)}</span>` : "") +
      `<span class="muted mono" title="service ID">${esc(s.id.slice(0, 12))}</span></div>`;
    const tasks = `<div><h3>Tasks</h3><table class="sub" data-tasks="${esc(s.name)}"><colgroup><col class="t-name"><col class="t-node"><col class="t-state"><col class="t-since"><col class="t-err"></colgroup>` +
      `<thead><tr><th>Task</th><th>Node</th><th>State</th><th>Since</th><th>Error / history</th></tr></thead><tbody>` +
      (s.tasks.length ? s.tasks.map((t) =>
        `<tr class="${t.current ? "" : "ended"}" data-task="${esc(t.id)}"><td class="mono" title="${esc(t.id)}">${esc(t.name)}</td><td>${esc(t.node)}</td>` +
        `<td>${state(t.state)}${t.health ? " " + state(t.health) : ""}${!t.current && t.state === "running" ? ` <span class="muted">→ ${esc(t.desired)}</span>` : ""}</td>` +
        `<td title="${esc(t.since)}">${esc(ago(t.since))}</td>` +
        `<td>${t.error ? `<div class="err">${esc(t.error)}</div>` : ""}<details><summary>${t.history.length} states</summary><div class="hist">` +
        t.history.map((h) => `${esc(clock(h.time))} ${esc(h.state)}${h.err ? " (" + esc(h.err) + ")" : ""}`).join(" → ") + `</div></details></td></tr>`).join("")
        : `<tr><td colspan="5" class="muted">No tasks.</td></tr>`) + `</tbody></table></div>`;
    const hist = `<div><h3>Versions</h3><table class="sub" data-history="${esc(s.name)}"><colgroup><col class="h-rev"><col><col class="h-when"><col class="h-act"></colgroup><thead><tr><th>Rev.</th><th>Change</th><th>When</th><th></th></tr></thead><tbody>` +
      s.history.map((h) => `<tr class="${h.current ? "current" : ""}"><td>${h.revision}</td><td title="${esc(h.change)}">${esc(h.change || "created")}</td>` +
        `<td>${esc(ago(h.createdAt))}</td><td>${h.current ? `<span class="muted">current</span>` :
          `<button class="small" data-act="rollback" data-id="${esc(s.id)}" data-to="${h.revision}" title="Roll back to revision ${h.revision}">Roll back</button>`}</td></tr>`).join("") +
      `</tbody></table></div>`;
    return `<div class="detail-body">${actions}${tasks}${hist}</div>`;
  }

  async function act(kind, id, body) {
    const r = await fetch(`/ui/api/services/${encodeURIComponent(id)}/${kind}`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    const out = await r.json().catch(() => ({ message: r.statusText }));
    if (!r.ok) { toast(out.message || r.statusText, true); return false; }
    return true;
  }

  document.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-act]");
    if (b) {
      e.stopPropagation();
      const id = b.dataset.id, name = (current.services.find((s) => s.id === id) || {}).name || id;
      let ok = false;
      b.disabled = true;
      try {
        switch (b.dataset.act) {
          case "scale": {
            const n = Number(document.querySelector(`input[data-scale="${CSS.escape(id)}"]`).value);
            if (!Number.isInteger(n) || n < 0) { toast("Replicas: a whole number, 0 or more", true); break; }
            if ((ok = await act("scale", id, { replicas: n }))) { drafts.delete(id); toast(`${name} scaled to ${n}`); }
            break;
          }
          case "force": if ((ok = await act("force", id))) toast(`${name}: update started`); break;
          case "rollback": {
            const to = b.dataset.to ? Number(b.dataset.to) : 0;
            if ((ok = await act("rollback", id, to ? { to } : {}))) toast(`${name}: rolling back${to ? " to revision " + to : ""}`);
            break;
          }
          case "remove":
            if (!armed.has(id)) { armed.add(id); setTimeout(() => { armed.delete(id); if (current) renderServices(); }, 4000); renderServices(); return; }
            armed.delete(id);
            if ((ok = await act("remove", id))) { open.delete(id); toast(`${name} removed`); }
            break;
        }
      } finally { b.disabled = false; }
      if (ok) reload();
      return;
    }
    const row = e.target.closest("tr.svc");
    if (row && !e.target.closest("details")) {
      const id = row.dataset.id;
      open.has(id) ? open.delete(id) : open.add(id);
      renderServices();
    }
  });
  document.addEventListener("input", (e) => {
    if (e.target.dataset.scale) drafts.set(e.target.dataset.scale, e.target.value);
    if (e.target.id === "filter" && current) { renderServices(); renderRoutes(); }
  });

  const feed = $("feed");
  function addEvent(ev) {
    const li = document.createElement("li");
    li.className = "fresh";
    li.innerHTML = `<span class="t">${esc(clock(ev.time))}</span><span class="k">${esc(ev.type)}</span>` +
      `<span class="w" title="${esc(ev.message)}">${esc(ev.action)} <b>${esc(ev.name || ev.id.slice(0, 12))}</b>${ev.state ? " " + state(ev.state) : ""}</span>`;
    const hint = feed.querySelector(".hint");
    if (hint) hint.remove();
    feed.prepend(li);
    while (feed.children.length > 200) feed.lastChild.remove();
  }

  function connect() {
    const es = new EventSource("/ui/api/events");
    es.onopen = () => { $("live").classList.add("on"); $("live-text").textContent = "live"; };
    es.onerror = () => { $("live").classList.remove("on"); $("live-text").textContent = "reconnecting"; };
    es.addEventListener("resync", reload);
    es.addEventListener("change", (m) => { addEvent(JSON.parse(m.data)); reload(); });
  }

  load().catch((e) => toast(String(e), true));
  connect();
  setInterval(() => { if (current) renderServices(); }, 15000); // keep "ago" fresh
})();
