// Render every .diagram element with bpmn-js and mark done / current / problem elements.
(function () {
  async function render(container) {
    const viewer = new BpmnJS({ container });
    const response = await fetch(container.dataset.xmlUrl, { credentials: 'same-origin' });
    if (!response.ok) { container.textContent = container.dataset.failed || 'Diagram unavailable'; return; }
    await viewer.importXML(await response.text());
    const canvas = viewer.get('canvas');
    const registry = viewer.get('elementRegistry');
    const mark = (ids, cls) => JSON.parse(ids || '[]').forEach((id) => {
      if (registry.get(id)) canvas.addMarker(id, cls);
    });
    mark(container.dataset.done, 'done');
    mark(container.dataset.current, 'current');
    mark(container.dataset.problems, 'problem');
    canvas.zoom('fit-viewport');
    // Drawn inside a closed toggle it had no size: fit it again once it is opened.
    const toggle = container.closest('details');
    if (toggle) {
      toggle.addEventListener('toggle', () => {
        if (toggle.open) { canvas.resized(); canvas.zoom('fit-viewport'); }
      });
    }
    container.dataset.rendered = 'true';
  }
  document.querySelectorAll('.diagram[data-xml-url]').forEach(render);
})();
