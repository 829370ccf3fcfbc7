// inbox.js — the Inbox and the Sandbox pages. Live updates follow GET /api/events; bubbles and list
// items are rendered by the server (fragments of the same partials as the page) and swapped in.
"use strict";

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const uuid = () =>
    (window.crypto && crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2));

  /** Shows times in the browser's time zone (the server renders UTC). */
  function localTimes(root) {
    const today = new Date().toDateString();
    $$("time[datetime]", root).forEach((t) => {
      const d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      const sameDay = d.toDateString() === today;
      const inBubble = t.closest(".msg, .sim-msg, .notes");
      t.textContent = sameDay
        ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
        : inBubble
          ? d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })
          : d.toLocaleDateString([], { month: "short", day: "numeric" });
      t.title = d.toLocaleString();
    });
  }

  /** Fetches a server-rendered fragment: its first element, or null (204, 404, 403). */
  async function fragment(url) {
    const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (res.redirected && new URL(res.url).pathname === "/login") {
      location.reload();
      return null;
    }
    // 204: outside the list's filters (an empty fragment); 403/404: not visible to this user.
    if (res.status === 204) return document.createDocumentFragment();
    if (res.status === 403 || res.status === 404) return null;
    if (!res.ok) throw new Error(`fragment ${res.status}`);
    const tpl = document.createElement("template");
    tpl.innerHTML = (await res.text()).trim();
    return tpl.content;
  }

  function announce(text) {
    const a = $("#announcer");
    if (!a) return;
    a.textContent = "";
    setTimeout(() => { a.textContent = text; }, 50);
  }

  // ------------------------------------------------------------------------------------ inbox

  const RANK = { received: 0, queued: 0, sent: 1, delivered: 2, read: 3, played: 3, failed: 4 };
  const norm = (s) => (s === "played" ? "read" : s);

  function initInbox(root) {
    const convId = root.dataset.conversation || null;
    const filters = root.dataset.filters || "";
    const list = $("#conversations");
    const msgs = $("#messages");
    const scroller = $("#thread-scroll");
    localTimes(document);

    const nearBottom = () => !scroller || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
    let autoTop = -1;
    const toBottom = () => {
      if (!scroller) return;
      scroller.scrollTop = scroller.scrollHeight;
      autoTop = scroller.scrollTop;
    };
    // Stay at the newest message while images, videos and previews load or the window resizes,
    // unless the user scrolled up to read.
    let stuck = true;
    toBottom();
    if (scroller && msgs) {
      // Only the user's own scrolling decides (our scrolling can race with content growing).
      scroller.addEventListener("scroll", () => { if (scroller.scrollTop !== autoTop) stuck = nearBottom(); }, { passive: true });
      if (window.ResizeObserver) {
        const ro = new ResizeObserver(() => { if (stuck) toBottom(); });
        ro.observe(msgs);
        ro.observe(scroller);
      }
    }

    // Filters apply on change.
    $$("[data-autosubmit]").forEach((s) => s.addEventListener("change", () => s.form.requestSubmit()));

    // --- the list
    const listJobs = new Map();
    function refreshConversation(id, toTop) {
      if (!list || !id) return;
      const job = listJobs.get(id);
      if (job) { job.toTop = job.toTop || toTop; return; }
      const j = { toTop };
      listJobs.set(id, j);
      setTimeout(async () => {
        listJobs.delete(id);
        const qs = new URLSearchParams(filters);
        if (convId) qs.set("active", convId);
        let frag;
        try { frag = await fragment(`/inbox/conversations/${id}/fragment?${qs}`); } catch (_) { return; }
        const old = list.querySelector(`[data-testid="conversation"][data-id="${id}"]`);
        const node = frag && frag.firstElementChild;
        if (!node) {
          if (old) old.remove();
          if (id === convId && !frag) SB.toast("This conversation is no longer yours: it was assigned to someone else.");
          return;
        }
        localTimes(node);
        if (old && !j.toTop) old.replaceWith(node);
        else {
          if (old) old.remove();
          list.prepend(node);
        }
        const empty = $("#no-conversations");
        if (empty) empty.remove();
        showUnreadInTitle();
      }, 120);
    }

    // The window title counts unread messages, for a tab in the background.
    const baseTitle = document.title.replace(/^\(\d+\) /, "");
    function showUnreadInTitle() {
      const n = $$('[data-testid="unread"]', list).reduce((a, b) => a + (parseInt(b.textContent, 10) || 0), 0);
      document.title = n > 0 ? `(${n}) ${baseTitle}` : baseTitle;
    }
    if (list) showUnreadInTitle();

    // --- the thread
    const msgJobs = new Set();
    function setStatus(id, status) {
      const el = msgs && msgs.querySelector(`[data-testid="message"][data-id="${id}"]`);
      if (el && (RANK[status] ?? 0) >= (RANK[el.dataset.status] ?? 0)) el.dataset.status = status;
    }
    function refreshMessage(id) {
      if (!msgs || !convId || msgJobs.has(id)) return;
      msgJobs.add(id);
      setTimeout(async () => {
        msgJobs.delete(id);
        let frag;
        try { frag = await fragment(`/inbox/${convId}/messages/${id}/fragment`); } catch (_) { return; }
        const node = frag && frag.firstElementChild;
        if (!node) return;
        localTimes(node);
        const old = msgs.querySelector(`[data-testid="message"][data-id="${id}"]`);
        if (old) {
          // A slower, older answer must not undo a newer status.
          if ((RANK[node.dataset.status] ?? 0) < (RANK[old.dataset.status] ?? 0)) return;
          old.replaceWith(node);
          return;
        }
        const stick = nearBottom() || node.dataset.direction === "outbound";
        msgs.appendChild(node);
        const none = $("#no-messages");
        if (none) none.remove();
        if (stick) { stuck = true; toBottom(); }
        if (node.dataset.direction === "inbound") {
          const who = ($("#thread-title") || {}).textContent || "the customer";
          const text = ($(".bubble", node) || node).textContent.replace(/\s+/g, " ").trim();
          announce(`New message from ${who}: ${text}`);
        }
      }, 30);
    }

    // --- read receipts
    let readTimer = null;
    function markReadSoon() {
      if (!convId) return;
      clearTimeout(readTimer);
      readTimer = setTimeout(() => {
        if (document.visibilityState !== "visible") return;
        SB.api("POST", `/api/conversations/${convId}/read`).catch(() => {});
      }, 300);
    }
    if (convId && Number(root.dataset.unread) > 0) markReadSoon();
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "visible" || !convId || !list) return;
      const badge = list.querySelector(`[data-id="${convId}"] [data-testid="unread"]`);
      if (badge && badge.textContent.trim() !== "" && badge.textContent.trim() !== "0") markReadSoon();
    });

    // --- notes
    function addNote(n) {
      const ol = $("#notes");
      if (!ol || !n || !n.id || ol.querySelector(`[data-id="${n.id}"]`)) return;
      const li = document.createElement("li");
      li.dataset.id = n.id;
      const p = document.createElement("p");
      p.textContent = n.body;
      const small = document.createElement("small");
      small.textContent = `${n.authorName || "Someone"} · `;
      const t = document.createElement("time");
      t.setAttribute("datetime", n.createdAt);
      small.appendChild(t);
      li.append(p, small);
      ol.appendChild(li);
      localTimes(li);
    }
    document.addEventListener("inbox-note", (e) => addNote(e.detail));

    // --- live events
    SB.events({
      "message.created": (d) => {
        refreshConversation(d.conversationId, true);
        if (d.conversationId === convId) {
          refreshMessage(d.id);
          // A reaction also shows under the message it reacts to.
          if (d.type === "reaction" && d.replyToId && msgs && msgs.querySelector(`[data-id="${d.replyToId}"]`)) refreshMessage(d.replyToId);
          if (d.direction === "inbound") markReadSoon();
        }
      },
      "message.status": (d) => {
        if (d.conversationId === convId) {
          setStatus(d.messageId, norm(d.status));
          refreshMessage(d.messageId);
        }
      },
      "message.media": (d) => {
        if (msgs && msgs.querySelector(`[data-id="${d.messageId}"]`)) refreshMessage(d.messageId);
      },
      "conversation.updated": (d) => {
        const id = d.id || d.conversationId;
        refreshConversation(id, false);
        const badge = $('[data-testid="conversation-status"]');
        if (id === convId && d.status && badge && badge.textContent.trim() !== d.status) {
          badge.textContent = d.status;
          badge.className = `status status-${d.status}`;
        }
      },
      "note.created": (d) => { if (d.conversationId === convId) addNote(d); },
    });

    // --- earlier messages, keeping the reader's place
    const older = $("#load-older");
    if (older) {
      older.addEventListener("click", async () => {
        older.disabled = true;
        try {
          const res = await fetch(`/inbox/${convId}/messages/fragment?before=${encodeURIComponent(older.dataset.cursor)}`, {
            credentials: "same-origin", headers: { Accept: "text/html" },
          });
          if (!res.ok) throw new Error(`earlier messages: ${res.status}`);
          const tpl = document.createElement("template");
          tpl.innerHTML = (await res.text()).trim();
          localTimes(tpl.content);
          const before = scroller.scrollHeight - scroller.scrollTop;
          stuck = false;
          // Skip bubbles already shown (a message arriving between the pages).
          $$('[data-testid="message"]', tpl.content).forEach((n) => {
            if (msgs.querySelector(`[data-testid="message"][data-id="${n.dataset.id}"]`)) n.remove();
          });
          msgs.prepend(tpl.content);
          scroller.scrollTop = scroller.scrollHeight - before;
          const next = res.headers.get("x-next-cursor");
          if (next) older.dataset.cursor = next; else older.closest("p").remove();
        } catch (err) {
          SB.toast(err.message || String(err), "error");
        } finally {
          older.disabled = false;
        }
      });
    }

    // --- document previews, loaded on demand (an embedded PDF viewer takes the focus and scrolls)
    document.addEventListener("click", (e) => {
      const b = e.target.closest(".doc-preview-btn");
      if (!b) return;
      const bubble = b.closest(".bubble");
      const open = $(".doc-preview", bubble);
      if (open) {
        open.remove();
        b.setAttribute("aria-expanded", "false");
        b.textContent = "Preview";
        return;
      }
      const o = document.createElement(b.dataset.mime === "application/pdf" ? "object" : "iframe");
      o.className = "doc-preview";
      if (o.tagName === "OBJECT") { o.data = b.dataset.preview; o.type = b.dataset.mime; } else { o.src = b.dataset.preview; }
      o.setAttribute("aria-label", "Preview of the document");
      $(".doc", bubble).after(o);
      b.setAttribute("aria-expanded", "true");
      b.textContent = "Hide preview";
    });

    // --- the panel on small screens
    document.addEventListener("click", (e) => {
      const t = e.target.closest(".panel-toggle");
      if (!t) return;
      const panel = $("#panel");
      if (!panel) return;
      const open = panel.classList.toggle("open");
      $$(".panel-toggle").forEach((b) => b.setAttribute("aria-expanded", String(open)));
      if (open) { const f = $("input, textarea, button", panel); if (f) f.focus(); }
    });
    document.addEventListener("keydown", (e) => {
      const panel = $("#panel");
      if (e.key === "Escape" && panel && panel.classList.contains("open")) {
        panel.classList.remove("open");
        $$(".panel-toggle").forEach((b) => b.setAttribute("aria-expanded", "false"));
        const t = $(".thread-head .panel-toggle");
        if (t) t.focus();
      }
    });

    if (convId) {
      initComposer(convId, refreshMessage);
      initTemplates(convId, refreshMessage);
      initContact();
    }
  }

  function kindOf(mime) {
    if (/^image\/(jpeg|png)$/.test(mime)) return "image";
    if (mime === "image/webp") return "sticker";
    if (mime.startsWith("video/")) return "video";
    if (mime.startsWith("audio/")) return "audio";
    return "document";
  }

  function initComposer(convId, refreshMessage) {
    const form = $("#composer");
    const text = $("#composer-text");
    const fileInput = $("#composer-file");
    const preview = $("#attach-preview");
    const send = $('[data-testid="send"]', form);
    const canned = $("#canned");
    if (!form || !text) return;
    let file = null;

    const showAttachment = () => {
      preview.hidden = !file;
      preview.textContent = "";
      if (!file) return;
      const name = document.createElement("span");
      name.textContent = `📎 ${file.name} (${Math.ceil(file.size / 1024)} KB)`;
      const rm = document.createElement("button");
      rm.type = "button";
      rm.className = "link";
      rm.textContent = "Remove";
      rm.setAttribute("aria-label", `Remove the attachment ${file.name}`);
      rm.addEventListener("click", () => { file = null; fileInput.value = ""; showAttachment(); text.focus(); });
      preview.append(name, " ", rm);
    };
    if (fileInput) fileInput.addEventListener("change", () => { file = fileInput.files[0] || null; showAttachment(); text.focus(); });

    const expandShortcut = () => {
      const m = text.value.match(/^\/([a-z0-9_-]+)$/);
      if (!m || !canned) return false;
      const opt = $(`option[data-shortcut="${CSS.escape(m[1])}"]`, canned);
      if (!opt) return false;
      text.value = opt.value;
      return true;
    };
    if (canned) {
      canned.addEventListener("change", () => {
        if (!canned.value) return;
        const s = text.selectionStart ?? text.value.length;
        text.value = text.value.slice(0, s) + canned.value + text.value.slice(text.selectionEnd ?? s);
        canned.value = "";
        text.focus();
      });
    }
    text.addEventListener("keydown", (e) => {
      if (e.key === "Tab" && !e.shiftKey && expandShortcut()) { e.preventDefault(); return; }
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
    });

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (expandShortcut()) return;
      const body = text.value.trim();
      if (!body && !file) { text.focus(); return; }
      send.disabled = true;
      try {
        let payload;
        if (file) {
          const fd = new FormData();
          fd.append("file", file, file.name);
          const up = await SB.api("POST", "/api/media", fd);
          const kind = kindOf(up.mimeType);
          const part = { localMediaId: up.id };
          if (body && kind !== "audio" && kind !== "sticker") part.caption = body;
          if (kind === "document") part.filename = up.filename || file.name;
          payload = { type: kind, [kind]: part };
        } else {
          payload = { type: "text", text: { body } };
        }
        payload.clientMessageId = uuid();
        const m = await SB.api("POST", `/api/conversations/${convId}/messages`, payload);
        text.value = "";
        file = null;
        if (fileInput) fileInput.value = "";
        showAttachment();
        if (m && m.id) refreshMessage(m.id);
      } catch (err) {
        SB.toast(err.message || String(err), "error");
      } finally {
        send.disabled = false;
        text.focus();
      }
    });
  }

  function initTemplates(convId, refreshMessage) {
    const toggle = $("#template-toggle");
    const form = $("#template-form");
    const select = $("#template-select");
    const vars = $("#template-vars");
    const out = $("#template-preview");
    if (toggle && form) {
      toggle.addEventListener("click", () => {
        form.hidden = !form.hidden;
        toggle.setAttribute("aria-expanded", String(!form.hidden));
        if (!form.hidden && select) select.focus();
      });
    }
    if (!form || !select) return;
    let spec = null;
    const render = () => {
      if (!spec) { out.hidden = true; return; }
      let t = spec.text || "";
      $$("input[data-var]", vars).forEach((i) => {
        if (i.value.trim()) t = t.split(`{{${i.dataset.var}}}`).join(i.value.trim());
      });
      out.textContent = t;
      out.hidden = !t;
    };
    const field = (label, key, placeholder) => {
      const l = document.createElement("label");
      l.textContent = label + " ";
      const i = document.createElement("input");
      i.dataset.var = key;
      i.name = `parameters.${key}`;
      i.required = true;
      if (placeholder) i.placeholder = placeholder;
      i.addEventListener("input", render);
      l.appendChild(i);
      vars.appendChild(l);
    };
    select.addEventListener("change", () => {
      vars.textContent = "";
      const opt = select.selectedOptions[0];
      spec = opt && opt.dataset.spec ? JSON.parse(opt.dataset.spec) : null;
      if (spec) {
        if (spec.header === "text") field("Header variable", "header");
        else if (spec.header) field(`Header ${spec.header} (link)`, "header", "https://…");
        (spec.body || []).forEach((k) => field(`Variable {{${k}}}`, k));
      }
      render();
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!spec) { select.focus(); return; }
      const parameters = {};
      for (const i of $$("input[data-var]", vars)) {
        if (!i.value.trim()) { i.setAttribute("aria-invalid", "true"); i.focus(); return; }
        i.removeAttribute("aria-invalid");
        parameters[i.dataset.var] = i.value.trim();
      }
      const btn = $('[type="submit"]', form);
      btn.disabled = true;
      try {
        const m = await SB.api("POST", `/api/conversations/${convId}/messages`, {
          type: "template",
          template: { name: spec.name, language: spec.language, parameters },
          clientMessageId: uuid(),
        });
        select.value = "";
        vars.textContent = "";
        spec = null;
        render();
        if (m && m.id) refreshMessage(m.id);
        SB.toast("Template sent");
      } catch (err) {
        SB.toast(err.message || String(err), "error");
      } finally {
        btn.disabled = false;
      }
    });
  }

  function initContact() {
    const form = $("#contact-form");
    if (!form) return;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const attributes = {};
      const bad = [];
      form.elements.attributes.value.split("\n").forEach((line) => {
        if (!line.trim()) return;
        const i = line.indexOf(":");
        if (i < 1) { bad.push(line); return; }
        attributes[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      });
      if (bad.length) {
        form.elements.attributes.setAttribute("aria-invalid", "true");
        SB.toast(`Attributes must be "key: value" lines (not "${bad[0]}")`, "error");
        return;
      }
      form.elements.attributes.removeAttribute("aria-invalid");
      const body = {
        name: form.elements.name.value.trim() || null,
        tags: form.elements.tags.value.split(",").map((s) => s.trim()).filter(Boolean),
        attributes,
        optedOut: form.elements.optedOut.checked,
      };
      const btn = $('[type="submit"]', form);
      btn.disabled = true;
      try {
        await SB.api("PATCH", `/api/contacts/${form.dataset.contact}`, body);
        SB.toast("Contact saved");
      } catch (err) {
        SB.toast(err.message || String(err), "error");
      } finally {
        btn.disabled = false;
      }
    });
  }

  // ---------------------------------------------------------------------------------- sandbox

  /** A small generated PNG, so the simulated customer can send an image without a file. */
  function samplePng(label) {
    const c = document.createElement("canvas");
    c.width = 320;
    c.height = 200;
    const g = c.getContext("2d");
    const grad = g.createLinearGradient(0, 0, 320, 200);
    grad.addColorStop(0, "#0f766e");
    grad.addColorStop(1, "#facc15");
    g.fillStyle = grad;
    g.fillRect(0, 0, 320, 200);
    g.fillStyle = "#fff";
    g.font = "bold 22px sans-serif";
    g.fillText(label, 20, 105);
    return c.toDataURL("image/png").split(",")[1];
  }

  const SAMPLES = {
    document: ["text/plain", "sample.txt", () => btoa("A sample document from the sandbox customer.\n")],
    audio: ["audio/ogg", null, null],
    video: ["video/mp4", null, null],
    sticker: ["image/webp", null, null],
  };

  function fileBase64(file) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(String(r.result).split(",")[1]);
      r.onerror = () => reject(r.error);
      r.readAsDataURL(file);
    });
  }

  function initSandbox(root) {
    const form = $("#sim-form");
    const thread = $("#sim-thread");
    localTimes(document);
    if (!form || !thread) return;
    const el = form.elements;
    const kindSel = $("#sim-kind");
    const caption = $("#sim-text-caption");

    const showExtras = () => {
      const k = kindSel.value;
      $$(".sim-extra", form).forEach((x) => { x.hidden = !x.dataset.for.split(" ").includes(k); });
      const textUsed = ["text", "image", "video", "document"].includes(k);
      $("#sim-text-label").hidden = !textUsed;
      caption.textContent = k === "text" ? "Text" : "Caption (optional)";
    };
    kindSel.addEventListener("change", showExtras);
    showExtras();

    const params = () => `account=${encodeURIComponent(el.account.value)}&from=${encodeURIComponent(el.from.value.trim())}`;
    let refreshing = null;
    async function refresh() {
      if (refreshing) { refreshing.again = true; return; }
      refreshing = { again: false };
      try {
        const frag = await fragment(`/sandbox/thread?${params()}`);
        if (frag) {
          const stick = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 120;
          thread.textContent = "";
          thread.appendChild(frag);
          localTimes(thread);
          if (stick) thread.scrollTop = thread.scrollHeight;
        }
      } catch (_) { /* the next event or tick retries */ }
      const again = refreshing.again;
      refreshing = null;
      if (again) refresh();
    }
    thread.scrollTop = thread.scrollHeight;
    const keepUrl = () => {
      const u = new URL(location.href);
      u.searchParams.set("account", el.account.value);
      u.searchParams.set("from", el.from.value.trim());
      u.searchParams.set("name", el.name.value.trim());
      history.replaceState(null, "", u);
      $("#sim-who").textContent = el.name.value.trim() || "Customer";
    };
    // Another number has other customers: reload the page for it.
    el.account.addEventListener("change", () => { keepUrl(); location.reload(); });
    el.from.addEventListener("change", () => {
      // A known customer keeps their name.
      const known = $(`#sim-customers option[value="${CSS.escape(el.from.value.trim())}"]`);
      if (known && known.label) el.name.value = known.label;
      keepUrl();
      refresh();
    });
    el.name.addEventListener("change", keepUrl);

    async function send(message) {
      const from = el.from.value.trim().replace(/^\+/, "");
      if (!/^\d{6,20}$/.test(from)) {
        el.from.setAttribute("aria-invalid", "true");
        SB.toast("The customer's number must be 6 to 20 digits", "error");
        el.from.focus();
        return false;
      }
      el.from.removeAttribute("aria-invalid");
      await SB.api("POST", `/api/whatsapp-accounts/${el.account.value}/sandbox/messages`, {
        from, name: el.name.value.trim() || "Customer", message,
      });
      [300, 1200, 3000].forEach((ms) => setTimeout(refresh, ms));
      return true;
    }

    const lastBusinessWamid = () => {
      const b = $$('[data-from="business"][data-wamid]', thread);
      return b.length ? b[b.length - 1].dataset.wamid : null;
    };

    async function build() {
      const k = kindSel.value;
      const text = el.text.value.trim();
      switch (k) {
        case "text":
          if (!text) { el.text.focus(); throw new Error("Write the customer's message"); }
          return { type: "text", body: text };
        case "image": case "document": case "audio": case "video": case "sticker": {
          const f = el.file.files[0];
          const m = { type: k };
          if (f) {
            if (f.size > 1.5 * 1024 * 1024) throw new Error("Choose a file of at most 1.5 MB");
            m.mime_type = f.type || "application/octet-stream";
            m.data_base64 = await fileBase64(f);
            if (k === "document") m.filename = f.name;
          } else if (k === "image") {
            m.mime_type = "image/png";
            m.data_base64 = samplePng("Sandbox photo");
          } else if (SAMPLES[k][2]) {
            m.mime_type = SAMPLES[k][0];
            m.data_base64 = SAMPLES[k][2]();
            if (SAMPLES[k][1]) m.filename = SAMPLES[k][1];
          }
          if (text && ["image", "video", "document"].includes(k)) m.caption = text;
          if (k === "audio") m.voice = true;
          return m;
        }
        case "location": {
          const lat = Number(el.lat.value), lon = Number(el.lon.value);
          if (!isFinite(lat) || !isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) throw new Error("Latitude and longitude must be numbers");
          const m = { type: "location", latitude: lat, longitude: lon };
          if (el.place.value.trim()) m.name = el.place.value.trim();
          if (el.address.value.trim()) m.address = el.address.value.trim();
          return m;
        }
        case "contacts": {
          const name = el.cname.value.trim() || "Contact";
          const phone = el.cphone.value.trim();
          const card = { name: { formatted_name: name, first_name: name.split(" ")[0] } };
          if (phone) card.phones = [{ phone, type: "CELL" }];
          return { type: "contacts", contacts: [card] };
        }
        case "button_reply":
          return { type: "button_reply", id: el.rid.value.trim() || "yes", title: el.rtitle.value.trim() || "Yes" };
        case "list_reply":
          return { type: "list_reply", id: el.rid.value.trim() || "option-1", title: el.rtitle.value.trim() || "Option 1" };
        case "reaction": {
          const w = lastBusinessWamid();
          if (!w) throw new Error("The business has not sent a message to react to yet");
          return { type: "reaction", message_id: w, emoji: el.emoji.value.trim() };
        }
      }
      throw new Error("Unknown message type");
    }

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const btn = $('[data-testid="sim-send"]', form);
      btn.disabled = true;
      try {
        const message = await build();
        if (await send(message)) {
          el.text.value = "";
          if (el.file) el.file.value = "";
        }
      } catch (err) {
        SB.toast(err.message || String(err), "error");
      } finally {
        btn.disabled = false;
      }
    });
    el.text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
    });

    // Tapping a business message's button or reacting to it.
    thread.addEventListener("click", async (e) => {
      const tap = e.target.closest(".sim-tap");
      const react = e.target.closest(".sim-react");
      try {
        if (tap) {
          const li = tap.closest("[data-wamid]");
          const m = tap.dataset.kind === "button"
            ? { type: "button", payload: tap.dataset.id, text: tap.dataset.title }
            : { type: tap.dataset.kind, id: tap.dataset.id, title: tap.dataset.title };
          await send(li ? { type: "reply", reply_to: li.dataset.wamid, message: m } : m);
        } else if (react) {
          await send({ type: "reaction", message_id: react.dataset.wamid, emoji: "👍" });
        }
      } catch (err) {
        SB.toast(err.message || String(err), "error");
      }
    });

    SB.events({
      "message.created": () => refresh(),
      "message.status": () => refresh(),
      "conversation.updated": () => refresh(),
    });
    // A fallback when no event arrives (e.g. the stream reconnecting).
    setInterval(() => { if (document.visibilityState === "visible") refresh(); }, 10000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const inbox = $("#inbox");
    if (inbox) initInbox(inbox);
    const sandbox = $("#sandbox");
    if (sandbox) initSandbox(sandbox);
  });
})();
