// The monthly report's Print button (an inline handler would break the content security policy).
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-print]") : null;
  if (button) window.print();
});
