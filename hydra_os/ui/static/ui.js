// Mission Control: progressive enhancement only. The live feed (EventSource), the approvals list
// reloading itself when an approval changes, and Ask's answer growing as the model writes it (fetch +
// a ReadableStream reader; the form posts and shows the whole answer without this file).
"use strict";
(function () {
  function line(ev) {
    var li = document.createElement("li");
    var t = new Date(ev.ts * 1000).toLocaleTimeString();
    var type = document.createElement("span");
    type.className = "type";
    type.textContent = ev.type;
    li.append(t + " " + ev.node + " ", type, ev.summary ? " " + ev.summary : "");
    li.dataset.type = ev.type;
    return li;
  }

  function feed(list) {
    var state = document.getElementById("feed-state");
    var es = new EventSource(list.dataset.stream);
    es.addEventListener("hello", function () { state.textContent = "Live: new events appear at the top."; });
    es.addEventListener("dropped", function (m) {
      state.textContent = JSON.parse(m.data).count + " events were skipped (the page was too slow).";
    });
    es.addEventListener("hydra", function (m) {
      list.prepend(line(JSON.parse(m.data)));
      while (list.children.length > 500) { list.lastElementChild.remove(); }
    });
    es.addEventListener("audit", function (m) {
      var st = JSON.parse(m.data);
      var box = document.getElementById("audit-state");
      var link = box.querySelector("a");
      box.className = st.ok ? "ok" : "broken";
      box.replaceChildren(st.line + " ", link);
    });
    es.onerror = function () { state.textContent = "Disconnected; reconnecting…"; };
  }

  function approvals(box) {
    var es = new EventSource("/ui/feed/stream?type=" + encodeURIComponent(box.dataset.live));
    es.addEventListener("hydra", function () {
      fetch(location.pathname + "?refresh=1", { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("approvals");
        if (fresh) { box.replaceChildren.apply(box, Array.from(fresh.childNodes)); }
      });
    });
  }

  // ---- Ask: POST the form to its stream route, read the server-sent events as they arrive ----------
  function ask(form) {
    var box = document.getElementById("ask-reply");
    var answer = document.getElementById("ask-answer");
    var meta = document.getElementById("ask-meta");
    var error = document.getElementById("ask-error");
    var button = form.querySelector("button[type=submit]");

    function fail(message) {
      error.textContent = message;
      error.hidden = false;
    }

    function done() {
      box.setAttribute("aria-busy", "false");
      button.disabled = false;
    }

    function onEvent(block) {  // one "event: NAME\ndata: JSON" block
      var name = "message", data = "";
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event:") === 0) { name = line.slice(6).trim(); }
        if (line.indexOf("data:") === 0) { data += line.slice(5).trim(); }
      });
      if (!data) { return; }
      var d = JSON.parse(data);
      if (name === "delta") {
        answer.textContent += d.text;
      } else if (name === "reply") {
        answer.textContent = d.reply;
        meta.textContent = d.status + " · " + d.intent + (d.task_id ? " · task " + d.task_id : "");
      } else if (name === "error") {
        fail(d.error.message);
      }
    }

    function read(reader, decoder, rest) {
      return reader.read().then(function (chunk) {
        if (chunk.done) { return; }
        var text = rest + decoder.decode(chunk.value, { stream: true });
        var blocks = text.split("\n\n");
        rest = blocks.pop();
        blocks.forEach(onEvent);
        return read(reader, decoder, rest);
      });
    }

    form.addEventListener("submit", function (e) {
      if (!window.fetch || !window.ReadableStream || !window.TextDecoder) { return; }  // the plain form post
      e.preventDefault();
      error.hidden = true;
      answer.textContent = "";
      meta.textContent = "";
      box.hidden = false;
      box.setAttribute("aria-busy", "true");
      button.disabled = true;
      fetch(form.dataset.stream, { method: "POST", credentials: "same-origin",
                                   body: new URLSearchParams(new FormData(form)) })
        .then(function (r) {
          if (!r.ok) {  // refused before it started: the error page's one line
            return r.text().then(function (html) {
              var alert = new DOMParser().parseFromString(html, "text/html").querySelector("[role=alert]");
              fail(alert ? alert.textContent : "the node answered HTTP " + r.status);
            });
          }
          return read(r.body.getReader(), new TextDecoder(), "");
        })
        .catch(function () { fail("the connection to the node was lost before the answer was complete"); })
        .then(done);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("feed");
    if (list) { feed(list); }
    var box = document.getElementById("approvals");
    if (box) { approvals(box); }
    var askForm = document.getElementById("ask-form");
    if (askForm) { ask(askForm); }
  });
})();
