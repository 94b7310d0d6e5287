// While a CSV is uploaded and imported (one request, all rows or none), the form shows a
// progress bar and its button is disabled, so a long import is not sent twice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches("form[data-upload]")) return;
  const bar = form.querySelector("progress");
  if (bar) bar.hidden = false;
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
});
