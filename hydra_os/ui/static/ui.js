// Mission Control: progressive enhancement only. The live feed (EventSource), and the approvals
// list reloading itself when an approval changes. Every page works without this file.
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

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("feed");
    if (list) { feed(list); }
    var box = document.getElementById("approvals");
    if (box) { approvals(box); }
  });
})();
