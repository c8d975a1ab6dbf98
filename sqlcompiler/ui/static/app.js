// The workbench's only script (the Content-Security-Policy allows no inline script): a choice in
// a step-by-step form reloads the form with that choice.
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el instanceof HTMLSelectElement && el.hasAttribute("data-autosubmit") && el.form) {
    el.form.submit();
  }
});
