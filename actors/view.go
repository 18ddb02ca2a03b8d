package actors

import (
	"slices"

	"github.com/presenced/presenced/messages"
)

// statusFor computes the status of p as viewer sees it. It is the only place
// that turns a user's private focus into something a viewer learns: "online"
// for the focused partner, never who else is focused.
func statusFor(p *messages.UserPresence, viewer string) messages.Status {
	switch {
	case p == nil || !p.Connected:
		return messages.StatusOffline
	case slices.Contains(p.Focus, viewer):
		return messages.StatusOnline
	default:
		return messages.StatusActive
	}
}

// presenceFor is the Presence object of p for viewer.
func presenceFor(p *messages.UserPresence, viewer string) messages.Presence {
	return messages.Presence{
		UserID:     p.UserId,
		Role:       p.Role,
		Status:     statusFor(p, viewer),
		LastActive: p.LastActiveMs,
		LastSeen:   p.LastSeenMs,
	}
}

// Visibility is who may see whom (presence.visibility).
type Visibility int

const (
	// VisibilityContacts: ADMINs see everyone; others see the members of
	// conversations they share plus what each connection subscribed to.
	VisibilityContacts Visibility = iota
	// VisibilityAll: everyone sees everyone, as the system we replace did.
	VisibilityAll
)

// canSee reports whether a viewer may see user. contact and subscribed say
// whether user is one of the viewer's contacts or one of the connection's
// subscriptions. Nobody is shown to themselves: "you" covers that.
func canSee(vis Visibility, viewerID, viewerRole, user string, contact, subscribed bool) bool {
	switch {
	case viewerID == user:
		return false
	case vis == VisibilityAll, viewerRole == messages.RoleAdmin:
		return true
	default:
		return contact || subscribed
	}
}

// focusDiff returns the partners in exactly one of a and b: the only viewers
// whose view of a user can change when just its focus changes.
func focusDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, x)
		}
	}
	return out
}
