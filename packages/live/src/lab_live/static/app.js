/* lab live: the dashboard page. Listens to the server's event stream ("events"):
 * "snapshot" (every channel's latest value and history) then "update" events
 * (new points, changed summaries, resets, source status). Plots with uPlot. */
(function () {
  'use strict';

  var PLOT_HEIGHT = 170;
  var tbody = document.querySelector('#values tbody');
  var plotsEl = document.getElementById('plots');
  var channels = new Map();   // codename -> channel
  var clockOffset = 0;        // server unix time - this browser's unix time, seconds
  var historyMax = 1000;
  var drawQueued = false;
  var source = null;
  var stats = { snapshots: 0, updates: 0 };
  var meta = {};              // codename -> {unit, description} (from lab live --config / --unit)
  var windowS = 0;            // the time-window control: seconds shown, 0 = all the history
  //: a step in x this many times the usual one is a gap (a stop): the line breaks there
  var GAP_FACTOR = 5;
  window.labLive = { channels: channels, stats: stats, plotData: function (c) { return plotData(channels.get(c)); } };

  // -- formatting ---------------------------------------------------------------------
  function fmtNum(v, digits) {
    if (!isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    var a = Math.abs(v), p = Number(v.toPrecision(digits || 6));
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return p.toExponential();  // 1.5e-6, not 0.0000015
    return String(p);
  }
  function fmtTicks(u, splits) {  // y axis: readable for 1e-9 as for 1e9
    return splits.map(function (v) { return v === null ? '' : fmtNum(v, 4); });
  }
  function fmtValue(y) {
    if (y === null || y === undefined) return '\u2014';
    if (typeof y === 'number') return fmtNum(y);
    if (typeof y === 'boolean') return y ? 'true' : 'false';
    return String(y);
  }
  function isTime(x) { return typeof x === 'number' && x > 1e9 && x < 1e10; }  // unix seconds, 2001..2286
  function pad(n, w) { var s = String(n); while (s.length < (w || 2)) s = '0' + s; return s; }
  function fmtX(x) {
    if (x === null || x === undefined) return '';
    if (!isTime(x)) return fmtNum(x);
    var d = new Date(x * 1000), today = new Date();
    var t = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' +
            pad(d.getMilliseconds(), 3);
    if (d.toDateString() === today.toDateString()) return t;
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + t;
  }
  function fmtAge(s) {
    if (s < 0) s = 0;
    if (s < 10) return s.toFixed(1) + ' s';
    if (s < 120) return Math.round(s) + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return Math.round(s / 86400) + ' d';
  }
  function unitOf(codename) { return (meta[codename] && meta[codename].unit) || ''; }
  function withUnit(codename, text) {
    var unit = unitOf(codename);
    return unit && text !== '\u2014' ? text + ' ' + unit : text;
  }
  function serverNow() { return Date.now() / 1000 + clockOffset; }

  // -- channels: a table row and a plot card per codename ----------------------------------
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function insertSorted(parent, node, codename) {
    var kids = parent.children;
    for (var i = 0; i < kids.length; i++) {
      if (kids[i].dataset.codename > codename) { parent.insertBefore(node, kids[i]); return; }
    }
    parent.appendChild(node);
  }
  function channel(codename) {
    var ch = channels.get(codename);
    if (ch) return ch;
    var row = el('tr', 'nodata');
    row.dataset.codename = codename;
    var cells = {
      codename: el('td', 'codename', codename), value: el('td', 'value num'), x: el('td', 'x'),
      age: el('td', 'age num'), source: el('td', 'source'), status: el('td', 'status')
    };
    var label = el('span', 'label', 'no data');
    cells.status.appendChild(label);
    Object.keys(cells).forEach(function (k) { row.appendChild(cells[k]); });
    insertSorted(tbody, row, codename);

    var card = el('div', 'card nodata');
    card.dataset.codename = codename;
    var head = el('div', 'card-head');
    var cardLabel = el('span', 'label', 'no data');
    var latest = el('span', 'latest');
    var name = el('span', 'name', codename);
    if (meta[codename] && meta[codename].description) name.title = meta[codename].description;
    head.appendChild(name);
    head.appendChild(cardLabel);
    head.appendChild(latest);
    var plotEl = el('div', 'plot');
    card.appendChild(head);
    card.appendChild(plotEl);
    insertSorted(plotsEl, card, codename);

    ch = { codename: codename, row: row, cells: cells, label: label, card: card, cardLabel: cardLabel,
           latest: latest, plotEl: plotEl, xs: [], ys: [], numeric: false, boolean: false, plot: null, timeX: null,
           summary: null, dirty: true };
    channels.set(codename, ch);
    return ch;
  }

  function applySummary(ch, s) {
    ch.summary = s;
    var state = s.stale ? 'stale' : (s.reset ? 'reset' : (s.has_value ? 'live' : 'nodata'));
    var text = { live: 'live', nodata: 'no data', reset: 'reset', stale: 'stale' }[state];
    var detail = '';
    if (s.stale) {
      detail = s.reason === 'OLD_DATA' ? 'the pull socket serves OLD_DATA' : (s.reason || '');
      text = 'STALE: ' + (s.reason || '');
    }
    ['stale', 'reset', 'nodata', 'live'].forEach(function (c) {
      ch.row.classList.toggle(c, c === state);
      ch.card.classList.toggle(c, c === state);
    });
    var value = s.has_value ? withUnit(ch.codename, fmtValue(s.y)) : '\u2014';
    ch.cells.value.textContent = value;
    ch.cells.value.title = value;
    ch.cells.x.textContent = s.has_value ? fmtX(s.x) : '';
    ch.cells.source.textContent = s.source || '';
    ch.label.textContent = text;
    ch.label.title = detail;
    ch.cardLabel.textContent = text;
    ch.cardLabel.title = detail;
    ch.latest.textContent = value;
    updateAge(ch);
  }
  function updateAge(ch) {
    var s = ch.summary;
    ch.cells.age.textContent = s && s.updated ? fmtAge(serverNow() - s.updated) : '';
  }

  function addPoints(ch, points) {
    for (var i = 0; i < points.length; i++) {
      var y = points[i][1];
      ch.xs.push(points[i][0]);
      if (typeof y === 'number') { ch.ys.push(y); ch.numeric = true; }
      else if (typeof y === 'boolean') { ch.ys.push(y ? 1 : 0); ch.numeric = true; ch.boolean = true; }
      else { ch.ys.push(null); }
    }
    var extra = ch.xs.length - historyMax;
    if (extra > 0) { ch.xs.splice(0, extra); ch.ys.splice(0, extra); }
    ch.dirty = true;
  }
  function resetChannel(ch) {
    ch.xs = []; ch.ys = []; ch.numeric = false; ch.boolean = false; ch.dirty = true;
  }
  function removeChannel(ch) {
    if (ch.plot) ch.plot.destroy();
    ch.row.remove(); ch.card.remove();
  }

  // -- plots ------------------------------------------------------------------------------
  // What a plot shows: the chosen time window, with a null (a break in the line) inside
  // every gap much longer than the usual interval, so a stop is not drawn as a ramp.
  function plotData(ch) {
    var xs = ch.xs, ys = ch.ys, start = 0;
    if (windowS > 0 && isTime(xs[xs.length - 1])) {
      var from = xs[xs.length - 1] - windowS;
      while (start < xs.length && xs[start] < from) start++;
    }
    var steps = [];
    for (var i = start + 1; i < xs.length; i++) steps.push(xs[i] - xs[i - 1]);
    var usual = steps.slice().sort(function (a, b) { return a - b; })[steps.length >> 1] || 0;
    var outX = [], outY = [];
    for (var k = start; k < xs.length; k++) {
      if (k > start && usual > 0 && xs[k] - xs[k - 1] > GAP_FACTOR * usual) {
        outX.push((xs[k] + xs[k - 1]) / 2); outY.push(null);
      }
      outX.push(xs[k]); outY.push(ys[k]);
    }
    return [outX, outY];
  }
  function boolTicks(u, splits) { return splits.map(function (v) { return v === 1 ? 'true' : (v === 0 ? 'false' : ''); }); }
  function plotWidth(ch) { return Math.max(200, ch.plotEl.clientWidth || ch.card.clientWidth - 16 || 360); }
  function makePlot(ch, timeX) {
    if (ch.plot) ch.plot.destroy();
    ch.plotEl.textContent = '';
    ch.timeX = timeX;
    var axis = { stroke: '#6b7280', grid: { stroke: '#eef0f3', width: 1 }, ticks: { stroke: '#e3e6eb', width: 1 } };
    ch.plot = new uPlot({
      width: plotWidth(ch), height: PLOT_HEIGHT,
      scales: { x: { time: timeX, range: function (u, min, max) {
        var xs = u.data[0], first = xs[0], last = xs[xs.length - 1];
        if (xs.length && first === last) {  // one x only: a small window around it, not uPlot's day
          var d = timeX ? 30 : (Math.abs(first) * 0.1 || 1);
          return [first - d, first + d];
        }
        return [min, max];
      } } },
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      series: [{}, { label: ch.codename, stroke: '#1a73e8', width: 1.5, fill: 'rgba(26,115,232,0.06)',
                     points: { size: 4 }, spanGaps: false,
                     paths: ch.boolean ? uPlot.paths.stepped({ align: 1 }) : undefined }],
      axes: [Object.assign({}, axis), Object.assign({ size: 70, values: ch.boolean ? boolTicks : fmtTicks,
                                                        label: unitOf(ch.codename) || undefined,
                                                        splits: ch.boolean ? function () { return [0, 1]; } : undefined },
                                                      axis)]
    }, plotData(ch), ch.plotEl);
    ch.plotBoolean = ch.boolean;
    if (ch.boolean) ch.plot.setScale('y', { min: -0.15, max: 1.15 });
  }
  function draw() {
    drawQueued = false;
    channels.forEach(function (ch) {
      if (!ch.dirty) return;
      ch.dirty = false;
      if (!ch.numeric) {
        if (ch.plot) { ch.plot.destroy(); ch.plot = null; }
        var note = ch.xs.length ? 'not numeric: shown in the table only' : 'waiting for data';
        if (ch.plotEl.textContent !== note) {
          ch.plotEl.textContent = '';
          ch.plotEl.appendChild(el('div', 'note', note));
        }
        return;
      }
      var timeX = isTime(ch.xs[ch.xs.length - 1]);
      if (!ch.plot || ch.timeX !== timeX || ch.plotBoolean !== ch.boolean) makePlot(ch, timeX);
      else ch.plot.setData(plotData(ch));
    });
  }
  function queueDraw() {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(draw);
  }
  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      channels.forEach(function (ch) { if (ch.plot) ch.plot.setSize({ width: plotWidth(ch), height: PLOT_HEIGHT }); });
    }, 150);
  });

  // -- sources and counts -------------------------------------------------------------------
  function renderSources(status) {
    var list = document.getElementById('sources');
    list.textContent = '';
    Object.keys(status || {}).sort().forEach(function (key) {
      var s = status[key], li = el('li');
      if (s.kind === 'udp') {
        li.appendChild(el('b', null, 'LiveSocket udp ' + s.address));
        li.appendChild(document.createTextNode(' \u00b7 ' + s.datagrams + ' datagrams \u00b7 ' + s.bad + ' bad'));
        if (s.last_error) li.title = 'last bad datagram ' + s.last_error;
      } else {
        li.appendChild(el('b', null, 'pull ' + s.address));
        var txt = ' \u00b7 ' + s.state;
        if (s.state === 'ok') txt += ' \u00b7 ' + s.codenames + ' codenames';
        else if (s.error) txt += ': ' + s.error;
        li.appendChild(document.createTextNode(txt));
        li.classList.toggle('bad', s.state !== 'ok' && s.state !== 'waiting');
      }
      list.appendChild(li);
    });
  }
  function renderCounts() {
    var stale = 0;
    channels.forEach(function (ch) { if (ch.summary && ch.summary.stale) stale++; });
    document.getElementById('counts').textContent = channels.size + ' codenames \u00b7 ' + stale + ' stale';
    document.getElementById('empty').hidden = channels.size > 0;
  }

  // -- events -----------------------------------------------------------------------------
  function onSnapshot(d) {
    stats.snapshots++;
    clockOffset = d.now - Date.now() / 1000;
    historyMax = d.history_points || historyMax;
    if (d.title) { document.title = d.title; document.getElementById('title').textContent = d.title; }
    meta = d.meta || {};
    setConn('open', 'connected');
    document.getElementById('empty').textContent = document.getElementById('empty').dataset.nodata;
    channels.forEach(removeChannel);
    channels.clear();
    Object.keys(d.channels).forEach(function (codename) {
      var ch = channel(codename);
      addPoints(ch, (d.history && d.history[codename]) || []);
      applySummary(ch, d.channels[codename]);
    });
    renderSources(d.status);
    renderCounts();
    queueDraw();
  }
  function onUpdate(d) {
    stats.updates++;
    clockOffset = d.now - Date.now() / 1000;
    d.reset.forEach(function (codename) { resetChannel(channel(codename)); });
    Object.keys(d.points).forEach(function (codename) { addPoints(channel(codename), d.points[codename]); });
    Object.keys(d.channels).forEach(function (codename) { applySummary(channel(codename), d.channels[codename]); });
    if (d.status) renderSources(d.status);
    renderCounts();
    queueDraw();
  }
  function setConn(state, text) {
    var c = document.getElementById('conn');
    c.className = 'conn ' + state;
    c.textContent = text;
    document.body.classList.toggle('offline', state !== 'open');
  }
  function connect() {
    source = new EventSource('events');
    source.addEventListener('snapshot', function (e) { onSnapshot(JSON.parse(e.data)); });
    source.addEventListener('update', function (e) { onUpdate(JSON.parse(e.data)); });
    source.onopen = function () { setConn('connecting', 'connecting\u2026 (waiting for the first snapshot)'); };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {  // refused (e.g. too many browsers): retry later
        setConn('closed', 'disconnected: retrying');
        setTimeout(connect, 5000);
      } else {
        setConn('connecting', 'reconnecting\u2026');
      }
    };
  }
  document.getElementById('window').addEventListener('change', function (e) {
    windowS = Number(e.target.value) || 0;
    channels.forEach(function (ch) { ch.dirty = true; });
    queueDraw();
  });
  setInterval(function () { channels.forEach(updateAge); }, 1000);
  connect();
})();
