// The profile viewer. It reads the view model embedded in the page (see
// src/render/html.rs) and draws three views of it: the call tree, the
// timeline (calls in time order, on a canvas) and the flame graph.
//
// The view model carries the unprocessed call tree; `processTree` applies
// the report's processing to it (the same steps, in the same order, as
// `render::report_tree` in Rust: runpy's frames at the top and the removed
// frames spliced out, small calls pruned, `[self]` rows, library code
// grouped, longest first), so the options panel can change it live. The
// browser test holds its result equal to Rust's on every golden session.
//
// Names only ever reach the DOM through textContent, setAttribute or the
// canvas' fillText, never as markup. The tree builds a node's children the
// first time it is opened, at most CHUNK siblings at a time. Nothing is
// fetched: the page works offline.
(function () {
  'use strict';
  var CHUNK = 500;
  var COLLAPSE_FRACTION = 0.1;
  var STORAGE_KEY = 'pyinstrument.viewer.options';
  var data = JSON.parse(document.getElementById('profile-data').textContent);
  var frames = data.frames;
  var NONE = [];
  // The tree and the flame graph are weighed by wall-clock or CPU time
  // (`timeKind`); each node also carries the other clock's time (`time2`),
  // which a row shows where the two differ.
  var cpuKnown = data.cpu_total !== undefined;
  var total = data.total;

  // ---- Options: the report's, overridden by what was chosen here before.

  var defaults = {
    groupLibrary: data.options.group_library,
    removeImportlib: data.options.remove_importlib,
    removeTracebackhide: data.options.remove_tracebackhide,
    showAll: data.options.show_all,
    threshold: data.options.threshold,
    time: data.options.time,
    timeKind: data.options.time_kind,
    showRegex: '',
    hideRegex: '',
    view: 'tree'
  };

  function loadOptions() {
    var stored = {};
    try {
      stored = JSON.parse(window.localStorage.getItem(STORAGE_KEY) || '{}') || {};
    } catch (e) {
      stored = {};
    }
    var opts = {};
    Object.keys(defaults).forEach(function (k) {
      opts[k] = (k in stored && typeof stored[k] === typeof defaults[k]) ? stored[k] : defaults[k];
    });
    return opts;
  }

  function saveOptions() {
    var changed = {};
    Object.keys(defaults).forEach(function (k) {
      if (opts[k] !== defaults[k]) changed[k] = opts[k];
    });
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(changed));
    } catch (e) {
      // Storage refused (private mode, file:// policy): options last
      // until the page is closed.
    }
  }

  var opts = loadOptions();

  // A pattern typed in the panel, matched like Python's re.match.
  function compile(source) {
    if (!source) return null;
    try {
      return new RegExp('^(?:' + source + ')');
    } catch (e) {
      return undefined;
    }
  }

  // ---- Processing: from the unprocessed calls to the displayed tree.

  var SHOW = 0, HIDE = 1, AS_CALLER = 2;
  var hiding = [];      // per frame, under the current options
  var removedFrame = []; // per frame

  function classifyFrames() {
    var show = compile(opts.showRegex) || null;
    var hide = compile(opts.hideRegex) || null;
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i];
      if (show && show.test(f.file)) hiding[i] = SHOW;
      else if (hide && hide.test(f.file)) hiding[i] = HIDE;
      else hiding[i] = f.origin === 'application' ? SHOW : f.origin === 'library' ? HIDE : AS_CALLER;
      removedFrame[i] = !opts.showAll && (
        (opts.removeImportlib && f.removal === 'importlib') ||
        (opts.removeTracebackhide && f.removal === 'tracebackhide'));
    }
  }

  // The unprocessed tree, built for each clock when first weighed by it:
  // {f, own, pruned, children}, and the other clock's own2 and pruned2.
  var rawRoots = {};

  function rawTree(kind) {
    if (rawRoots[kind]) return rawRoots[kind];
    var c = data.calls;
    var cpu = cpuKnown ? [c.self_cpu, c.pruned_cpu] : [c.self_time, c.pruned];
    var wall = [c.self_time, c.pruned];
    var first = kind === 'cpu' ? cpu : wall, second = kind === 'cpu' ? wall : cpu;
    var root = { f: -1, own: 0, pruned: 0, own2: 0, pruned2: 0, children: [] };
    var stack = [root];
    for (var i = 0; i < c.frame.length; i++) {
      var d = c.depth[i];
      var node = { f: c.frame[i], own: first[0][i], pruned: first[1][i],
                   own2: second[0][i], pruned2: second[1][i], children: [] };
      stack[d - 1].children.push(node);
      stack.length = d;
      stack[d] = node;
    }
    rawRoots[kind] = root;
    return root;
  }

  function rawTime(node) {
    if (node.t === undefined) {
      var t = node.own + node.pruned, t2 = node.own2 + node.pruned2;
      for (var i = 0; i < node.children.length; i++) {
        t += rawTime(node.children[i]);
        t2 += node.children[i].t2;
      }
      node.t = t;
      node.t2 = t2;
    }
    return node.t;
  }

  function rawNode(f, own, pruned, own2, pruned2, children) {
    return { f: f, own: own, pruned: pruned, own2: own2, pruned2: pruned2, children: children };
  }

  // Merges siblings of the same frame (their children too), keeping the
  // order of first appearance: `merge_siblings` for unprocessed nodes.
  function mergeRaw(children) {
    var out = [], at = {}, merged = false;
    children.forEach(function (c) {
      var i = at[c.f];
      if (i === undefined) {
        at[c.f] = out.length;
        out.push(c);
      } else {
        merged = true;
        var e = out[i];
        out[i] = rawNode(e.f, e.own + c.own, e.pruned + c.pruned, e.own2 + c.own2,
                         e.pruned2 + c.pruned2, e.children.concat(c.children));
      }
    });
    if (merged) {
      out = out.map(function (n) {
        return rawNode(n.f, n.own, n.pruned, n.own2, n.pruned2, mergeRaw(n.children));
      });
    }
    return out;
  }

  // Splices out removed frames: their own time goes to their caller, their
  // calls move up to it (`processors::splice`).
  function spliceRemoved(node) {
    var own = node.own, pruned = node.pruned, own2 = node.own2, pruned2 = node.pruned2;
    var kids = [], spliced = false, changed = false;
    node.children.forEach(function (child) {
      var c = spliceRemoved(child);
      if (c !== child) changed = true;
      if (removedFrame[c.f]) {
        spliced = true;
        own += c.own;
        pruned += c.pruned;
        own2 += c.own2;
        pruned2 += c.pruned2;
        kids.push.apply(kids, c.children);
      } else {
        kids.push(c);
      }
    });
    if (!spliced && !changed) return node;
    return rawNode(node.f, own, pruned, own2, pruned2,
                   spliced && !data.options.ordered ? mergeRaw(kids) : kids);
  }

  // runpy's frames above the program's module (`remove_runpy_root`).
  function stripRunpy(root) {
    var kids = [], spliced = false;
    (function lift(children) {
      children.forEach(function (c) {
        if (frames[c.f].removal === 'runpy') {
          spliced = true;
          lift(c.children);
        } else {
          kids.push(c);
        }
      });
    }(root.children));
    if (!spliced) return root;
    return rawNode(-1, 0, 0, 0, 0, data.options.ordered ? kids : mergeRaw(kids));
  }

  // Display nodes: {frame (-1 for rows that are no frame), kind ('frame',
  // 'self' or 'hidden'), time, self, the other clock's time2 and self2,
  // children, open}.
  function display(node, minTime) {
    var self = node.pruned, self2 = node.pruned2, kids = [];
    node.children.forEach(function (child) {
      var t = rawTime(child);
      if (t < minTime) {
        self += t;
        self2 += child.t2;
      } else {
        kids.push(display(child, minTime));
      }
    });
    // In time order (-t) a call's own time is spread between its calls, so
    // it gets no `[self]` row (as the text report).
    var selfRow = !data.options.ordered && node.f >= 0 && kids.length > 0;
    if (selfRow && node.own > 0 && node.own >= minTime) {
      kids.push(makeDisplay(-1, 'self', node.own, node.own2, []));
    } else {
      self += node.own;
      self2 += node.own2;
    }
    return makeDisplay(node.f, 'frame', self, self2, kids);
  }

  function makeDisplay(frame, kind, self, self2, children) {
    var t = self, t2 = self2;
    for (var i = 0; i < children.length; i++) {
      t += children[i].time;
      t2 += children[i].time2;
    }
    return { frame: frame, kind: kind, time: t, self: self, time2: t2, self2: self2,
             children: children };
  }

  function isShown(node, parentShown) {
    var h = hiding[node.frame];
    return h === SHOW || (h === AS_CALLER && parentShown);
  }

  function hasShownFrame(node, shown) {
    return node.children.some(function (c) {
      var cs = c.kind === 'frame' && isShown(c, shown);
      return cs || hasShownFrame(c, cs);
    });
  }

  function groupUnder(node, shown) {
    node.children = node.children.map(function (c) {
      if (c.kind !== 'frame') return c;
      var cs = isShown(c, shown);
      if (!cs && shown) return entryIntoLibrary(c);
      return groupUnder(c, cs);
    });
    return node;
  }

  function countRun(node) {
    var n = 1;
    node.children.forEach(function (c) {
      if (c.kind === 'frame' && !isShown(c, false)) n += countRun(c);
    });
    return n;
  }

  // The first library frame under a shown one stays; the run of library
  // frames below it becomes one `[N frames hidden]` row if it has two or
  // more (`processors::entry_into_library`). The row keeps the frames it
  // stands for (`library`), so that a click can show them.
  function entryIntoLibrary(entry) {
    var run = 0;
    entry.children.forEach(function (c) {
      if (c.kind === 'frame' && !isShown(c, false)) run += countRun(c);
    });
    if (run < 2) return groupUnder(entry, false);
    var kept = [], self = entry.self, self2 = entry.self2;
    var h = { frames: 0, libraries: [], self: 0, self2: 0, back: [], library: [] };
    entry.children.forEach(function (c) {
      if (c.kind === 'frame' && !isShown(c, false)) {
        h.library.push(c);
        absorb(h, c);
      } else if (c.kind !== 'frame') {
        self += c.time;
        self2 += c.time2;
      } else {
        kept.push(groupUnder(c, true));
      }
    });
    var back = data.options.ordered ? h.back : mergeDisplay(h.back);
    var row = makeDisplay(-1, 'hidden', h.self, h.self2, back);
    row.hidden = { frames: h.frames, libraries: h.libraries };
    row.library = h.library;
    kept.push(row);
    return makeDisplay(entry.frame, 'frame', self, self2, kept);
  }

  function absorb(h, node) {
    h.frames += 1;
    var lib = frames[node.frame].library;
    if (lib && h.libraries.indexOf(lib) < 0) h.libraries.push(lib);
    h.self += node.self;
    h.self2 += node.self2;
    node.children.forEach(function (c) {
      if (c.kind !== 'frame') {
        h.self += c.time;
        h.self2 += c.time2;
      } else if (isShown(c, false)) {
        var g = groupUnder(c, true);
        h.back.push(g);
      } else absorb(h, c);
    });
  }

  function mergeDisplay(children) {
    var out = [], at = {}, merged = false;
    children.forEach(function (c) {
      if (c.kind !== 'frame') {
        out.push(c);
        return;
      }
      var i = at[c.frame];
      if (i === undefined) {
        at[c.frame] = out.length;
        out.push(c);
      } else {
        merged = true;
        var e = out[i];
        out[i] = makeDisplay(e.frame, 'frame', e.self + c.self, e.self2 + c.self2,
                             e.children.concat(c.children));
      }
    });
    if (merged) {
      out.forEach(function (n) { n.children = mergeDisplay(n.children); });
    }
    return out;
  }

  function compareFrames(a, b) {
    if (a.frame < 0 || b.frame < 0) return (a.frame < 0 ? 0 : 1) - (b.frame < 0 ? 0 : 1);
    var x = frames[a.frame], y = frames[b.frame];
    if (x.function !== y.function) return x.function < y.function ? -1 : 1;
    if (x.file !== y.file) return x.file < y.file ? -1 : 1;
    return x.line - y.line;
  }

  // Sorting children and deciding whether a node starts open are done the
  // first time a node's children are needed (`kids`), not for the whole
  // tree: with --show-all a big profile has hundreds of thousands of nodes
  // and the page shows a few dozen.
  function prepare(node) {
    if (node.ready) return;
    node.ready = true;
    if (!data.options.ordered) {
      node.children.sort(function (a, b) {
        return (b.time - a.time) || compareFrames(a, b);
      });
      if (node.library) {
        node.library.sort(function (a, b) {
          return (b.time - a.time) || compareFrames(a, b);
        });
      }
    }
  }

  function startsOpen(node) {
    var open = false;
    for (var i = 0; i < node.children.length && !open; i++) {
      var c = node.children[i];
      open = c.kind !== 'self' && share(c.time) >= COLLAPSE_FRACTION;
    }
    return open || node.children.length === 0;
  }

  // A node's children (or, for a group showing them, its library frames),
  // ready to draw.
  function kids(node) {
    prepare(node);
    return node.showLibrary ? node.library : node.children;
  }

  function isOpen(node) {
    if (node.open === undefined) node.open = startsOpen(node);
    return node.open;
  }

  function timeKind() {
    return opts.timeKind === 'cpu' && cpuKnown ? 'cpu' : 'wall';
  }

  // ---- Threads (`--all-threads`): each thread is a root call of a frame
  // whose file is `<thread>`; the picker shows one of them, or all.

  var threadFrames = [];
  (function () {
    var c = data.calls;
    for (var i = 0; i < c.frame.length; i++) {
      var f = c.frame[i];
      if (c.depth[i] === 1 && frames[f].file === '<thread>' && threadFrames.indexOf(f) < 0) {
        threadFrames.push(f);
      }
    }
  }());
  var pickedThread = -1; // a frame index, or -1: every thread

  // The root with only the picked thread's calls.
  function onlyPickedThread(root) {
    if (pickedThread < 0) return root;
    return rawNode(-1, 0, 0, 0, 0, root.children.filter(function (c) { return c.f === pickedThread; }));
  }

  function processTree() {
    classifyFrames();
    var kind = timeKind();
    var cpuNote = document.getElementById('cpu-note');
    cpuNote.hidden = kind !== 'cpu';
    cpuNote.textContent = kind === 'cpu' ? 'Note: ' + data.cpu_note : '';
    var root = onlyPickedThread(rawTree(kind));
    // Shares and the threshold are of what is shown: one thread, or all.
    total = pickedThread < 0 ? (kind === 'cpu' ? data.cpu_total : data.total) : rawTime(root);
    if (!opts.showAll) root = spliceRemoved(stripRunpy(root));
    var minTime = opts.showAll ? 0 : opts.threshold * total;
    var shown = display(root, minTime);
    if (!opts.showAll && opts.groupLibrary && hasShownFrame(shown, true)) {
      shown = groupUnder(shown, true);
    }
    return kids(shown);
  }

  // ---- Formatting.

  function share(time) {
    return total > 0 ? time / total : 0;
  }

  function shareClass(s) {
    if (s > 0.6) return 'red';
    if (s > 0.2) return 'yellow';
    if (s > 0.05) return 'green';
    return 'dim';
  }

  function seconds(t) {
    return t.toFixed(data.decimals);
  }

  function formatTime(t) {
    return opts.time === 'percent' ? (share(t) * 100).toFixed(1) + '%' : seconds(t);
  }

  // `cpu 0.020` beside a wall-clock time (or `wall 0.500` beside a CPU
  // time) when the two differ by more than a unit shown or 5 %, as in the
  // text report; '' otherwise.
  function otherClock(node) {
    if (!cpuKnown || data.options.ordered) return '';
    var unit = Math.pow(10, -data.decimals);
    if (Math.abs(node.time - node.time2) <= Math.max(unit, node.time * 0.05)) return '';
    return (timeKind() === 'cpu' ? 'wall ' : 'cpu ') + seconds(node.time2);
  }

  function span(cls, text) {
    var el = document.createElement('span');
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function label(node) {
    if (node.kind === 'self') return '[self]';
    if (node.kind === 'hidden') return '[' + node.hidden.frames + ' frames hidden]';
    return frames[node.frame].function;
  }

  // ---- Search.

  var query = '';

  function frameMatches(i) {
    if (!query || i < 0) return false;
    var f = frames[i];
    return f.function.toLowerCase().indexOf(query) >= 0 || f.file.toLowerCase().indexOf(query) >= 0;
  }

  // Marks matches and opens every node (and library group) on the way to
  // one; returns how many there are.
  function markMatches(nodes) {
    if (!query) return 0;
    var count = 0;
    nodes.forEach(function (n) {
      n.match = n.kind === 'frame' && frameMatches(n.frame);
      var below = markMatches(n.children);
      if (n.library) {
        var inLibrary = markMatches(n.library);
        if (inLibrary > 0) n.showLibrary = true;
        below += inLibrary;
      }
      if (below > 0) n.open = true;
      count += below + (n.match ? 1 : 0);
    });
    return count;
  }

  // ---- Call tree view.

  var treeEl = document.getElementById('tree');
  var roots = [];
  var models = [];

  function childrenOf(node) {
    return kids(node);
  }

  function makeNode(node, level) {
    var frame = node.frame >= 0 ? frames[node.frame] : null;
    var el = document.createElement('div');
    var cls = 'node';
    if (frame && frame.origin === 'application') cls += ' application';
    if (node.kind === 'hidden') cls += ' hidden-group';
    if (node.kind === 'self') cls += ' self-time';
    if (node.match) cls += ' match';
    el.className = cls;
    el.setAttribute('role', 'treeitem');
    el.setAttribute('aria-level', String(level));
    el.tabIndex = -1;
    el.setAttribute('data-i', String(models.length));
    models.push(node);
    node.el = el;

    var row = document.createElement('div');
    row.className = 'row';
    var s = share(node.time);
    row.appendChild(span('toggle', ''));
    row.appendChild(span('time ' + shareClass(s), formatTime(node.time)));
    row.appendChild(span('pct', (s * 100).toFixed(1) + '%'));
    var other = otherClock(node);
    if (other) row.appendChild(span('other-clock', other));
    if (frame) {
      row.appendChild(span('function', frame.function));
      var loc = span('location', frame.location);
      loc.title = frame.file;
      row.appendChild(loc);
      el.setAttribute('aria-label', frame.function + ' ' + frame.location + ', ' + formatTime(node.time));
    } else if (node.kind === 'hidden') {
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'group-toggle function';
      button.tabIndex = -1;
      button.textContent = node.showLibrary
        ? '[' + node.hidden.frames + ' library frames shown]'
        : '[' + node.hidden.frames + ' frames hidden]';
      button.title = node.showLibrary ? 'Hide the library frames again' : 'Show the library frames';
      row.appendChild(button);
      row.appendChild(span('libraries', node.hidden.libraries.join(', ')));
      el.setAttribute('aria-label', button.textContent + ' ' + node.hidden.libraries.join(', ') +
        ', ' + formatTime(node.time));
    } else {
      row.appendChild(span('function', '[self]'));
      el.setAttribute('aria-label', 'self time, ' + formatTime(node.time));
    }
    el.appendChild(row);

    if (childrenOf(node).length > 0) {
      if (isOpen(node)) {
        el.setAttribute('aria-expanded', 'true');
        buildChildren(el, node);
      } else {
        el.setAttribute('aria-expanded', 'false');
      }
    }
    return el;
  }

  function appendChunk(group, node, start) {
    var children = childrenOf(node);
    var level = Number(group.parentNode.getAttribute('aria-level')) + 1;
    var end = Math.min(children.length, start + CHUNK);
    var fragment = document.createDocumentFragment();
    for (var i = start; i < end; i++) fragment.appendChild(makeNode(children[i], level));
    if (end < children.length) {
      var more = document.createElement('div');
      more.className = 'more';
      more.tabIndex = -1;
      more.setAttribute('role', 'treeitem');
      more.setAttribute('aria-level', String(level));
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
    el.appendChild(group);
    appendChunk(group, node, 0);
    return group;
  }

  function modelOf(el) {
    return models[Number(el.getAttribute('data-i'))];
  }

  function groupOf(el) {
    var last = el.lastChild;
    return last && last.className === 'children' ? last : null;
  }

  function setExpanded(el, open) {
    var state = el.getAttribute('aria-expanded');
    if (state === null) return;
    var node = modelOf(el);
    var group = groupOf(el);
    node.open = open;
    if (open) {
      if (!group) group = buildChildren(el, node);
      group.hidden = false;
    } else if (group) {
      group.hidden = true;
    }
    el.setAttribute('aria-expanded', open ? 'true' : 'false');
  }

  // Opens or closes a node and everything below it (already drawn or not).
  function setSubtree(el, open) {
    var node = modelOf(el);
    (function mark(n) {
      n.open = open;
      childrenOf(n).forEach(mark);
    }(node));
    var replacement = makeNode(node, Number(el.getAttribute('aria-level')));
    el.parentNode.replaceChild(replacement, el);
    focusNode(replacement);
  }

  function toggleLibrary(el) {
    var node = modelOf(el);
    node.showLibrary = !node.showLibrary;
    node.open = true;
    var replacement = makeNode(node, Number(el.getAttribute('aria-level')));
    el.parentNode.replaceChild(replacement, el);
    focusNode(replacement);
  }

  function showMore(more) {
    var group = more.parentNode;
    var node = modelOf(group.parentNode);
    var start = Number(more.getAttribute('data-start'));
    var next = more.previousElementSibling;
    group.removeChild(more);
    appendChunk(group, node, start);
    if (next && next.nextElementSibling) focusNode(next.nextElementSibling);
  }

  var focused = null;

  function focusNode(el) {
    if (!el) return;
    if (focused && focused !== el) focused.tabIndex = -1;
    el.tabIndex = 0;
    focused = el;
    el.focus();
  }

  function isItem(el) {
    return el && (el.classList.contains('node') || el.classList.contains('more'));
  }

  function parentItem(el) {
    var group = el.parentNode;
    return group && group.className === 'children' ? group.parentNode : null;
  }

  function nextItem(el) {
    if (el.getAttribute('aria-expanded') === 'true') {
      var group = groupOf(el);
      if (group && group.firstElementChild) return group.firstElementChild;
    }
    while (el) {
      if (isItem(el.nextElementSibling)) return el.nextElementSibling;
      el = parentItem(el);
    }
    return null;
  }

  function previousItem(el) {
    var prev = el.previousElementSibling;
    if (!isItem(prev)) return parentItem(el);
    while (prev.getAttribute('aria-expanded') === 'true') {
      var group = groupOf(prev);
      if (!group || !group.lastElementChild) break;
      prev = group.lastElementChild;
    }
    return prev;
  }

  treeEl.addEventListener('click', function (e) {
    var item = e.target.closest('.node, .more');
    if (!item) return;
    if (item.classList.contains('more')) {
      showMore(item);
      return;
    }
    if (e.target.closest('.group-toggle')) {
      toggleLibrary(item);
      return;
    }
    if (e.target.closest('.row')) {
      focusNode(item);
      setExpanded(item, item.getAttribute('aria-expanded') !== 'true');
    }
  });

  treeEl.addEventListener('keydown', function (e) {
    var item = e.target.closest('.node, .more');
    if (!item) return;
    var whole = e.shiftKey || e.altKey;
    var state = item.getAttribute('aria-expanded');
    var handled = true;
    switch (e.key) {
      case 'ArrowDown': focusNode(nextItem(item)); break;
      case 'ArrowUp': focusNode(previousItem(item)); break;
      case 'ArrowRight':
        if (item.classList.contains('more')) break;
        if (whole) setSubtree(item, true);
        else if (state === 'false') setExpanded(item, true);
        else if (state === 'true') focusNode(nextItem(item));
        break;
      case 'ArrowLeft':
        if (whole && state !== null) setSubtree(item, false);
        else if (state === 'true') setExpanded(item, false);
        else focusNode(parentItem(item));
        break;
      case 'Enter':
      case ' ':
        if (item.classList.contains('more')) showMore(item);
        else if (item.classList.contains('hidden-group') && e.key === 'Enter') toggleLibrary(item);
        else if (state !== null) setExpanded(item, state !== 'true');
        break;
      case 'Home': focusNode(treeEl.firstElementChild); break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });

  treeEl.addEventListener('focusin', function (e) {
    var item = e.target.closest('.node, .more');
    if (item && item !== focused) {
      if (focused) focused.tabIndex = -1;
      item.tabIndex = 0;
      focused = item;
    }
  });

  function renderTree() {
    models = [];
    focused = null;
    treeEl.textContent = '';
    var fragment = document.createDocumentFragment();
    roots.forEach(function (r) { fragment.appendChild(makeNode(r, 1)); });
    treeEl.appendChild(fragment);
    if (treeEl.firstElementChild) {
      treeEl.firstElementChild.tabIndex = 0;
      focused = treeEl.firstElementChild;
    }
  }

  // Shows `path` (display nodes from a root down) in the tree: opens its
  // nodes, draws it and puts the focus on its last node.
  function revealInTree(path) {
    if (path.length === 0) return;
    path.forEach(function (n, i) { if (i < path.length - 1) n.open = true; });
    models.forEach(function (n) { n.selected = false; });
    renderTree();
    var target = path[path.length - 1];
    if (target.el) {
      target.el.classList.add('selected');
      focusNode(target.el);
      target.el.scrollIntoView({ block: 'center' });
    }
  }

  // ---- Flame graph view.

  var flameEl = document.getElementById('flame');
  var crumbsEl = document.getElementById('flame-crumbs');
  var flamePath = []; // display nodes from a root down to the zoomed one
  var FLAME_ROW = 18;

  function flameRoots() {
    return flamePath.length ? [flamePath[flamePath.length - 1]] : roots;
  }

  function renderFlame() {
    flameEl.textContent = '';
    crumbsEl.textContent = '';
    var all = document.createElement('button');
    all.type = 'button';
    all.textContent = 'All';
    all.setAttribute('data-depth', '0');
    crumbsEl.appendChild(all);
    flamePath.forEach(function (n, i) {
      crumbsEl.appendChild(span('sep', '\u203a'));
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = label(n);
      b.setAttribute('data-depth', String(i + 1));
      if (i === flamePath.length - 1) b.setAttribute('aria-current', 'true');
      crumbsEl.appendChild(b);
    });
    var top = flameRoots();
    var width = 0;
    top.forEach(function (n) { width += n.time; });
    if (width <= 0) return;
    var blocks = [];
    var maxDepth = 0;
    (function place(nodes, x, depth) {
      nodes.forEach(function (n) {
        if (n.kind === 'self') {
          x += n.time;
          return;
        }
        var w = n.time / width;
        if (w >= 0.001) {
          blocks.push({ node: n, x: x / width, w: w, depth: depth });
          if (depth > maxDepth) maxDepth = depth;
          place(kids(n), x, depth + 1);
        }
        x += n.time;
      });
    }(top, 0, 0));
    flameEl.style.height = ((maxDepth + 1) * FLAME_ROW + 2) + 'px';
    var fragment = document.createDocumentFragment();
    blocks.forEach(function (b, i) {
      var n = b.node;
      var el = document.createElement('div');
      var frame = n.frame >= 0 ? frames[n.frame] : null;
      var cls = 'flame-block';
      if (n.kind === 'hidden') cls += ' hidden-group';
      else if (frame) cls += frame.origin === 'application' ? ' application' : ' library';
      if (n.match) cls += ' match';
      el.className = cls;
      el.style.left = (b.x * 100) + '%';
      el.style.width = (b.w * 100) + '%';
      // Root at the top (an icicle, as speedscope draws it): deep
      // recursion then grows down the page instead of pushing the
      // widest calls out of sight.
      el.style.top = (b.depth * FLAME_ROW) + 'px';
      el.textContent = label(n);
      var where = frame ? '  ' + frame.location : n.kind === 'hidden' ? '  ' + n.hidden.libraries.join(', ') : '';
      el.title = label(n) + where + '\n' + seconds(n.time) + ' s (' + (share(n.time) * 100).toFixed(1) + '%)';
      el.tabIndex = 0;
      el.setAttribute('role', 'button');
      el.setAttribute('aria-label', 'Zoom into ' + el.title);
      el.setAttribute('data-i', String(i));
      fragment.appendChild(el);
    });
    flameEl.appendChild(fragment);
    flameEl.blocks = blocks;
  }

  // The display nodes from a flame graph root down to `node`.
  function pathTo(node, nodes, prefix) {
    for (var i = 0; i < nodes.length; i++) {
      var n = nodes[i];
      var path = prefix.concat([n]);
      if (n === node) return path;
      var found = pathTo(node, kids(n), path);
      if (found) return found;
    }
    return null;
  }

  function zoomFlame(el) {
    var block = flameEl.blocks[Number(el.getAttribute('data-i'))];
    var below = pathTo(block.node, flameRoots(), []);
    flamePath = flamePath.length ? flamePath.slice(0, -1).concat(below) : below;
    renderFlame();
  }

  flameEl.addEventListener('click', function (e) {
    var el = e.target.closest('.flame-block');
    if (el) zoomFlame(el);
  });
  flameEl.addEventListener('keydown', function (e) {
    var el = e.target.closest('.flame-block');
    if (el && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      zoomFlame(el);
    }
  });
  crumbsEl.addEventListener('click', function (e) {
    var b = e.target.closest('button');
    if (!b) return;
    flamePath = flamePath.slice(0, Number(b.getAttribute('data-depth')));
    renderFlame();
  });

  // ---- Timeline view.

  var spans = data.spans;
  var canvas = document.getElementById('timeline');
  var timelineBox = document.getElementById('timeline-box');
  var tooltip = document.getElementById('tooltip');
  var rangeEl = document.getElementById('timeline-range');
  var ROW = 18;
  var spanCount = spans ? spans.frame.length : 0;
  var spanEnd = 0;
  var spanParent = new Int32Array(spanCount);
  var spanSelf = new Float64Array(spanCount);
  var spanRow = new Int32Array(spanCount); // -1: collapsed away
  var spanRows = 0;
  var view = { start: 0, end: 1 };

  (function linkSpans() {
    var stack = [];
    for (var i = 0; i < spanCount; i++) {
      var d = spans.depth[i];
      spanParent[i] = d > 1 && stack[d - 1] !== undefined ? stack[d - 1] : -1;
      stack.length = d;
      stack[d] = i;
      spanSelf[i] = spans.duration[i];
      if (spanParent[i] >= 0) spanSelf[spanParent[i]] -= spans.duration[i];
      spanEnd = Math.max(spanEnd, spans.start[i] + spans.duration[i]);
    }
    view.end = spanEnd > 0 ? spanEnd : 1;
  }());

  // Which row each span is drawn on: with library code collapsed, a
  // library frame called by another library frame is left out (its calls
  // move up a row), as are removed frames and runpy's at the top; as in
  // the tree, a profile with no code of its own is not collapsed.
  var spanBase = new Int32Array(spanCount); // a left-out span: its caller's row
  function layoutSpans() {
    var group = !opts.showAll && opts.groupLibrary;
    var shownAt = new Int8Array(spanCount);
    var runpyTop = new Int8Array(spanCount);
    var anyShown = false;
    for (var k = 0; k < spanCount && !anyShown; k++) anyShown = hiding[spans.frame[k]] === SHOW;
    group = group && anyShown;
    spanRows = 0;
    for (var i = 0; i < spanCount; i++) {
      var f = spans.frame[i], p = spanParent[i];
      var parentShown = p < 0 || shownAt[p] === 1;
      var shown = hiding[f] === SHOW || (hiding[f] === AS_CALLER && parentShown);
      shownAt[i] = shown ? 1 : 0;
      runpyTop[i] = !opts.showAll && frames[f].removal === 'runpy' && (p < 0 || runpyTop[p]) ? 1 : 0;
      var base = p < 0 ? -1 : (spanRow[p] >= 0 ? spanRow[p] : spanBase[p]);
      var drop = removedFrame[f] || runpyTop[i] === 1 || (group && !shown && !parentShown);
      if (drop) {
        spanRow[i] = -1;
        spanBase[i] = base;
      } else {
        spanRow[i] = base + 1;
        if (spanRow[i] + 1 > spanRows) spanRows = spanRow[i] + 1;
      }
    }
  }

  function colourOf(f) {
    var h = 0, name = frames[f].function;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) | 0;
    var light = 62 + (Math.abs(h) % 14);
    return frames[f].origin === 'application'
      ? 'hsl(' + (20 + Math.abs(h) % 25) + ',85%,' + light + '%)'
      : 'hsl(210,12%,' + (light + 8) + '%)';
  }

  function drawTimeline() {
    if (!spans) return;
    var ratio = window.devicePixelRatio || 1;
    var width = timelineBox.clientWidth || 800;
    var height = Math.max(1, spanRows) * ROW;
    canvas.style.height = height + 'px';
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = '11px Menlo, Consolas, "DejaVu Sans Mono", monospace';
    ctx.textBaseline = 'middle';
    var scale = width / (view.end - view.start);
    for (var i = 0; i < spanCount; i++) {
      var row = spanRow[i];
      if (row < 0) continue;
      var s = spans.start[i], e = s + spans.duration[i];
      if (e < view.start || s > view.end) continue;
      var x = (s - view.start) * scale;
      var w = spans.duration[i] * scale;
      if (w < 0.5) continue;
      var x0 = Math.max(x, 0), x1 = Math.min(x + w, width);
      var y = row * ROW;
      ctx.fillStyle = query && frameMatches(spans.frame[i]) ? '#ffd33d' : colourOf(spans.frame[i]);
      ctx.fillRect(x0, y + 1, Math.max(x1 - x0 - 1, 0.5), ROW - 2);
      if (i === selectedSpan) {
        ctx.strokeStyle = '#bf3989';
        ctx.lineWidth = 2;
        ctx.strokeRect(x0 + 1, y + 2, Math.max(x1 - x0 - 3, 1), ROW - 4);
      }
      if (x1 - x0 > 24) {
        ctx.save();
        ctx.beginPath();
        ctx.rect(x0, y, x1 - x0 - 2, ROW);
        ctx.clip();
        ctx.fillStyle = '#24292f';
        ctx.fillText(frames[spans.frame[i]].function, x0 + 3, y + ROW / 2);
        ctx.restore();
      }
    }
    rangeEl.textContent = seconds(view.start) + ' s \u2013 ' + seconds(view.end) + ' s';
  }

  function spanAt(clientX, clientY) {
    var rect = canvas.getBoundingClientRect();
    var row = Math.floor((clientY - rect.top) / ROW);
    var t = view.start + (clientX - rect.left) / rect.width * (view.end - view.start);
    for (var i = 0; i < spanCount; i++) {
      if (spanRow[i] === row && spans.start[i] <= t && t < spans.start[i] + spans.duration[i]) return i;
    }
    return -1;
  }

  function zoom(factor, centre) {
    var length = (view.end - view.start) * factor;
    var min = Math.max(spanEnd * 1e-6, 1e-6);
    if (length < min) length = min;
    var full = spanEnd > 0 ? spanEnd : 1;
    if (length > full) length = full;
    var at = centre === undefined ? (view.start + view.end) / 2 : centre;
    var fraction = (at - view.start) / (view.end - view.start);
    view.start = at - fraction * length;
    view.end = view.start + length;
    clampView();
    drawTimeline();
  }

  function clampView() {
    var full = spanEnd > 0 ? spanEnd : 1;
    var length = view.end - view.start;
    if (view.start < 0) view.start = 0;
    if (view.start + length > full) view.start = full - length;
    view.end = view.start + length;
  }

  var drag = null;
  var selectedSpan = -1;

  canvas.addEventListener('wheel', function (e) {
    e.preventDefault();
    var rect = canvas.getBoundingClientRect();
    var at = view.start + (e.clientX - rect.left) / rect.width * (view.end - view.start);
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY) && !e.ctrlKey) {
      var shift = e.deltaX / rect.width * (view.end - view.start);
      view.start += shift;
      view.end += shift;
      clampView();
      drawTimeline();
    } else {
      zoom(Math.exp(e.deltaY * (e.ctrlKey ? 0.01 : 0.002)), at);
    }
  }, { passive: false });

  canvas.addEventListener('mousedown', function (e) {
    drag = { x: e.clientX, start: view.start, end: view.end, moved: false };
    canvas.classList.add('dragging');
  });
  window.addEventListener('mousemove', function (e) {
    if (drag) {
      var dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      var per = (drag.end - drag.start) / canvas.getBoundingClientRect().width;
      view.start = drag.start - dx * per;
      view.end = drag.end - dx * per;
      clampView();
      drawTimeline();
      return;
    }
    if (e.target !== canvas) return;
    var i = spanAt(e.clientX, e.clientY);
    if (i < 0) {
      tooltip.hidden = true;
      return;
    }
    var f = frames[spans.frame[i]];
    tooltip.textContent = f.function + '\n' + f.location + '\n' +
      'time: ' + seconds(spans.duration[i]) + ' s (' + (share(spans.duration[i]) * 100).toFixed(1) + '%)\n' +
      'self time: ' + seconds(Math.max(spanSelf[i], 0)) + ' s\n' +
      'from ' + seconds(spans.start[i]) + ' s';
    tooltip.hidden = false;
    tooltip.style.left = Math.min(e.clientX + 12, window.innerWidth - 320) + 'px';
    tooltip.style.top = (e.clientY + 14) + 'px';
  });
  canvas.addEventListener('mouseleave', function () { tooltip.hidden = true; });
  window.addEventListener('mouseup', function (e) {
    if (!drag) return;
    var moved = drag.moved;
    drag = null;
    canvas.classList.remove('dragging');
    if (!moved && e.target === canvas) {
      var i = spanAt(e.clientX, e.clientY);
      if (i >= 0) selectSpan(i);
    }
  });

  // Shows a span's call in the call tree: follows its callers' frames down
  // the displayed tree, through library groups and past removed frames.
  function selectSpan(i) {
    selectedSpan = i;
    var chain = [];
    for (var s = i; s >= 0; s = spanParent[s]) chain.unshift(spans.frame[s]);
    var path = [], nodes = roots;
    chain.forEach(function (f) {
      var hit = null, group = null;
      for (var k = 0; k < nodes.length; k++) {
        if (nodes[k].kind === 'frame' && nodes[k].frame === f) hit = nodes[k];
        if (nodes[k].kind === 'hidden') group = nodes[k];
      }
      if (!hit && group) {
        for (var j = 0; j < group.children.length; j++) {
          if (group.children[j].frame === f) hit = group.children[j];
        }
        if (hit) path.push(group);
      }
      if (hit) {
        path.push(hit);
        nodes = hit.children;
      }
    });
    showView('tree');
    revealInTree(path);
  }

  document.getElementById('timeline-zoom-in').addEventListener('click', function () { zoom(0.5); });
  document.getElementById('timeline-zoom-out').addEventListener('click', function () { zoom(2); });
  document.getElementById('timeline-reset').addEventListener('click', function () {
    view.start = 0;
    view.end = spanEnd > 0 ? spanEnd : 1;
    drawTimeline();
  });

  // ---- Views, options, search, keyboard.

  var current = null;

  function showView(name) {
    if (name === 'timeline' && !spans) name = 'tree';
    current = name;
    ['tree', 'timeline', 'flame'].forEach(function (v) {
      var on = v === name;
      document.getElementById('view-' + v).hidden = !on;
      var tab = document.getElementById('tab-' + v);
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
    });
    tooltip.hidden = true;
    if (name === 'timeline') drawTimeline();
    if (name === 'flame') renderFlame();
  }

  document.querySelector('[role="tablist"]').addEventListener('click', function (e) {
    var tab = e.target.closest('[role="tab"]');
    if (tab) showView(tab.getAttribute('data-view'));
  });

  var form = document.getElementById('options');

  function fillForm() {
    form.elements.groupLibrary.checked = opts.groupLibrary;
    form.elements.removeImportlib.checked = opts.removeImportlib;
    form.elements.removeTracebackhide.checked = opts.removeTracebackhide;
    form.elements.showAll.checked = opts.showAll;
    form.elements.threshold.value = String(Math.round(opts.threshold * 1e6) / 1e4);
    form.elements.time.value = opts.time;
    form.elements.timeKind.value = timeKind();
    form.elements.timeKind.disabled = !cpuKnown;
    form.elements.timeKind.title = cpuKnown ? '' : data.options.ordered
      ? 'In time order (-t) the tree is weighed by wall-clock time.'
      : 'This profile did not record CPU time per call (recorded since JSON format 3).';
    form.elements.view.value = opts.view;
    form.elements.showRegex.value = opts.showRegex;
    form.elements.hideRegex.value = opts.hideRegex;
    ['showRegex', 'hideRegex'].forEach(function (k) {
      form.elements[k].setAttribute('aria-invalid', compile(opts[k]) === undefined ? 'true' : 'false');
    });
  }

  function refresh() {
    roots = processTree();
    flamePath = [];
    var count = markMatches(roots);
    document.getElementById('search-count').textContent = query ? count + (count === 1 ? ' match' : ' matches') : '';
    renderTree();
    if (spans) layoutSpans();
    if (current === 'timeline') drawTimeline();
    if (current === 'flame') renderFlame();
  }

  form.addEventListener('submit', function (e) { e.preventDefault(); });
  form.addEventListener('change', function () {
    opts.groupLibrary = form.elements.groupLibrary.checked;
    opts.removeImportlib = form.elements.removeImportlib.checked;
    opts.removeTracebackhide = form.elements.removeTracebackhide.checked;
    opts.showAll = form.elements.showAll.checked;
    var pct = Number(form.elements.threshold.value);
    if (isFinite(pct) && pct >= 0) opts.threshold = pct / 100;
    opts.time = form.elements.time.value;
    if (cpuKnown) opts.timeKind = form.elements.timeKind.value;
    opts.view = form.elements.view.value;
    opts.showRegex = form.elements.showRegex.value;
    opts.hideRegex = form.elements.hideRegex.value;
    saveOptions();
    fillForm();
    refresh();
  });
  document.getElementById('options-reset').addEventListener('click', function () {
    opts = JSON.parse(JSON.stringify(defaults));
    saveOptions();
    fillForm();
    refresh();
  });
  var optionsButton = document.getElementById('options-button');
  optionsButton.addEventListener('click', function () {
    var open = form.hidden;
    form.hidden = !open;
    optionsButton.setAttribute('aria-expanded', open ? 'true' : 'false');
  });

  var searchEl = document.getElementById('search');
  var searchTimer = 0;
  searchEl.addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      query = searchEl.value.trim().toLowerCase();
      refresh();
    }, 120);
  });
  searchEl.addEventListener('keydown', function (e) {
    if (e.key === 'Enter') {
      e.preventDefault();
      query = searchEl.value.trim().toLowerCase();
      refresh();
      showView('tree');
      var first = treeEl.querySelector('.node.match');
      if (first) {
        focusNode(first);
        first.scrollIntoView({ block: 'center' });
      }
    } else if (e.key === 'Escape') {
      searchEl.value = '';
      query = '';
      refresh();
    }
  });

  document.addEventListener('keydown', function (e) {
    var t = e.target;
    var typing = t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA');
    if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      searchEl.focus();
      searchEl.select();
    }
  });

  window.addEventListener('resize', function () {
    if (current === 'timeline') drawTimeline();
  });

  // ---- Start.

  (function details() {
    var parts = ['Python ' + data.python_version];
    if (data.start_time > 0) parts.push('Started: ' + new Date(data.start_time * 1000).toLocaleString());
    if (data.duration > 0) parts.push('CPU utilisation: ' + Math.round(data.cpu_time / data.duration * 100) + '%');
    document.getElementById('details').textContent = parts.join('   ');
  }());

  (function threadPicker() {
    var picker = document.getElementById('thread');
    if (threadFrames.length < 2) return;
    threadFrames.forEach(function (f) {
      var option = document.createElement('option');
      option.value = String(f);
      option.textContent = frames[f].function;
      picker.appendChild(option);
    });
    picker.parentNode.hidden = false;
    picker.addEventListener('change', function () {
      pickedThread = Number(picker.value);
      refresh();
    });
  }());

  if (!spans) {
    var tab = document.getElementById('tab-timeline');
    tab.disabled = true;
    tab.title = 'This profile did not record the order of its samples.';
  }
  fillForm();
  refresh();
  showView(opts.view);

  // For tests: the displayed tree as the Rust view model writes it
  // (`html::default_tree`), and the processing state.
  window.pyinstrumentViewer = {
    tree: function () {
      return roots.map(function plain(n) {
        var out = {};
        if (n.frame >= 0) out.frame = n.frame;
        if (n.kind === 'self') out.self = true;
        if (n.hidden) out.hidden = { frames: n.hidden.frames, libraries: n.hidden.libraries };
        out.time = Math.round(n.time * 1e6) / 1e6;
        prepare(n);
        if (!startsOpen(n)) out.collapsed = true;
        if (n.children.length) out.children = n.children.map(plain);
        return out;
      });
    },
    options: function () { return JSON.parse(JSON.stringify(opts)); },
    view: function () { return current; },
    timelineRange: function () { return [view.start, view.end]; },
    spanRows: function () { return spanRows; }
  };
}());
