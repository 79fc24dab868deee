// The local approval page: plain browser JavaScript, loaded as a module (so strict), no build
// step. The server's CSP allows only this file, the stylesheet and same-origin fetches.
// Everything an approval carries (note bodies, prompts, ids) is untrusted and goes into the
// page with textContent only.

import { api, bindKeyForm, getKey, setKey } from '/pages/gateway-client.js';

(() => {
  const REFRESH_MS = 5000;
  /** Characters a reader cannot see: controls (bar tab and new lines), zero-width and bidi marks. */
  const HIDDEN_CHARS =
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/gu;

  const byId = (id) => document.getElementById(id);
  const ui = {
    status: byId('status'),
    login: byId('login'),
    keyForm: byId('key-form'),
    key: byId('key'),
    queue: byId('queue'),
    queueTitle: byId('queue-title'),
    count: byId('count'),
    updated: byId('updated'),
    refresh: byId('refresh'),
    forget: byId('forget'),
    empty: byId('empty'),
    list: byId('list'),
    decided: byId('decided'),
    history: byId('history'),
  };

  /** approval_id → its card, so a refresh keeps cards (and focus) that are still pending. */
  const cards = new Map();
  /** Approvals decided in this tab: a list fetched before the decision must not bring them back. */
  const decidedIds = new Set();
  let timer = null;
  let loading = false;
  let statusFromLoad = false;
  let cardCount = 0;

  // ---- the key -------------------------------------------------------------------------------

  function signedIn() {
    ui.login.hidden = true;
    ui.queue.hidden = false;
    if (timer === null) timer = setInterval(() => void load(), REFRESH_MS);
  }

  function signOut(message, kind) {
    setKey(null);
    if (timer !== null) clearInterval(timer);
    timer = null;
    for (const card of cards.values()) card.remove();
    cards.clear();
    ui.queue.hidden = true;
    ui.login.hidden = false;
    ui.key.value = '';
    setStatus(message, kind);
    ui.key.focus();
  }

  // ---- talking to the gateway ----------------------------------------------------------------

  /** A refused key signs the tab out; true when the error was about the key. */
  function refusedKey(err) {
    if (err.code === 'unauthorized') {
      signOut(
        'That key was not accepted (401). Enter the approver key printed by npm start.',
        'error',
      );
      return true;
    }
    if (err.code === 'approver_required') {
      signOut(
        "That is not the approver key: it is the agent's key, and the agent can never approve its own writes (403). Enter the approver key.",
        'error',
      );
      return true;
    }
    return false;
  }

  async function load() {
    if (loading || !getKey()) return;
    loading = true;
    ui.queue.setAttribute('aria-busy', 'true');
    try {
      const body = await api('GET', '/approvals/pending');
      if (!getKey()) return; // the key was forgotten while the list was loading
      render(Array.isArray(body.approvals) ? body.approvals : []);
      ui.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      if (statusFromLoad) setStatus('');
    } catch (err) {
      if (!refusedKey(err)) {
        setStatus(`Could not load the pending writes: ${err.message}`, 'error');
        statusFromLoad = true;
      }
    } finally {
      loading = false;
      ui.queue.removeAttribute('aria-busy');
    }
  }

  async function decide(approval, decision, card) {
    // Read before the buttons are disabled (a disabled button loses focus).
    const hadFocus = card.contains(document.activeElement);
    const buttons = card.querySelectorAll('button');
    for (const b of buttons) b.disabled = true;
    card.dataset.busy = 'true';
    decidedIds.add(approval.approval_id);
    const verb = decision === 'approve' ? 'Approving' : 'Denying';
    setStatus(`${verb} ${describe(approval.action)}…`);
    let outcome;
    let kind = 'ok';
    try {
      // The decision names the hash shown on this card: the server refuses it (409) if the
      // action is not the one the approver read.
      const body = await api(
        'POST',
        `/approvals/${encodeURIComponent(approval.approval_id)}/${decision}`,
        { action_hash: approval.action_hash },
      );
      const decided = body.approval ?? {};
      if (decided.status === 'completed') {
        const noteId = decided.result?.note_id ?? '(unknown)';
        outcome = `Approved: note ${noteId} was written to ${target(approval.action)}.`;
      } else if (decided.status === 'denied') {
        outcome = `Denied: nothing was written to ${target(approval.action)}.`;
      } else {
        outcome = `The approval is now ${decided.status ?? 'in an unknown state'}.`;
        kind = 'error';
      }
    } catch (err) {
      if (refusedKey(err)) return;
      // The server's list decides again: a refused approval may still be pending.
      decidedIds.delete(approval.approval_id);
      kind = 'error';
      outcome =
        err.status === 0
          ? `${err.message} The decision may not have been recorded; refresh to see.`
          : `${decision === 'approve' ? 'Approval' : 'Denial'} failed (${err.status} ${err.code}): ${err.message}`;
    }
    delete card.dataset.busy;
    setStatus(outcome, kind);
    remember(approval, outcome, kind);
    // Focus goes to the list heading, never to the next Approve button: a second Enter must
    // not approve another write.
    card.remove();
    cards.delete(approval.approval_id);
    showCount();
    if (hadFocus) ui.queueTitle.focus();
    await load();
  }

  // ---- rendering -----------------------------------------------------------------------------

  function setStatus(message, kind) {
    statusFromLoad = false;
    ui.status.textContent = message;
    ui.status.classList.toggle('error', kind === 'error');
    ui.status.classList.toggle('ok', kind === 'ok');
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function asText(value) {
    if (value === null || value === undefined) return '';
    return typeof value === 'string' ? value : JSON.stringify(value);
  }

  function target(action) {
    if (action?.contact_id) return `contact ${asText(action.contact_id)}`;
    if (action?.company_id) return `company ${asText(action.company_id)}`;
    return 'no target';
  }

  function describe(action) {
    return `${asText(action?.action) || 'unknown action'} on ${target(action)}`;
  }

  function formatTime(iso) {
    const time = el('time', null, '');
    const date = new Date(iso);
    if (typeof iso !== 'string' || Number.isNaN(date.getTime())) {
      time.textContent = asText(iso) || 'unknown';
      return time;
    }
    time.dateTime = iso;
    time.title = iso;
    time.textContent = date.toLocaleString();
    return time;
  }

  function untilText(iso) {
    const ms = Date.parse(iso) - Date.now();
    if (Number.isNaN(ms)) return '';
    if (ms <= 0) return '(expired)';
    const minutes = Math.round(ms / 60000);
    if (minutes < 1) return '(in less than a minute)';
    if (minutes < 120) return `(in ${minutes} min)`;
    return `(in ${Math.round(minutes / 60)} h)`;
  }

  /** Text shown as is, with a warning when it carries characters nobody can see. */
  function textBlock(value, className) {
    const text = asText(value);
    const wrap = el('div');
    wrap.append(el('p', className, text));
    const hidden = text.match(HIDDEN_CHARS);
    if (hidden) {
      const codes = [...new Set(hidden)].map(
        (c) => `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`,
      );
      wrap.append(
        el('p', 'warning', `Contains ${hidden.length} hidden character(s): ${codes.join(', ')}.`),
      );
    }
    return wrap;
  }

  function row(dl, label, value) {
    dl.append(el('dt', null, label));
    const dd = el('dd');
    if (value instanceof Node) dd.append(value);
    else dd.textContent = asText(value);
    dl.append(dd);
    return dd;
  }

  const SHOWN_FIELDS = new Set(['action', 'contact_id', 'company_id', 'body']);

  function buildCard(approval) {
    const action = approval.action && typeof approval.action === 'object' ? approval.action : {};
    const card = el('li', 'card');
    const heading = el(
      'h3',
      null,
      // The catalog's heading for the write (`approvalHeading`), when it has one.
      typeof approval.heading === 'string'
        ? `${approval.heading} on ${target(action)}`
        : describe(action),
    );
    cardCount += 1;
    heading.id = `approval-${cardCount}`;
    card.append(heading);

    const what = el('dl', 'fields');
    row(what, 'Action', el('code', null, asText(action.action)));
    row(what, 'Target', target(action));
    if ('body' in action) {
      const body = asText(action.body);
      row(
        what,
        `Note body (${[...body].length} characters, exactly as written)`,
        textBlock(body, 'body'),
      );
    }
    // Anything else in the action is shown too: the approver sees all of what is written.
    for (const [name, value] of Object.entries(action)) {
      if (SHOWN_FIELDS.has(name) || value === null || value === undefined) continue;
      row(what, name, el('code', null, asText(value)));
    }
    card.append(what);

    const who = el('dl', 'fields meta');
    row(who, 'Asked by user', el('code', null, asText(approval.user_id)));
    row(who, 'Agent credential', el('code', null, asText(approval.requested_by)));
    row(who, 'Agent prompt', textBlock(approval.agent_prompt, 'prompt'));
    row(who, 'Action hash', el('code', 'hash', asText(approval.action_hash)));
    row(who, 'Created', formatTime(approval.created_at));
    const expires = row(who, 'Expires', formatTime(approval.expires_at));
    const until = el('span', 'until', ` ${untilText(approval.expires_at)}`);
    until.dataset.expires = asText(approval.expires_at);
    expires.append(until);
    row(who, 'Approval id', el('code', null, asText(approval.approval_id)));
    card.append(who);

    const buttons = el('div', 'decide');
    const approve = el('button', 'primary approve', 'Approve');
    const deny = el('button', 'deny', 'Deny');
    for (const button of [approve, deny]) {
      button.type = 'button';
      button.setAttribute('aria-describedby', heading.id);
    }
    approve.addEventListener('click', () => void decide(approval, 'approve', card));
    deny.addEventListener('click', () => void decide(approval, 'deny', card));
    buttons.append(approve, deny);
    card.append(buttons);
    return card;
  }

  function render(approvals) {
    const current = new Set();
    for (const approval of approvals) {
      if (!approval || typeof approval.approval_id !== 'string') continue;
      if (decidedIds.has(approval.approval_id)) continue;
      current.add(approval.approval_id);
      if (cards.has(approval.approval_id)) continue;
      const card = buildCard(approval);
      cards.set(approval.approval_id, card);
      ui.list.append(card);
    }
    for (const [id, card] of cards) {
      if (current.has(id) || card.dataset.busy) continue;
      card.remove();
      cards.delete(id);
    }
    for (const until of ui.list.querySelectorAll('.until')) {
      until.textContent = ` ${untilText(until.dataset.expires)}`;
    }
    showCount();
  }

  function showCount() {
    ui.count.textContent = `(${cards.size})`;
    ui.empty.hidden = cards.size > 0;
  }

  function remember(approval, outcome, kind) {
    const item = el('li', kind === 'error' ? 'error' : null);
    item.append(el('time', 'when', new Date().toLocaleTimeString()), ` ${outcome}`);
    const body = asText(approval.action?.body);
    if (body)
      item.append(el('span', 'excerpt', ` “${body.length > 80 ? `${body.slice(0, 80)}…` : body}”`));
    ui.history.prepend(item);
    ui.decided.hidden = false;
  }

  // ---- wiring --------------------------------------------------------------------------------

  bindKeyForm(ui.keyForm, ui.key, setStatus, () => {
    signedIn();
    ui.queueTitle.focus();
    void load();
  });

  ui.refresh.addEventListener('click', () => void load());
  ui.forget.addEventListener('click', () => signOut('The key is forgotten in this tab.', 'ok'));

  if (getKey()) {
    signedIn();
    void load();
  } else {
    ui.key.focus();
  }
})();
