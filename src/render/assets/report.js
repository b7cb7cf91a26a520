// Draws the call tree from the JSON view model embedded in the page.
// Names only ever reach the DOM through textContent/setAttribute, never as
// markup. A node's children are built the first time it is expanded, and at
// most CHUNK siblings at a time, so huge profiles open quickly.
(function () {
  'use strict';
  var CHUNK = 500;
  var data = JSON.parse(document.getElementById('profile-data').textContent);
  var frames = data.frames;
  var total = data.total;
  var container = document.getElementById('tree');
  var models = [];  // element id -> view node, via data-i
  var NONE = [];

  function share(time) {
    return total > 0 ? time / total : 0;
  }

  function shareClass(s) {
    if (s > 0.6) return 'red';
    if (s > 0.2) return 'yellow';
    if (s > 0.05) return 'green';
    return 'dim';
  }

  function span(cls, text) {
    var el = document.createElement('span');
    el.className = cls;
    el.textContent = text;
    return el;
  }

  // A node is a frame, a `[self]` row (the parent's own time) or a
  // `[N frames hidden]` row (library frames collapsed; its children are the
  // application code they called back).
  function makeNode(node) {
    var frame = node.frame === undefined ? null : frames[node.frame];
    var el = document.createElement('div');
    var kind = node.hidden ? ' hidden-group' : node.self ? ' self-time' : '';
    el.className = (frame && frame.application ? 'node application' : 'node') + kind;
    el.setAttribute('role', 'treeitem');
    el.setAttribute('data-i', String(models.length));
    models.push(node);

    var row = document.createElement('div');
    row.className = 'row';
    row.tabIndex = 0;
    var s = share(node.time);
    row.appendChild(span('toggle', ''));
    row.appendChild(span('time ' + shareClass(s), node.time.toFixed(3)));
    row.appendChild(span('pct', (s * 100).toFixed(1) + '%'));
    if (frame) {
      row.appendChild(span('function', frame.function));
      var loc = span('location', frame.location);
      loc.title = frame.file;
      row.appendChild(loc);
    } else if (node.hidden) {
      row.appendChild(span('function', '[' + node.hidden.frames + ' frames hidden]'));
      row.appendChild(span('libraries', node.hidden.libraries.join(', ')));
    } else {
      row.appendChild(span('function', '[self]'));
    }
    el.appendChild(row);

    var children = node.children || NONE;
    if (children.length > 0) {
      if (node.collapsed) {
        el.setAttribute('aria-expanded', 'false');
      } else {
        el.setAttribute('aria-expanded', 'true');
        buildChildren(el, node);
      }
    }
    return el;
  }

  function appendChunk(group, children, start) {
    var end = Math.min(children.length, start + CHUNK);
    var fragment = document.createDocumentFragment();
    for (var i = start; i < end; i++) {
      fragment.appendChild(makeNode(children[i]));
    }
    if (end < children.length) {
      var more = document.createElement('div');
      more.className = 'more';
      more.tabIndex = 0;
      more.setAttribute('data-start', String(end));
      more.textContent = '\u2026 ' + (children.length - end) + ' more calls (show)';
      fragment.appendChild(more);
    }
    group.appendChild(fragment);
  }

  function buildChildren(el, node) {
    var group = document.createElement('div');
    group.className = 'children';
    group.setAttribute('role', 'group');
    appendChunk(group, node.children || NONE, 0);
    el.appendChild(group);
    return group;
  }

  function modelOf(el) {
    return models[Number(el.getAttribute('data-i'))];
  }

  function toggle(el) {
    var state = el.getAttribute('aria-expanded');
    if (state === null) return;
    var group = el.lastChild.className === 'children' ? el.lastChild : null;
    if (state === 'true') {
      el.setAttribute('aria-expanded', 'false');
      if (group) group.hidden = true;
    } else {
      if (!group) group = buildChildren(el, modelOf(el));
      group.hidden = false;
      el.setAttribute('aria-expanded', 'true');
    }
  }

  function showMore(more) {
    var group = more.parentNode;
    var node = modelOf(group.parentNode);
    var start = Number(more.getAttribute('data-start'));
    group.removeChild(more);
    appendChunk(group, node.children || NONE, start);
  }

  function activate(target) {
    var more = target.closest('.more');
    if (more) {
      showMore(more);
      return;
    }
    var row = target.closest('.row');
    if (row) toggle(row.parentNode);
  }

  container.addEventListener('click', function (e) {
    activate(e.target);
  });
  container.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      activate(e.target);
    }
  });

  var fragment = document.createDocumentFragment();
  for (var i = 0; i < data.roots.length; i++) {
    fragment.appendChild(makeNode(data.roots[i]));
  }
  container.appendChild(fragment);

  // `report.html#selftest`: exercise the page and write what happened into
  // #selftest, for the headless-browser test (which reads the dumped DOM).
  if (window.location.hash === '#selftest') {
    void document.body.offsetHeight;  // include the first layout in the timing
    var result = { loadMs: performance.now(), title: document.title };
    result.nodes = container.querySelectorAll('.node').length;
    result.application = container.querySelectorAll('.node.application').length;
    var first = container.querySelector('.node[aria-expanded="true"]');
    if (first) {
      var row = first.firstChild;
      result.before = first.getAttribute('aria-expanded');
      row.click();
      result.afterClick = first.getAttribute('aria-expanded');
      result.hiddenAfterClick = first.lastChild.hidden;
      row.click();
      result.afterSecondClick = first.getAttribute('aria-expanded');
      result.hiddenAfterSecondClick = first.lastChild.hidden;
    }
    var closed = container.querySelector('.node[aria-expanded="false"]');
    if (closed) {
      var before = container.querySelectorAll('.node').length;
      closed.firstChild.click();
      result.lazyExpanded = closed.getAttribute('aria-expanded');
      result.lazyNewNodes = container.querySelectorAll('.node').length - before;
    }
    var more = container.querySelector('.more');
    if (more) {
      var count = container.querySelectorAll('.node').length;
      more.click();
      result.moreNewNodes = container.querySelectorAll('.node').length - count;
    }
    result.hiddenGroups = container.querySelectorAll('.node.hidden-group').length;
    result.functions = Array.prototype.map.call(
      container.querySelectorAll('.node > .row > .function'),
      function (el) { return el.textContent; }).slice(0, 50);
    // The data has been parsed; dropping its element keeps the dumped DOM
    // small for big profiles.
    var dataElement = document.getElementById('profile-data');
    dataElement.parentNode.removeChild(dataElement);
    var out = document.getElementById('selftest');
    out.textContent = JSON.stringify(result);
    out.hidden = false;
  }
}());
