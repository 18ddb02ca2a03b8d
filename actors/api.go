package actors

import (
	"context"
	"fmt"
	"slices"

	"github.com/presenced/presenced/messages"
)

// MaxConversationMembers bounds a conversation's members.
const MaxConversationMembers = 256

// CreateConversation creates a conversation of memberIDs for the caller, who
// must be one of them unless an ADMIN. Two members always get the same direct
// conversation back. The members see each other's presence from now on.
func (e *Engine) CreateConversation(ctx context.Context, callerID, callerRole string, memberIDs []string) (*messages.Conversation, error) {
	members, err := messages.MemberList(memberIDs)
	if err != nil {
		return nil, err
	}
	switch {
	case len(members) > MaxConversationMembers:
		return nil, messages.Errorf(messages.CodeInvalidPayload, "memberIds: at most %d members", MaxConversationMembers)
	case callerRole != messages.RoleAdmin && !slices.Contains(members, callerID):
		return nil, messages.Errorf(messages.CodeForbidden, "the caller must be a member of the conversation")
	}
	conv, created, err := e.opts.Store.CreateConversation(ctx, members)
	if err != nil {
		return nil, fmt.Errorf("creating conversation: %w", err)
	}
	if created {
		e.conversationCreated(conv)
	}
	return conv, nil
}

// conversationCreated tells the registries (who may see whom) and the
// members' actors (who may send where) about a new conversation.
func (e *Engine) conversationCreated(conv *messages.Conversation) {
	added := &messages.ContactsAdded{Conversation: conv}
	e.root.Send(e.env.registry, added)
	for _, id := range conv.MemberIds {
		e.root.Send(e.env.users, &routed{user: id, msg: added})
	}
}

// History is a page of a conversation for one of its members.
func (e *Engine) History(ctx context.Context, callerID string, q messages.HistoryQuery) (messages.HistoryPage, error) {
	conv, err := e.opts.Store.Conversation(ctx, q.ConversationID)
	if err != nil {
		return messages.HistoryPage{}, fmt.Errorf("loading conversation %s: %w", q.ConversationID, err)
	}
	if !slices.Contains(conv.MemberIds, callerID) {
		return messages.HistoryPage{}, messages.Errorf(messages.CodeForbidden, "you are not a member of conversation %s", q.ConversationID)
	}
	page, err := e.opts.Store.History(ctx, q)
	if err != nil {
		return messages.HistoryPage{}, fmt.Errorf("loading history of %s: %w", q.ConversationID, err)
	}
	return page, nil
}

// Conversations lists the caller's conversations with their unread counts.
func (e *Engine) Conversations(ctx context.Context, callerID string) ([]messages.ConversationSummary, error) {
	list, err := e.opts.Store.Conversations(ctx, callerID)
	if err != nil {
		return nil, fmt.Errorf("listing conversations of %s: %w", callerID, err)
	}
	return list, nil
}

// Presence is userID's presence as the caller sees it. A user the caller may
// not see is not_found, whether or not it exists; so is a user nobody has
// heard of, unless it is a contact (a member of a conversation exists).
func (e *Engine) Presence(ctx context.Context, callerID, callerRole, userID string) (messages.Presence, error) {
	notFound := messages.Errorf(messages.CodeNotFound, "no user %s visible to you", userID)
	if !messages.ValidID(userID) {
		return messages.Presence{}, messages.Errorf(messages.CodeInvalidPayload, "%q is not a valid user id", userID)
	}
	contact := userID == callerID
	if !contact && e.opts.Visibility != VisibilityAll && callerRole != messages.RoleAdmin {
		contacts, err := e.opts.Store.Contacts(ctx, callerID)
		if err != nil {
			return messages.Presence{}, fmt.Errorf("loading contacts of %s: %w", callerID, err)
		}
		if contact = slices.Contains(contacts, userID); !contact {
			return messages.Presence{}, notFound
		}
	}
	p, err := e.latest(ctx, userID)
	if err != nil {
		return messages.Presence{}, err
	}
	if p == nil && !contact {
		return messages.Presence{}, notFound
	}
	if p == nil {
		p = &messages.UserPresence{UserId: userID}
	}
	return presenceFor(p, callerID), nil
}

// latest is the newest presence known of a user: the registry's, else the
// store's record of an offline user, else nil.
func (e *Engine) latest(ctx context.Context, userID string) (*messages.UserPresence, error) {
	res, err := e.ask(ctx, e.env.registry, &presenceQuery{user: userID})
	if err != nil {
		return nil, err
	}
	if p, _ := res.(*messages.UserPresence); p != nil {
		return p, nil
	}
	users, err := e.opts.Store.Users(ctx, []string{userID})
	if err != nil {
		return nil, fmt.Errorf("loading user %s: %w", userID, err)
	}
	rec, ok := users[userID]
	if !ok {
		return nil, nil
	}
	return &messages.UserPresence{UserId: userID, Role: rec.Role, LastSeenMs: unixMs(rec.LastSeen)}, nil
}
