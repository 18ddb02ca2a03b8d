package actors

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"
)

// placement is the member's identity lookup: which member owns a user's
// grain, and the activations this member owns. It stands in for
// Proto.Actor's disthash, which does the same job with three costs that
// matter at tens of thousands of users per member:
//
//   - It forgets a stopped grain by scanning all of its activations, so a
//     member whose users all leave at once does quadratic work in one actor
//     while every identity request waits behind it.
//   - Each activation kept a copy of the kind's Props (with a closure
//     holding the identity), the identity twice more, and a child entry in
//     the placement actor: about 0.7 KiB per grain beyond the grain itself.
//   - Its rendezvous hash mixes the member's address in last, unmixed, so
//     members whose addresses differ only in their last character (ports
//     6091–6093 on one host) got half and a quarter each of all users.
//
// Here a grain is spawned from one shared Props; its identity is read back
// from its own name, and the member's table holds only its PID.
//
// Members that place alike advertise placementKind. While a cluster is
// upgraded from a version that used disthash, placement leaves the members
// without it out, and answers their activation requests under disthash's
// actor name: each side then places over its own members, so a user may
// have one grain on each side until the upgrade completes (which the
// grains' re-registration tolerates), but no request is lost.
type placement struct {
	env   *env
	cl    *cluster.Cluster
	props *actor.Props

	members atomic.Pointer[[]memberHash] // the cluster's members, as placement sees them
	pid     *actor.PID                   // this member's placement actor
	compat  *actor.PID                   // the same, under disthash's name
	older   map[string]bool              // members seen placing the old way (warned once each)
	sub     *eventstream.Subscription

	mu     sync.Mutex
	active map[string]*actor.PID // this member's activations, by identity
	seq    uint64                // tells successive activations' names apart
	closed bool
}

// placementName is the placement actor's name on every member: the others
// ask it for activations by name.
const placementName = "placement"

// placementKind is the cluster kind a member advertises when it places
// grains with this code; no grain of it is ever activated.
const placementKind = "presenced.placement.v1"

// disthashActivator is the name under which Proto.Actor's disthash asks a
// member for activations: members of an older version still ask it.
const disthashActivator = "partition-activator"

// grainPrefix starts the name of every grain; the identity follows, then
// '$' and a sequence number.
const grainPrefix = "grain/"

type memberHash struct {
	addr string
	hash uint64
}

var _ cluster.IdentityLookup = (*placement)(nil)

// newPlacement places user grains, spawned from props as they are (not the
// copy cluster.NewKind makes, whose middleware expects Proto.Actor's lookup
// to have set the identity): a grain reads its identity from its name
// (identityOf).
func newPlacement(env *env, props *actor.Props) *placement {
	p := &placement{env: env, props: props, active: make(map[string]*actor.PID)}
	p.members.Store(&[]memberHash{})
	return p
}

// Setup implements cluster.IdentityLookup; Proto.Actor calls it when the
// member starts, before it joins.
func (p *placement) Setup(c *cluster.Cluster, _ []string, _ bool) {
	p.cl = c
	pid, err := p.env.system.Root.SpawnNamed(actor.PropsFromFunc(p.receive), placementName)
	if err != nil {
		panic(err) // a second placement on one system: a programming error
	}
	p.pid = pid
	if p.compat, err = p.env.system.Root.SpawnNamed(actor.PropsFromFunc(p.receive), disthashActivator); err != nil {
		panic(err)
	}
	p.sub = p.env.system.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*cluster.ClusterTopology); ok {
			p.topology(t)
		}
	})
}

// Shutdown implements cluster.IdentityLookup: it stops every grain of this
// member and waits for them (their stopping hands connections over).
// Proto.Actor calls it twice.
func (p *placement) Shutdown() {
	p.mu.Lock()
	closed := p.closed
	p.closed = true
	p.mu.Unlock()
	if closed {
		return
	}
	p.env.system.EventStream.Unsubscribe(p.sub)
	var futures []*actor.Future
	p.each(func(pid *actor.PID) { futures = append(futures, p.env.system.Root.PoisonFuture(pid)) })
	for _, f := range futures {
		if err := f.Wait(); err != nil {
			p.env.log.Warn("stopping a grain", "err", err)
		}
	}
	_ = p.env.system.Root.PoisonFuture(p.pid).Wait()
	_ = p.env.system.Root.PoisonFuture(p.compat).Wait()
}

// Get implements cluster.IdentityLookup: the PID of the identity's grain,
// activated on its owner if it has none; nil when that fails (callers
// retry).
func (p *placement) Get(ci *cluster.ClusterIdentity) *actor.PID {
	owner := ownerOf(ci.Identity, *p.members.Load())
	switch owner {
	case "":
		return nil // no topology yet
	case p.env.system.Address():
		return p.activate(ci.Kind, ci.Identity)
	}
	req := &cluster.ActivationRequest{ClusterIdentity: ci}
	res, err := p.env.system.Root.RequestFuture(actor.NewPID(owner, placementName), req, p.env.cl.opts.CallTimeout).Result()
	if err != nil {
		return nil
	}
	if r, ok := res.(*cluster.ActivationResponse); ok && !r.Failed {
		return r.Pid
	}
	return nil
}

// RemovePid implements cluster.IdentityLookup. Nothing calls it: a grain
// leaves the table when it stops (stopped).
func (p *placement) RemovePid(*cluster.ClusterIdentity, *actor.PID) {}

// activate returns the identity's activation on this member, spawning it
// if there is none.
func (p *placement) activate(kind, id string) *actor.PID {
	if kind != userKind {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pid := p.active[id]; pid != nil {
		return pid
	}
	if p.closed {
		return nil
	}
	p.seq++
	name := grainPrefix + id + "$" + strconv.FormatUint(p.seq, 36)
	pid, err := p.env.system.Root.SpawnNamed(p.props, name)
	if err != nil {
		p.env.log.Warn("activating a grain", "identity", id, "err", err)
		return nil
	}
	p.active[id] = pid
	p.env.metrics.usersOnline.Set(float64(len(p.active)))
	return pid
}

// stopped takes a grain out of the member's table, and out of the
// member's cache of PIDs; the grain calls it as it stops.
func (p *placement) stopped(pid *actor.PID) {
	id := identityOf(pid)
	p.mu.Lock()
	if cur := p.active[id]; cur != nil && cur.Equal(pid) {
		delete(p.active, id)
		p.env.metrics.usersOnline.Set(float64(len(p.active)))
	}
	p.mu.Unlock()
	p.cl.PidCache.RemoveByValue(id, userKind, pid)
}

// identityOf reads a grain's identity back from its name.
func identityOf(pid *actor.PID) string {
	id := strings.TrimPrefix(pid.Id, grainPrefix)
	if i := strings.LastIndexByte(id, '$'); i >= 0 {
		id = id[:i]
	}
	return id
}

// each calls f with every grain of this member, outside the lock.
func (p *placement) each(f func(*actor.PID)) {
	p.mu.Lock()
	pids := make([]*actor.PID, 0, len(p.active))
	for _, pid := range p.active {
		pids = append(pids, pid)
	}
	p.mu.Unlock()
	for _, pid := range pids {
		f(pid)
	}
}

// receive is the placement actor: it activates grains for other members.
func (p *placement) receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *cluster.ActivationRequest:
		ci := m.GetClusterIdentity()
		var pid *actor.PID
		if ci != nil {
			pid = p.activate(ci.Kind, ci.Identity)
		}
		c.Respond(&cluster.ActivationResponse{Pid: pid, Failed: pid == nil})
	case *rebalance:
		p.rebalance(c, m.members)
	}
}

// rebalance asks the placement actor to stop the grains whose owner is
// now another member: their connections then re-attach to new
// activations there.
type rebalance struct{ members []memberHash }

// topology runs on Proto.Actor's event stream: it records the members and
// leaves the scan of the grains to the placement actor.
func (p *placement) topology(t *cluster.ClusterTopology) {
	members, older := placing(t.Members)
	for _, addr := range older {
		p.olderMember(addr)
	}
	p.members.Store(&members)
	p.env.system.Root.Send(p.pid, &rebalance{members: members})
}

// placing splits a topology's members into those that place grains with
// this code and the addresses of the others.
func placing(all []*cluster.Member) (members []memberHash, older []string) {
	for _, m := range all {
		if !m.HasKind(placementKind) {
			older = append(older, m.Address())
			continue
		}
		members = append(members, memberHash{addr: m.Address(), hash: fnv64a(m.Address())})
	}
	return members, older
}

// olderMember warns, once per member, of a member that places grains the
// old way. Only the event stream's goroutine calls it.
func (p *placement) olderMember(addr string) {
	if p.older[addr] {
		return
	}
	if p.older == nil {
		p.older = make(map[string]bool)
	}
	p.older[addr] = true
	p.env.log.Warn("a cluster member runs an older presenced that places grains differently; "+
		"users may have a grain on each version until every member runs this one", "member", addr)
}

func (p *placement) rebalance(c actor.Context, members []memberHash) {
	self := p.env.system.Address()
	var moved []*actor.PID
	p.mu.Lock()
	for id, pid := range p.active {
		if ownerOf(id, members) != self {
			moved = append(moved, pid)
		}
	}
	p.mu.Unlock()
	for _, pid := range moved {
		c.Poison(pid)
	}
}

// ownerOf is the member that owns an identity: of all members, the one
// whose hash mixed with the identity's scores highest (rendezvous
// hashing), so that a member joining or leaving moves only the grains it
// takes or held. The mix is a full avalanche of both hashes, whatever
// their inputs have in common.
func ownerOf(id string, members []memberHash) string {
	h := fnv64a(id)
	best, top := "", uint64(0)
	for _, m := range members {
		if s := mix64(h ^ m.hash); best == "" || s > top || s == top && m.addr > best {
			best, top = m.addr, s
		}
	}
	return best
}

func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the finaliser of SplitMix64: every input bit flips about half
// of the output bits.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
