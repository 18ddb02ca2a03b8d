// presence-client.js: a browser client for presenced's WebSocket protocol v1
// (docs/protocol.md). One ES module, no dependencies, no build step:
//
//   import { connect } from '/ui/presence-client.js';
//   const client = connect({ url: location.origin, devUser: 'alice', devRole: 'CLIENT' });
//   client.onPresence(() => render(client.getUserStatus('bob')));
//   await client.send(conversationId, 'hi');
//
// What it takes care of so that pages do not have to:
//   - heartbeats at the interval the server announces in presence:connected,
//     and a watchdog that drops a connection that stopped answering;
//   - reconnecting with exponential backoff and jitter after any close the
//     page did not ask for (network loss, 1001, 1008, 1011, 1012, ...), then
//     subscribing, joining and focusing again as before;
//   - requests that outlive a connection: send_message, history, mark_read
//     and presence:subscribe are queued while disconnected and sent again
//     after a reconnect until answered. A message keeps its clientMsgId
//     across resends, and the server answers a resend with the original
//     message, so nothing is lost or stored twice;
//   - a presence store of everyone the server showed this connection.
//
// The module may be imported from another origin (it is served with CORS),
// and the WebSocket then needs that origin in auth.allowed_origins. The
// HTTP helpers (api, conversations, createConversation) need the page on the
// server's own origin or behind the same proxy: /v1 sends no CORS headers.
//
// Types: presence-client.d.ts beside this file.

const DEFAULTS = {
  minReconnectDelayMs: 500,
  maxReconnectDelayMs: 15000,
  heartbeatIntervalMs: 25000,
};

// How many refs of fire-and-forget requests (join, focus, ...) are kept to
// tell which request an error frame answers.
const MAX_TRACKED_REFS = 200;

/** An error the server answered (its code is one of PROTOCOL.md's), or
 * 'disconnected' / 'closed' from the client itself. */
export class PresenceError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.name = 'PresenceError';
    this.code = code;
    if (status !== undefined) this.status = status;
  }
}

/** Resolves the WebSocket and HTTP endpoints from a base URL (http, https,
 * ws, wss, or a path relative to the page). */
export function endpoints(url) {
  const base = globalThis.location ? globalThis.location.href : undefined;
  const u = new URL(url ?? '/', base);
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  let path = u.pathname.replace(/\/+$/, '');
  if (path.endsWith('/ws')) path = path.slice(0, -3);
  return {
    ws: `${secure ? 'wss' : 'ws'}://${u.host}${path}/ws`,
    http: `${secure ? 'https' : 'http'}://${u.host}${path}`,
  };
}

/** GET /v1/info: how to log in and the server's limits. Needs no credentials. */
export async function getInfo(url) {
  const res = await fetch(endpoints(url).http + '/v1/info', { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new PresenceError('unavailable', `GET /v1/info answered ${res.status}`, res.status);
  return res.json();
}

/** A fresh clientMsgId (a UUID). crypto.randomUUID needs a secure context;
 * getRandomValues does not, so a page served over plain http still works. */
export function newClientMsgId() {
  if (globalThis.crypto && typeof globalThis.crypto.randomUUID === 'function') {
    try {
      return globalThis.crypto.randomUUID();
    } catch {
      // not a secure context: fall through
    }
  }
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Opens a client and starts connecting. */
export function connect(options) {
  const client = new PresenceClient(options);
  client.reconnectNow();
  return client;
}

export class PresenceClient {
  #opts;
  #ep;
  #ws = null;
  // 'idle' before the first connect, 'connecting' until presence:connected,
  // 'open' after it, 'waiting' between a close and the next attempt,
  // 'closed' after close() or a refused login.
  #state = 'idle';
  #me = null;
  #heartbeatMs = DEFAULTS.heartbeatIntervalMs;
  #heartbeatTimer = null;
  #lastFrameAt = 0;
  #attempt = 0;
  #retryTimer = null;
  #retryAt = 0;
  #listeners = new Map();
  #presence = new Map();
  #subscriptions = new Set();
  #joined = new Set();
  #focused = new Set();
  #hidden = false;
  #nextRef = 0;
  // ref → queued request {type, data, resolve, reject, sent, retryTimer}.
  // Every entry is resent after a reconnect until it is answered.
  #pending = new Map();
  // ref → {type, data} of requests with no answer on success.
  #fired = new Map();
  #onVisibility = null;

  constructor(options = {}) {
    if (!options.token && !options.devUser) {
      throw new TypeError('connect: give token (jwt mode) or devUser and devRole (dev mode)');
    }
    this.#opts = { ...DEFAULTS, ...options };
    this.#ep = endpoints(options.url);
    if (options.autoBlurOnHidden && globalThis.document) {
      this.#hidden = document.visibilityState === 'hidden';
      this.#onVisibility = () => this.#visibilityChanged(document.visibilityState === 'hidden');
      document.addEventListener('visibilitychange', this.#onVisibility);
    }
  }

  // ---- connection ---------------------------------------------------------

  /** 'idle' | 'connecting' | 'open' | 'waiting' | 'closed' */
  get state() {
    return this.#state;
  }

  /** {userId, role} once connected, else null. */
  get me() {
    return this.#me;
  }

  /** When 'waiting', the time (ms since epoch) of the next attempt. */
  get nextAttemptAt() {
    return this.#state === 'waiting' ? this.#retryAt : 0;
  }

  /** How many requests (messages included) wait for an answer. */
  get pendingCount() {
    return this.#pending.size;
  }

  /** Connects now: the first time, or at once instead of waiting out the backoff. */
  reconnectNow() {
    if (this.#state === 'closed' || this.#state === 'connecting' || this.#state === 'open') return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#open();
  }

  /** Closes for good: no reconnect, every pending request rejected. */
  close() {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    clearTimeout(this.#retryTimer);
    this.#stopHeartbeat();
    if (this.#onVisibility) document.removeEventListener('visibilitychange', this.#onVisibility);
    if (this.#ws) {
      this.#detach(this.#ws);
      this.#ws.close(1000, 'client closed');
      this.#ws = null;
    }
    for (const p of this.#pending.values()) {
      clearTimeout(p.retryTimer);
      p.reject(new PresenceError('closed', 'the client was closed'));
    }
    this.#pending.clear();
    if (wasOpen) this.#emit('disconnected', { code: 1000, reason: 'client closed', willReconnect: false });
  }

  /** Test hook: abandons the socket at once, without waiting for anything
   * in flight (answers still on their way are lost, as in a network
   * failure), and reconnects as after any drop. Unanswered requests are
   * sent again on the new connection. */
  _debugDropSocket() {
    if (this.#ws) this.#lost(this.#ws, 4000, 'dropped by _debugDropSocket');
  }

  #open() {
    this.#state = 'connecting';
    const url = new URL(this.#ep.ws);
    if (this.#opts.token) {
      url.searchParams.set('token', this.#opts.token);
    } else {
      url.searchParams.set('user', this.#opts.devUser);
      url.searchParams.set('role', this.#opts.devRole || 'CLIENT');
    }
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      this.#emit('error', new PresenceError('invalid_payload', String(err)));
      this.#state = 'closed';
      return;
    }
    this.#ws = ws;
    ws.onmessage = (ev) => this.#receive(ev.data);
    ws.onclose = (ev) => this.#lost(ws, ev.code, ev.reason);
  }

  #detach(ws) {
    ws.onmessage = null;
    ws.onclose = null;
  }

  // #lost runs once per socket: on its close, or when the watchdog or the
  // test hook gives up on it.
  #lost(ws, code, reason) {
    if (ws !== this.#ws) return;
    this.#detach(ws);
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) {
      try {
        ws.close(4000, 'given up');
      } catch {
        // already closing
      }
    }
    this.#ws = null;
    this.#stopHeartbeat();
    const wasOpen = this.#state === 'open';
    for (const p of this.#pending.values()) p.sent = false;
    if (this.#state === 'closed') return;
    this.#state = 'waiting';
    if (wasOpen) this.#emit('disconnected', { code, reason, willReconnect: true });
    if (wasOpen) {
      this.#scheduleReconnect();
    } else {
      // The upgrade itself failed. A browser does not say why, so ask the
      // HTTP API with the same credentials: a 401 will not get better by
      // retrying, anything else (a server away, a restart) will.
      this.#checkCredentials().then((ok) => {
        if (this.#state !== 'waiting' || this.#retryTimer) return;
        if (ok) {
          this.#scheduleReconnect();
          return;
        }
        this.#state = 'closed';
        for (const p of this.#pending.values()) {
          clearTimeout(p.retryTimer);
          p.reject(new PresenceError('unauthorized', 'the server refused these credentials', 401));
        }
        this.#pending.clear();
        this.#emit('error', new PresenceError('unauthorized', 'the server refused these credentials', 401));
        this.#emit('disconnected', { code, reason: 'unauthorized', willReconnect: false });
      });
    }
  }

  async #checkCredentials() {
    try {
      await this.api('GET', '/v1/info');
      await this.api('GET', '/v1/conversations');
      return true;
    } catch (err) {
      return !(err instanceof PresenceError && err.status === 401);
    }
  }

  #scheduleReconnect() {
    const ceiling = Math.min(this.#opts.maxReconnectDelayMs, this.#opts.minReconnectDelayMs * 2 ** this.#attempt);
    // "Equal jitter": never sooner than half the ceiling, so that a crowd
    // dropped by one restart spreads out without anyone hammering.
    const delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.#attempt++;
    this.#retryAt = Date.now() + delayMs;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#state === 'waiting') this.#open();
    }, delayMs);
    this.#emit('reconnecting', { attempt: this.#attempt, delayMs });
  }

  // ---- frames -------------------------------------------------------------

  #write(type, data, ref) {
    if (!this.#ws || this.#state !== 'open') return false;
    const frame = { type };
    if (ref) frame.ref = ref;
    if (data !== undefined) frame.data = data;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  #ref(prefix) {
    this.#nextRef++;
    return `${prefix}${this.#nextRef}`;
  }

  // #fire sends a request that has no answer on success, remembering it so
  // that an error frame can say what it refused.
  #fire(type, data) {
    const ref = this.#ref('f');
    if (!this.#write(type, data, ref)) return;
    this.#fired.set(ref, { type, data });
    if (this.#fired.size > MAX_TRACKED_REFS) this.#fired.delete(this.#fired.keys().next().value);
  }

  // #request queues a request until its answer arrives, across reconnects.
  #request(type, data, extra) {
    const ref = this.#ref(type === 'send_message' ? 'm' : 'r');
    let entry;
    const promise = new Promise((resolve, reject) => {
      entry = { type, data, resolve, reject, sent: false, retryTimer: null, retries: 0 };
    });
    if (this.#state === 'closed') {
      entry.reject(new PresenceError('closed', 'the client was closed'));
      return Object.assign(promise, extra);
    }
    this.#pending.set(ref, entry);
    entry.sent = this.#write(type, data, ref);
    return Object.assign(promise, extra);
  }

  #settle(ref, value) {
    const p = this.#pending.get(ref);
    if (!p) return false;
    clearTimeout(p.retryTimer);
    this.#pending.delete(ref);
    p.resolve(value);
    return true;
  }

  #receive(raw) {
    this.#lastFrameAt = Date.now();
    let f;
    try {
      f = JSON.parse(raw);
    } catch {
      return;
    }
    const d = f.data || {};
    switch (f.type) {
      case 'presence:connected':
        this.#connected(d);
        break;
      case 'presence:update':
        this.#applyPresence(d.users);
        break;
      case 'presence:snapshot':
        this.#applyPresence(d.users);
        this.#settle(f.ref, d.users || []);
        break;
      case 'new_message':
        this.#emit('message', d);
        break;
      case 'message:sent':
        this.#sent(f.ref, d);
        break;
      case 'message:read':
        this.#settle(f.ref, d);
        this.#emit('read', d);
        break;
      case 'typing':
        this.#emit('typing', d);
        break;
      case 'unread':
        this.#emit('unread', d);
        break;
      case 'history':
        this.#settle(f.ref, d);
        break;
      case 'heartbeat:ack':
        break;
      case 'error':
        this.#failed(f.ref, d);
        break;
      default:
        break; // a newer server's frame: ignore
    }
  }

  #connected(d) {
    this.#state = 'open';
    this.#attempt = 0;
    this.#me = d.you || null;
    this.#heartbeatMs = d.heartbeatIntervalMs > 0 ? d.heartbeatIntervalMs : DEFAULTS.heartbeatIntervalMs;
    this.#startHeartbeat();

    // The snapshot lists who is online now. Anyone we showed before who is
    // missing went offline meanwhile; subscribed users are left to the
    // snapshot that answers the subscription below, so they do not flicker.
    const listed = new Set((d.users || []).map((p) => p.userId));
    const gone = [];
    for (const [id, p] of this.#presence) {
      if (!listed.has(id) && !this.#subscriptions.has(id) && p.status !== 'offline') {
        gone.push({ ...p, status: 'offline' });
      }
    }
    this.#applyPresence([...gone, ...(d.users || [])]);

    // Restore what the last connection had, then flush the queue in order.
    if (this.#subscriptions.size) this.#write('presence:subscribe', { userIds: [...this.#subscriptions] });
    for (const id of this.#joined) this.#fire('join_conversation', { conversationId: id });
    if (!this.#hidden) for (const id of this.#focused) this.#fire('chat:focus', { partnerId: id });
    for (const [ref, p] of this.#pending) {
      if (!p.sent && !p.retryTimer) p.sent = this.#write(p.type, p.data, ref);
    }
    this.#emit('connected', { you: this.#me, heartbeatIntervalMs: this.#heartbeatMs });
  }

  #sent(ref, d) {
    if (!this.#settle(ref, d)) {
      // An answer to a request sent on an earlier connection: match it by
      // clientMsgId instead.
      const id = d.message && d.message.clientMsgId;
      for (const [r, p] of this.#pending) {
        if (p.type === 'send_message' && p.data.clientMsgId === id) {
          this.#settle(r, d);
          break;
        }
      }
    }
    this.#emit('sent', d);
  }

  #failed(ref, d) {
    const err = new PresenceError(d.code || 'internal', d.message);
    const p = ref ? this.#pending.get(ref) : undefined;
    if (p && (err.code === 'unavailable' || err.code === 'rate_limited')) {
      // Nothing was stored: try again later with the same clientMsgId.
      p.sent = false;
      p.retries++;
      const delay = Math.min(this.#opts.maxReconnectDelayMs, 250 * 2 ** Math.min(p.retries, 5));
      p.retryTimer = setTimeout(() => {
        p.retryTimer = null;
        if (this.#pending.get(ref) === p) p.sent = this.#write(p.type, p.data, ref);
      }, delay * (0.5 + Math.random() / 2));
      this.#emit('error', Object.assign(err, { request: { type: p.type, data: p.data }, willRetry: true }));
      return;
    }
    if (p) {
      this.#pending.delete(ref);
      clearTimeout(p.retryTimer);
      err.request = { type: p.type, data: p.data };
      p.reject(err);
      return;
    }
    const fired = ref && this.#fired.get(ref);
    if (fired) {
      this.#fired.delete(ref);
      err.request = fired;
      if (fired.type === 'join_conversation') this.#joined.delete(fired.data.conversationId);
    }
    this.#emit('error', err);
  }

  // ---- heartbeats ---------------------------------------------------------

  #startHeartbeat() {
    this.#stopHeartbeat();
    this.#lastFrameAt = Date.now();
    this.#heartbeatTimer = setInterval(() => {
      // The server acknowledges every heartbeat; two intervals of silence
      // mean the connection is gone even if the browser has not noticed.
      if (Date.now() - this.#lastFrameAt > 2 * this.#heartbeatMs + 5000) {
        this.#lost(this.#ws, 4001, 'no answer to heartbeats');
        return;
      }
      this.#write('heartbeat', {});
    }, this.#heartbeatMs);
  }

  #stopHeartbeat() {
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = null;
  }

  // ---- presence -----------------------------------------------------------

  #applyPresence(users) {
    if (!users || !users.length) return;
    const changed = [];
    for (const p of users) {
      if (this.#me && p.userId === this.#me.userId) continue;
      const old = this.#presence.get(p.userId);
      const next = { lastActive: null, lastSeen: null, role: null, ...old, ...p };
      if (next.status !== 'offline') next.lastSeen = null;
      this.#presence.set(p.userId, next);
      if (!old || old.status !== next.status || old.lastSeen !== next.lastSeen || old.role !== next.role) {
        changed.push(next);
      }
    }
    if (changed.length) this.#emit('presence', changed);
  }

  /** 'online' (has the chat with me open), 'active' (connected) or 'offline'. */
  getUserStatus(userId) {
    const p = this.#presence.get(userId);
    return p ? p.status : 'offline';
  }

  /** When the user's last connection ended (ms since epoch), or null. */
  getLastSeen(userId) {
    const p = this.#presence.get(userId);
    return p && p.status === 'offline' ? p.lastSeen : null;
  }

  /** The last Presence the server sent for userId, or undefined. */
  getPresence(userId) {
    const p = this.#presence.get(userId);
    return p ? { ...p } : undefined;
  }

  /** Every user the server has shown this client. */
  knownUsers() {
    return [...this.#presence.values()].map((p) => ({ ...p }));
  }

  /** Calls back with the users whose status changed. Returns an unsubscribe. */
  onPresence(callback) {
    return this.on('presence', callback);
  }

  /** Also show these users; resolves with their current presence. Kept
   * across reconnects. */
  subscribe(userIds) {
    const ids = [...new Set(userIds)];
    for (const id of ids) this.#subscriptions.add(id);
    if (!ids.length) return Promise.resolve([]);
    return this.#request('presence:subscribe', { userIds: ids });
  }

  unsubscribe(userIds) {
    const ids = userIds.filter((id) => this.#subscriptions.delete(id));
    if (ids.length) this.#fire('presence:unsubscribe', { userIds: ids });
  }

  // ---- focus --------------------------------------------------------------

  /** This page has the chat with partnerId open (green for that partner). */
  focusChat(partnerId) {
    if (this.#focused.has(partnerId)) return;
    this.#focused.add(partnerId);
    if (!this.#hidden) this.#fire('chat:focus', { partnerId });
  }

  /** Closes the chat with partnerId, or every chat when none is given. */
  blurChat(partnerId) {
    if (partnerId === undefined) {
      this.#focused.clear();
      if (!this.#hidden) this.#fire('chat:blur', {});
      return;
    }
    if (!this.#focused.delete(partnerId)) return;
    if (!this.#hidden) this.#fire('chat:blur', { partnerId });
  }

  #visibilityChanged(hidden) {
    if (hidden === this.#hidden) return;
    this.#hidden = hidden;
    if (!this.#focused.size) return;
    if (hidden) {
      this.#fire('chat:blur', {});
    } else {
      for (const id of this.#focused) this.#fire('chat:focus', { partnerId: id });
    }
  }

  // ---- messaging ----------------------------------------------------------

  /** Receive the conversation's typing and read events; kept across reconnects. */
  join(conversationId) {
    if (this.#joined.has(conversationId)) return;
    this.#joined.add(conversationId);
    this.#fire('join_conversation', { conversationId });
  }

  leave(conversationId) {
    if (!this.#joined.delete(conversationId)) return;
    this.#fire('leave_conversation', { conversationId });
  }

  /** Sends a message. Resolves with message:sent's data once the server
   * stored it; queued while disconnected and resent with the same
   * clientMsgId (also readable as the promise's clientMsgId) until then. */
  send(conversationId, content, options = {}) {
    const clientMsgId = options.clientMsgId || newClientMsgId();
    return this.#request('send_message', { conversationId, content, clientMsgId }, { clientMsgId });
  }

  /** Marks everything up to upToSeq read; resolves with the watermark. */
  markRead(conversationId, upToSeq) {
    return this.#request('mark_read', { conversationId, upToSeq });
  }

  /** Tells the other members I am (not) typing. Dropped while disconnected. */
  typing(conversationId, isTyping) {
    this.#write('typing', { conversationId, isTyping: !!isTyping });
  }

  /** A page of messages, oldest first: {beforeSeq} pages back, {afterSeq}
   * alone pages forward, neither gives the newest. */
  history(conversationId, { beforeSeq, afterSeq, limit } = {}) {
    const data = { conversationId };
    if (beforeSeq !== undefined && beforeSeq !== null) data.beforeSeq = beforeSeq;
    if (afterSeq !== undefined && afterSeq !== null) data.afterSeq = afterSeq;
    if (limit !== undefined) data.limit = limit;
    return this.#request('history', data);
  }

  onMessage(callback) {
    return this.on('message', callback);
  }

  // ---- HTTP API -----------------------------------------------------------

  /** Calls the HTTP API with this client's credentials. */
  async api(method, path, body) {
    const url = new URL(this.#ep.http + path);
    const headers = { Accept: 'application/json' };
    if (this.#opts.token) {
      headers.Authorization = `Bearer ${this.#opts.token}`;
    } else {
      url.searchParams.set('user', this.#opts.devUser);
      url.searchParams.set('role', this.#opts.devRole || 'CLIENT');
    }
    const init = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    let json = null;
    try {
      json = await res.json();
    } catch {
      // not JSON: reported below by status
    }
    if (!res.ok) {
      const e = (json && json.error) || {};
      throw new PresenceError(e.code || 'internal', e.message || `${method} ${path}: HTTP ${res.status}`, res.status);
    }
    return json;
  }

  /** GET /v1/conversations: mine, most recently active first. */
  async conversations() {
    return (await this.api('GET', '/v1/conversations')).conversations || [];
  }

  /** POST /v1/conversations: the same pair always gets the same direct one. */
  createConversation(memberIds) {
    return this.api('POST', '/v1/conversations', { memberIds });
  }

  // ---- events -------------------------------------------------------------

  /** Listens to 'connected', 'disconnected', 'reconnecting', 'presence',
   * 'message', 'sent', 'read', 'typing', 'unread' or 'error'. Returns a
   * function that stops listening. */
  on(event, callback) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(callback);
    return () => this.#listeners.get(event).delete(callback);
  }

  #emit(event, payload) {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const cb of [...set]) {
      try {
        cb(payload, this);
      } catch (err) {
        // One broken listener must not stop the others or the client.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}
