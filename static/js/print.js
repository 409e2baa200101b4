// A Print button (data-print) opens the browser's print dialog. A file, not an
// inline handler: the Content-Security-Policy refuses inline script.
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) {
    event.preventDefault();
    window.print();
  }
});
