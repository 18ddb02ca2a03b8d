package actors

import (
	"fmt"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
)

func members(addrs ...string) []memberHash {
	out := make([]memberHash, len(addrs))
	for i, a := range addrs {
		out[i] = memberHash{addr: a, hash: fnv64a(a)}
	}
	return out
}

// Three members on one host, their addresses differing in the last
// character only: each must own about a third of the users (Proto.Actor's
// rendezvous gave one of them half).
func TestPlacementSpreadsUsersEvenly(t *testing.T) {
	for _, ms := range [][]memberHash{
		members("127.0.0.1:6091", "127.0.0.1:6092", "127.0.0.1:6093"),
		members("127.0.0.1:6090", "127.0.0.2:6090", "127.0.0.3:6090"),
		members("10.0.0.5:6000", "10.0.0.6:6000", "10.0.0.7:6000"),
	} {
		const users = 30_000
		owned := make(map[string]int)
		for i := range users {
			owned[ownerOf(fmt.Sprintf("user-%d", i), ms)]++
		}
		for _, m := range ms {
			if share := float64(owned[m.addr]) / users; share < 0.31 || share > 0.36 {
				t.Errorf("%s owns %.1f%% of %d users, want about a third (all: %v)", m.addr, 100*share, users, owned)
			}
		}
	}
}

// A member joining takes about its share of the users from the others,
// and no user moves between the members that were there before.
func TestPlacementMovesOnlyWhatAJoiningMemberTakes(t *testing.T) {
	before := members("127.0.0.1:6091", "127.0.0.1:6092", "127.0.0.1:6093")
	after := append(members("127.0.0.1:6094"), before...)
	const users = 20_000
	moved := 0
	for i := range users {
		id := fmt.Sprintf("u%d", i)
		was, is := ownerOf(id, before), ownerOf(id, after)
		if was == is {
			continue
		}
		if is != "127.0.0.1:6094" {
			t.Fatalf("%s moved from %s to %s, not to the new member", id, was, is)
		}
		moved++
	}
	if share := float64(moved) / users; share < 0.22 || share > 0.28 {
		t.Errorf("%.1f%% of users moved to the fourth member, want about a quarter", 100*share)
	}
}

func TestPlacementReadsTheIdentityBackFromTheGrainsName(t *testing.T) {
	for _, id := range []string{"alice", "a$b", "user/with/slashes", "$", ""} {
		name := grainPrefix + id + "$" + "1z"
		if got := identityOf(actor.NewPID("m", name)); got != id {
			t.Errorf("identityOf(%q) = %q, want %q", name, got, id)
		}
	}
}

// While a cluster is upgraded, members of the version before (which
// advertise no placement kind) are left out of placement, so that no
// activation is asked of a member that would not answer it.
func TestPlacementLeavesOlderMembersOut(t *testing.T) {
	members, older := placing([]*cluster.Member{
		{Host: "10.0.0.5", Port: 6000, Kinds: []string{userKind, placementKind}},
		{Host: "10.0.0.6", Port: 6000, Kinds: []string{userKind}},
		{Host: "10.0.0.7", Port: 6000, Kinds: []string{placementKind, userKind}},
	})
	if len(members) != 2 || members[0].addr != "10.0.0.5:6000" || members[1].addr != "10.0.0.7:6000" {
		t.Errorf("placing over %v, want 10.0.0.5:6000 and 10.0.0.7:6000", members)
	}
	if len(older) != 1 || older[0] != "10.0.0.6:6000" {
		t.Errorf("older members %v, want [10.0.0.6:6000]", older)
	}
}
