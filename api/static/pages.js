// Progressive enhancements of the assistd pages; every page works without them.
(function () {
  "use strict";

  // fold mirrors storage.Fold: lower case, no accents, punctuation as spaces.
  function fold(s) {
    return s.normalize("NFD").replace(/\p{Mn}/gu, "").toLowerCase().replace(/[^\p{L}\p{N}]+/gu, " ").trim();
  }

  // Live filtering of the subject list as the customer types, like the server's search:
  // every word typed must start a word of the subject.
  function subjectFilter(input) {
    var list = document.getElementById(input.getAttribute("data-filter"));
    var count = document.getElementById("subject-count");
    var empty = document.getElementById("subject-empty");
    if (!list) { return; }
    var items = Array.prototype.slice.call(list.querySelectorAll("li[data-search]"));
    var words = items.map(function (li) { return li.getAttribute("data-search").split(" "); });
    var timer;
    function apply() {
      var terms = fold(input.value).split(" ").filter(Boolean);
      var shown = 0;
      items.forEach(function (li, i) {
        var ok = terms.every(function (t) {
          return words[i].some(function (w) { return w.indexOf(t) === 0; });
        });
        li.hidden = !ok;
        if (ok) { shown++; }
      });
      if (empty) { empty.hidden = shown > 0; }
      if (count) {
        count.textContent = shown === 1 ? count.getAttribute("data-count-one") : count.getAttribute("data-count-many").replace("%d", String(shown));
      }
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(apply, 120);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("input[data-filter]"), subjectFilter);

    // Bring the error summary to the keyboard and screen reader at once.
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }

    // A saved reply, already filled for the ticket, goes into the answer box where the member
    // still edits it; without the script the chooser reloads the page with the box filled.
    Array.prototype.forEach.call(document.querySelectorAll("select[data-insert-into]"), function (select) {
      var box = document.getElementById(select.getAttribute("data-insert-into"));
      if (!box || !select.form) { return; }
      select.form.addEventListener("submit", function (event) {
        var option = select.options[select.selectedIndex];
        if (!option) { return; }
        event.preventDefault();
        box.value = option.getAttribute("data-body");
        box.focus();
      });
    });

    // One click sends a form once; the server also ignores a repeated request.
    Array.prototype.forEach.call(document.querySelectorAll("form[method=post]"), function (form) {
      form.addEventListener("submit", function () {
        var button = form.querySelector("button[type=submit]");
        if (button) { setTimeout(function () { button.disabled = true; }, 0); }
      });
    });
  });
})();
