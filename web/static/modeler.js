// Designer pages: bpmn-js with XML embedded in the page (never fetched from elsewhere).
//  - #modeler: the Modeler (bpmn-modeler.js), "Deploy as new version" posting the XML as JSON
//    to the server with the session's CSRF token; problems are listed and marked on the canvas.
//  - .diagram[data-xml-source]: a read-only drawing of an upload that was refused, with the
//    offending elements marked; links .problem-element select and zoom to their element.
(function () {
  'use strict';

  function readJson(id, fallback) {
    const node = document.getElementById(id);
    if (!node) return fallback;
    try { return JSON.parse(node.textContent); } catch (err) { return fallback; }
  }

  function fill(template, values) {
    return String(template || '').replace(/\{(\w+)\}/g, (all, name) =>
      (values && values[name] !== undefined && values[name] !== null) ? String(values[name]) : all);
  }

  // The drawn element for a problem's id: the element itself, or the pool of a process id.
  function findElement(registry, id) {
    if (!id) return null;
    const direct = registry.get(id);
    if (direct) return direct;
    return registry.find((element) => {
      const bo = element.businessObject;
      return bo && bo.processRef && bo.processRef.id === id;
    }) || null;
  }

  function boundsOf(element) {
    if (element.waypoints && element.waypoints.length) {
      const xs = element.waypoints.map((p) => p.x);
      const ys = element.waypoints.map((p) => p.y);
      const x = Math.min(...xs); const y = Math.min(...ys);
      return { x, y, width: Math.max(...xs) - x, height: Math.max(...ys) - y };
    }
    return { x: element.x, y: element.y, width: element.width || 0, height: element.height || 0 };
  }

  // Centre the view on an element, at a zoom that still shows its neighbourhood.
  function zoomTo(canvas, element) {
    const box = boundsOf(element);
    const width = Math.max(box.width + 240, 700);
    const height = Math.max(box.height + 200, 420);
    canvas.viewbox({ x: box.x + box.width / 2 - width / 2, y: box.y + box.height / 2 - height / 2,
      width, height });
  }

  function markAll(canvas, registry, ids, marker) {
    const marked = [];
    (ids || []).forEach((id) => {
      const element = findElement(registry, id);
      if (element && !marked.includes(element.id)) {
        canvas.addMarker(element.id, marker);
        marked.push(element.id);
      }
    });
    return marked;
  }

  // Focus one element: select it when the tool can (modeler), otherwise mark it; zoom to it.
  function focusElement(bpmn, id, state) {
    const canvas = bpmn.get('canvas');
    const element = findElement(bpmn.get('elementRegistry'), id);
    if (!element) return false;
    if (state.focused && state.focused !== element.id) {
      try { canvas.removeMarker(state.focused, 'focused'); } catch (err) { /* gone */ }
    }
    canvas.addMarker(element.id, 'focused');
    state.focused = element.id;
    try { bpmn.get('selection').select(element); } catch (err) { /* viewer: no selection */ }
    zoomTo(canvas, element);
    return true;
  }

  // ---- a refused upload, drawn read-only --------------------------------------------
  async function renderUpload(container) {
    const xml = readJson(container.dataset.xmlSource, null);
    if (!xml) return;
    const viewer = new BpmnJS({ container });
    try {
      await viewer.importXML(xml);
    } catch (err) {
      container.classList.add('unavailable');
      container.setAttribute('role', 'note');
      container.textContent = container.dataset.failed || 'Diagram unavailable';
      return;
    }
    const canvas = viewer.get('canvas');
    const problems = JSON.parse(container.dataset.problems || '[]');
    markAll(canvas, viewer.get('elementRegistry'), problems, 'problem');
    canvas.zoom('fit-viewport');
    container.dataset.rendered = 'true';
    const state = {};
    const status = document.getElementById('diagram-focus-status');
    document.querySelectorAll('.problem-element[data-element-id]').forEach((link) => {
      link.addEventListener('click', (event) => {
        event.preventDefault();
        const id = link.dataset.elementId;
        const found = focusElement(viewer, id, state);
        container.scrollIntoView({ block: 'nearest' });
        container.focus({ preventScroll: true });
        if (status) status.textContent = found ? id : '';
      });
    });
  }

  // ---- the modeler ------------------------------------------------------------------
  async function startModeler(container) {
    const messages = readJson('modeler-messages', {});
    const modeler = new BpmnJS({ container });
    const result = document.getElementById('deploy-result');
    const deployButton = document.getElementById('deploy-button');
    const state = { problems: [] };

    function say(text, kind) {
      result.className = kind ? 'result ' + kind : 'result';
      result.dataset.state = kind || '';
      result.textContent = text;
    }

    function clearProblems() {
      const canvas = modeler.get('canvas');
      state.problems.forEach((id) => { try { canvas.removeMarker(id, 'problem'); } catch (err) { /* gone */ } });
      if (state.focused) { try { canvas.removeMarker(state.focused, 'focused'); } catch (err) { /* gone */ } }
      state.problems = []; state.focused = null;
    }

    async function load(xml) {
      await modeler.importXML(xml);
      state.problems = []; state.focused = null;
      modeler.get('canvas').zoom('fit-viewport');
      container.dataset.rendered = 'true';
    }

    function processId() {
      const definitions = modeler.getDefinitions();
      const process = (definitions && definitions.rootElements || []).find((e) => e.$type === 'bpmn:Process');
      return process ? process.id : (container.dataset.key || '');
    }

    function showProblems(errors) {
      result.className = 'result error';
      result.dataset.state = 'error';
      result.textContent = '';
      const heading = document.createElement('p');
      heading.textContent = messages.not_deployed;
      const list = document.createElement('ol');
      list.className = 'problem-list';
      const canvas = modeler.get('canvas');
      const registry = modeler.get('elementRegistry');
      const ids = [];
      errors.forEach((problem) => {
        const item = document.createElement('li');
        item.dataset.elementId = problem.element_id || '';
        item.dataset.line = problem.line || '';
        item.append(problem.line ? fill(messages.line, { line: problem.line }) : messages.line_unknown, ' · ');
        if (problem.element_id) {
          ids.push(problem.element_id);
          const button = document.createElement('button');
          button.type = 'button';
          button.className = 'link problem-element';
          button.dataset.elementId = problem.element_id;
          button.textContent = problem.element_id;
          button.setAttribute('aria-label', fill(messages.show, { element: problem.element_id }));
          button.addEventListener('click', () => {
            const found = focusElement(modeler, problem.element_id, state);
            if (!found) item.append(' — ' + fill(messages.not_drawn, { element: problem.element_id }));
            else container.scrollIntoView({ block: 'nearest' });
          });
          item.append(button, ' · ');
        }
        item.append(problem.message || '');
        list.append(item);
      });
      state.problems = markAll(canvas, registry, ids, 'problem');
      result.append(heading, list);
    }

    async function deploy() {
      deployButton.disabled = true;
      clearProblems();
      say(messages.deploying, 'busy');
      try {
        const { xml } = await modeler.saveXML({ format: true });
        const key = processId();
        let response;
        try {
          response = await fetch(container.dataset.deployUrl, {
            method: 'POST', credentials: 'same-origin',
            headers: { 'Content-Type': 'application/json', Accept: 'application/json',
              'X-CSRF-Token': container.dataset.csrfToken },
            body: JSON.stringify({ key, xml }),
          });
        } catch (err) {
          say(fill(messages.network_failed, { error: err.message }), 'error');
          return;
        }
        let body = null;
        if ((response.headers.get('Content-Type') || '').includes('json')) {
          try { body = await response.json(); } catch (err) { body = null; }
        }
        if (body && body.ok) {
          const values = { key: body.key, version: body.version };
          say(fill(body.created ? messages.deployed : messages.unchanged, values), 'ok');
          const link = document.createElement('a');
          link.href = container.dataset.designerUrl;
          link.textContent = messages.open_designer;
          result.append(' ', link);
          container.dataset.key = body.key;
          document.getElementById('modeler-subject').textContent = body.key + ' v' + body.version;
        } else if (body && Array.isArray(body.errors) && response.status === 422) {
          showProblems(body.errors);
        } else {
          say(fill(messages.request_failed, { status: response.status }) +
              (body && body.detail ? ' ' + body.detail : ''), 'error');
        }
      } finally {
        deployButton.disabled = false;
      }
    }

    function download() {
      modeler.saveXML({ format: true }).then(({ xml }) => {
        const link = document.createElement('a');
        link.href = URL.createObjectURL(new Blob([xml], { type: 'application/xml' }));
        link.download = (processId() || 'diagram') + '.bpmn';
        document.body.append(link);
        link.click();
        setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 0);
      });
    }

    // The keyboard-only way to edit: the same diagram as XML text.
    const panel = document.getElementById('xml-panel');
    const editor = document.getElementById('xml-editor');
    const xmlStatus = document.getElementById('xml-status');
    // data-state tells scripts and tests when the editor text and the diagram agree
    // (loaded, applied) and when an update is still under way (loading, applying).
    async function refreshEditor() {
      xmlStatus.dataset.state = 'loading';
      const { xml } = await modeler.saveXML({ format: true });
      editor.value = xml;
      xmlStatus.textContent = messages.xml_loaded;
      xmlStatus.dataset.state = 'loaded';
    }
    if (panel) {
      panel.addEventListener('toggle', () => { if (panel.open) refreshEditor(); });
      document.getElementById('xml-refresh').addEventListener('click', refreshEditor);
      document.getElementById('xml-apply').addEventListener('click', async () => {
        xmlStatus.dataset.state = 'applying';
        try {
          await load(editor.value);
          xmlStatus.textContent = messages.xml_applied;
          xmlStatus.dataset.state = 'applied';
        } catch (err) {
          xmlStatus.textContent = fill(messages.import_failed, { error: err.message });
          xmlStatus.dataset.state = 'failed';
        }
      });
    }

    deployButton.addEventListener('click', deploy);
    document.getElementById('download-button').addEventListener('click', download);
    try {
      await load(readJson('modeler-xml', ''));
    } catch (err) {
      say(fill(messages.import_failed, { error: err.message }), 'error');
    }
  }

  const modelerContainer = document.getElementById('modeler');
  if (modelerContainer) startModeler(modelerContainer);
  document.querySelectorAll('.diagram[data-xml-source]').forEach(renderUpload);
})();
