// Camunda Forms (form-js) on the task and start pages, drawn by bpmn.io's form-js viewer
// (web/vendor/form-viewer.js, served from this origin). The viewer checks the fields as
// the designer asked, so people see mistakes at once; the server checks them again
// (engine/camunda_forms.py) and answers with field errors if anything slipped through.
//
// Sending goes through the page's ordinary POST form (CSRF token, multipart): the values
// travel as JSON in `camunda_form_data`, and the files a file picker holds as parts named
// after its key, as every completion with files does (README "Attachments").
(function () {
  'use strict';

  function json(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function fileKeys(components, out) {
    (components || []).forEach(function (component) {
      if (component.type === 'filepicker' && component.key) { out.push(component.key); }
      fileKeys(component.components, out);
    });
    return out;
  }

  function start(container) {
    var post = document.getElementById(container.dataset.post);
    var schema = json(container.dataset.schema);
    var values = json(container.dataset.values) || {};
    if (!post || !schema || !window.FormViewer) { return; }
    var keys = fileKeys(schema.components, []);
    var viewer = new window.FormViewer.Form({ container: container });
    viewer.importSchema(schema, values).then(function () {
      // A picker for images only opens the phone's camera straight away, as DutyFlow's own
      // file fields do.
      container.querySelectorAll('.fjs-form-field-filepicker input[type="file"][accept]').forEach(function (input) {
        var kinds = input.getAttribute('accept').split(',').map(function (kind) { return kind.trim(); });
        if (kinds.every(function (kind) { return kind.indexOf('image/') === 0; })) {
          input.setAttribute('capture', 'environment');
        }
      });
    }).catch(function (error) {
      container.textContent = container.dataset.broken + ' ' + error.message;
    });

    function send() {
      var result = viewer.submit();
      var invalid = Object.keys(result.errors || {});
      if (invalid.length) {
        var first = container.querySelector('[aria-invalid="true"], .fjs-has-errors input, .fjs-has-errors textarea');
        if (first) { first.focus(); }
        return;
      }
      var data = result.data;
      keys.forEach(function (key) {
        var reference = data[key];
        delete data[key];
        var input = post.querySelector('input[type="file"][name="' + CSS.escape(key) + '"]');
        var chosen = reference && result.files ? result.files.get(reference) : null;
        if (input && chosen && chosen.length) {
          var transfer = new DataTransfer();
          chosen.forEach(function (file) { transfer.items.add(file); });
          input.files = transfer.files;
        }
      });
      post.querySelector('input[name="camunda_form_data"]').value = JSON.stringify(data);
      post.submit();
    }

    post.addEventListener('submit', function (event) {
      event.preventDefault();
      send();
    });
    // Enter in a field submits form-js's own form: send it the same way.
    container.addEventListener('submit', function (event) {
      event.preventDefault();
      send();
    });
  }

  document.querySelectorAll('[data-camunda-form]').forEach(start);
})();
