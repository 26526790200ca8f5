// lowdim /ui: a little vanilla JavaScript over the server's HTML fragments. It only reads:
// every request goes to this server (the page's Content-Security-Policy allows no other),
// and what comes back is HTML the server rendered with every value escaped.
(function () {
  "use strict";

  function show(target, html) { target.classList.remove("busy"); target.innerHTML = html; }
  function fail(target, err) {
    target.classList.remove("busy");
    var p = document.createElement("p");
    p.className = "error";
    p.textContent = "request failed: " + err;
    target.replaceChildren(p);
  }
  function ask(target, url, options) {
    target.classList.add("busy");
    return fetch(url, options || {}).then(function (r) { return r.text(); })
      .then(function (html) { show(target, html); }, function (e) { fail(target, e); });
  }

  // fragments computed on demand (a collection's diagnosis on a sample)
  document.querySelectorAll("[data-fragment]").forEach(function (el) { ask(el, el.dataset.fragment); });

  // copy buttons: the spec (data-copy) or a snippet (data-copy-from: an element's id)
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button.copy");
    if (!b) return;
    var text = b.dataset.copy;
    if (text === undefined) { var src = document.getElementById(b.dataset.copyFrom); text = src ? src.textContent : ""; }
    var done = function () { b.textContent = "copied"; setTimeout(function () { b.textContent = "copy"; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { legacyCopy(text); done(); });
    } else { legacyCopy(text); done(); }
  });
  function legacyCopy(text) {
    var t = document.createElement("textarea");
    t.value = text; document.body.appendChild(t); t.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try offline */ }
    t.remove();
  }

  // side-by-side search
  var form = document.getElementById("compare-form");
  var out = document.getElementById("compare");
  var slider = document.getElementById("rerank");
  var ran = false;
  function compare() {
    var f = new FormData(form);
    var body = { mode: f.get("mode"), query: f.get("query"), k: Number(f.get("k")), rerank: Number(f.get("rerank")), filter: f.get("filter") };
    ran = true;
    return ask(out, form.dataset.url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }
  if (form) {
    form.addEventListener("submit", function (ev) { ev.preventDefault(); compare(); });
    slider.addEventListener("input", function () { document.getElementById("rerank-out").textContent = slider.value; });
    slider.addEventListener("change", function () { if (ran) compare(); });
  }

  // recall probe
  var pform = document.getElementById("probe-form");
  var pout = document.getElementById("probe");
  if (pform) {
    pform.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = new FormData(pform);
      var q = new URLSearchParams({ m: f.get("m"), k: f.get("k"), seed: f.get("seed"), rerank: slider ? slider.value : "0" });
      var url = pform.dataset.url + "?" + q.toString();
      var file = f.get("file");
      if (file && file.size) {
        file.arrayBuffer().then(function (buf) {
          ask(pout, url, { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: buf });
        });
      } else {
        ask(pout, url, { method: "POST" });
      }
    });
    // a worst query, into the side-by-side view
    pout.addEventListener("click", function (ev) {
      var b = ev.target.closest("button.show-query");
      if (!b || !form) return;
      var radio = form.querySelector('input[name=mode][value="' + b.dataset.mode + '"]');
      if (radio) radio.checked = true;
      form.elements.query.value = b.dataset.query;
      compare().then(function () { document.getElementById("search").scrollIntoView(); });
    });
  }

  // plan viewer: the chosen plan.json is posted to this server, which draws it
  var planFile = document.getElementById("plan-file");
  if (planFile) {
    planFile.addEventListener("change", function () {
      var file = planFile.files[0];
      if (!file) return;
      file.text().then(function (text) {
        ask(document.getElementById("plan"), document.getElementById("plan-form").dataset.url,
          { method: "POST", headers: { "Content-Type": "application/json" }, body: text });
      });
    });
  }
})();
