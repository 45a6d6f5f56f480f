// KPI scheme editor: add and remove indicator rows, show only the parameters a metric
// takes, and keep a live sum of the weights (#weight-total) with a message unless it is 100.
// Without JavaScript the form still works: existing rows and one spare row are editable,
// and a "remove" box per row drops it on save.
(function () {
  'use strict';
  var form = document.getElementById('scheme-form');
  if (!form) return;
  var rows = document.getElementById('indicator-rows');
  var template = document.getElementById('indicator-row-template');
  var addButton = document.getElementById('add-row');
  var total = document.getElementById('weight-total');
  var status = document.getElementById('weight-status');
  var message = document.getElementById('weight-message');
  var metrics = {};
  JSON.parse(form.dataset.metrics || '[]').forEach(function (metric) {
    metrics[metric.name] = metric.parameters;
  });
  var locale = document.documentElement.lang || undefined;

  function nextIndex() {
    var highest = -1;
    rows.querySelectorAll('fieldset.indicator').forEach(function (row) {
      highest = Math.max(highest, parseInt(row.dataset.index, 10));
    });
    return highest + 1;
  }

  // Parameters a metric does not take are hidden and disabled (so they are not sent).
  function showParameters(row) {
    var select = row.querySelector('select.metric');
    var taken = metrics[select.value] || [];
    row.querySelectorAll('.param').forEach(function (field) {
      var applies = taken.indexOf(field.dataset.param) !== -1;
      var input = field.querySelector('input');
      var hasError = input.getAttribute('aria-invalid') === 'true';
      field.hidden = !applies && !hasError;
      input.disabled = !applies && !hasError;
    });
  }

  function parseNumber(text) {
    var value = Number(String(text).trim().replace(',', '.'));
    return isFinite(value) ? value : NaN;
  }

  function updateTotal() {
    var sum = 0;
    var invalid = false;
    rows.querySelectorAll('fieldset.indicator').forEach(function (row) {
      var weight = row.querySelector('input.weight').value.trim();
      if (weight === '') return;
      var value = parseNumber(weight);
      if (isNaN(value)) invalid = true; else sum += value;
    });
    sum = Math.round(sum * 10000) / 10000;
    total.textContent = invalid ? '?' : new Intl.NumberFormat(locale).format(sum);
    var ok = !invalid && sum === 100;
    status.classList.toggle('ok', ok);
    status.classList.toggle('bad', !ok);
    message.hidden = ok;
    message.textContent = invalid ? message.dataset.invalid
      : (message.dataset.template || '').replace('%(total)s', total.textContent);
  }

  function renumber() {
    var visible = rows.querySelectorAll('fieldset.indicator');
    visible.forEach(function (row, position) {
      row.querySelectorAll('.row-number').forEach(function (span) {
        span.textContent = String(position + 1);
      });
      row.querySelector('.remove-row').hidden = visible.length < 2;
    });
  }

  function wire(row) {
    var select = row.querySelector('select.metric');
    select.addEventListener('change', function () { showParameters(row); });
    showParameters(row);
    var remove = row.querySelector('.remove-row');
    remove.addEventListener('click', function () {
      var next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumber();
      updateTotal();
      if (next) next.querySelector('select.metric').focus(); else addButton.focus();
    });
  }

  function addRow() {
    var index = String(nextIndex());
    var html = template.innerHTML.replace(/__i__/g, index).replace(/__n__/g, '');
    var holder = document.createElement('div');
    holder.innerHTML = html.trim();
    var row = holder.firstElementChild;
    rows.appendChild(row);
    wire(row);
    renumber();
    updateTotal();
    row.querySelector('select.metric').focus();
  }

  rows.querySelectorAll('fieldset.indicator').forEach(wire);
  rows.addEventListener('input', function (event) {
    if (event.target.classList.contains('weight')) updateTotal();
  });
  addButton.hidden = false;
  addButton.addEventListener('click', addRow);
  renumber();
  updateTotal();
})();
