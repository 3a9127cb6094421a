// git flower web: the small script every page loads (no inline script: the CSP allows none).
// - drops the session token from the address bar once the cookie holds it;
// - sends the CSRF token with every htmx request;
// - turns each change of the flower refs (/events) into a `flower-change` event on <body>,
//   on which each page's live part fetches itself again;
// - follows a log or a merge as server-sent events, inserting what arrives as text.
(function () {
  "use strict";
  var url = new URL(window.location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  var csrf = document.querySelector('meta[name="flower-csrf"]');
  document.body.addEventListener("htmx:configRequest", function (e) {
    if (csrf) { e.detail.headers["X-Flower-CSRF"] = csrf.content; }
  });
  document.body.addEventListener("htmx:beforeRequest", function (e) {
    if (e.detail.requestConfig && e.detail.requestConfig.verb !== "get") {
      var flash = document.getElementById("flash");
      if (flash) { flash.textContent = ""; }
    }
  });

  var state = document.getElementById("live-state");
  // the version of the refs the page shows; a stream that starts (or starts again) at another
  // one means something changed meanwhile
  var version = document.body.getAttribute("data-version") || "";
  function changed() { document.body.dispatchEvent(new CustomEvent("flower-change")); }
  function connect() {
    var es = new EventSource("/events");
    es.addEventListener("hello", function (e) {
      if (state) { state.classList.add("on"); state.classList.remove("off"); }
      if (version !== "" && e.data !== version) { changed(); }
      version = e.data;
    });
    es.addEventListener("change", function (e) {
      version = e.data;
      changed();
    });
    es.onerror = function () {
      if (state) { state.classList.add("off"); state.classList.remove("on"); }
    };
  }
  connect();

  function follow(el, onData, onEnd) {
    var es = new EventSource(el.getAttribute("data-stream"));
    es.addEventListener("log", function (e) { onData(JSON.parse(e.data)); });
    es.addEventListener("progress", function (e) { onData(JSON.parse(e.data)); });
    es.addEventListener("suite", function (e) {
      var pre = document.getElementById("suite-log");
      if (pre) { pre.appendChild(document.createTextNode(JSON.parse(e.data))); }
    });
    es.addEventListener("end", function () { es.close(); if (onEnd) { onEnd(); } });
  }

  var log = document.getElementById("log");
  if (log && log.getAttribute("data-stream")) {
    follow(log, function (text) {
      var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.appendChild(document.createTextNode(text));
      if (atEnd) { log.scrollTop = log.scrollHeight; }
    }, function () { log.classList.add("ended"); });
  }

  function followJob() {
    var job = document.getElementById("job");
    var progress = document.getElementById("progress");
    if (!job || !progress || !job.getAttribute("data-stream")) { return; }
    progress.textContent = "";  // the stream tells every line from the first
    var suite = document.getElementById("suite-log");
    if (suite) { suite.textContent = ""; }
    follow(job, function (line) {
      progress.appendChild(document.createTextNode(line + "\n"));
    }, function () {
      document.body.dispatchEvent(new CustomEvent("flower-merge-end"));
    });
  }
  followJob();
  document.body.addEventListener("htmx:afterSettle", function (e) {
    if (e.target && e.target.id === "live") { followJob(); }
  });
})();
