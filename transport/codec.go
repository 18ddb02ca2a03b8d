package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/presenced/presenced/messages"
)

// Client-to-server commands, decoded and validated.
type (
	cmdHeartbeat   struct{}
	cmdFocus       struct{ PartnerID string }
	cmdBlur        struct{ PartnerID string }
	cmdSubscribe   struct{ UserIDs []string }
	cmdUnsubscribe struct{ UserIDs []string }
	cmdJoin        struct{ ConversationID string }
	cmdLeave       struct{ ConversationID string }
	cmdSend        struct{ ConversationID, Content, ClientMsgID string }
	cmdMarkRead    struct {
		ConversationID string
		UpToSeq        int64
	}
	cmdTyping struct {
		ConversationID string
		IsTyping       bool
	}
	cmdHistory struct {
		ConversationID      string
		BeforeSeq, AfterSeq int64
		Forward             bool
		Limit               int
	}
)

// Bounds of the wire format itself.
const (
	maxRefLen         = 64
	maxClientMsgIDLen = 64
	maxHistoryLimit   = 200
	defHistoryLimit   = 50
)

// decoder turns one text frame into a command. It owns every rule of
// PROTOCOL.md about the shape of a frame; nothing it rejects reaches the
// actors.
type decoder struct {
	maxMessageBytes  int
	maxSubscriptions int
}

type envelope struct {
	Type json.RawMessage `json:"type"`
	Ref  json.RawMessage `json:"ref"`
	Data json.RawMessage `json:"data"`
}

// decode returns the command of a frame and its ref. On error the ref is
// returned too when the frame had a valid one, so the error frame carries it.
func (d *decoder) decode(frame []byte) (cmd any, typ, ref string, err *messages.Error) {
	if isPlainHeartbeat(frame) {
		return cmdHeartbeat{}, messages.TypeHeartbeat, "", nil
	}
	trimmed := bytes.TrimLeft(frame, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, "", "", messages.Errorf(messages.CodeBadJSON, "a frame must be one JSON object")
	}
	var env envelope
	if e := json.Unmarshal(frame, &env); e != nil {
		return nil, "", "", messages.Errorf(messages.CodeBadJSON, "a frame must be one JSON object")
	}
	ref, err = decodeRef(env.Ref)
	if err != nil {
		return nil, "", "", err
	}
	if !utf8.Valid(frame) {
		return nil, "", ref, messages.Errorf(messages.CodeInvalidPayload, "a frame must be valid UTF-8")
	}
	if e := json.Unmarshal(env.Type, &typ); e != nil || typ == "" {
		return nil, "", ref, messages.Errorf(messages.CodeUnknownType, "type is missing or not a string")
	}
	data := bytes.TrimSpace(env.Data)
	if len(data) == 0 || string(data) == "null" {
		data = []byte("{}")
	} else if data[0] != '{' {
		return nil, typ, ref, messages.Errorf(messages.CodeInvalidPayload, "data must be an object")
	}
	cmd, err = d.command(typ, data)
	return cmd, typ, ref, err
}

// plainHeartbeats are heartbeats as clients usually write them, compact
// and without a ref. They are most of an idle server's frames, and
// encoding/json took a third of what such a server allocated to decode
// them; any other spelling takes the general path, to the same result.
var plainHeartbeats = [][]byte{
	[]byte(`{"type":"heartbeat"}`),
	[]byte(`{"type":"heartbeat","data":{}}`),
}

func isPlainHeartbeat(frame []byte) bool {
	for _, hb := range plainHeartbeats {
		if bytes.Equal(frame, hb) {
			return true
		}
	}
	return false
}

func decodeRef(raw json.RawMessage) (string, *messages.Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var ref string
	if err := json.Unmarshal(raw, &ref); err != nil {
		return "", messages.Errorf(messages.CodeInvalidPayload, "ref must be a string")
	}
	if utf8.RuneCountInString(ref) > maxRefLen {
		return "", messages.Errorf(messages.CodeInvalidPayload, "ref must be at most %d characters", maxRefLen)
	}
	return ref, nil
}

func (d *decoder) command(typ string, data []byte) (any, *messages.Error) {
	switch typ {
	case messages.TypeHeartbeat:
		return cmdHeartbeat{}, nil
	case messages.TypeChatFocus:
		var p struct {
			PartnerID *string `json:"partnerId"`
		}
		if err := unmarshal(data, &p); err != nil {
			return nil, err
		}
		id, err := requireID("partnerId", p.PartnerID)
		return cmdFocus{PartnerID: id}, err
	case messages.TypeChatBlur:
		var p struct {
			PartnerID *string `json:"partnerId"`
		}
		if err := unmarshal(data, &p); err != nil {
			return nil, err
		}
		if p.PartnerID == nil {
			return cmdBlur{}, nil
		}
		id, err := requireID("partnerId", p.PartnerID)
		return cmdBlur{PartnerID: id}, err
	case messages.TypePresenceSubscribe, messages.TypePresenceUnsubscribe:
		return d.userList(typ, data)
	case messages.TypeJoinConversation, messages.TypeLeaveConversation:
		var p struct {
			ConversationID *string `json:"conversationId"`
		}
		if err := unmarshal(data, &p); err != nil {
			return nil, err
		}
		id, err := requireID("conversationId", p.ConversationID)
		if typ == messages.TypeJoinConversation {
			return cmdJoin{ConversationID: id}, err
		}
		return cmdLeave{ConversationID: id}, err
	case messages.TypeSendMessage:
		return d.send(data)
	case messages.TypeMarkRead:
		return markRead(data)
	case messages.TypeTyping:
		return typing(data)
	case messages.TypeHistory:
		return history(data)
	default:
		return nil, messages.Errorf(messages.CodeUnknownType, "unknown type %q", typ)
	}
}

func (d *decoder) userList(typ string, data []byte) (any, *messages.Error) {
	var p struct {
		UserIDs *[]string `json:"userIds"`
	}
	if err := unmarshal(data, &p); err != nil {
		return nil, err
	}
	if p.UserIDs == nil {
		return nil, messages.Errorf(messages.CodeInvalidPayload, "userIds is required")
	}
	ids := *p.UserIDs
	if len(ids) > d.maxSubscriptions {
		return nil, messages.Errorf(messages.CodeLimitExceeded, "at most %d subscriptions per connection", d.maxSubscriptions)
	}
	for _, id := range ids {
		if !messages.ValidID(id) {
			return nil, messages.Errorf(messages.CodeInvalidPayload, "userIds: %q is not a valid user id", clip(id))
		}
	}
	if typ == messages.TypePresenceSubscribe {
		return cmdSubscribe{UserIDs: ids}, nil
	}
	return cmdUnsubscribe{UserIDs: ids}, nil
}

func (d *decoder) send(data []byte) (any, *messages.Error) {
	var p struct {
		ConversationID *string          `json:"conversationId"`
		Content        *json.RawMessage `json:"content"`
		ClientMsgID    *string          `json:"clientMsgId"`
	}
	if err := unmarshal(data, &p); err != nil {
		return nil, err
	}
	conv, err := requireID("conversationId", p.ConversationID)
	if err != nil {
		return nil, err
	}
	if p.ClientMsgID == nil {
		return nil, messages.Errorf(messages.CodeInvalidPayload, "clientMsgId is required")
	}
	if n := utf8.RuneCountInString(*p.ClientMsgID); n == 0 || n > maxClientMsgIDLen {
		return nil, messages.Errorf(messages.CodeInvalidPayload, "clientMsgId must be 1-%d characters", maxClientMsgIDLen)
	}
	content, err := d.content(p.Content)
	if err != nil {
		return nil, err
	}
	return cmdSend{ConversationID: conv, Content: content, ClientMsgID: *p.ClientMsgID}, nil
}

// content validates a message body: a JSON string of valid UTF-8 (lone
// surrogate escapes included, which encoding/json would silently replace),
// 1 to maxMessageBytes bytes.
func (d *decoder) content(raw *json.RawMessage) (string, *messages.Error) {
	if raw == nil || string(*raw) == "null" {
		return "", messages.Errorf(messages.CodeInvalidPayload, "content is required")
	}
	var s string
	if err := json.Unmarshal(*raw, &s); err != nil {
		return "", messages.Errorf(messages.CodeInvalidPayload, "content must be a string")
	}
	if !validEscapes(*raw) {
		return "", messages.Errorf(messages.CodeInvalidPayload, "content must be valid UTF-8")
	}
	switch {
	case len(s) == 0:
		return "", messages.Errorf(messages.CodeInvalidPayload, "content must not be empty")
	case len(s) > d.maxMessageBytes:
		return "", messages.Errorf(messages.CodeTooLarge, "content is %d bytes; at most %d", len(s), d.maxMessageBytes)
	}
	return s, nil
}

func markRead(data []byte) (any, *messages.Error) {
	var p struct {
		ConversationID *string `json:"conversationId"`
		UpToSeq        *int64  `json:"upToSeq"`
	}
	if err := unmarshal(data, &p); err != nil {
		return nil, err
	}
	conv, err := requireID("conversationId", p.ConversationID)
	if err != nil {
		return nil, err
	}
	if p.UpToSeq == nil || *p.UpToSeq < 0 {
		return nil, messages.Errorf(messages.CodeInvalidPayload, "upToSeq must be a non-negative integer")
	}
	return cmdMarkRead{ConversationID: conv, UpToSeq: *p.UpToSeq}, nil
}

func typing(data []byte) (any, *messages.Error) {
	var p struct {
		ConversationID *string `json:"conversationId"`
		IsTyping       *bool   `json:"isTyping"`
	}
	if err := unmarshal(data, &p); err != nil {
		return nil, err
	}
	conv, err := requireID("conversationId", p.ConversationID)
	if err != nil {
		return nil, err
	}
	if p.IsTyping == nil {
		return nil, messages.Errorf(messages.CodeInvalidPayload, "isTyping is required")
	}
	return cmdTyping{ConversationID: conv, IsTyping: *p.IsTyping}, nil
}

func history(data []byte) (any, *messages.Error) {
	var p struct {
		ConversationID *string `json:"conversationId"`
		BeforeSeq      *int64  `json:"beforeSeq"`
		AfterSeq       *int64  `json:"afterSeq"`
		Limit          *int    `json:"limit"`
	}
	if err := unmarshal(data, &p); err != nil {
		return nil, err
	}
	conv, err := requireID("conversationId", p.ConversationID)
	if err != nil {
		return nil, err
	}
	h := cmdHistory{ConversationID: conv, Limit: defHistoryLimit}
	if p.BeforeSeq != nil {
		h.BeforeSeq = *p.BeforeSeq
	}
	if p.AfterSeq != nil {
		h.AfterSeq = *p.AfterSeq
		// afterSeq alone, even 0, catches up from there; with beforeSeq the
		// request scrolls back, and afterSeq 0 only means "no lower bound".
		h.Forward = h.BeforeSeq == 0
	}
	if p.Limit != nil {
		h.Limit = min(*p.Limit, maxHistoryLimit)
	}
	if h.BeforeSeq < 0 || h.AfterSeq < 0 || h.Limit < 1 {
		return nil, messages.Errorf(messages.CodeInvalidPayload, "beforeSeq and afterSeq must be >= 0 and limit 1-%d", maxHistoryLimit)
	}
	return h, nil
}

// unmarshal decodes a data object, naming the offending field on a type error.
func unmarshal(data []byte, v any) *messages.Error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return messages.Errorf(messages.CodeInvalidPayload, "%s must be a %s", te.Field, jsonKind(te.Type.Kind().String()))
	}
	return messages.Errorf(messages.CodeInvalidPayload, "data does not match the %s", "shape of this type")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice":
		return "list"
	case "int", "int64":
		return "integer"
	default:
		return goKind
	}
}

func requireID(field string, v *string) (string, *messages.Error) {
	if v == nil {
		return "", messages.Errorf(messages.CodeInvalidPayload, "%s is required", field)
	}
	if !messages.ValidID(*v) {
		return "", messages.Errorf(messages.CodeInvalidPayload, "%s %q is not a valid id (1-128 of [A-Za-z0-9._:@-])", field, clip(*v))
	}
	return *v, nil
}

// clip keeps error messages short whatever the client sent.
func clip(s string) string {
	if len(s) <= 32 {
		return s
	}
	for i := 32; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return fmt.Sprintf("%.32q", s)
}

// validEscapes reports whether a JSON string token has no lone UTF-16
// surrogate escapes: "\ud83d\ude00" is an emoji, "\ud83d" alone is not text.
func validEscapes(tok []byte) bool {
	pendingHigh := false
	for i := 0; i < len(tok); i++ {
		if tok[i] != '\\' {
			if pendingHigh {
				return false
			}
			continue
		}
		i++
		if i >= len(tok) {
			return false
		}
		if tok[i] != 'u' {
			if pendingHigh {
				return false
			}
			continue
		}
		if i+4 >= len(tok) {
			return false
		}
		var r rune
		for _, c := range tok[i+1 : i+5] {
			r = r<<4 | rune(hexVal(c))
		}
		i += 4
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if pendingHigh {
				return false
			}
			pendingHigh = true
		case r >= 0xDC00 && r <= 0xDFFF:
			if !pendingHigh {
				return false
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return false
			}
		}
	}
	return !pendingHigh
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}
