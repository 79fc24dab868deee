// The local dashboard: plain browser JavaScript, loaded as a module (so strict), no build step,
// no chart library. The server's CSP allows only this file, the stylesheet and same-origin
// fetches, so the charts are SVG built with DOM calls and carry no style attributes. User ids
// and reasons come from agent requests: they are untrusted and go in with textContent only.

import { api, bindKeyForm, getKey, setKey } from '/pages/gateway-client.js';

(() => {
  const REFRESH_MS = 5000;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const byId = (id) => document.getElementById(id);
  const ui = {
    status: byId('status'),
    login: byId('login'),
    keyForm: byId('key-form'),
    key: byId('key'),
    board: byId('board'),
    boardTitle: byId('board-title'),
    updated: byId('updated'),
    refresh: byId('refresh'),
    forget: byId('forget'),
    totals: byId('totals'),
    alarmSummary: byId('alarm-summary'),
    alarmRows: byId('alarm-rows'),
    reasonsTable: byId('reasons-table'),
    reasonsEmpty: byId('reasons-empty'),
    reasonRows: byId('reason-rows'),
    readersTable: byId('readers-table'),
    readersEmpty: byId('readers-empty'),
    readerRows: byId('reader-rows'),
  };
  const BASE_TITLE = document.title;

  let timer = null;
  let loading = false;
  /** Alarm id → state at the last load, to announce only what changed. */
  let lastStates = null;
  /** True while the status shows a failed load, so the next good one can say so. */
  let loadFailed = false;

  // ---- the key -------------------------------------------------------------------------------

  function signedIn() {
    ui.login.hidden = true;
    ui.board.hidden = false;
    if (timer === null) timer = setInterval(() => void load(), REFRESH_MS);
  }

  function signOut(message, kind) {
    setKey(null);
    if (timer !== null) clearInterval(timer);
    timer = null;
    lastStates = null;
    loadFailed = false;
    ui.board.hidden = true;
    ui.login.hidden = false;
    ui.key.value = '';
    document.title = BASE_TITLE;
    setStatus(message, kind);
    ui.key.focus();
  }

  // ---- talking to the gateway ----------------------------------------------------------------

  /** A refused key signs the tab out; true when the error was about the key. */
  function refusedKey(err) {
    if (err.code === 'unauthorized' || err.status === 401) {
      signOut(
        'That key was not accepted (401). Enter the approver key printed by npm start.',
        'error',
      );
      return true;
    }
    if (err.code === 'approver_required' || err.status === 403) {
      signOut(
        "That is not the approver key: it is the agent's key, and the dashboard is for approvers only (403). Enter the approver key.",
        'error',
      );
      return true;
    }
    return false;
  }

  async function load() {
    if (loading || !getKey()) return;
    loading = true;
    ui.board.setAttribute('aria-busy', 'true');
    try {
      const data = await api('GET', '/dashboard/data');
      if (!getKey()) return; // the key was forgotten while the data was loading
      render(data);
      ui.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (!refusedKey(err)) {
        setStatus(`Could not load the dashboard: ${err.message}`, 'error');
        loadFailed = true;
      }
    } finally {
      loading = false;
      ui.board.removeAttribute('aria-busy');
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  function setStatus(message, kind) {
    ui.status.textContent = message;
    ui.status.classList.toggle('error', kind === 'error');
    ui.status.classList.toggle('ok', kind === 'ok');
    ui.status.classList.toggle('alarm', kind === 'alarm');
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** A count from the server: anything else is 0. */
  function num(value) {
    return typeof value === 'number' && Number.isFinite(value) ? value : 0;
  }

  function asText(value) {
    if (value === null || value === undefined) return '';
    return typeof value === 'string' ? value : JSON.stringify(value);
  }

  function fmt(n) {
    return Number.isInteger(n) ? n.toLocaleString('en') : n.toFixed(1);
  }

  function plural(n, one, many) {
    return `${fmt(n)} ${n === 1 ? one : many}`;
  }

  function clock(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return '?';
    return `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`;
  }

  /** How long a write has waited, from whole minutes. */
  function age(minutes) {
    return minutes < 1 ? 'less than a minute' : plural(minutes, 'minute', 'minutes');
  }

  function windowText(seconds) {
    const s = num(seconds);
    if (s >= 3600 && s % 3600 === 0) return s === 3600 ? '1 hour' : `${s / 3600} hours`;
    if (s >= 60 && s % 60 === 0) return s === 60 ? '1 minute' : `${s / 60} minutes`;
    return `${fmt(s)} s`;
  }

  /** The axis maximum: four steps of 1, 2 or 5 × 10^k covering `n`. */
  function niceMax(n) {
    const rough = Math.max(n, 1) / 4;
    if (rough <= 1) return 4;
    const p = 10 ** Math.floor(Math.log10(rough));
    const f = rough / p;
    const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
    return step * 4;
  }

  // ---- charts --------------------------------------------------------------------------------

  /** The chart's height in CSS pixels; its width is the plot's, so text keeps its size. */
  const H = 200;
  const M = { left: 46, right: 14, top: 16, bottom: 28 };
  let chartCount = 0;

  /**
   * A bar chart of the last hour, one bar per minute (stacked when there are several series),
   * as an SVG image whose <title> and <desc> say what the bars show.
   */
  function barChart(figure, options) {
    const { minutes, series, threshold, title, summary, unit } = options;
    const plot = figure.querySelector('.plot');
    const caption = figure.querySelector('figcaption');
    chartCount += 1;
    const id = `${figure.id}-${chartCount}`;
    const totals = minutes.map((m) => series.reduce((sum, s) => sum + num(m[s.key]), 0));
    const top = niceMax(Math.max(...totals, threshold === undefined ? 0 : threshold * 1.15));
    const W = Math.max(Math.round(plot.clientWidth) || 640, 280);
    const innerW = W - M.left - M.right;
    const innerH = H - M.top - M.bottom;
    const slot = innerW / Math.max(minutes.length, 1);
    const y = (v) => M.top + innerH - (v / top) * innerH;

    const root = svg('svg', {
      viewBox: `0 0 ${W} ${H}`,
      class: 'chart-svg',
      role: 'img',
      'aria-labelledby': `${id}-title ${id}-desc`,
    });
    root.append(
      svg('title', { id: `${id}-title` }, title),
      svg('desc', { id: `${id}-desc` }, summary),
    );

    const axes = svg('g', { class: 'axes', 'aria-hidden': 'true' });
    for (let i = 0; i <= 4; i += 1) {
      const v = (top / 4) * i;
      axes.append(
        svg('line', {
          class: i === 0 ? 'baseline' : 'grid',
          x1: M.left,
          x2: W - M.right,
          y1: y(v),
          y2: y(v),
        }),
        svg('text', { class: 'tick', x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)),
      );
    }
    const last = minutes.length - 1;
    for (const i of [0, 15, 30, 45, last]) {
      if (i < 0 || i > last) continue;
      const x = M.left + slot * i + slot / 2;
      const anchor = i === 0 ? 'start' : i === last ? 'end' : 'middle';
      axes.append(
        svg('line', { class: 'tick-mark', x1: x, x2: x, y1: y(0), y2: y(0) + 4 }),
        svg(
          'text',
          {
            class: 'tick',
            x: i === 0 ? M.left : i === last ? W - M.right : x,
            y: H - 8,
            'text-anchor': anchor,
          },
          clock(minutes[i].minute),
        ),
      );
    }
    root.append(axes);

    const bars = svg('g', { class: 'bars' });
    minutes.forEach((m, i) => {
      if (totals[i] === 0) return;
      const group = svg('g', { class: 'minute' });
      const parts = series
        .filter((s) => num(m[s.key]) > 0)
        .map((s) => `${fmt(num(m[s.key]))} ${s.label}`);
      group.append(svg('title', {}, `${clock(m.minute)}: ${parts.join(', ')}`));
      let base = 0;
      for (const s of series) {
        const v = num(m[s.key]);
        if (v <= 0) continue;
        const over = threshold !== undefined && totals[i] > threshold;
        group.append(
          svg('rect', {
            class: `bar ${s.className}${over ? ' over' : ''}`,
            x: M.left + slot * i + slot * 0.12,
            width: slot * 0.76,
            y: y(base + v),
            height: Math.max(y(base) - y(base + v), 1),
          }),
        );
        base += v;
      }
      bars.append(group);
    });
    root.append(bars);

    if (threshold !== undefined) {
      const ty = y(threshold);
      root.append(
        svg('line', { class: 'threshold', x1: M.left, x2: W - M.right, y1: ty, y2: ty }),
        // At the left: the newest minutes, where a burst stands, are at the right.
        svg(
          'text',
          { class: 'threshold-label', x: M.left + 6, y: ty - 5, 'text-anchor': 'start' },
          `alarm above ${fmt(threshold)} ${unit}/min`,
        ),
      );
    }

    plot.replaceChildren(root);
    caption.textContent = summary;
  }

  /** "26 requests in the last hour; busiest minute 14:03 with 26; 3 in the current minute." */
  function countSummary(minutes, key, one, many) {
    const values = minutes.map((m) => num(m[key]));
    const total = values.reduce((a, b) => a + b, 0);
    if (total === 0) return { total, text: `No ${many} in the last hour.` };
    const peak = Math.max(...values);
    const at = minutes[values.indexOf(peak)];
    const now = values[values.length - 1] ?? 0;
    return {
      total,
      peak,
      text: `${plural(total, one, many)} in the last hour; busiest minute ${clock(at.minute)} with ${fmt(peak)}; ${fmt(now)} in the current minute.`,
    };
  }

  function renderCharts(data) {
    const minutes = data.minutes;
    const requests = countSummary(minutes, 'Requests', 'request', 'requests');
    barChart(byId('chart-requests'), {
      minutes,
      series: [{ key: 'Requests', label: 'requests', className: 's-requests' }],
      title: 'Requests per minute, last 60 minutes',
      summary: requests.text,
    });

    const rejections = countSummary(minutes, 'Rejections', 'rejection', 'rejections');
    barChart(byId('chart-rejections'), {
      minutes,
      series: [{ key: 'Rejections', label: 'rejections', className: 's-rejections' }],
      title: 'Rejections per minute, last 60 minutes',
      summary: rejections.text,
    });

    const threshold = num(data.thresholds?.contactReadsPerMinute);
    const reads = countSummary(minutes, 'ContactReads', 'contact read', 'contact reads');
    const over = minutes.filter((m) => num(m.ContactReads) > threshold).length;
    const readsText =
      reads.total === 0
        ? `No contact reads in the last hour (alarm above ${fmt(threshold)} per minute).`
        : `${reads.text} ${
            over === 0
              ? `Never above the alarm threshold of ${fmt(threshold)} per minute.`
              : `Above the alarm threshold of ${fmt(threshold)} per minute in ${plural(over, 'minute', 'minutes')}.`
          }`;
    barChart(byId('chart-reads'), {
      minutes,
      series: [{ key: 'ContactReads', label: 'contact reads', className: 's-reads' }],
      threshold,
      unit: 'reads',
      title: `Contact reads per minute, last 60 minutes, with the alarm threshold of ${fmt(threshold)}`,
      summary: readsText,
    });

    const approvalSeries = [
      { key: 'ApprovalsRequested', label: 'requested', className: 's-requested' },
      { key: 'ApprovalsApproved', label: 'approved', className: 's-approved' },
      { key: 'ApprovalsDenied', label: 'denied', className: 's-denied' },
      { key: 'ApprovalsExpired', label: 'expired', className: 's-expired' },
    ];
    const sums = approvalSeries.map((s) => minutes.reduce((a, m) => a + num(m[s.key]), 0));
    const pending = num(data.approvals_pending);
    const oldest = num(data.oldest_pending_minutes);
    const approvalsText = `Last hour: ${approvalSeries
      .map((s, i) => `${fmt(sums[i])} ${s.label}`)
      .join(', ')}. ${
      pending === 0
        ? 'Nothing is waiting for approval now.'
        : `${plural(pending, 'write', 'writes')} waiting now, the oldest for ${age(oldest)}.`
    }`;
    const figure = byId('chart-approvals');
    const legend = figure.querySelector('.legend');
    legend.replaceChildren(
      ...approvalSeries.map((s, i) => {
        const item = el('li');
        item.append(el('span', `swatch ${s.className}`), `${s.label} (${fmt(sums[i])})`);
        return item;
      }),
    );
    barChart(figure, {
      minutes,
      series: approvalSeries,
      title: 'Approvals per minute, last 60 minutes: requested, approved, denied and expired',
      summary: approvalsText,
    });

    return { requests, rejections, reads };
  }

  // ---- the rest of the board -----------------------------------------------------------------

  function renderTotals(data, sums) {
    const minutes = data.minutes;
    const sum = (key) => minutes.reduce((a, m) => a + num(m[key]), 0);
    const pending = num(data.approvals_pending);
    const tiles = [
      ['Requests', sums.requests.total],
      ['Rejections', sums.rejections.total],
      ['Server errors', sum('ServerErrors')],
      ['Contact reads', sums.reads.total],
      ['Records returned', sum('RecordsReturned')],
      ['Rate-limited', sum('RateLimited')],
      [
        'Pending approvals',
        pending,
        pending > 0 ? `oldest ${age(num(data.oldest_pending_minutes))}` : '',
      ],
    ];
    ui.totals.replaceChildren(
      ...tiles.map(([label, value, note]) => {
        const item = el('li', 'tile');
        item.append(el('span', 'tile-value', fmt(value)), el('span', 'tile-label', label));
        if (note) item.append(el('span', 'tile-note', note));
        return item;
      }),
    );
  }

  /** A table cell with its role and, for narrow screens, its column's name. */
  function cell(tag, className, label, text) {
    const node = el(tag, className, text);
    node.setAttribute('role', 'cell');
    if (label) node.dataset.label = label;
    return node;
  }

  function renderAlarms(alarms) {
    const rows = alarms.map((a) => {
      const firing = a.state === 'ALARM';
      const row = el('tr', firing ? 'alarm' : 'ok');
      row.setAttribute('role', 'row');
      row.dataset.alarm = asText(a.id);
      const state = cell('td', 'state', 'State');
      state.append(
        el('span', `badge ${firing ? 'badge-alarm' : 'badge-ok'}`, firing ? 'ALARM' : 'OK'),
      );
      const name = cell('th', 'rule', 'Rule');
      name.scope = 'row';
      name.setAttribute('role', 'rowheader');
      name.append(el('code', null, asText(a.id)));
      row.append(
        state,
        name,
        cell('td', 'num value', 'Value', fmt(num(a.value))),
        cell('td', 'num threshold', 'Threshold', fmt(num(a.threshold))),
        cell('td', 'window', 'Window', windowText(a.period_seconds)),
        cell('td', 'description', null, asText(a.description)),
      );
      return row;
    });
    ui.alarmRows.replaceChildren(...rows);
    const firing = alarms.filter((a) => a.state === 'ALARM');
    ui.alarmSummary.textContent =
      firing.length === 0
        ? `All ${plural(alarms.length, 'rule is', 'rules are')} OK.`
        : `${firing.length} of ${plural(alarms.length, 'rule', 'rules')} in ALARM: ${firing.map((a) => asText(a.id)).join(', ')}.`;
    ui.alarmSummary.classList.toggle('firing', firing.length > 0);
    document.title = firing.length === 0 ? BASE_TITLE : `(${firing.length} ALARM) ${BASE_TITLE}`;
  }

  /** What changed since the last load, for the live region. */
  function announce(alarms) {
    const firing = alarms.filter((a) => a.state === 'ALARM');
    const describe = (a) =>
      `${asText(a.id)} is in ALARM (${fmt(num(a.value))}, threshold ${fmt(num(a.threshold))})`;
    let message = '';
    let kind = firing.length > 0 ? 'alarm' : 'ok';
    if (lastStates === null) {
      message =
        firing.length === 0
          ? `All ${alarms.length} alarm rules are OK.`
          : `${firing.map(describe).join('; ')}.`;
    } else {
      const changes = [];
      for (const a of alarms) {
        const before = lastStates.get(a.id);
        if (before === undefined || before === a.state) continue;
        changes.push(a.state === 'ALARM' ? describe(a) : `${asText(a.id)} is OK again`);
      }
      if (changes.length > 0) message = `${changes.join('; ')}.`;
      else if (loadFailed) message = 'Connected again.';
      else kind = null;
    }
    lastStates = new Map(alarms.map((a) => [a.id, a.state]));
    loadFailed = false;
    if (kind !== null) setStatus(message, kind);
  }

  function renderTable(rows, table, empty, tbody, makeRow) {
    table.hidden = rows.length === 0;
    empty.hidden = rows.length > 0;
    tbody.replaceChildren(...rows.map(makeRow));
  }

  /** The last data shown, to redraw the charts at a new width. */
  let shown = null;
  let resizeTimer = null;

  function render(data) {
    const minutes = Array.isArray(data.minutes)
      ? data.minutes.filter((m) => m && typeof m === 'object')
      : [];
    const alarms = Array.isArray(data.alarms)
      ? data.alarms.filter((a) => a && typeof a === 'object')
      : [];
    const safe = { ...data, minutes };
    shown = safe;
    const sums = renderCharts(safe);
    renderTotals(safe, sums);
    renderAlarms(alarms);

    const reasons = Object.entries(
      data.rejections_by_reason && typeof data.rejections_by_reason === 'object'
        ? data.rejections_by_reason
        : {},
    )
      .map(([reason, n]) => [reason, num(n)])
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    renderTable(reasons, ui.reasonsTable, ui.reasonsEmpty, ui.reasonRows, ([reason, n]) => {
      const row = el('tr');
      const cell = el('th');
      cell.scope = 'row';
      cell.append(el('code', null, reason));
      row.append(cell, el('td', 'num', fmt(n)));
      return row;
    });

    const readers = Array.isArray(data.top_readers)
      ? data.top_readers.filter((r) => r && typeof r === 'object')
      : [];
    renderTable(readers, ui.readersTable, ui.readersEmpty, ui.readerRows, (r) => {
      const row = el('tr');
      const cell = el('th');
      cell.scope = 'row';
      cell.append(el('code', 'user', asText(r.user_id)));
      row.append(cell, el('td', 'num', fmt(num(r.records))));
      return row;
    });

    announce(alarms);
  }

  // ---- wiring --------------------------------------------------------------------------------

  bindKeyForm(ui.keyForm, ui.key, setStatus, () => {
    signedIn();
    ui.boardTitle.focus();
    void load();
  });

  // Explicit roles on the alarm table: narrow screens lay its rows out as blocks, and some
  // browsers then drop the table semantics. The rows get theirs in renderAlarms.
  byId('alarm-table').setAttribute('role', 'table');
  for (const group of byId('alarm-table').querySelectorAll('thead, tbody')) {
    group.setAttribute('role', 'rowgroup');
  }
  for (const row of byId('alarm-table').querySelectorAll('thead tr'))
    row.setAttribute('role', 'row');
  for (const th of byId('alarm-table').querySelectorAll('thead th')) {
    th.setAttribute('role', 'columnheader');
  }

  ui.refresh.addEventListener('click', () => void load());
  window.addEventListener('resize', () => {
    if (resizeTimer !== null) clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      resizeTimer = null;
      if (shown && !ui.board.hidden) renderCharts(shown);
    }, 150);
  });
  ui.forget.addEventListener('click', () => signOut('The key is forgotten in this tab.', 'ok'));

  if (getKey()) {
    signedIn();
    void load();
  } else {
    ui.key.focus();
  }
})();
