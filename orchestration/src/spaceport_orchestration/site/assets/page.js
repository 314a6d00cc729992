// The results page: draws window.SPACEPORT_PAGE (data.js, written by site/page.py).
(function () {
  'use strict';
  const data = window.SPACEPORT_PAGE;
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, text) => {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const svgEl = (tag, attrs) => {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    return node;
  };
  const number = (value, digits) =>
    value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const bytes = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`);

  document.title = data.title;
  $('title').textContent = data.title;

  // ---- the viewer ------------------------------------------------------------------------
  if (data.viewer) {
    $('viewer-box').append(el('iframe', { src: data.viewer, title: 'splat viewer', allow: 'fullscreen' }));
  } else {
    $('viewer-box').append(el('p', { class: 'missing' },
      'No viewer here: the run has no .sog, or the viewer was not vendored (run `make setup`).'));
    $('viewer-full').hidden = true;
  }

  // ---- warnings and figures ----------------------------------------------------------------
  const warnings = data.stages.flatMap((s) => s.warnings.map((w) => `${s.stage}: ${w}`));
  if (warnings.length) {
    $('warnings').hidden = false;
    warnings.forEach((w) => $('warning-list').append(el('li', {}, w)));
  }
  data.stages.forEach((stage) => {
    const figures = data.figures.filter((f) => f.stage === stage.stage);
    if (!figures.length) return;
    const table = el('table', { 'data-stage': stage.stage });
    const head = el('tr');
    head.append(el('th', { class: 'stage', colspan: 2 }, stage.title));
    table.append(head);
    figures.forEach((f) => {
      const row = el('tr');
      row.append(el('td', {}, f.label));
      const shown = `${number(f.value * f.scale, f.digits)}${f.unit ? ' ' + f.unit : ''}`;
      row.append(el('td', {
        class: 'value', 'data-figure': `${f.stage}.${f.source}`,
        'data-scale': f.scale, 'data-digits': f.digits,
      }, shown));
      table.append(row);
    });
    $('figure-groups').append(table);
  });

  // ---- times -------------------------------------------------------------------------------
  const times = $('time-table');
  const head = el('tr');
  ['stage', 'this run (s)', 'steps (s)'].forEach((t) => head.append(el('th', { class: 'stage' }, t)));
  times.append(head);
  data.stages.forEach((s) => {
    const row = el('tr');
    row.append(el('td', {}, s.title));
    row.append(el('td', { class: 'value', 'data-seconds': s.stage },
      s.seconds == null ? '–' : number(s.seconds, 1)));
    const steps = Object.entries(s.timings_s).filter(([k]) => k !== 'total')
      .map(([k, v]) => `${k} ${number(v, 1)}`).join(', ');
    row.append(el('td', {}, steps));
    times.append(row);
  });

  // ---- training curve and renders ----------------------------------------------------------
  if (data.images.curve) $('curve').append(el('img', { src: data.images.curve, alt: 'training curve' }));
  else $('curve').append(el('p', { class: 'hint' }, 'No training curve in this run.'));
  data.images.renders.forEach((r) => {
    const fig = el('figure');
    fig.append(el('img', { src: r.href, alt: `held-out ${r.name}: photo | render` }));
    fig.append(el('figcaption', {}, `${r.name}: photo | render`));
    $('renders').append(fig);
  });

  // ---- downloads ---------------------------------------------------------------------------
  data.downloads.forEach((d) => {
    const li = el('li');
    li.append(el('a', { href: d.href, download: '' }, d.label));
    if (d.bytes != null) li.append(document.createTextNode(` (${bytes(d.bytes)})`));
    $('download-list').append(li);
  });

  // ---- the flight: top view, x east -> right, y north -> up ---------------------------------
  const flight = data.flight;
  const box = $('flight-box');
  if (!flight) {
    box.replaceWith(el('p', { class: 'hint' }, 'No flight data in this run.'));
    return;
  }
  const pts = flight.points.xyz;
  const cams = flight.cameras;
  const xy = [...pts, ...cams.flatMap((c) => [c.sfm, c.gps].filter(Boolean))];
  const xs = xy.map((p) => p[0]);
  const ys = xy.map((p) => -p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const span = Math.max(x1 - x0, y1 - y0, 1e-6);
  const pad = 0.05 * span;
  const home = [x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad];
  const s = span / 140; // marker size in model units
  const svg = svgEl('svg', { viewBox: home.join(' '), preserveAspectRatio: 'xMidYMid meet' });
  const dots = svgEl('g', { class: 'points' });
  pts.forEach((p, i) => {
    const c = flight.points.rgb[i];
    dots.append(svgEl('circle', { cx: p[0], cy: -p[1], r: s * 0.35, fill: `rgb(${c[0]},${c[1]},${c[2]})` }));
  });
  svg.append(dots);
  const placedPath = cams.filter((c) => c.placed).map((c) => `${c.sfm[0]},${-c.sfm[1]}`);
  if (placedPath.length > 1) {
    svg.append(svgEl('polyline', { points: placedPath.join(' '), fill: 'none', stroke: '#e8590c',
      'stroke-width': s * 0.25, 'stroke-opacity': 0.6 }));
  }
  let unseen = 0;
  cams.forEach((c) => {
    const g = svgEl('g', { class: 'photo', 'data-photo': c.name, 'data-placed': String(c.placed) });
    const title = svgEl('title');
    title.textContent = `${c.name}: ${c.placed ? 'placed' : 'not placed'}${c.gps ? '' : ', no GPS'}`;
    g.append(title);
    if (c.gps) {
      if (c.sfm) {
        g.append(svgEl('line', { x1: c.gps[0], y1: -c.gps[1], x2: c.sfm[0], y2: -c.sfm[1],
          stroke: '#1c7ed6', 'stroke-width': s * 0.15 }));
      }
      g.append(svgEl('rect', { x: c.gps[0] - s, y: -c.gps[1] - s, width: 2 * s, height: 2 * s,
        fill: 'none', stroke: c.placed ? '#1c7ed6' : '#c92a2a', 'stroke-width': s * 0.3 }));
    }
    if (c.sfm) {
      g.append(svgEl('circle', { cx: c.sfm[0], cy: -c.sfm[1], r: s * 0.8, fill: '#e8590c' }));
    } else if (c.gps) {
      const [x, y] = [c.gps[0], -c.gps[1]];
      g.append(svgEl('path', { d: `M${x - s},${y - s}L${x + s},${y + s}M${x - s},${y + s}L${x + s},${y - s}`,
        stroke: '#c92a2a', 'stroke-width': s * 0.4 }));
    } else {
      unseen += 1;
    }
    svg.append(g);
  });
  box.append(svg);
  const placed = cams.filter((c) => c.placed).length;
  const legend = $('flight-legend');
  legend.innerHTML =
    '<span class="swatch" style="background:#e8590c"></span>SfM camera centre' +
    '<span class="swatch" style="border:2px solid #1c7ed6"></span>EXIF GPS position' +
    '<span class="swatch" style="background:#c92a2a"></span>not placed (×)';
  legend.append(document.createTextNode(
    ` — ${placed} of ${cams.length} photos placed; ${flight.points.total} sparse points` +
    ` (${pts.length} drawn); ${flight.georeferenced ? 'ENU metres' : 'model units, no georeference'}` +
    (unseen ? `; ${unseen} photos neither placed nor geotagged cannot be drawn` : '')));

  // pan and zoom by moving the viewBox
  let view = home.slice();
  const apply = () => svg.setAttribute('viewBox', view.join(' '));
  const toModel = (event) => {
    const r = svg.getBoundingClientRect();
    const k = Math.max(view[2] / r.width, view[3] / r.height);
    const ox = view[0] + view[2] / 2 - (r.width * k) / 2;
    const oy = view[1] + view[3] / 2 - (r.height * k) / 2;
    return [ox + (event.clientX - r.left) * k, oy + (event.clientY - r.top) * k, k];
  };
  svg.addEventListener('wheel', (event) => {
    event.preventDefault();
    const [mx, my] = toModel(event);
    const f = Math.exp(event.deltaY * 0.0015);
    view = [mx - (mx - view[0]) * f, my - (my - view[1]) * f, view[2] * f, view[3] * f];
    apply();
  }, { passive: false });
  let drag = null;
  svg.addEventListener('pointerdown', (event) => {
    drag = { x: event.clientX, y: event.clientY, view: view.slice(), k: toModel(event)[2] };
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener('pointermove', (event) => {
    if (!drag) return;
    view = [drag.view[0] - (event.clientX - drag.x) * drag.k,
      drag.view[1] - (event.clientY - drag.y) * drag.k, drag.view[2], drag.view[3]];
    apply();
  });
  svg.addEventListener('pointerup', () => { drag = null; });
  svg.addEventListener('dblclick', () => { view = home.slice(); apply(); });
}());
