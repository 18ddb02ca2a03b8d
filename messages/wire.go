package messages

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Client-to-server frame types of PROTOCOL.md.
const (
	TypeHeartbeat           = "heartbeat"
	TypeChatFocus           = "chat:focus"
	TypeChatBlur            = "chat:blur"
	TypeJoinConversation    = "join_conversation"
	TypeLeaveConversation   = "leave_conversation"
	TypeSendMessage         = "send_message"
	TypeMarkRead            = "mark_read"
	TypeTyping              = "typing"
	TypePresenceSubscribe   = "presence:subscribe"
	TypePresenceUnsubscribe = "presence:unsubscribe"
	TypeHistory             = "history"
)

// Server-to-client frame types of PROTOCOL.md.
const (
	TypePresenceConnected = "presence:connected"
	TypePresenceUpdate    = "presence:update"
	TypePresenceSnapshot  = "presence:snapshot"
	TypeUnread            = "unread"
	TypeNewMessage        = "new_message"
	TypeMessageSent       = "message:sent"
	TypeMessageRead       = "message:read"
	TypeHeartbeatAck      = "heartbeat:ack"
	TypeError             = "error"
	// TypeHistory and TypeTyping are shared with the client-to-server side.
)

// Roles a user may have.
const (
	RoleClient     = "CLIENT"
	RoleFreelancer = "FREELANCER"
	RoleAdmin      = "ADMIN"
)

// ValidRole reports whether r is one of the roles of PROTOCOL.md.
func ValidRole(r string) bool {
	return r == RoleClient || r == RoleFreelancer || r == RoleAdmin
}

// CanonicalRole returns the constant equal to r, or r itself: a role
// decoded from a token or from another member is a copy of its own, and a
// server holds one per user.
func CanonicalRole(r string) string {
	switch r {
	case RoleClient:
		return RoleClient
	case RoleFreelancer:
		return RoleFreelancer
	case RoleAdmin:
		return RoleAdmin
	}
	return r
}

// MaxIDLen is the longest user, conversation or client message id accepted.
const MaxIDLen = 128

// ValidID reports whether id is 1-128 characters of [A-Za-z0-9._:@-], the
// shape PROTOCOL.md requires of user ids; conversation ids follow it too.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '@', c == '-':
		default:
			return false
		}
	}
	return true
}

// Status is a user's presence as one viewer sees it.
type Status uint8

// The statuses of PROTOCOL.md. The zero value is offline.
const (
	StatusOffline Status = iota
	StatusActive
	StatusOnline
)

func (s Status) String() string {
	switch s {
	case StatusOnline:
		return "online"
	case StatusActive:
		return "active"
	default:
		return "offline"
	}
}

// Presence is one user as one viewer sees it. Zero LastActive or LastSeen
// encode as null; an empty Role (a user never seen) too.
type Presence struct {
	UserID     string
	Role       string
	Status     Status
	LastActive int64 // unix ms
	LastSeen   int64 // unix ms, only when offline
}

// AppendJSON appends p as the Presence object of PROTOCOL.md.
func (p *Presence) AppendJSON(b []byte) []byte {
	b = append(b, `{"userId":`...)
	b = AppendString(b, p.UserID)
	b = append(b, `,"role":`...)
	b = appendStringOrNull(b, p.Role)
	b = append(b, `,"status":"`...)
	b = append(b, p.Status.String()...)
	b = append(b, `","lastActive":`...)
	b = appendMsOrNull(b, p.LastActive)
	b = append(b, `,"lastSeen":`...)
	if p.Status == StatusOffline {
		b = appendMsOrNull(b, p.LastSeen)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

// MarshalJSON makes Presence usable inside encoding/json values too.
func (p Presence) MarshalJSON() ([]byte, error) { return p.AppendJSON(nil), nil }

// AppendPresenceFrame appends a whole presence:update or presence:snapshot
// frame. Fragments are Presence objects already encoded by AppendJSON, so that
// a fan-out encodes each user once, not once per viewer.
func AppendPresenceFrame(b []byte, typ, ref string, fragments [][]byte) []byte {
	b = slices.Grow(b, 64+len(ref)+joinedLen(fragments))
	b = appendFrameStart(b, typ, ref)
	b = append(b, `,"data":{"users":[`...)
	b = appendJoined(b, fragments)
	return append(b, "]}}"...)
}

// AppendConnectedFrame appends presence:connected, the first frame of a
// connection, to b, grown once to fit.
func AppendConnectedFrame(b []byte, userID, role string, fragments [][]byte, heartbeatMs int64) []byte {
	b = slices.Grow(b, 160+len(userID)+len(role)+joinedLen(fragments))
	b = append(appendFrameStart(b, TypePresenceConnected, ""), `,"data":{`...)
	b = append(b, `"you":{"userId":`...)
	b = AppendString(b, userID)
	b = append(b, `,"role":`...)
	b = AppendString(b, role)
	b = append(b, `},"users":[`...)
	b = appendJoined(b, fragments)
	b = append(b, `],"heartbeatIntervalMs":`...)
	b = strconv.AppendInt(b, heartbeatMs, 10)
	return append(b, "}}"...)
}

// Frame encodes a server-to-client frame whose data encoding/json can handle.
// Ref is omitted when empty; data when nil.
func Frame(typ, ref string, data any) []byte {
	b := appendFrameStart(make([]byte, 0, 96), typ, ref)
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			// Only our own types reach here; failing to encode one is a bug.
			panic("messages: encoding " + typ + ": " + err.Error())
		}
		b = append(b, `,"data":`...)
		b = append(b, raw...)
	}
	return append(b, '}')
}

// ErrorFrame encodes an error frame.
func ErrorFrame(ref string, code Code, msg string) []byte {
	b := frameStart(64+len(msg), TypeError, ref)
	b = append(b, `"code":`...)
	b = AppendString(b, string(code))
	b = append(b, `,"message":`...)
	b = AppendString(b, msg)
	return append(b, "}}"...)
}

// HeartbeatAckFrame encodes heartbeat:ack.
func HeartbeatAckFrame(ref string, serverTimeMs int64) []byte {
	b := frameStart(64, TypeHeartbeatAck, ref)
	b = append(b, `"serverTime":`...)
	b = strconv.AppendInt(b, serverTimeMs, 10)
	return append(b, "}}"...)
}

// appendFrameStart appends the opening every server frame shares, so that
// the frames_out metric can read the type off any frame's prefix.
func appendFrameStart(b []byte, typ, ref string) []byte {
	b = append(b, `{"type":`...)
	b = AppendString(b, typ)
	if ref != "" {
		b = append(b, `,"ref":`...)
		b = AppendString(b, ref)
	}
	return b
}

// frameStart opens a frame of a type, with its ref when there is one, up
// to the start of its data object.
func frameStart(size int, typ, ref string) []byte {
	return append(appendFrameStart(make([]byte, 0, size), typ, ref), `,"data":{`...)
}

// joinedLen is the length appendJoined adds: sizing a frame up front
// spares a snapshot of thousands of users a dozen copies while it grows.
func joinedLen(fragments [][]byte) int {
	n := len(fragments)
	for _, f := range fragments {
		n += len(f)
	}
	return n
}

// appendJoined appends JSON values already encoded, comma-separated.
func appendJoined(b []byte, fragments [][]byte) []byte {
	for i, f := range fragments {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f...)
	}
	return b
}

func appendMsOrNull(b []byte, ms int64) []byte {
	if ms == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, ms, 10)
}

func appendStringOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return AppendString(b, s)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; <, > and & are escaped so frames are safe in HTML.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
