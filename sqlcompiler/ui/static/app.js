// The workbench's only script (the Content-Security-Policy allows no inline script).
// A choice in a step-by-step form updates the page in place: the form's GET is fetched and the
// page's content replaced, the URL kept in step and the focus left on the same field, so a
// keyboard user choosing with the arrow keys is not sent back to the top of a reloaded page
// (WCAG 2.1 SC 3.2.2). Without this script a "Next" button submits the form.
document.addEventListener("change", async (event) => {
  const el = event.target;
  if (!(el instanceof HTMLSelectElement) || !el.hasAttribute("data-autosubmit") || !el.form) {
    return;
  }
  const form = el.form;
  const url = new URL(form.action, window.location.href);
  url.search = new URLSearchParams(new FormData(form)).toString();
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
  } catch (error) {
    form.submit();
    return;
  }
  if (!response.ok || response.redirected) {
    window.location.assign(response.url || url.toString());
    return;
  }
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const main = page.getElementById("main");
  const here = document.getElementById("main");
  if (!main || !here) {
    window.location.assign(url.toString());
    return;
  }
  here.replaceChildren(...Array.from(main.childNodes, (n) => document.importNode(n, true)));
  tidy();
  window.history.replaceState(null, "", url.toString());
  const again = here.querySelector(`select[name="${CSS.escape(el.name)}"]`);
  if (again) again.focus();
  const status = document.getElementById("step-status");
  if (status) status.textContent = status.dataset.updated || "Updated: the next step is below.";
});

// The step-by-step form's "Next" button is for pages without this script; a table wider than
// a small screen scrolls inside itself (app.css), so it takes the focus to be scrolled by keys.
function tidy() {
  document.querySelectorAll("[data-without-script]").forEach((n) => n.remove());
  document.querySelectorAll("table").forEach((t) => {
    if (t.scrollWidth > t.clientWidth && !t.hasAttribute("tabindex")) t.tabIndex = 0;
  });
}
document.addEventListener("DOMContentLoaded", tidy);
window.addEventListener("resize", tidy);
