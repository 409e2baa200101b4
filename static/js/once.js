// Forms marked data-once submit once: the button is disabled on the first
// submit, so a double click or a double tap cannot send the form twice.
// (The server also saves a refill only once per form token.)
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.matches("form[data-once]")) return;
  if (form.dataset.submitted === "true") {
    event.preventDefault();
    return;
  }
  form.dataset.submitted = "true";
  form.querySelectorAll("[type=submit]").forEach(function (button) {
    window.setTimeout(function () { button.disabled = true; }, 0);
    button.setAttribute("aria-busy", "true");
  });
});
