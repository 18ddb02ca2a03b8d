// The presenced dashboard: sign in, see your contacts' dots, chat. It uses
// presence-client.js and the DOM, nothing else. Every piece of user data is
// put into the page as text, never as markup.

import { connect, getInfo, newClientMsgId } from './presence-client.js';

const PAGE = 30; // messages per history page
const TYPING_IDLE_MS = 3000; // stop "typing" after this long without a key
const TYPING_SHOWN_MS = 8000; // forget a partner's "typing" after this long
const USER_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const ROLES = ['CLIENT', 'FREELANCER', 'ADMIN'];
const SESSION_KEY = 'presenced.login';
const MAX_SUBSCRIPTIONS = 1000; // the server's default presence.max_subscriptions

const $ = (id) => document.getElementById(id);

// h builds an element: h('li', {class: 'x', dataset: {id: 1}}, 'text', child).
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// ---- state ------------------------------------------------------------------

let info = null;
let client = null;
let me = null; // {userId, role}
const convs = new Map(); // conversationId → conversation (as GET /v1/conversations, plus partnerId)
const subscribed = new Set();
let open = null; // the open chat, see openChat
let typingSent = false;
let typingTimer = null;
let refreshTimer = null;

// ---- formatting -------------------------------------------------------------

function ago(ms) {
  const min = Math.floor(Math.max(0, Date.now() - ms) / 60000);
  if (min < 1) return 'just now';
  if (min < 60) return min === 1 ? '1 minute ago' : `${min} minutes ago`;
  const hr = Math.floor(min / 60);
  if (hr < 24) return hr === 1 ? '1 hour ago' : `${hr} hours ago`;
  const d = Math.floor(hr / 24);
  return d === 1 ? '1 day ago' : `${d} days ago`;
}

function statusText(userId) {
  switch (client.getUserStatus(userId)) {
    case 'online':
      return 'Chatting with you';
    case 'active':
      return 'Active now';
    default: {
      const seen = client.getLastSeen(userId);
      return seen ? `Last seen ${ago(seen)}` : 'Offline';
    }
  }
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function dot(userId) {
  const status = client.getUserStatus(userId);
  return h('span', { class: 'dot', role: 'img', 'aria-label': status, dataset: { status } });
}

function roleOf(userId) {
  const p = client.getPresence(userId);
  return p && p.role;
}

function roleTag(role) {
  return role ? h('span', { class: 'role-tag', dataset: { role } }, role.toLowerCase()) : null;
}

function toast(text) {
  const el = $('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (el.hidden = true), 5000);
}

// ---- sign in ----------------------------------------------------------------

async function boot() {
  try {
    info = await getInfo();
  } catch {
    $('login-mode').textContent = 'The server does not answer; trying again…';
    setTimeout(boot, 3000);
    return;
  }
  const dev = info.authMode === 'dev';
  $('dev-fields').hidden = !dev;
  $('jwt-fields').hidden = dev;
  $('login-mode').textContent = dev
    ? 'Development mode: pick any user id and role. Nothing is checked.'
    : 'Paste a token signed for this server.';
  $('login-submit').disabled = false;
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    sessionStorage.removeItem(SESSION_KEY);
  }
  if (saved && (saved.token ? !dev : dev)) {
    start(saved);
    return;
  }
  (dev ? $('login-user') : $('login-token')).focus();
}

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const err = $('login-error');
  err.textContent = '';
  if (!info) return;
  if (info.authMode === 'dev') {
    const user = $('login-user').value.trim();
    const role = $('login-role').value;
    if (!USER_ID.test(user)) {
      err.textContent = 'A user id is 1-128 letters, digits or . _ : @ -';
      $('login-user').focus();
      return;
    }
    start({ user, role: ROLES.includes(role) ? role : 'CLIENT' });
  } else {
    const token = $('login-token').value.trim();
    if (!token) {
      err.textContent = 'Paste a token first.';
      return;
    }
    start({ token });
  }
});

function start(login) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(login));
  const auth = login.token ? { token: login.token } : { devUser: login.user, devRole: login.role };
  client = connect({ ...auth, autoBlurOnHidden: true });
  // Exposed for scripts and tests that drive the page.
  window.presence = client;
  client.on('connected', onConnected);
  client.on('disconnected', (d) => {
    if (!d.willReconnect && d.reason === 'unauthorized') return; // handled by 'error'
    showConnection();
  });
  client.on('reconnecting', showConnection);
  client.on('presence', onPresence);
  client.on('message', onNewMessage);
  client.on('sent', onSent);
  client.on('read', onRead);
  client.on('typing', onTyping);
  client.on('unread', onUnread);
  client.on('error', onError);
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('conn').hidden = false;
  showConnection();
}

function logout(message) {
  if (client) client.close();
  client = null;
  window.presence = undefined;
  me = null;
  open = null;
  convs.clear();
  subscribed.clear();
  convRows.clear();
  onlineRows.clear();
  $('conv-list').replaceChildren();
  $('online-list').replaceChildren();
  sessionStorage.removeItem(SESSION_KEY);
  $('app-view').hidden = true;
  $('conn').hidden = true;
  delete document.body.dataset.conn;
  $('whoami').hidden = true;
  $('chat').hidden = true;
  $('messages').replaceChildren();
  $('typing').textContent = '';
  $('placeholder').hidden = false;
  document.body.classList.remove('chat-open');
  $('login-view').hidden = false;
  $('login-error').textContent = message || '';
  if (info) (info.authMode === 'dev' ? $('login-user') : $('login-token')).focus();
}

$('logout').addEventListener('click', () => logout());

// ---- connection -------------------------------------------------------------

function showConnection() {
  if (!client) return;
  const el = $('conn');
  const state = client.state;
  el.dataset.state = state;
  document.body.dataset.conn = state;
  $('conn-retry').hidden = state !== 'waiting';
  clearTimeout(showConnection.timer);
  let text = 'Connecting…';
  if (state === 'open') text = 'Connected';
  if (state === 'closed') text = 'Disconnected';
  if (state === 'waiting') {
    const s = Math.max(0, Math.ceil((client.nextAttemptAt - Date.now()) / 1000));
    text = s > 0 ? `Reconnecting in ${s} s` : 'Reconnecting…';
    showConnection.timer = setTimeout(showConnection, 1000);
  }
  $('conn-text').textContent = text;
  const waiting = state !== 'open' ? client.pendingCount : 0;
  $('conn-pending').textContent = waiting ? `· ${waiting} waiting to send` : '';
}

$('conn-retry').addEventListener('click', () => client && client.reconnectNow());

async function onConnected({ you }) {
  const again = me !== null;
  me = you;
  $('me-name').textContent = me.userId;
  $('me-role').textContent = me.role.toLowerCase();
  $('me-role').dataset.role = me.role;
  $('whoami').hidden = false;
  $('admin-panel').hidden = !(me.role === 'ADMIN' || info.visibility === 'all');
  $('online-title').firstChild.textContent = me.role === 'ADMIN' ? 'Everyone online ' : 'Online now ';
  showConnection();
  await loadConversations();
  if (again && open) await catchUp();
}

function onError(err) {
  if (err.code === 'unauthorized') {
    logout(info.authMode === 'dev' ? 'The server refused this user id or role.' : 'The server refused this token.');
    return;
  }
  if (err.willRetry) {
    // The server could not store it now (unavailable, rate_limited); the
    // client sends it again by itself. Say so on the message.
    const req = err.request;
    const el = req && req.type === 'send_message' && open && open.pending.get(req.data.clientMsgId);
    if (el) el.querySelector('.mark').textContent = `${MARKS.pending[0]} Server busy, retrying…`;
    return;
  }
  toast(err.message || err.code);
}

// ---- conversations and people ----------------------------------------------

function partnerOf(c) {
  if (!c.direct) return null;
  return c.memberIds.find((id) => id !== me.userId) || me.userId;
}

function titleOf(c) {
  if (c.direct) return partnerOf(c);
  return c.memberIds.filter((id) => id !== me.userId).join(', ');
}

async function loadConversations() {
  if (!client) return;
  let list;
  try {
    list = await client.conversations();
  } catch (err) {
    toast(`Could not load conversations: ${err.message}`);
    return;
  }
  for (const c of list) {
    const known = convs.get(c.conversationId);
    // A message pushed while the list was on its way is newer than the list.
    if (known && known.lastSeq > c.lastSeq) continue;
    // Updated in place: the open chat holds the same object.
    if (known) Object.assign(known, c);
    else convs.set(c.conversationId, { ...c, partnerId: partnerOf(c) });
  }
  const contacts = new Set();
  for (const c of convs.values()) for (const id of c.memberIds) if (id !== me.userId) contacts.add(id);
  // The server refuses a subscription that would pass its bound whole.
  const room = Math.max(0, MAX_SUBSCRIPTIONS - subscribed.size);
  const fresh = [...contacts].filter((id) => !subscribed.has(id)).slice(0, room);
  fresh.forEach((id) => subscribed.add(id));
  renderSidebar();
  if (fresh.length) {
    // Contacts who are offline are not in presence:connected; subscribing
    // tells us when they were last seen, and keeps them live.
    try {
      await client.subscribe(fresh);
    } catch {
      // shown as offline; the next connect subscribes again
    }
  }
}

function refreshConversationsSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(loadConversations, 150);
}

// syncRows shows one row per entry, in order, reusing the row element of
// each key: presence changes arrive at any moment, and a row replaced under
// the pointer would swallow a click, one replaced under the keyboard focus
// would lose it. Entries are {key, make(), fill(row)}.
function syncRows(list, rows, entries) {
  const active = document.activeElement;
  const seen = new Set();
  entries.forEach(({ key, make, fill }, i) => {
    let row = rows.get(key);
    if (!row) {
      row = make();
      rows.set(key, row);
    }
    fill(row);
    seen.add(key);
    const at = list.children[i];
    if (at !== row) list.insertBefore(row, at || null);
  });
  for (const [key, row] of rows) {
    if (!seen.has(key)) {
      row.remove();
      rows.delete(key);
    }
  }
  // Moving a row blurs it: give the focus back.
  if (active && active !== document.activeElement && active.isConnected) active.focus();
}

const convRows = new Map();
const onlineRows = new Map();

function sortedConversations() {
  const when = (c) => (c.lastMessage ? c.lastMessage.createdAt : c.createdAt);
  return [...convs.values()].sort((a, b) => when(b) - when(a));
}

function renderSidebar() {
  if (!client || !me) return;
  const entries = sortedConversations().map((c) => ({
    key: c.conversationId,
    make: () => h('li', {}, h('button', { type: 'button', class: 'person', onclick: () => openChat(c.conversationId) })),
    fill: (row) => fillConversation(row.firstChild, c),
  }));
  syncRows($('conv-list'), convRows, entries);
  $('conv-empty').hidden = entries.length > 0;
  renderOnline();
  renderChatHead();
}

function fillConversation(button, c) {
  const partner = c.partnerId;
  const current = !!open && open.conv.conversationId === c.conversationId;
  const unread = c.unreadCount > 0 && !current;
  const preview = c.lastMessage
    ? (c.lastMessage.senderId === me.userId ? 'You: ' : '') + c.lastMessage.content
    : 'No messages yet';
  const label = [titleOf(c), partner ? statusText(partner) : '', unread ? `${c.unreadCount} unread` : '']
    .filter(Boolean)
    .join(', ');
  button.setAttribute('aria-label', label);
  if (current) button.setAttribute('aria-current', 'true');
  else button.removeAttribute('aria-current');
  button.dataset.conv = c.conversationId;
  button.dataset.user = partner || '';
  button.replaceChildren(
    partner ? dot(partner) : h('span', { class: 'dot group', 'aria-hidden': 'true' }),
    h(
      'span',
      { class: 'person-main' },
      h('span', { class: 'person-line' }, h('span', { class: 'name' }, titleOf(c)), partner ? roleTag(roleOf(partner)) : null),
      partner ? h('span', { class: 'sub status', dataset: { status: client.getUserStatus(partner) } }, statusText(partner)) : null,
      h('span', { class: 'sub preview' }, preview),
    ),
    unread ? h('span', { class: 'badge', 'aria-hidden': 'true' }, c.unreadCount > 99 ? '99+' : c.unreadCount) : null,
  );
}

// renderOnline is the live overview for ADMIN (and for everyone when the
// server shows everyone): who is online now, counted by role.
function renderOnline() {
  if ($('admin-panel').hidden) return;
  const online = client.knownUsers().filter((p) => p.status !== 'offline');
  online.push({ userId: me.userId, role: me.role, status: 'active', you: true });
  online.sort((a, b) => a.userId.localeCompare(b.userId));
  const counts = Object.fromEntries(ROLES.map((r) => [r, 0]));
  for (const p of online) if (p.role in counts) counts[p.role]++;
  $('online-total').textContent = String(online.length);
  $('role-counts').replaceChildren(
    ...ROLES.map((r) =>
      h('li', { dataset: { role: r } }, h('span', { class: 'count-num' }, counts[r]), ' ', h('span', {}, r.toLowerCase())),
    ),
  );
  const shown = online.slice(0, 200);
  const entries = shown.map((p) => ({
    key: p.userId,
    make: () => h('li', {}, h('button', { type: 'button', class: 'person compact', onclick: () => startConversation(p.userId) })),
    fill: (row) => {
      const button = row.firstChild;
      button.dataset.user = p.userId;
      button.disabled = !!p.you;
      button.setAttribute('aria-label', p.you ? `${p.userId} (you)` : `Chat with ${p.userId}, ${statusText(p.userId)}`);
      button.replaceChildren(
        p.you ? h('span', { class: 'dot', dataset: { status: 'active' }, 'aria-hidden': 'true' }) : dot(p.userId),
        h('span', { class: 'name' }, p.userId, p.you ? ' (you)' : ''),
        roleTag(p.role),
      );
    },
  }));
  if (online.length > shown.length) {
    const more = `and ${online.length - shown.length} more`;
    entries.push({ key: '', make: () => h('li', { class: 'sub' }), fill: (row) => (row.textContent = more) });
  }
  syncRows($('online-list'), onlineRows, entries);
}

function onPresence(changed) {
  // A new contact (someone started a conversation with me) shows up as a
  // presence change before any message: fetch the list to show them.
  const contacts = new Set();
  for (const c of convs.values()) for (const id of c.memberIds) contacts.add(id);
  if (changed.some((p) => !contacts.has(p.userId)) && $('admin-panel').hidden) refreshConversationsSoon();
  renderSoon();
}

// renderSoon batches the renders of presence changes: an admin may see a
// frame of changes every coalescing window.
let renderTimer = null;
function renderSoon() {
  if (renderTimer) return;
  renderTimer = setTimeout(() => {
    renderTimer = null;
    renderSidebar();
  }, 50);
}

async function startConversation(userId) {
  const err = $('new-conv-error');
  err.textContent = '';
  if (!USER_ID.test(userId)) {
    err.textContent = 'A user id is 1-128 letters, digits or . _ : @ -';
    return;
  }
  if (userId === me.userId) {
    err.textContent = 'That is you. Pick someone else.';
    return;
  }
  try {
    const c = await client.createConversation([me.userId, userId]);
    await loadConversations();
    $('new-conv-user').value = '';
    await openChat(c.conversationId);
  } catch (e) {
    err.textContent = `Could not start it: ${e.message}`;
  }
}

$('new-conv').addEventListener('submit', (ev) => {
  ev.preventDefault();
  startConversation($('new-conv-user').value.trim());
});

// Relative times ("last seen 3 minutes ago") age without any event.
setInterval(() => client && me && renderSidebar(), 30000);

// ---- chat -------------------------------------------------------------------

async function openChat(conversationId) {
  if (open && open.conv.conversationId === conversationId) {
    $('composer-input').focus();
    return;
  }
  closeChat();
  const conv = convs.get(conversationId);
  if (!conv) return;
  open = {
    conv,
    partnerId: conv.partnerId,
    els: new Map(), // message id → element
    pending: new Map(), // clientMsgId → element not yet stored
    delivered: new Set(), // ids of my messages pushed to a recipient
    reads: new Map(), // userId → upToSeq of the other members
    oldestSeq: 0,
    newestSeq: 0,
    hasMore: false,
    typingTimer: null,
  };
  $('messages').replaceChildren();
  $('typing').textContent = '';
  $('load-older').hidden = true;
  $('chat').hidden = false;
  $('placeholder').hidden = true;
  document.body.classList.add('chat-open');
  renderSidebar();
  if (open.partnerId) client.focusChat(open.partnerId);
  client.join(conversationId);
  $('composer-input').focus();
  const mine = open;
  // A screen reader should not read a whole page of history as new messages.
  $('messages').setAttribute('aria-busy', 'true');
  try {
    const page = await client.history(conversationId, { limit: PAGE });
    if (open !== mine) return;
    addMessages(page.messages);
    open.hasMore = page.hasMore;
    $('load-older').hidden = !page.hasMore;
    scrollToEnd();
    markReadIfSeen();
  } catch (err) {
    if (open === mine) toast(`Could not load messages: ${err.message}`);
  } finally {
    if (open === mine) $('messages').removeAttribute('aria-busy');
  }
}

function closeChat() {
  if (!open) return;
  stopTyping();
  if (open.partnerId) client.blurChat(open.partnerId);
  client.leave(open.conv.conversationId);
  clearTimeout(open.typingTimer);
  open = null;
  $('messages').removeAttribute('aria-busy');
  $('chat').hidden = true;
  $('placeholder').hidden = false;
  document.body.classList.remove('chat-open');
  renderSidebar();
}

$('chat-close').addEventListener('click', () => {
  const id = open && open.conv.conversationId;
  closeChat();
  const btn = id && document.querySelector(`#conv-list [data-conv="${CSS.escape(id)}"]`);
  if (btn) btn.focus();
});
$('chat-back').addEventListener('click', () => $('chat-close').click());
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && open) $('chat-close').click();
});

function renderChatHead() {
  if (!open) return;
  const c = open.conv;
  $('chat-title').textContent = titleOf(c);
  const d = $('chat-dot');
  if (open.partnerId) {
    const status = client.getUserStatus(open.partnerId);
    d.dataset.status = status;
    d.setAttribute('aria-label', status);
    d.hidden = false;
    $('chat-status').textContent = statusText(open.partnerId);
  } else {
    d.hidden = true;
    $('chat-status').textContent = `${c.memberIds.length} members`;
  }
}

async function catchUp() {
  // new_message is not replayed after a reconnect: ask for what came meanwhile.
  const mine = open;
  let after = open.newestSeq;
  for (let i = 0; i < 10 && open === mine; i++) {
    let page;
    try {
      page = await client.history(mine.conv.conversationId, { afterSeq: after, limit: 200 });
    } catch {
      return;
    }
    if (open !== mine) return;
    addMessages(page.messages);
    if (!page.hasMore || !page.messages.length) break;
    after = page.messages[page.messages.length - 1].seq;
  }
  scrollToEnd();
  markReadIfSeen();
}

$('load-older').addEventListener('click', async () => {
  if (!open || !open.oldestSeq) return;
  const mine = open;
  const scroller = $('chat-scroll');
  const before = scroller.scrollHeight - scroller.scrollTop;
  $('load-older').disabled = true;
  $('messages').setAttribute('aria-busy', 'true');
  try {
    const page = await client.history(mine.conv.conversationId, { beforeSeq: mine.oldestSeq, limit: PAGE });
    if (open !== mine) return;
    addMessages(page.messages);
    open.hasMore = page.hasMore;
    $('load-older').hidden = !page.hasMore;
    scroller.scrollTop = scroller.scrollHeight - before; // keep the reader's place
  } catch (err) {
    toast(`Could not load older messages: ${err.message}`);
  } finally {
    $('load-older').disabled = false;
    $('messages').removeAttribute('aria-busy');
  }
});

function addMessages(list) {
  for (const m of list) upsertMessage(m);
}

// upsertMessage shows a stored message once, whichever way it came
// (history, new_message, message:sent, a catch-up after a reconnect).
function upsertMessage(m) {
  if (!open || m.conversationId !== open.conv.conversationId) return null;
  for (const id of m.readBy || []) {
    if (id !== m.senderId) open.reads.set(id, Math.max(open.reads.get(id) || 0, m.seq));
  }
  let el = open.els.get(m.id);
  if (!el && m.senderId === me.userId) {
    el = open.pending.get(m.clientMsgId);
    if (el) {
      open.pending.delete(m.clientMsgId);
      el.remove(); // re-inserted at its place by seq below
    }
  }
  if (!el) el = messageElement(m.senderId === me.userId, m.content, m.createdAt);
  el.dataset.id = m.id;
  el.dataset.seq = String(m.seq);
  el.dataset.clientMsgId = m.clientMsgId;
  if (!open.els.has(m.id)) {
    open.els.set(m.id, el);
    insertBySeq(el, m.seq);
  }
  open.oldestSeq = open.oldestSeq ? Math.min(open.oldestSeq, m.seq) : m.seq;
  open.newestSeq = Math.max(open.newestSeq, m.seq);
  refreshMarks();
  return el;
}

function insertBySeq(el, seq) {
  const list = $('messages');
  for (const other of list.children) {
    // Stored messages in seq order; messages still sending stay last.
    if (!other.dataset.seq || Number(other.dataset.seq) > seq) {
      list.insertBefore(el, other);
      return;
    }
  }
  list.append(el);
}

function messageElement(mine, content, createdAt) {
  return h(
    'li',
    { class: mine ? 'msg mine' : 'msg theirs' },
    h('div', { class: 'bubble' }, content),
    h(
      'div',
      { class: 'meta' },
      h('time', { datetime: new Date(createdAt).toISOString() }, clock(createdAt)),
      mine ? h('span', { class: 'mark' }) : null,
    ),
  );
}

const MARKS = {
  failed: ['!', 'Not sent'],
  pending: ['◷', 'Sending'],
  sent: ['✓', 'Sent'],
  delivered: ['✓✓', 'Delivered'],
  read: ['✓✓', 'Read'],
};

// refreshMarks sets sent / delivered / read on my messages: read when
// another member's watermark reaches the message.
function refreshMarks() {
  if (!open) return;
  const readUpTo = Math.max(0, ...open.reads.values());
  for (const el of $('messages').querySelectorAll('.msg.mine')) {
    let status = el.dataset.status || 'pending';
    if (el.dataset.seq && status !== 'failed') {
      const seq = Number(el.dataset.seq);
      if (seq <= readUpTo) status = 'read';
      else if (open.delivered.has(el.dataset.id)) status = 'delivered';
      else status = 'sent';
    }
    if (el.dataset.status === status) continue;
    el.dataset.status = status;
    const mark = el.querySelector('.mark');
    mark.textContent = `${MARKS[status][0]} ${MARKS[status][1]}`;
  }
}

function scrollToEnd() {
  const s = $('chat-scroll');
  s.scrollTop = s.scrollHeight;
}

function nearEnd() {
  const s = $('chat-scroll');
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function markReadIfSeen() {
  if (!open || document.visibilityState === 'hidden') return;
  const c = open.conv;
  if (open.newestSeq > (c.lastReadSeq || 0) || c.unreadCount > 0) {
    const upTo = Math.max(open.newestSeq, c.lastSeq || 0);
    c.unreadCount = 0;
    c.lastReadSeq = upTo;
    client.markRead(c.conversationId, upTo).catch(() => {});
    renderSidebar();
  }
}

document.addEventListener('visibilitychange', markReadIfSeen);

// ---- composing --------------------------------------------------------------

$('composer').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sendFromComposer();
});

$('composer-input').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    sendFromComposer();
  }
});

$('composer-input').addEventListener('input', () => {
  const input = $('composer-input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  if (!open || !input.value) {
    stopTyping();
    return;
  }
  if (!typingSent) {
    client.typing(open.conv.conversationId, true);
    typingSent = true;
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
});

function stopTyping() {
  clearTimeout(typingTimer);
  if (typingSent && open) client.typing(open.conv.conversationId, false);
  typingSent = false;
}

function sendFromComposer() {
  const input = $('composer-input');
  const text = input.value.trim();
  if (!open || !text) return;
  if (new TextEncoder().encode(text).length > info.maxMessageBytes) {
    toast(`A message is at most ${info.maxMessageBytes} bytes.`);
    return;
  }
  input.value = '';
  input.style.height = 'auto';
  stopTyping();
  const clientMsgId = newClientMsgId();
  const el = messageElement(true, text, Date.now());
  el.dataset.clientMsgId = clientMsgId;
  el.dataset.status = 'pending';
  el.querySelector('.mark').textContent = `${MARKS.pending[0]} ${MARKS.pending[1]}`;
  open.pending.set(clientMsgId, el);
  $('messages').append(el);
  scrollToEnd();
  const conversationId = open.conv.conversationId;
  // The client keeps it until the server stored it, across reconnects.
  client.send(conversationId, text, { clientMsgId }).catch((err) => {
    if (err.code === 'closed') return;
    el.dataset.status = 'failed';
    el.querySelector('.mark').textContent = `${MARKS.failed[0]} Not sent: ${err.message}`;
  });
  showConnection();
}

// ---- events from the server -------------------------------------------------

function touch(conversationId, m) {
  const c = convs.get(conversationId);
  if (!c) {
    refreshConversationsSoon(); // a conversation someone else started
    return null;
  }
  if (m.seq >= (c.lastSeq || 0)) {
    c.lastSeq = m.seq;
    c.lastMessage = m;
  }
  return c;
}

function onNewMessage({ conversationId, message }) {
  const c = touch(conversationId, message);
  const here = open && open.conv.conversationId === conversationId;
  if (here) {
    const stick = nearEnd();
    upsertMessage(message);
    if (message.senderId !== me.userId) clearPartnerTyping(message.senderId);
    if (stick) scrollToEnd();
  }
  if (c && message.senderId !== me.userId) {
    if (here && document.visibilityState !== 'hidden') markReadIfSeen();
    else if (message.seq > (c.lastReadSeq || 0)) c.unreadCount = (c.unreadCount || 0) + 1;
  }
  renderSidebar();
}

function onSent({ conversationId, message, delivered }) {
  const c = touch(conversationId, message);
  if (c) c.lastReadSeq = Math.max(c.lastReadSeq || 0, message.seq);
  if (open && open.conv.conversationId === conversationId) {
    if (delivered) open.delivered.add(message.id);
    upsertMessage(message);
  }
  showConnection();
  renderSidebar();
}

function onRead({ conversationId, userId, upToSeq }) {
  const c = convs.get(conversationId);
  if (!c) return;
  if (userId === me.userId) {
    // Read here or on another of my devices: clear the badge.
    c.lastReadSeq = Math.max(c.lastReadSeq || 0, upToSeq);
    if (upToSeq >= (c.lastSeq || 0)) c.unreadCount = 0;
    else refreshConversationsSoon();
    renderSidebar();
    return;
  }
  if (open && open.conv.conversationId === conversationId) {
    open.reads.set(userId, Math.max(open.reads.get(userId) || 0, upToSeq));
    refreshMarks();
  }
}

function onTyping({ conversationId, userId, isTyping }) {
  if (!open || open.conv.conversationId !== conversationId || userId === me.userId) return;
  clearTimeout(open.typingTimer);
  if (!isTyping) {
    clearPartnerTyping(userId);
    return;
  }
  $('typing').textContent = `${userId} is typing…`;
  $('typing').dataset.user = userId;
  open.typingTimer = setTimeout(() => clearPartnerTyping(userId), TYPING_SHOWN_MS);
}

function clearPartnerTyping(userId) {
  const el = $('typing');
  if (el.dataset.user === userId) {
    el.textContent = '';
    delete el.dataset.user;
  }
}

function onUnread({ conversations }) {
  let unknown = false;
  for (const u of conversations || []) {
    const c = convs.get(u.conversationId);
    if (!c) {
      unknown = true;
      continue;
    }
    c.unreadCount = u.count;
    if (u.lastMessage) touch(u.conversationId, u.lastMessage);
  }
  if (unknown) refreshConversationsSoon();
  renderSidebar();
}

boot();
