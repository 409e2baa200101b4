// The patient picker's search as you type (issue 14; web/patient_picker.py).
//
// Without this file the field shows the chosen patient and a link to the
// search page, which works on its own. With it, the text box becomes an ARIA
// combobox: typing asks /patients/find.json (signed-in staff only), the arrow
// keys move through the matches, Enter or a click chooses, Escape closes the
// list and puts back the patient chosen before. Editing the text clears the
// choice, so a half-typed name never leaves an earlier patient chosen unseen.
(function () {
  "use strict";

  var DELAY_MS = 200;

  function setUp(root) {
    var input = root.querySelector("[data-picker-input]");
    var value = root.querySelector("[data-picker-value]");
    var list = root.querySelector("[data-picker-list]");
    var status = root.querySelector("[data-picker-status]");
    var how = root.querySelector("[data-picker-how]");
    var url = root.getAttribute("data-search-url");
    if (!input || !value || !list || !url) return;

    var options = [];
    var active = -1;
    var timer = null;
    var asked = 0;
    var chosenLabel = input.getAttribute("data-chosen-label") || "";
    var chosenId = value.value;

    input.readOnly = false;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);
    input.placeholder = "Type a name, record number, pump serial or birth date";
    if (how) {
      how.textContent =
        "Type at least two letters of a name, or a record number, pump serial or birth date " +
        "(YYYY-MM-DD or DD/MM/YYYY); choose with the arrow keys and Enter.";
    }

    function say(text) {
      if (status) status.textContent = text;
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      options.forEach(function (option, i) {
        var on = i === index;
        option.element.setAttribute("aria-selected", on ? "true" : "false");
        option.element.classList.toggle("active", on);
      });
      active = index;
      if (index >= 0) {
        input.setAttribute("aria-activedescendant", options[index].element.id);
        options[index].element.scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function choose(index) {
      var patient = options[index].patient;
      value.value = String(patient.id);
      input.value = patient.label;
      chosenLabel = patient.label;
      chosenId = value.value;
      close();
      say("Chosen: " + patient.label);
      value.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function show(data) {
      list.textContent = "";
      options = [];
      if (data.problem) {
        close();
        say(data.problem);
        return;
      }
      data.patients.forEach(function (patient, i) {
        var item = document.createElement("li");
        item.id = list.id + "_" + i;
        item.className = "list-group-item list-group-item-action";
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", "false");
        item.setAttribute("data-patient", String(patient.id));
        var name = document.createElement("span");
        name.className = "fw-semibold";
        name.textContent = patient.label;
        var detail = document.createElement("div");
        detail.className = "small text-muted";
        detail.textContent = patient.status + " · " + patient.pump;
        item.appendChild(name);
        item.appendChild(detail);
        // mousedown, not click: it comes before the box loses focus.
        item.addEventListener("mousedown", function (event) {
          event.preventDefault();
          choose(i);
        });
        list.appendChild(item);
        options.push({ element: item, patient: patient });
      });
      if (!options.length) {
        var none = document.createElement("li");
        none.className = "list-group-item text-muted";
        none.textContent = "No patient matches “" + data.query + "”.";
        list.appendChild(none);
      } else if (data.more) {
        var more = document.createElement("li");
        more.className = "list-group-item small text-muted";
        more.textContent = "More match: type more of the name.";
        list.appendChild(more);
      }
      if (data.note) {
        var note = document.createElement("li");
        note.className = "list-group-item small text-muted";
        note.textContent = data.note;
        list.insertBefore(note, list.firstChild);
      }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      highlight(options.length ? 0 : -1);
      say(
        options.length
          ? options.length + (data.more ? " or more" : "") + " patients found; arrow keys to move, Enter to choose."
          : "No patient matches."
      );
    }

    function search() {
      var text = input.value.trim();
      if (!text) {
        close();
        return;
      }
      var ticket = ++asked;
      fetch(url + "?q=" + encodeURIComponent(text), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        redirect: "error",
      })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (data) {
          if (ticket === asked) show(data); // an older answer never replaces a newer one
        })
        .catch(function () {
          if (ticket !== asked) return;
          close();
          say("The search did not answer: use “Find a patient” instead.");
        });
    }

    input.addEventListener("input", function () {
      if (value.value) {
        value.value = ""; // the text no longer names the chosen patient
        say("No patient chosen.");
      }
      window.clearTimeout(timer);
      timer = window.setTimeout(search, DELAY_MS);
    });

    input.addEventListener("keydown", function (event) {
      var open = !list.hidden && options.length;
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (list.hidden && input.value.trim()) {
          search();
        } else if (open) {
          highlight(Math.min(active + 1, options.length - 1));
        }
      } else if (event.key === "ArrowUp") {
        if (open) {
          event.preventDefault();
          highlight(Math.max(active - 1, 0));
        }
      } else if (event.key === "Enter") {
        if (open && active >= 0) {
          event.preventDefault(); // choose, do not submit the form
          choose(active);
        } else if (!value.value && input.value.trim()) {
          event.preventDefault(); // no patient chosen yet: search rather than submit
          search();
        }
      } else if (event.key === "Escape") {
        window.clearTimeout(timer);
        asked++; // an answer still on its way is dropped
        if (!list.hidden) {
          event.preventDefault();
          close();
        }
        if (!value.value && chosenId) {
          event.preventDefault();
          value.value = chosenId;
          input.value = chosenLabel;
          say("Kept: " + chosenLabel);
        }
      }
    });

    input.addEventListener("blur", function () {
      window.setTimeout(close, 150);
    });
  }

  document.querySelectorAll("[data-patient-picker]").forEach(setUp);
})();
