// Switchboard core script: API calls with the session cookie and CSRF header, declarative forms and
// buttons that call the REST API, toasts, the live event stream. No build step, no dependencies.
"use strict";

const SB = (() => {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  class ApiError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message || `request failed (${status})`);
      this.status = status;
      this.code = e.code || "error";
      this.fields = (e.details && e.details.fields) || [];
    }
  }

  /** Calls the REST API as the signed-in browser user. Resolves to the JSON body (or null). */
  async function api(method, path, body) {
    const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") opts.headers["X-CSRF-Token"] = csrf();
    if (body instanceof FormData) {
      opts.body = body;
    } else if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(path, opts);
    if (res.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new ApiError(401, null);
    }
    const text = await res.text();
    let json = null;
    if (text) { try { json = JSON.parse(text); } catch (_) { json = null; } }
    if (!res.ok) throw new ApiError(res.status, json);
    return json;
  }

  function toast(message, kind) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const t = document.createElement("div");
    t.className = "toast" + (kind ? " " + kind : "");
    t.textContent = message;
    box.appendChild(t);
    setTimeout(() => t.remove(), kind === "error" ? 8000 : 4000);
  }

  /** Sets a value at a dotted path ("theme.color") in an object. */
  function setPath(obj, path, value) {
    const keys = path.split(".");
    let o = obj;
    keys.slice(0, -1).forEach((k) => { o = o[k] = o[k] || {}; });
    o[keys[keys.length - 1]] = value;
  }

  /**
   * A form's fields as JSON. Field names may be dotted paths. `data-type` on a field converts it:
   * number, bool (checkbox), list (comma or line separated), json, nullable (empty → null).
   * Empty fields are left out unless they are `data-keep-empty`.
   */
  function formJson(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.name.startsWith("_") || el.disabled || el.type === "submit") continue;
      const type = el.dataset.type;
      let v;
      if (el.type === "checkbox" && type === "bool") v = el.checked;
      else if (el.type === "checkbox") { if (!el.checked) continue; v = el.value; }
      else if (el.type === "radio") { if (!el.checked) continue; v = el.value; }
      else v = el.value;
      if (typeof v === "string") {
        if (v.trim() === "") {
          if (type === "nullable") v = null;
          else if (el.dataset.keepEmpty === undefined) continue;
        } else if (type === "number") v = Number(v);
        else if (type === "list") v = v.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
        else if (type === "json") { try { v = JSON.parse(v); } catch (_) { /* the API names the field */ } }
      }
      setPath(out, el.name, v);
    }
    return out;
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error[data-generated]").forEach((e) => e.remove());
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    const alert = form.querySelector(".form-alert");
    if (alert) alert.remove();
  }

  function showErrors(form, err) {
    let shown = 0;
    for (const f of err.fields) {
      const el = form.querySelector(`[name="${CSS.escape(f.field)}"]`);
      if (!el) continue;
      el.setAttribute("aria-invalid", "true");
      const p = document.createElement("p");
      p.className = "field-error";
      p.dataset.generated = "";
      p.id = "err-" + Math.random().toString(36).slice(2);
      p.textContent = f.message;
      el.setAttribute("aria-describedby", p.id);
      (el.closest("label") || el).after(p);
      shown++;
    }
    if (!shown || err.fields.length > shown) {
      const a = document.createElement("p");
      a.className = "alert form-alert";
      a.setAttribute("role", "alert");
      a.textContent = err.message;
      form.prepend(a);
    }
  }

  /** What to do after a successful call: reload, go to a URL ({id} and {field} from the answer), toast. */
  function then(spec, result) {
    if (!spec || spec === "reload") { location.reload(); return; }
    if (spec === "none") return;
    if (spec.startsWith("go:")) {
      location.href = spec.slice(3).replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent((result || {})[k] || ""));
      return;
    }
    if (spec.startsWith("toast:")) { toast(spec.slice(6)); return; }
    if (spec.startsWith("event:")) document.dispatchEvent(new CustomEvent(spec.slice(6), { detail: result }));
  }

  function splitAction(s) {
    const i = s.indexOf(" ");
    return [s.slice(0, i).toUpperCase(), s.slice(i + 1)];
  }

  // <form data-api="POST /api/…" data-then="reload"> — fields become the JSON body.
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
    ev.preventDefault();
    clearErrors(form);
    const [method, path] = splitAction(form.dataset.api);
    const submit = form.querySelector('[type="submit"]');
    if (submit) submit.disabled = true;
    try {
      const result = await api(method, path, form.dataset.multipart !== undefined ? new FormData(form) : formJson(form));
      if (form.dataset.reset !== undefined) form.reset();
      if (form.dataset.done) toast(form.dataset.done);
      then(form.dataset.then, result);
    } catch (err) {
      if (err instanceof ApiError) showErrors(form, err); else toast(String(err), "error");
    } finally {
      if (submit) submit.disabled = false;
    }
  });

  // <button data-action="POST /api/…" data-body='{"a":1}' data-confirm="Sure?" data-then="reload">
  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("[data-action]");
    if (btn) {
      ev.preventDefault();
      if (btn.dataset.confirm && !confirm(btn.dataset.confirm)) return;
      const [method, path] = splitAction(btn.dataset.action);
      btn.disabled = true;
      try {
        const result = await api(method, path, btn.dataset.body ? JSON.parse(btn.dataset.body) : undefined);
        if (btn.dataset.done) toast(btn.dataset.done);
        then(btn.dataset.then, result);
      } catch (err) {
        toast(err.message || String(err), "error");
      } finally {
        btn.disabled = false;
      }
      return;
    }
    const copy = ev.target.closest("[data-copy]");
    if (copy) {
      const text = copy.dataset.copy;
      (navigator.clipboard ? navigator.clipboard.writeText(text) : Promise.reject()).then(
        () => toast("Copied"),
        () => { prompt("Copy this:", text); },
      );
      return;
    }
    const toggle = ev.target.closest(".nav-toggle");
    if (toggle) {
      const nav = document.getElementById("nav");
      const open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    }
  });

  /**
   * Follows the tenant's live events. `handlers` maps event kinds (message.created, message.status,
   * conversation.updated, …) to functions of the event's data. Reconnects after errors; the server
   * renews the session cookie on reconnection.
   */
  function events(handlers) {
    let es;
    const connect = () => {
      // The browser resumes with Last-Event-ID by itself; "reset" means the gap was too long.
      es = new EventSource("/api/events");
      for (const kind of Object.keys(handlers)) {
        es.addEventListener(kind, (e) => {
          let data = null;
          try { data = JSON.parse(e.data); } catch (_) { return; }
          handlers[kind](data);
        });
      }
      if (!handlers.reset) es.addEventListener("reset", () => location.reload());
      es.addEventListener("open", () => document.body.classList.remove("offline"));
      es.addEventListener("error", () => {
        document.body.classList.add("offline");
        if (es.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
      });
    };
    connect();
    return () => es && es.close();
  }

  function escapeHtml(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  return { api, toast, events, formJson, escapeHtml, ApiError, then };
})();
