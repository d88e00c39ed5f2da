/*
 * The follow-up list's quick form, made to work on a phone with a bad network.
 *
 * Each entry is given its event id here, kept in localStorage (the outbox) and sent from there: shown
 * "waiting" until the server has stored it, "stored" after. An entry sent twice (a retry after a lost
 * answer) stores one event, since the server knows the id. A small service worker keeps the pages'
 * files and an offline page, so that a reload without network still shows what is waiting.
 */
(function () {
  "use strict";
  var OUTBOX = "peoplelinks.outbox";
  var ENTRIES = "/app/follow-ups/entries";
  var KEEP_STORED_MS = 24 * 3600 * 1000;
  var sending = false;

  function load() {
    try { return JSON.parse(window.localStorage.getItem(OUTBOX) || "[]"); } catch (e) { return []; }
  }
  function save(entries) { window.localStorage.setItem(OUTBOX, JSON.stringify(entries)); }

  function newId() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function token() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function optionText(select, value) {
    if (!select) { return ""; }
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === value) { return select.options[i].textContent.trim(); }
    }
    return "";
  }

  function describe(form, fields) {
    var who = optionText(form.elements.participant_id, fields.participant_id);
    var what = fields.what === "response" ? "Response (" + fields.outcome + ")"
      : fields.what === "meeting" ? "Meeting with " + optionText(form.elements.contact_id, fields.contact_id)
      : "Outreach by " + fields.channel + " to " + optionText(form.elements.contact_id, fields.contact_id);
    return who + ": " + what + ", " + fields.on + " " + fields.at;
  }

  var STATES = { pending: "waiting to be sent", stored: "stored", refused: "refused" };

  function render() {
    var list = document.getElementById("queue");
    var box = document.getElementById("outbox");
    if (!list || !box) { return; }
    var entries = load();
    box.hidden = entries.length === 0;
    list.textContent = "";
    var waiting = 0;
    entries.forEach(function (entry) {
      if (entry.state === "pending") { waiting += 1; }
      var li = document.createElement("li");
      li.setAttribute("data-event-id", entry.id);
      li.setAttribute("data-state", entry.state);
      var state = document.createElement("span");
      state.className = "state " + entry.state;
      state.textContent = STATES[entry.state] || entry.state;
      var text = document.createElement("span");
      text.textContent = entry.label + (entry.problem ? " — " + entry.problem : "");
      li.appendChild(state); li.appendChild(text);
      if (entry.state === "refused") {
        var drop = document.createElement("button");
        drop.type = "button"; drop.className = "quiet"; drop.textContent = "Dismiss";
        drop.addEventListener("click", function () { save(load().filter(function (e) { return e.id !== entry.id; })); render(); });
        li.appendChild(drop);
      }
      list.appendChild(li);
    });
    var status = document.getElementById("outbox-status");
    if (status) {
      status.textContent = waiting === 0 ? "Everything logged on this device is stored."
        : waiting + (waiting === 1 ? " entry is" : " entries are") + " waiting to be sent" + (navigator.onLine ? "." : ": you are offline.");
    }
  }

  function mark(id, state, problem) {
    save(load().map(function (e) { if (e.id === id) { e.state = state; e.problem = problem || null; e.at = Date.now(); } return e; }));
  }

  function send() {
    if (sending || !document.querySelector('meta[name="csrf-token"]')) { return; }
    var next = load().filter(function (e) { return e.state === "pending"; })[0];
    if (!next) { render(); return; }
    sending = true;
    fetch(ENTRIES, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "accept": "application/json", "x-csrftoken": token() },
      body: JSON.stringify(next.fields)
    }).then(function (response) {
      if (response.ok) { mark(next.id, "stored"); return true; }
      if (response.status === 401 || response.status === 429 || response.status >= 500) { return false; }
      return response.json().catch(function () { return {}; }).then(function (problem) {
        var detail = (problem.errors && problem.errors[0]) ? problem.errors[0].field + ": " + problem.errors[0].message : problem.detail;
        mark(next.id, "refused", detail || ("refused (" + response.status + ")"));
        return true;
      });
    }, function () { return false; }).then(function (goOn) {
      sending = false;
      render();
      if (goOn) { send(); }
    });
  }

  function show(form) {
    var what = (form.querySelector('input[name="what"]:checked') || {}).value || "outreach";
    form.querySelectorAll("fieldset[data-for]").forEach(function (fieldset) {
      var shown = fieldset.getAttribute("data-for").split(" ").indexOf(what) >= 0;
      fieldset.hidden = !shown;
      fieldset.disabled = !shown;
    });
  }

  function prefill(form, values) {
    form.elements.follow_up_of.value = "";
    Object.keys(values).forEach(function (name) {
      var field = form.elements[name];
      if (!field) { return; }
      if (field instanceof RadioNodeList) {
        Array.prototype.forEach.call(field, function (radio) { radio.checked = radio.value === values[name]; });
      } else { field.value = values[name]; }
    });
    var note = document.getElementById("follow-up-note");
    if (note) { note.hidden = !form.elements.follow_up_of.value; }
    show(form);
  }

  var form = document.getElementById("entry-form");
  if (form) {
    show(form);
    form.querySelectorAll('input[name="what"]').forEach(function (radio) {
      radio.addEventListener("change", function () { show(form); });
    });
    document.querySelectorAll("a.prefill[data-prefill]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        prefill(form, JSON.parse(link.getAttribute("data-prefill")));
        document.getElementById("log").scrollIntoView();
        form.elements.participant_id.focus();
      });
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var fields = {};
      new FormData(form).forEach(function (value, name) { if (name !== "_csrf_token" && value !== "") { fields[name] = value; } });
      var entries = load();
      if (!entries.some(function (e) { return e.id === fields.event_id; })) {
        entries.push({ id: fields.event_id, fields: fields, label: describe(form, fields), state: "pending", at: Date.now() });
        save(entries);
      }
      // The next entry is another event: a new id, the same participant and day.
      form.elements.event_id.value = newId();
      form.elements.follow_up_of.value = "";
      var note = document.getElementById("follow-up-note");
      if (note) { note.hidden = true; }
      render();
      send();
    });
  }

  // Stored entries are shown for a day, then forgotten; waiting ones stay until stored.
  save(load().filter(function (e) { return e.state !== "stored" || Date.now() - (e.at || 0) < KEEP_STORED_MS; }));
  render();
  send();
  window.addEventListener("online", send);
  window.addEventListener("offline", render);
  window.setInterval(send, 2000);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(function () { /* pages work without it */ });
  }
})();
