package actors

import (
	"slices"

	"github.com/presenced/presenced/messages"
)

// onlineList is the registry's connected users in one dense slice, for the
// greetings of connections that see every user. Such a greeting lists the
// whole online population: built by walking the registry's map it cost a
// pointer chase per user per connect, 27% of the server's CPU while
// 10,000 viewers came online (and the registry, one goroutine, spent most
// of its time there). The slice is cut into blocks whose fragments, as a
// viewer no user focuses on sees them ("active"), are joined once and kept
// until a user of the block changes; a greeting copies the blocks and
// rebuilds only those holding the viewer itself or a user focused on it.
type onlineList struct {
	entries []*entry
	blocks  []onlineBlock
	// focusedOn: viewer id → the online users whose chat is focused on
	// that viewer, who see it "online" rather than "active".
	focusedOn map[string][]*entry
}

// onlineBlockLen users a block: small enough that a change rebuilds
// little, large enough that a 10,000-user greeting is ~160 copies.
const onlineBlockLen = 64

type onlineBlock struct {
	joined []byte // the block's "active" fragments, comma-joined
	fresh  bool   // joined holds the block's users as they are now
}

// update keeps the list in step with a user's new presence; before is
// what the registry held (nil: nothing). It runs on every change, so that
// no block keeps an old fragment.
func (l *onlineList) update(e *entry, before *messages.UserPresence) {
	// Whether e is listed, not what before says, decides: the list must
	// never index past itself, whatever state came before.
	was := e.listed > 0
	switch {
	case was && e.p.Connected:
		l.stale(int(e.listed) - 1)
	case e.p.Connected:
		e.listed = int32(len(l.entries)) + 1
		l.entries = append(l.entries, e)
		l.stale(len(l.entries) - 1)
	case was:
		i, last := int(e.listed)-1, len(l.entries)-1
		moved := l.entries[last]
		l.entries[i], moved.listed = moved, int32(i)+1
		l.entries[last] = nil
		l.entries = l.entries[:last]
		e.listed = 0
		l.stale(i)
		l.stale(last)
	}
	var old []string
	if before != nil {
		old = before.Focus
	}
	for _, partner := range focusDiff(old, e.p.Focus) {
		list := l.focusedOn[partner]
		if slices.Contains(e.p.Focus, partner) {
			if l.focusedOn == nil {
				l.focusedOn = make(map[string][]*entry)
			}
			l.focusedOn[partner] = append(list, e)
			continue
		}
		list = slices.DeleteFunc(list, func(x *entry) bool { return x == e })
		if len(list) == 0 {
			delete(l.focusedOn, partner)
		} else {
			l.focusedOn[partner] = list
		}
	}
}

func (l *onlineList) stale(i int) {
	if b := i / onlineBlockLen; b < len(l.blocks) {
		l.blocks[b].fresh = false
	}
}

// block is the joined "active" fragments of block b, made anew if stale.
func (l *onlineList) block(b int) []byte {
	if b >= len(l.blocks) {
		l.blocks = append(l.blocks, make([]onlineBlock, b+1-len(l.blocks))...)
	}
	blk := &l.blocks[b]
	if !blk.fresh {
		blk.joined = blk.joined[:0]
		for i, e := range l.members(b) {
			if i > 0 {
				blk.joined = append(blk.joined, ',')
			}
			blk.joined = append(blk.joined, e.fragment(messages.StatusActive)...)
		}
		blk.fresh = true
	}
	return blk.joined
}

func (l *onlineList) members(b int) []*entry {
	return l.entries[b*onlineBlockLen : min((b+1)*onlineBlockLen, len(l.entries))]
}

// greeting appends to frags the online users but viewer, as viewer sees
// them: whole blocks where possible, one fragment per user in the blocks
// holding viewer or a user focused on it. It returns frags and how many
// users they hold.
func (l *onlineList) greeting(frags [][]byte, viewer string, self *entry) ([][]byte, int) {
	var special []int // blocks seen differently by this viewer; a few
	if self != nil && self.listed > 0 {
		special = append(special, int(self.listed-1)/onlineBlockLen)
	}
	for _, e := range l.focusedOn[viewer] {
		if e.listed > 0 {
			special = append(special, int(e.listed-1)/onlineBlockLen)
		}
	}
	users := 0
	for b := 0; b*onlineBlockLen < len(l.entries); b++ {
		if !slices.Contains(special, b) {
			frags = append(frags, l.block(b))
			users += len(l.members(b))
			continue
		}
		for _, e := range l.members(b) {
			if e != self {
				frags = append(frags, e.fragment(statusFor(e.p, viewer)))
				users++
			}
		}
	}
	return frags, users
}
