// Types of presence-client.js, the browser client of presenced's WebSocket
// protocol v1 (docs/protocol.md).

export type Role = 'CLIENT' | 'FREELANCER' | 'ADMIN';

/** online: has the chat with me open; active: connected; offline: neither. */
export type Status = 'online' | 'active' | 'offline';

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed';

export type ErrorCode =
  | 'bad_json'
  | 'unknown_type'
  | 'invalid_payload'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'too_large'
  | 'rate_limited'
  | 'limit_exceeded'
  | 'unavailable'
  | 'internal'
  /** The connection ended before an answer that will not be retried. */
  | 'disconnected'
  /** close() was called. */
  | 'closed';

export interface ConnectOptions {
  /** The server: http(s)://host, ws(s)://host/ws, or a path relative to the
   * page. Default: the page's own origin. */
  url?: string;
  /** jwt mode: the bearer token (sent as ?token= on the upgrade). */
  token?: string;
  /** dev mode: the user id and role, sent as ?user=&role=. */
  devUser?: string;
  devRole?: Role;
  /** Blur every chat while the page is hidden and focus them again when it
   * is visible (Page Visibility API). Default false. */
  autoBlurOnHidden?: boolean;
  /** Backoff between reconnects: doubles from min to max, with jitter.
   * Defaults 500 and 15000. */
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
}

export interface Presence {
  userId: string;
  role: Role | null;
  status: Status;
  /** Unix ms of the last heartbeat as of the last change. */
  lastActive: number | null;
  /** Unix ms when the last connection ended; null unless offline. */
  lastSeen: number | null;
}

export interface Message {
  id: string;
  conversationId: string;
  seq: number;
  senderId: string;
  content: string;
  clientMsgId: string;
  createdAt: number;
  /** The other members whose read watermark reaches this message. */
  readBy: string[];
}

export interface Info {
  authMode: 'jwt' | 'dev';
  visibility: 'contacts' | 'all';
  heartbeatIntervalMs: number;
  maxMessageBytes: number;
  maxFrameBytes: number;
}

export interface Conversation {
  conversationId: string;
  memberIds: string[];
  direct: boolean;
  createdAt: number;
  lastSeq: number;
  lastReadSeq: number;
  unreadCount: number;
  lastMessage: Message | null;
}

export interface Sent {
  conversationId: string;
  message: Message;
  /** A connection of a recipient had it pushed. */
  delivered: boolean;
}

export interface Read {
  conversationId: string;
  userId: string;
  upToSeq: number;
}

export interface HistoryPage {
  conversationId: string;
  messages: Message[];
  hasMore: boolean;
}

export interface Events {
  connected: { you: { userId: string; role: Role }; heartbeatIntervalMs: number };
  disconnected: { code: number; reason: string; willReconnect: boolean };
  reconnecting: { attempt: number; delayMs: number };
  /** The users whose status (as this viewer sees it) changed. */
  presence: Presence[];
  message: { conversationId: string; message: Message };
  sent: Sent;
  read: Read;
  typing: { conversationId: string; userId: string; isTyping: boolean };
  unread: { conversations: { conversationId: string; count: number; lastMessage: Message | null }[] };
  error: PresenceError;
}

export declare class PresenceError extends Error {
  readonly code: ErrorCode;
  /** HTTP status, for errors of the HTTP API. */
  readonly status?: number;
  /** The request the server refused, when known. */
  request?: { type: string; data: unknown };
  /** true when the client will send it again by itself (unavailable, rate_limited). */
  willRetry?: boolean;
}

export declare class PresenceClient {
  readonly state: ConnectionState;
  readonly me: { userId: string; role: Role } | null;
  /** When state is 'waiting': the time of the next attempt (unix ms). */
  readonly nextAttemptAt: number;
  /** Requests, messages included, waiting for an answer. */
  readonly pendingCount: number;

  reconnectNow(): void;
  close(): void;

  getUserStatus(userId: string): Status;
  getLastSeen(userId: string): number | null;
  getPresence(userId: string): Presence | undefined;
  knownUsers(): Presence[];
  onPresence(callback: (changed: Presence[]) => void): () => void;
  subscribe(userIds: string[]): Promise<Presence[]>;
  unsubscribe(userIds: string[]): void;

  focusChat(partnerId: string): void;
  blurChat(partnerId?: string): void;

  join(conversationId: string): void;
  leave(conversationId: string): void;
  send(conversationId: string, content: string, options?: { clientMsgId?: string }): Promise<Sent> & { clientMsgId: string };
  markRead(conversationId: string, upToSeq: number): Promise<Read>;
  typing(conversationId: string, isTyping: boolean): void;
  history(conversationId: string, page?: { beforeSeq?: number; afterSeq?: number; limit?: number }): Promise<HistoryPage>;
  onMessage(callback: (event: Events['message']) => void): () => void;

  api<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  conversations(): Promise<Conversation[]>;
  createConversation(memberIds: string[]): Promise<{ conversationId: string; memberIds: string[]; direct: boolean; createdAt: number }>;

  on<K extends keyof Events>(event: K, callback: (payload: Events[K], client: PresenceClient) => void): () => void;

  /** Test hook: abandons the socket at once, losing any answer on its
   * way, as a network failure would; the client reconnects as after any
   * drop and sends unanswered requests again. */
  _debugDropSocket(): void;
}

export declare function connect(options: ConnectOptions): PresenceClient;
export declare function getInfo(url?: string): Promise<Info>;
export declare function endpoints(url?: string): { ws: string; http: string };
export declare function newClientMsgId(): string;
