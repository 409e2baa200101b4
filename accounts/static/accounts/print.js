// Buttons marked data-print print the page (the recovery codes). A static file,
// not an inline handler, so a strict Content-Security-Policy allows it.
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
