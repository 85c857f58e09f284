// Roster playground: draws what one Slack user sees, from the Block Kit
// JSON the real Roster bot sent to fakeslack, and turns clicks, commands
// and forms into the envelopes Slack would send (through the playground's
// server). Plain JavaScript, no build step, nothing loaded from elsewhere.
//
// Every piece of text from Roster or a user reaches the page as a text
// node (textContent, append of a string): nothing is ever parsed as HTML.
'use strict';

(function () {
  const DEFAULT_USER = 'U0D000010'; // Mia Member (fakeslack.DemoMemberID)
  const POLL_MS = 500;

  const ui = {
    user: DEFAULT_USER,
    view: 'dm', // 'home', 'dm' or a channel name ('approvals')
    state: null,
    lastText: '',
    memo: {},
    forms: new Map(), // what was typed or picked: `${viewId}/${blockId}/${actionId}` → value
    clientErrors: {}, // view ID → {block_id: message} for required fields left empty
    seen: {}, // `${user}|${channel}` → messages seen
    usersById: new Map(),
    memberStates: null, // user ID → deactivated, as last drawn
    channelsById: new Map(),
    timer: 0,
    polling: false,
    again: false,
    confirmCancel: null,
  };

  const $ = (sel, root) => (root || document).querySelector(sel);

  // h builds an element. Strings among the children become text nodes.
  function h(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v == null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'dataset') Object.assign(e.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false) continue;
      e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  }

  // ---- mrkdwn ----------------------------------------------------------

  const EMOJI = {
    raised_hand: '✋', white_check_mark: '✅', x: '❌', hourglass: '⌛',
    hourglass_flowing_sand: '⏳', heavy_minus_sign: '➖', warning: '⚠️', test_tube: '🧪',
    incoming_envelope: '📨', information_source: 'ℹ️', tada: '🎉', wave: '👋',
    lock: '🔒', key: '🔑', bust_in_silhouette: '👤', busts_in_silhouette: '👥',
    no_entry: '⛔', no_entry_sign: '🚫', heavy_check_mark: '✔️', bell: '🔔',
    mag: '🔍', clipboard: '📋', calendar: '📅', email: '📧', envelope: '✉️',
    hourglass_done: '⌛', stopwatch: '⏱️', rotating_light: '🚨', eyes: '👀',
    thumbsup: '👍', '+1': '👍', thumbsdown: '👎', '-1': '👎', red_circle: '🔴',
    large_green_circle: '🟢', white_circle: '⚪', arrows_counterclockwise: '🔄',
    robot_face: '🤖', gear: '⚙️', memo: '📝', pencil: '📝', link: '🔗',
  };
  const ENTITY = { amp: '&', lt: '<', gt: '>' };

  // decode turns Slack's three escapes back into characters, in one pass,
  // so "&amp;lt;" shows as "&lt;", as Slack shows it.
  const decode = (s) => String(s).replace(/&(amp|lt|gt);/g, (_, n) => ENTITY[n]);
  const emojify = (s) => String(s).replace(/:([a-z0-9_+-]+):/g, (m, n) => EMOJI[n] || m);

  const MARKS = { '*': 'b', '_': 'i', '~': 's' };
  const WORD = /[\p{L}\p{N}]/u;
  const SPACE = /\s/;

  function opens(s, i) {
    const prev = s[i - 1];
    const next = s[i + 1];
    return next !== undefined && !SPACE.test(next) && next !== s[i] && (prev === undefined || !WORD.test(prev));
  }

  function closes(s, i, c) {
    for (let j = i + 2; j < s.length; j++) {
      const ch = s[j];
      if (ch === '\n') return -1;
      if (ch === '<' || ch === '`') {
        const k = s.indexOf(ch === '<' ? '>' : '`', j + 1);
        if (k > 0) { j = k; continue; }
      }
      if (ch === c && !SPACE.test(s[j - 1]) && (j + 1 === s.length || !WORD.test(s[j + 1]))) return j;
    }
    return -1;
  }

  function inline(s, out) {
    let buf = '';
    const flush = () => {
      if (buf) out.append(emojify(decode(buf)));
      buf = '';
    };
    for (let i = 0; i < s.length;) {
      const c = s[i];
      if (c === '<') {
        const j = s.indexOf('>', i + 1);
        if (j > i + 1) { flush(); out.append(token(s.slice(i + 1, j))); i = j + 1; continue; }
      } else if (c === '`') {
        const j = s.indexOf('`', i + 1);
        if (j > i + 1) { flush(); out.append(h('code', null, decode(s.slice(i + 1, j)))); i = j + 1; continue; }
      } else if (MARKS[c] && opens(s, i)) {
        const j = closes(s, i, c);
        if (j > 0) {
          flush();
          const e = h(MARKS[c]);
          inline(s.slice(i + 1, j), e);
          out.append(e);
          i = j + 1;
          continue;
        }
      }
      buf += c;
      i++;
    }
    flush();
  }

  function dateTitle(head) {
    const ts = Number(head.split('^')[1]);
    return Number.isFinite(ts) ? new Date(ts * 1000).toLocaleString() : '';
  }

  // token draws what Slack writes between < and >: mentions, channels,
  // dates, broadcasts and links.
  function token(inner) {
    const bar = inner.indexOf('|');
    const head = bar >= 0 ? inner.slice(0, bar) : inner;
    const label = bar >= 0 ? decode(inner.slice(bar + 1)) : '';
    switch (head[0]) {
      case '@': {
        const id = head.slice(1);
        const u = ui.usersById.get(id);
        return h('span', { class: 'mention', title: u ? u.real_name : id, dataset: { user: id } },
          '@' + (u ? u.name : (label.replace(/^@/, '') || id)));
      }
      case '#': {
        const id = head.slice(1);
        const ch = ui.channelsById.get(id);
        return h('span', { class: 'mention', dataset: { channel: id } }, '#' + (ch ? ch.name : (label || id)));
      }
      case '!': {
        const cmd = head.slice(1).split('^')[0];
        if (cmd === 'date') return h('span', { class: 'date', title: dateTitle(head) }, label || decode(inner));
        if (cmd === 'channel' || cmd === 'here' || cmd === 'everyone') return h('span', { class: 'mention broadcast' }, '@' + cmd);
        if (cmd === 'subteam') return h('span', { class: 'mention' }, label || '@group');
        return document.createTextNode(label || '<' + decode(inner) + '>');
      }
    }
    const url = decode(head);
    if (/^(https?:|mailto:)/i.test(url)) {
      return h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, label || url);
    }
    return document.createTextNode(label || decode(inner));
  }

  function renderMrkdwn(text) {
    const root = h('span', { class: 'mrkdwn' });
    const parts = String(text == null ? '' : text).split('```');
    parts.forEach((p, i) => {
      if (i % 2 === 1 && i < parts.length - 1) {
        root.append(h('pre', null, decode(p.replace(/^\n/, ''))));
        return;
      }
      const chunk = i % 2 === 1 ? '```' + p : p;
      const lines = chunk.split('\n');
      lines.forEach((line, k) => {
        if (line.startsWith('>')) {
          const q = h('blockquote');
          inline(line.replace(/^> ?/, ''), q);
          root.append(q);
          return;
        }
        inline(line, root);
        if (k < lines.length - 1) root.append('\n');
      });
    });
    return root;
  }

  function renderText(obj) {
    if (!obj) return h('span');
    if (typeof obj === 'string') return h('span', { class: 'plain' }, obj);
    if (obj.type === 'mrkdwn') return renderMrkdwn(obj.text);
    const t = obj.text == null ? '' : String(obj.text);
    return h('span', { class: 'plain' }, obj.emoji === false ? t : emojify(t));
  }

  // ---- Block Kit -------------------------------------------------------

  function unsupported(kind, type) {
    return h('div', { class: 'unsupported', dataset: { unsupported: kind } }, `unsupported ${kind}: ${type == null ? '(no type)' : type}`);
  }

  const formKey = (ctx, blockId, actionId) => `${ctx.viewId || ctx.surface}/${blockId || ''}/${actionId || ''}`;

  function renderBlocks(blocks, ctx) {
    const wrap = h('div', { class: 'blocks' });
    for (const b of Array.isArray(blocks) ? blocks : []) {
      let node;
      try {
        node = renderBlock(b, ctx);
      } catch (err) {
        node = unsupported('block', `${b && b.type} (${err.message})`);
      }
      wrap.append(node);
    }
    return wrap;
  }

  function renderBlock(b, ctx) {
    const blockId = b && b.block_id ? b.block_id : '';
    switch (b && b.type) {
      case 'header':
        return h('div', { class: 'blk-header', role: 'heading', 'aria-level': '2' }, renderText(b.text));
      case 'divider':
        return h('hr', { class: 'blk-divider' });
      case 'section': {
        const main = h('div', { class: 'sec-main' });
        if (b.text) main.append(renderText(b.text));
        if (Array.isArray(b.fields)) main.append(h('div', { class: 'fields' }, b.fields.map((f) => h('div', { class: 'field' }, renderText(f)))));
        const node = h('div', { class: 'blk-section', dataset: { blockId } }, main);
        if (b.accessory) node.append(h('div', { class: 'accessory' }, renderElement(b.accessory, b, ctx)));
        return node;
      }
      case 'context':
        return h('div', { class: 'blk-context' }, (b.elements || []).map((e) =>
          e && (e.type === 'mrkdwn' || e.type === 'plain_text') ? renderText(e) : unsupported('element', e && e.type)));
      case 'actions':
        return h('div', { class: 'blk-actions', dataset: { blockId } }, (b.elements || []).map((e) => renderElement(e, b, ctx)));
      case 'input':
        return renderInput(b, ctx);
      default:
        return unsupported('block', b && b.type);
    }
  }

  function renderElement(e, block, ctx) {
    switch (e && e.type) {
      case 'button':
        return renderButton(e);
      case 'users_select':
      case 'static_select':
        return renderSelect(e, formKey(ctx, block.block_id, e.action_id), null, true);
      default:
        return unsupported('element', e && e.type);
    }
  }

  function renderButton(e) {
    const btn = h('button', {
      type: 'button',
      class: 'btn' + (e.style === 'primary' || e.style === 'danger' ? ' ' + e.style : ''),
      dataset: { actionId: e.action_id || '', value: e.value == null ? '' : e.value },
    }, renderText(e.text));
    btn.addEventListener('click', async () => {
      if (e.confirm && !(await confirmDialog(e.confirm))) return;
      if (e.url && /^https?:/i.test(e.url)) window.open(e.url, '_blank', 'noopener');
      btn.disabled = true;
      try {
        await sendAction(e.action_id, e.value == null ? '' : String(e.value));
      } finally {
        btn.disabled = false;
      }
    });
    return btn;
  }

  function selectOptions(e) {
    if (e.type === 'users_select') {
      return [...ui.usersById.values()]
        .filter((u) => u.type !== 'bot' && !u.deactivated)
        .map((u) => ({ value: u.id, label: u.real_name || u.name }));
    }
    const opts = [...(e.options || [])];
    for (const g of e.option_groups || []) opts.push(...(g.options || []));
    return opts.map((o) => ({ value: o.value, label: o.text ? o.text.text : o.value, option: o }));
  }

  // renderSelect draws users_select and static_select. In an input block
  // the choice is kept for the form; elsewhere picking sends an action.
  function renderSelect(e, key, id, dispatch) {
    const initial = e.type === 'users_select' ? e.initial_user : e.initial_option && e.initial_option.value;
    const current = ui.forms.has(key) ? ui.forms.get(key) : (initial || '');
    const sel = h('select', { class: 'el-select', id, dataset: { key, actionId: e.action_id || '' } },
      h('option', { value: '' }, e.placeholder ? e.placeholder.text : 'Choose…'),
      selectOptions(e).map((o) => h('option', { value: o.value }, o.label)));
    sel.value = current;
    sel.addEventListener('change', () => {
      ui.forms.set(key, sel.value);
      if (dispatch && sel.value) sendAction(e.action_id, sel.value);
    });
    return sel;
  }

  function renderInput(b, ctx) {
    const e = b.element || {};
    const key = formKey(ctx, b.block_id, e.action_id);
    const id = 'in-' + key.replace(/[^A-Za-z0-9_-]/g, '_');
    const err = ctx.errors && b.block_id ? ctx.errors[b.block_id] : '';
    let control;
    switch (e.type) {
      case 'plain_text_input': {
        control = e.multiline ? h('textarea', { id, rows: '4' }) : h('input', { id, type: 'text' });
        control.value = ui.forms.has(key) ? ui.forms.get(key) : (e.initial_value || '');
        if (e.placeholder) control.placeholder = e.placeholder.text || '';
        if (e.max_length) control.maxLength = e.max_length;
        control.dataset.key = key;
        control.dataset.actionId = e.action_id || '';
        control.addEventListener('input', () => ui.forms.set(key, control.value));
        const on = (e.dispatch_action_config && e.dispatch_action_config.trigger_actions_on) || ['on_enter_pressed'];
        if (b.dispatch_action && !e.multiline && on.includes('on_enter_pressed')) {
          control.addEventListener('keydown', (ev) => {
            if (ev.key !== 'Enter') return;
            ev.preventDefault();
            ui.forms.set(key, control.value);
            sendAction(e.action_id, control.value);
          });
        }
        break;
      }
      case 'users_select':
      case 'static_select':
        control = renderSelect(e, key, id, b.dispatch_action);
        break;
      default:
        control = unsupported('element', e.type);
    }
    return h('div', { class: 'blk-input' + (err ? ' has-error' : ''), dataset: { blockId: b.block_id || '' } },
      h('label', { for: id }, renderText(b.label), b.optional ? h('span', { class: 'optional' }, ' (optional)') : null),
      control,
      err ? h('div', { class: 'field-error' }, err) : null,
      b.hint ? h('div', { class: 'hint' }, renderText(b.hint)) : null);
  }

  // collect reads a modal's inputs as Slack's view state values, and the
  // required fields left empty (Slack's client refuses those itself).
  function collect(view) {
    const values = {};
    const missing = {};
    for (const b of view.blocks || []) {
      if (!b || b.type !== 'input' || !b.element) continue;
      const e = b.element;
      const key = formKey({ viewId: view.id }, b.block_id, e.action_id);
      let v;
      let empty;
      switch (e.type) {
        case 'plain_text_input': {
          const s = ui.forms.has(key) ? ui.forms.get(key) : (e.initial_value || '');
          v = { type: e.type, value: s === '' ? null : s };
          empty = s.trim() === '';
          break;
        }
        case 'users_select': {
          const s = ui.forms.has(key) ? ui.forms.get(key) : (e.initial_user || '');
          v = { type: e.type, selected_user: s || null };
          empty = !s;
          break;
        }
        case 'static_select': {
          const s = ui.forms.has(key) ? ui.forms.get(key) : (e.initial_option ? e.initial_option.value : '');
          const o = selectOptions(e).find((x) => x.value === s);
          v = { type: e.type, selected_option: o ? o.option : null };
          empty = !o;
          break;
        }
        default:
          continue;
      }
      const bid = b.block_id || '';
      (values[bid] = values[bid] || {})[e.action_id || ''] = v;
      if (!b.optional && empty) missing[bid] = 'Please complete this required field.';
    }
    return { values, missing };
  }

  // ---- talking to the playground server --------------------------------

  async function api(path, body) {
    let r;
    try {
      r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    } catch (err) {
      throw new Error('The playground is not reachable: is `roster playground` still running?');
    }
    let data = null;
    try { data = await r.json(); } catch (err) { /* not JSON */ }
    poll();
    if (!r.ok) throw new Error((data && data.error) || `${r.status} ${r.statusText}`);
    return data;
  }

  function sendAction(actionId, value) {
    return api('/api/action', { user: ui.user, action_id: actionId, value }).catch((err) => toast(err.message, true));
  }

  function homeOpened() {
    return api('/api/home-opened', { user: ui.user }).catch((err) => toast(err.message, true));
  }

  async function submitModal(view, form) {
    const { values, missing } = collect(view);
    ui.clientErrors[view.id] = missing;
    if (Object.keys(missing).length) {
      ui.memo.modal = null;
      renderModal();
      return;
    }
    const submit = $('#modal-submit', form);
    if (submit) submit.disabled = true;
    try {
      await api('/api/submit', { user: ui.user, view_id: view.id, callback_id: view.callback_id || '', values });
    } catch (err) {
      toast(err.message, true);
    } finally {
      if (submit) submit.disabled = false;
    }
  }

  function closeModal(view) {
    delete ui.clientErrors[view.id];
    return api('/api/close', { user: ui.user, view_id: view.id }).catch((err) => toast(err.message, true));
  }

  async function sendCommand() {
    const input = $('#composer-input');
    const text = input.value.trim();
    if (!text) return;
    if (!/^\/roster(\s|$)/.test(text)) {
      toast('Only the /roster command works here: type /roster followed by what you want, e.g. /roster help', true);
      return;
    }
    input.disabled = true;
    try {
      await api('/api/command', { user: ui.user, text, channel: currentChannel() });
      input.value = '';
    } catch (err) {
      toast(err.message, true);
    } finally {
      input.disabled = false;
      input.focus();
    }
  }

  async function poll() {
    clearTimeout(ui.timer);
    if (ui.polling) {
      ui.again = true;
      return;
    }
    ui.polling = true;
    const user = ui.user;
    try {
      const r = await fetch('/api/state?user=' + encodeURIComponent(user), { cache: 'no-store' });
      if (!r.ok) throw new Error(`${r.status}`);
      const text = await r.text();
      if (user === ui.user && text !== ui.lastText) {
        ui.lastText = text;
        ui.state = JSON.parse(text);
        render();
      }
      setStatus(ui.state && ui.state.bot_connected ? 'ok' : 'bad',
        ui.state && ui.state.bot_connected ? 'Roster connected over Socket Mode' : 'Roster is not connected');
    } catch (err) {
      setStatus('bad', 'The playground is not reachable');
    } finally {
      ui.polling = false;
      const again = ui.again || user !== ui.user;
      ui.again = false;
      ui.timer = setTimeout(poll, again ? 0 : POLL_MS);
    }
  }

  // ---- drawing the page ------------------------------------------------

  function setStatus(kind, text) {
    const s = $('#status');
    s.className = 'status ' + kind;
    s.textContent = text;
  }

  let toastTimer = 0;
  function toast(text, isError) {
    const t = $('#toast');
    t.textContent = text;
    t.className = 'toast' + (isError ? ' error' : '');
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 6000);
  }

  function saveFocus(container) {
    const a = document.activeElement;
    if (!a || !container.contains(a) || !a.dataset || !a.dataset.key) return null;
    return { key: a.dataset.key, start: a.selectionStart, end: a.selectionEnd };
  }

  function restoreFocus(container, f) {
    if (!f) return;
    const e = [...container.querySelectorAll('[data-key]')].find((x) => x.dataset.key === f.key);
    if (!e) return;
    e.focus();
    try { e.setSelectionRange(f.start, f.end); } catch (err) { /* selects have no selection */ }
  }

  function changed(part, value) {
    const key = JSON.stringify(value);
    if (ui.memo[part] === key) return false;
    ui.memo[part] = key;
    return true;
  }

  function typeText(u) {
    return u.type + (u.approver ? ', approver' : '');
  }

  function initials(u) {
    const n = (u.real_name || u.name || '?').split(/\s+/).filter(Boolean);
    return ((n[0] || '?')[0] + (n.length > 1 ? n[n.length - 1][0] : '')).toUpperCase();
  }

  const PALETTE = ['#e8912d', '#2bac76', '#1264a3', '#e01e5a', '#9f5cb8', '#4a8c8c', '#b5651d', '#5a6acf'];
  function colour(id) {
    let n = 0;
    for (const c of id) n = (n * 31 + c.charCodeAt(0)) >>> 0;
    return PALETTE[n % PALETTE.length];
  }

  function currentChannel() {
    if (!ui.state) return '';
    if (ui.view === 'dm') return ui.state.dm;
    const ch = (ui.state.channels || []).find((c) => c.name === ui.view);
    return ch ? ch.id : ui.state.dm;
  }

  function render() {
    const st = ui.state;
    if (!st) return;
    ui.usersById = new Map(st.users.map((u) => [u.id, u]));
    ui.channelsById = new Map((st.channels || []).map((c) => [c.id, c]));
    renderUserSwitch();
    renderNav();
    if (ui.view === 'home') renderHome();
    else renderConversation();
    renderMembers();
    renderModal();
  }

  function renderUserSwitch() {
    const st = ui.state;
    const people = st.users.filter((u) => u.type !== 'bot');
    if (changed('switch', [people, ui.user])) {
      const sel = $('#as-user');
      sel.replaceChildren(...people.map((u) => h('option', { value: u.id, disabled: u.deactivated },
        `${u.real_name} — ${typeText(u)}${u.deactivated ? ' (deactivated)' : ''}`)));
      sel.value = ui.user;
      const me = ui.usersById.get(ui.user);
      $('#you').textContent = me ? `@${me.name}${me.email ? ' · ' + me.email : ''}` : '';
      renderSuggestions(me);
    }
  }

  function renderSuggestions(me) {
    const admin = me && /owner|admin/.test(me.type);
    const cmds = ['/roster help', '/roster request newbie@example.com for 2w starting Monday', '/roster status'];
    if (admin) cmds.push('/roster find ada', '/roster assign', '/roster revoke');
    $('#suggestions').replaceChildren(...cmds.map((c) => h('button', {
      type: 'button', class: 'chip',
      onclick: () => { const i = $('#composer-input'); i.value = c; i.focus(); },
    }, c)));
  }

  function renderNav() {
    const st = ui.state;
    const names = { home: 'nav-home', dm: 'nav-dm', approvals: 'nav-approvals' };
    for (const [view, id] of Object.entries(names)) $('#' + id).classList.toggle('active', ui.view === view);
    const counts = { dm: (st.messages[st.dm] || []).length };
    for (const c of st.channels || []) counts[c.name] = (st.messages[c.id] || []).length;
    for (const [view, n] of Object.entries(counts)) {
      const k = ui.user + '|' + view;
      if (ui.seen[k] === undefined || ui.view === view) ui.seen[k] = n;
      const nav = $('#' + names[view]);
      if (!nav) continue;
      const badge = $('.badge', nav);
      const unread = n - ui.seen[k];
      badge.hidden = unread <= 0;
      badge.textContent = unread > 0 ? String(unread) : '';
      nav.classList.toggle('unread', unread > 0);
    }
    const title = $('#pane-title');
    const t = ui.view === 'home' ? ['Roster', 'Home'] : ui.view === 'dm' ? ['Roster', 'Messages: your DM with the app'] : ['# ' + ui.view, 'approval requests'];
    title.replaceChildren(t[0], h('span', { class: 'muted' }, t[1]));
    $('#home').hidden = ui.view !== 'home';
    $('#conversation').hidden = ui.view === 'home';
    $('#composer-input').placeholder = ui.view === 'dm' ? '/roster help' : `Message #${ui.view}: type /roster …`;
  }

  function renderHome() {
    const st = ui.state;
    if (!changed('home', [ui.user, st.home, [...ui.usersById.values()].map((u) => u.name)])) return;
    const pane = $('#home');
    const focus = saveFocus(pane);
    if (!st.home) {
      pane.replaceChildren(h('div', { class: 'empty' }, 'Opening Roster\'s Home tab…'));
    } else {
      pane.replaceChildren(renderBlocks(st.home.blocks, { surface: 'home', viewId: st.home.id, errors: {} }));
    }
    restoreFocus(pane, focus);
  }

  function fmtTS(ts) {
    const sec = Number(String(ts).split('.')[0]);
    if (!Number.isFinite(sec)) return '';
    return new Date(sec * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function renderMessage(m) {
    const ctx = { surface: 'message', viewId: `msg:${m.channel}:${m.ts}`, errors: {} };
    const body = Array.isArray(m.blocks) && m.blocks.length ? renderBlocks(m.blocks, ctx) : renderMrkdwn(m.text || '');
    return h('div', { class: 'msg' + (m.ephemeral ? ' ephemeral' : ''), dataset: { ts: m.ts, channel: m.channel } },
      h('div', { class: 'avatar bot' }, 'R'),
      h('div', { class: 'body' },
        h('div', { class: 'meta' },
          h('span', { class: 'author' }, 'Roster'),
          h('span', { class: 'app-tag' }, 'APP'),
          h('span', { class: 'time', title: m.ts }, fmtTS(m.ts)),
          m.edited ? h('span', { class: 'edited' }, '(edited)') : null,
          m.ephemeral ? h('span', { class: 'only-you' }, 'Only visible to you') : null),
        body));
  }

  function renderConversation() {
    const st = ui.state;
    const channel = currentChannel();
    const msgs = st.messages[channel] || [];
    if (!changed('conversation', [ui.user, channel, msgs, [...ui.usersById.values()].map((u) => u.name)])) return;
    const box = $('#messages');
    const stick = ui.memo.channel !== channel || box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    ui.memo.channel = channel;
    const nodes = msgs.map(renderMessage);
    if (!nodes.length) {
      nodes.push(h('div', { class: 'empty' }, ui.view === 'dm'
        ? 'Nothing from Roster yet. Type a /roster command below: answers only you can see appear here, and Roster\'s direct messages to you too.'
        : 'No messages yet. Requests made with /roster request are posted here for approvers.'));
    }
    box.replaceChildren(...nodes);
    if (stick) box.scrollTop = box.scrollHeight;
  }

  function avatar(u) {
    const a = h('div', { class: 'avatar' + (u.type === 'bot' ? ' bot' : '') }, initials(u));
    // A style property, not a style attribute: the page's CSP allows no inline styles.
    if (u.type !== 'bot') a.style.background = colour(u.id);
    return a;
  }

  function renderMembers() {
    const st = ui.state;
    if (!changed('members', [st.users, ui.user])) return;
    const active = st.users.filter((u) => !u.deactivated).length;
    $('#members-count').textContent = `${active} active · ${st.users.length - active} deactivated`;
    const before = ui.memberStates;
    ui.memberStates = new Map(st.users.map((u) => [u.id, u.deactivated]));
    $('#members-list').replaceChildren(...st.users.map((u) => {
      const state = u.deactivated ? 'deactivated' : 'active';
      // A member who joined or changed state since the last look flashes.
      const flash = before && before.get(u.id) !== u.deactivated;
      const canAct = u.type !== 'bot' && !u.deactivated && u.id !== ui.user;
      return h('li', { class: `member ${state}${u.id === ui.user ? ' me' : ''}${flash ? ' changed' : ''}`, dataset: { userId: u.id, state, email: u.email || '' } },
        avatar(u),
        h('div', { class: 'who' },
          h('div', { class: 'line' }, h('span', { class: 'name' }, u.real_name || u.name), h('span', { class: 'type' }, typeText(u))),
          h('div', { class: 'sub', title: u.email || '' }, u.email || '@' + u.name)),
        h('div', { class: 'side' },
          h('span', { class: 'pill ' + state }, state),
          canAct ? h('button', { type: 'button', class: 'act-as', title: `Act as ${u.real_name}`, onclick: () => switchUser(u.id) }, 'act as') : null));
    }));
    const first = $('#members-list .member.changed');
    if (first) first.scrollIntoView({ block: 'nearest' });
  }

  function renderModal() {
    const st = ui.state;
    const layer = $('#modal-layer');
    const modals = st.modals || [];
    const top = modals[modals.length - 1];
    if (!changed('modal', [ui.user, modals, st.modal_errors, top ? ui.clientErrors[top.id] : null])) return;
    if (!top) {
      layer.hidden = true;
      layer.replaceChildren();
      return;
    }
    const errors = Object.assign({}, ui.clientErrors[top.id] || {}, st.modal_errors || {});
    const focus = saveFocus(layer);
    const close = () => closeModal(top);
    const form = h('form', {
      class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'modal-title', novalidate: true,
      dataset: { viewId: top.id, callbackId: top.callback_id || '' },
    },
    h('div', { class: 'dlg-head' },
      h('div', { class: 'dlg-title', id: 'modal-title' }, renderText(top.title)),
      modals.length > 1 ? h('span', { class: 'dlg-stack' }, `${modals.length} views open`) : null,
      h('button', { type: 'button', class: 'dlg-x', 'aria-label': 'Close', onclick: close }, '×')),
    h('div', { class: 'dlg-body' }, renderBlocks(top.blocks, { surface: 'modal', viewId: top.id, errors })),
    h('div', { class: 'dlg-foot' },
      h('button', { type: 'button', class: 'btn', id: 'modal-close', onclick: close }, renderText(top.close || { type: 'plain_text', text: 'Cancel' })),
      top.submit ? h('button', { type: 'submit', class: 'btn primary', id: 'modal-submit' }, renderText(top.submit)) : null));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      submitModal(top, form);
    });
    layer.replaceChildren(form);
    layer.hidden = false;
    if (focus) restoreFocus(layer, focus);
    else if (!layer.contains(document.activeElement)) {
      const first = layer.querySelector('input, textarea, select');
      if (first) first.focus();
    }
  }

  function confirmDialog(c) {
    return new Promise((resolve) => {
      const layer = $('#confirm-layer');
      const done = (ok) => {
        ui.confirmCancel = null;
        layer.hidden = true;
        layer.replaceChildren();
        resolve(ok);
      };
      const yes = h('button', { type: 'button', class: 'btn ' + (c.style === 'danger' ? 'danger solid' : 'primary'), id: 'confirm-yes', onclick: () => done(true) },
        renderText(c.confirm || { type: 'plain_text', text: 'Yes' }));
      const no = h('button', { type: 'button', class: 'btn', id: 'confirm-no', onclick: () => done(false) },
        renderText(c.deny || { type: 'plain_text', text: 'Cancel' }));
      layer.replaceChildren(h('div', { class: 'dialog', role: 'alertdialog', 'aria-modal': 'true' },
        h('div', { class: 'dlg-head' }, h('div', { class: 'dlg-title' }, renderText(c.title || { type: 'plain_text', text: 'Are you sure?' })),
          h('button', { type: 'button', class: 'dlg-x', 'aria-label': 'Close', onclick: () => done(false) }, '×')),
        h('div', { class: 'dlg-body' }, renderText(c.text)),
        h('div', { class: 'dlg-foot' }, no, yes)));
      layer.hidden = false;
      ui.confirmCancel = () => done(false);
      yes.focus();
    });
  }

  // ---- navigation ------------------------------------------------------

  function saveHash() {
    history.replaceState(null, '', `#as=${encodeURIComponent(ui.user)}&view=${encodeURIComponent(ui.view)}`);
  }

  function setView(view) {
    const wasHome = ui.view === 'home';
    ui.view = view;
    ui.memo.home = ui.memo.conversation = null;
    saveHash();
    if (view === 'home' && !wasHome) homeOpened();
    render();
    if (view !== 'home') $('#composer-input').focus();
  }

  function switchUser(id) {
    if (id === ui.user) return;
    ui.user = id;
    ui.lastText = '';
    ui.memo = {};
    ui.memberStates = null;
    saveHash();
    $('#as-user').value = id;
    if (ui.view === 'home') homeOpened();
    poll();
  }

  function start() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get('as')) ui.user = params.get('as');
    if (['home', 'dm', 'approvals'].includes(params.get('view'))) ui.view = params.get('view');
    $('#as-user').addEventListener('change', (ev) => switchUser(ev.target.value));
    for (const b of document.querySelectorAll('.nav[data-view]')) b.addEventListener('click', () => setView(b.dataset.view));
    $('#composer').addEventListener('submit', (ev) => {
      ev.preventDefault();
      sendCommand();
    });
    document.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Escape') return;
      if (ui.confirmCancel) ui.confirmCancel();
      else if (ui.state && ui.state.modals && ui.state.modals.length) closeModal(ui.state.modals[ui.state.modals.length - 1]);
    });
    window.addEventListener('hashchange', () => {
      const p = new URLSearchParams(location.hash.slice(1));
      if (['home', 'dm', 'approvals'].includes(p.get('view')) && p.get('view') !== ui.view) setView(p.get('view'));
      if (p.get('as')) switchUser(p.get('as'));
    });
    saveHash();
    if (ui.view === 'home') homeOpened();
    poll();
  }

  // For tests and for the curious: the renderer, callable from the console.
  window.playground = {
    renderBlocks: (blocks) => renderBlocks(blocks, { surface: 'test', viewId: 'test', errors: {} }),
    renderMrkdwn,
    state: () => ui.state,
    user: () => ui.user,
  };

  start();
})();
