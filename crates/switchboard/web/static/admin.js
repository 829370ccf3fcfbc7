// Switchboard admin pages (settings, templates, platform): one-time secrets, the live theme and the
// template editor with its WhatsApp preview. Uses SB from app.js; no inline script anywhere.
"use strict";

(() => {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // ---- A checkbox that switches its form's API call (e.g. connect without checking with Meta).
  document.addEventListener("change", (ev) => {
    const box = ev.target.closest("[data-toggle-api]");
    if (!box || !box.form) return;
    const form = box.form;
    if (form.dataset.apiDefault === undefined) form.dataset.apiDefault = form.dataset.api;
    form.dataset.api = box.checked ? form.dataset.apiDefault : box.dataset.toggleApi;
  });

  // ---- Secrets shown once: invitation links, API keys, webhook signing secrets.
  function showSecret(name, result) {
    const box = $(`[data-secret-box="${name}"]`);
    if (!box) { location.reload(); return; }
    const pick = (k) => (result && (result[k] ?? (result.user && result.user[k]) ?? (result.endpoint && result.endpoint[k]))) || "";
    $$("[data-field]", box).forEach((el) => { el.textContent = pick(el.dataset.field); });
    $$("[data-copy-from]", box).forEach((b) => { b.dataset.copy = pick(b.dataset.copyFrom); });
    box.hidden = false;
    const focus = $("[data-copy-from]", box);
    if (focus) focus.focus();
  }
  for (const name of ["sb-invited", "sb-key-created", "sb-hook-created"]) {
    document.addEventListener(name, (ev) => showSecret(name, ev.detail));
  }
  document.addEventListener("click", (ev) => {
    if (ev.target.closest("[data-reload]")) location.reload();
  });

  // ---- Theme: the brand color applies to the page while it is chosen.
  function inkFor(hex) {
    const ch = (i) => parseInt(hex.slice(i, i + 2), 16) / 255;
    const lin = (c) => (c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
    const l = 0.2126 * lin(ch(1)) + 0.7152 * lin(ch(3)) + 0.0722 * lin(ch(5));
    return 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 ? "#ffffff" : "#111111";
  }
  document.addEventListener("input", (ev) => {
    const el = ev.target.closest("[data-live-brand]");
    if (!el || !/^#[0-9a-fA-F]{6}$/.test(el.value)) return;
    document.documentElement.style.setProperty("--brand", el.value);
    document.documentElement.style.setProperty("--brand-ink", inkFor(el.value));
    const shown = el.closest("label") && $("[data-color-value]", el.closest("label"));
    if (shown) shown.textContent = el.value;
  });

  // ---- Templates list: Meta's review arrives by webhook; show the new status when it does.
  if ($("[data-live-templates]") && typeof EventSource !== "undefined") {
    let pending;
    SB.events({
      "template.updated": () => { clearTimeout(pending); pending = setTimeout(() => location.reload(), 500); },
      reset: () => {},
    });
  }

  // ---- New campaign: the template's text and a starting point for its parameters; only the
  // chosen number's templates are offered.
  const campaignForm = $("[data-campaign-form]");
  if (campaignForm) {
    const account = $("[data-campaign-account]", campaignForm);
    const template = $("[data-campaign-template]", campaignForm);
    const vars = $("[data-campaign-variables]", campaignForm);
    const body = $("[data-campaign-body]");
    const showTemplate = () => {
      const opt = template.selectedOptions[0];
      if (!opt) return;
      if (body) body.textContent = opt.dataset.body || "";
      vars.value = opt.dataset.variables || "{}";
    };
    const onlyNumber = () => {
      let first = null;
      for (const opt of template.options) {
        opt.hidden = opt.dataset.account !== account.value;
        if (!opt.hidden && !first) first = opt;
      }
      if (template.selectedOptions[0] && template.selectedOptions[0].hidden && first) first.selected = true;
      showTemplate();
    };
    account.addEventListener("change", onlyNumber);
    template.addEventListener("change", showTemplate);
    onlyNumber();
  }

  // ---- Campaign page: the funnel follows the messages' statuses; a state change reloads.
  const live = $("[data-live-campaign]");
  if (live && typeof EventSource !== "undefined") {
    const id = live.closest("[data-campaign]").dataset.campaign;
    const slot = $("[data-funnel-slot]");
    let timer = null;
    const refresh = () => {
      if (timer) return;
      timer = setTimeout(async () => {
        timer = null;
        const res = await fetch(`/campaigns/${id}/funnel`, { credentials: "same-origin" });
        if (res.ok && slot) slot.innerHTML = await res.text();
      }, 500);
    };
    SB.events({
      "campaign.updated": (c) => { if (c && c.id === id) location.reload(); },
      "message.status": refresh,
      "message.created": refresh,
      reset: refresh,
    });
  }

  // ---- Segment builder: condition rows write the rules' JSON; "Count contacts" previews it.
  const segForm = $("[data-segment-form]");
  if (segForm) {
    const rows = $("[data-seg-rows]", segForm);
    const json = $("[data-seg-json]", segForm);
    const join = $("[data-seg-join]", segForm);
    const rowTpl = $("template[data-seg-row]");
    const OPS = {
      tag: [["has", "has"], ["notHas", "has not"]],
      attribute: [["equals", "equals"], ["notEquals", "is not"], ["contains", "contains"], ["exists", "is set"],
        ["notExists", "is not set"], ["gte", "≥"], ["gt", ">"], ["lte", "≤"], ["lt", "<"],
        ["before", "before (date)"], ["after", "after (date)"], ["withinDays", "within the last N days"]],
      country: [["in", "is one of"], ["notIn", "is none of"]],
      lastInboundAt: [["withinDays", "within the last N days"], ["olderThanDays", "more than N days ago"],
        ["exists", "ever"], ["notExists", "never"], ["before", "before (date)"], ["after", "after (date)"]],
      createdAt: [["withinDays", "within the last N days"], ["olderThanDays", "more than N days ago"],
        ["before", "before (date)"], ["after", "after (date)"]],
      conversationStatus: [["in", "is one of (open, pending, resolved, none)"], ["notIn", "is none of"]],
      optedOut: [["is", "is (true / false)"]],
    };
    const NO_VALUE = ["exists", "notExists"];
    const condition = (li) => {
      const field = $("[data-seg-field]", li).value;
      const op = $("[data-seg-op]", li).value;
      const raw = $("[data-seg-value]", li).value.trim();
      const c = { field, op };
      if (field === "attribute") c.name = $("[data-seg-name]", li).value.trim();
      if (NO_VALUE.includes(op)) return c;
      if (op === "in" || op === "notIn") c.value = raw.split(",").map((s) => s.trim()).filter(Boolean);
      else if (["gt", "gte", "lt", "lte", "withinDays", "olderThanDays"].includes(op) && raw !== "" && !isNaN(Number(raw))) c.value = Number(raw);
      else if (op === "is") c.value = raw === "true";
      else c.value = raw;
      return c;
    };
    const write = () => {
      const conds = $$(".seg-row", rows).map(condition);
      json.value = conds.length === 0 ? "" : JSON.stringify(conds.length === 1 ? conds[0] : { [join.value]: conds }, null, 1);
    };
    const setOps = (li) => {
      const field = $("[data-seg-field]", li).value;
      const op = $("[data-seg-op]", li);
      op.innerHTML = "";
      for (const [v, label] of OPS[field]) op.add(new Option(label, v));
      $("[data-seg-name]", li).hidden = field !== "attribute";
      $("[data-seg-value]", li).hidden = NO_VALUE.includes(op.value);
    };
    const add = () => {
      const li = rowTpl.content.firstElementChild.cloneNode(true);
      rows.append(li);
      setOps(li);
      write();
    };
    rows.addEventListener("change", (ev) => {
      const li = ev.target.closest(".seg-row");
      if (ev.target.matches("[data-seg-field]")) setOps(li);
      if (ev.target.matches("[data-seg-op]")) $("[data-seg-value]", li).hidden = NO_VALUE.includes(ev.target.value);
      write();
    });
    rows.addEventListener("input", write);
    rows.addEventListener("click", (ev) => {
      if (ev.target.closest("[data-seg-remove]")) { ev.target.closest(".seg-row").remove(); write(); }
    });
    join.addEventListener("change", write);
    $("[data-seg-add]", segForm).addEventListener("click", add);
    $("[data-seg-preview]", segForm).addEventListener("click", async () => {
      const out = $("[data-seg-count]", segForm);
      let rules;
      try { rules = JSON.parse(json.value); } catch (_) { out.textContent = "The rules are not valid JSON."; return; }
      try {
        const r = await SB.api("POST", "/api/segments/preview", { rules });
        const names = r.sample.map((c) => c.name || c.profileName || c.waId).filter(Boolean).slice(0, 5).join(", ");
        out.textContent = `${r.count} contacts${names ? " — " + names + (r.count > 5 ? ", …" : "") : ""}`;
        out.dataset.count = String(r.count);
      } catch (err) {
        out.textContent = err.message || String(err);
        out.dataset.count = "";
      }
    });
    add();
  }

  // ---- Template editor: builds Meta's components, previews the message, maps errors to fields.
  const form = $("[data-template-form]");
  if (!form) return;
  const f = (key) => $(`[data-f="${key}"]`, form);
  const val = (key) => (f(key) ? f(key).value.trim() : "");
  const examples = $("[data-examples]", form);
  const kept = {};

  /** Distinct variables of a text, in order: "1", "2" or "first_name". */
  function vars(text) {
    const out = [];
    const re = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
    let m;
    while ((m = re.exec(text || ""))) if (!out.includes(m[1])) out.push(m[1]);
    return out;
  }
  const positional = (v) => /^\d+$/.test(v);

  function syncExamples() {
    const want = vars(val("body.text"));
    const have = $$("[data-var]", examples).map((i) => i.dataset.var);
    $$("[data-var]", examples).forEach((i) => { kept[i.dataset.var] = i.value; });
    if (want.join("\n") === have.join("\n")) return;
    examples.textContent = "";
    for (const v of want) {
      const label = document.createElement("label");
      label.textContent = `Example for {{${v}}} `;
      const input = document.createElement("input");
      input.dataset.var = v;
      input.value = kept[v] || "";
      input.required = true;
      label.appendChild(input);
      examples.appendChild(label);
    }
  }

  function example(v) {
    const i = $(`[data-var="${CSS.escape(v)}"]`, examples);
    return i ? i.value.trim() : "";
  }

  /** WhatsApp's formatting (*bold*, _italic_, ~strike~, ```mono```) over escaped text, variables filled in. */
  function rich(text, fill) {
    let h = SB.escapeHtml(text);
    h = h.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (_, v) => {
      const e = fill(v);
      return `<span class="var${e ? "" : " missing"}">${e ? SB.escapeHtml(e) : `{{${v}}}`}</span>`;
    });
    h = h.replace(/```([^`]+)```/g, "<code>$1</code>");
    h = h.replace(/\*([^*\n]+)\*/g, "<strong>$1</strong>");
    h = h.replace(/(^|\W)_([^_\n]+)_(?=\W|$)/g, "$1<em>$2</em>");
    h = h.replace(/~([^~\n]+)~/g, "<s>$1</s>");
    return h.replace(/\n/g, "<br>");
  }

  function buttons() {
    const out = [];
    for (const i of [0, 1, 2]) {
      const t = val(`qr.${i}`);
      if (t) out.push({ b: { type: "QUICK_REPLY", text: t }, els: { text: f(`qr.${i}`) } });
    }
    if (val("url.text") || val("url.url")) {
      const b = { type: "URL", text: val("url.text"), url: val("url.url") };
      if (vars(b.url).length) b.example = [val("url.example")];
      out.push({ b, els: { text: f("url.text"), url: f("url.url"), example: f("url.example") } });
    }
    if (val("phone.text") || val("phone.number")) {
      out.push({
        b: { type: "PHONE_NUMBER", text: val("phone.text"), phone_number: val("phone.number") },
        els: { text: f("phone.text"), phone_number: f("phone.number") },
      });
    }
    return out;
  }

  /** The request body and, per component index, the inputs its errors belong to. */
  function build() {
    const components = [];
    const map = [];
    const header = val("header.text");
    if (header) {
      const c = { type: "HEADER", format: "TEXT", text: header };
      const hv = vars(header);
      if (hv.length === 1) {
        c.example = positional(hv[0])
          ? { header_text: [val("header.example")] }
          : { header_text_named_params: [{ param_name: hv[0], example: val("header.example") }] };
      }
      components.push(c);
      map.push({ text: f("header.text"), example: f("header.example"), format: f("header.text") });
    }
    const body = val("body.text");
    const c = { type: "BODY", text: body };
    const bv = vars(body);
    if (bv.length) {
      c.example = bv.every(positional)
        ? { body_text: [bv.slice().sort((a, b) => a - b).map(example)] }
        : { body_text_named_params: bv.map((v) => ({ param_name: v, example: example(v) })) };
    }
    components.push(c);
    map.push({ text: f("body.text"), example: examples });
    if (val("footer.text")) {
      components.push({ type: "FOOTER", text: val("footer.text") });
      map.push({ text: f("footer.text") });
    }
    const bs = buttons();
    if (bs.length) {
      components.push({ type: "BUTTONS", buttons: bs.map((x) => x.b) });
      map.push({ buttons: bs.map((x) => x.els), all: $("[data-buttons]", form) });
    }
    const top = (n) => (form.elements[n] ? form.elements[n].value.trim() : "");
    return {
      body: {
        whatsappAccountId: top("whatsappAccountId"),
        name: top("name"),
        category: top("category"),
        language: top("language"),
        components,
      },
      map,
    };
  }

  function preview() {
    syncExamples();
    const p = (k) => $(`[data-p="${k}"]`);
    const header = val("header.text");
    p("header").innerHTML = header ? rich(header, () => val("header.example")) : "";
    p("body").innerHTML = rich(val("body.text"), example) || '<span class="muted">The message body</span>';
    p("footer").textContent = val("footer.text");
    const list = p("buttons");
    list.textContent = "";
    for (const { b } of buttons()) {
      const d = document.createElement("div");
      d.className = "wa-button";
      const icon = b.type === "URL" ? "↗ " : b.type === "PHONE_NUMBER" ? "✆ " : "↩ ";
      d.textContent = icon + (b.text || "…");
      list.appendChild(d);
    }
    $$("[data-show-if]", form).forEach((el) => {
      const k = el.dataset.showIf;
      el.hidden = k === "header.var" ? vars(header).length === 0 : vars(val("url.url")).length === 0;
    });
  }

  form.addEventListener("input", (ev) => {
    const n = ev.target.closest('[name="name"]');
    if (n) {
      const fixed = n.value.toLowerCase().replace(/[^a-z0-9_]+/g, "_");
      if (fixed !== n.value) n.value = fixed;
    }
    preview();
  });
  preview();

  function clearErrors() {
    $$(".field-error[data-generated]", form).forEach((e) => e.remove());
    $$("[aria-invalid]", form).forEach((e) => e.removeAttribute("aria-invalid"));
    const a = $(".form-alert", form);
    if (a) a.remove();
  }

  function target(field, map) {
    const m = /^components\[(\d+)\](?:\.(.*))?$/.exec(field);
    if (!m) return field === "components" ? f("body.text") : form.elements[field] || null;
    const entry = map[Number(m[1])];
    if (!entry) return null;
    const rest = m[2] || "";
    if (entry.buttons) {
      const b = /^buttons\[(\d+)\]\.?(\w*)/.exec(rest);
      if (!b) return entry.all;
      const els = entry.buttons[Number(b[1])] || {};
      return els[b[2]] || els.text || entry.all;
    }
    const key = rest.split(".")[0];
    return entry[key] || entry.text;
  }

  function showErrors(err, map) {
    const unplaced = [];
    for (const e of err.fields) {
      const el = target(e.field, map);
      if (!el) { unplaced.push(`${e.field} ${e.message}`); continue; }
      el.setAttribute("aria-invalid", "true");
      const p = document.createElement("p");
      p.className = "field-error";
      p.dataset.generated = "";
      p.id = "err-" + Math.random().toString(36).slice(2);
      p.textContent = e.message;
      el.setAttribute("aria-describedby", p.id);
      // Inside the label (under its input), so that grid layouts keep the message with its field.
      const label = el.closest("label");
      if (label) label.appendChild(p); else el.after(p);
    }
    if (!err.fields.length || unplaced.length) {
      const a = document.createElement("p");
      a.className = "alert form-alert";
      a.setAttribute("role", "alert");
      a.textContent = unplaced.length ? unplaced.join("; ") : err.message;
      form.prepend(a);
    }
    const first = $('[aria-invalid="true"], .form-alert', form);
    if (first) first.scrollIntoView({ block: "center" });
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    const { body, map } = build();
    const submit = $('[type="submit"]', form);
    submit.disabled = true;
    try {
      await SB.api("POST", "/api/templates", body);
      location.href = "/templates";
    } catch (err) {
      if (err instanceof SB.ApiError) showErrors(err, map); else SB.toast(String(err), "error");
    } finally {
      submit.disabled = false;
    }
  });

})();
