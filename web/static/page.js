// Behaviour every page shares, kept out of the HTML: the Content-Security-Policy allows
// no inline script (web/security_headers.py).
//  - a <select data-autosubmit> submits its form when changed (the language switch);
//  - an element with data-focus-on-load takes the focus (upload problems, for screen readers).
document.querySelectorAll('select[data-autosubmit]').forEach(function (select) {
  select.addEventListener('change', function () { select.form.submit(); });
});
var focusTarget = document.querySelector('[data-focus-on-load]');
if (focusTarget) { focusTarget.focus(); }
