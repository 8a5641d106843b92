// Search as you type, on the search page. Without this script the form submits as
// usual; with it, the results follow the search box while the reader types.
//
// The results are the search page itself, fetched for the address the form would
// submit to: the node serves that page from its page cache when it has it, and the
// address put in the location bar (history.replaceState) is the very page shown, so
// a reload or a shared link shows the same results. Only the results region is
// replaced: the search box keeps the focus and what is typed in it, and the result
// count (a status region) is updated in place so screen readers announce it.
(function () {
  "use strict";
  var WAIT_MS = 250;
  var form = document.querySelector("form[data-live-search]");
  var region = document.getElementById("results");
  var status = document.getElementById("results-status");
  var able = window.fetch && window.DOMParser && window.URLSearchParams && region && region.replaceChildren;
  if (!form || !status || !able) {
    return;
  }
  var input = form.querySelector("input[name=q]");
  var timer = null;
  var inFlight = null;
  var shown = addressOf();

  function addressOf() {
    var query = new URLSearchParams(new FormData(form)).toString();
    return form.getAttribute("action") + (query ? "?" + query : "");
  }

  function show(address) {
    if (inFlight) inFlight.abort();
    var controller = window.AbortController ? new AbortController() : null;
    inFlight = controller;
    region.setAttribute("aria-busy", "true");
    fetch(address, {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        // Anything but a page of results (an error, a redirect elsewhere): leave the
        // page as it is; submitting the form still works.
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        if (address !== addressOf()) return; // typed on meanwhile
        var page = new DOMParser().parseFromString(html, "text/html");
        var results = page.getElementById("results");
        var count = page.getElementById("results-status");
        if (!results || !count) return;
        region.replaceChildren.apply(region, Array.prototype.slice.call(results.childNodes));
        status.textContent = count.textContent;
        var heading = page.querySelector("h1");
        var ours = document.querySelector("h1");
        if (heading && ours) ours.textContent = heading.textContent;
        document.title = page.title;
        history.replaceState(history.state, "", address);
        shown = address;
      })
      .catch(function () {})
      .then(function () {
        if (inFlight === controller) {
          inFlight = null;
          region.removeAttribute("aria-busy");
        }
      });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var address = addressOf();
      if (address !== shown) show(address);
    }, WAIT_MS);
  });
  // Enter submits the form as it always does: a pending update is not needed then.
  form.addEventListener("submit", function () {
    clearTimeout(timer);
    if (inFlight) inFlight.abort();
  });
})();
