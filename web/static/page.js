// Behaviour every page shares, kept out of the HTML: the Content-Security-Policy allows
// no inline script (web/security_headers.py).
//  - a <select data-autosubmit> submits its form when changed (the language switch);
//  - an element with data-focus-on-load takes the focus (upload problems, for screen readers);
//  - a <details data-closed-below="600"> starts closed on screens narrower than that (the
//    task page's diagram on a phone: the form comes first).
document.querySelectorAll('select[data-autosubmit]').forEach(function (select) {
  select.addEventListener('change', function () { select.form.submit(); });
});
var focusTarget = document.querySelector('[data-focus-on-load]');
if (focusTarget) { focusTarget.focus(); }
document.querySelectorAll('details[data-closed-below]').forEach(function (details) {
  if (window.matchMedia('(max-width: ' + (Number(details.dataset.closedBelow) - 1) + 'px)').matches) {
    details.open = false;
  }
});
