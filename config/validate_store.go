package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// checkStore: the chosen driver must have what it needs. A postgres URL is
// checked whenever it is set, used or not, since a malformed value is a
// mistake either way. The URL itself is never quoted in a message: it may
// carry a password.
func checkStore(c *Config) *Error {
	s := c.Store
	if s.Postgres.URL != "" {
		u, err := url.Parse(s.Postgres.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return &Error{Key: "store.postgres.url", Problem: "is not a postgres:// or postgresql:// URL"}
		}
	}
	switch {
	case s.Driver == StorePostgres && s.Postgres.URL == "":
		return &Error{Key: "store.postgres.url", Problem: "is not set, and store.driver is postgres"}
	case s.Driver == StoreSQLite && s.SQLite.Path == "":
		return &Error{Key: "store.sqlite.path", Problem: "is empty, and store.driver is sqlite"}
	}
	return nil
}

// checkCluster: the advertised address is dialled by other members, so it
// must be host:port whenever set. The other rules apply only to an enabled
// cluster, so a disabled one may keep half-finished settings:
//   - the embedded sqlite store belongs to one node, so members need postgres;
//   - an empty name or host cannot form or reach a cluster;
//   - the etcd provider needs at least one endpoint to find the others.
//
// automanaged with no seeds is allowed: it is a cluster of one member.
func checkCluster(c *Config) *Error {
	cl := c.Cluster
	if cl.AdvertisedAddress != "" {
		if p := hostPortProblem(cl.AdvertisedAddress); p != "" {
			return &Error{Key: "cluster.advertised_address", Problem: p}
		}
	}
	switch {
	case !cl.Enabled:
		return nil
	case c.Store.Driver == StoreSQLite:
		return &Error{Key: "cluster.enabled", Problem: "true needs store.driver: postgres; the embedded sqlite store serves one node only"}
	case cl.Name == "":
		return &Error{Key: "cluster.name", Problem: "is empty; members with the same name form one cluster"}
	case cl.Host == "":
		return &Error{Key: "cluster.host", Problem: "is empty; actor remoting needs a host to bind"}
	case cl.Provider == ProviderEtcd && len(cl.Etcd.Endpoints) == 0:
		return &Error{Key: "cluster.etcd.endpoints", Problem: "is empty; the etcd provider needs at least one endpoint"}
	}
	return nil
}

// checkPorts: the HTTP listener, actor remoting and the automanaged endpoint
// each bind a port of their own; two of them on one port would fail at
// start with a less helpful "address already in use". Port 0 (pick a free
// one) never clashes, and only the ports actually used are compared. Hosts
// are not: they may differ, but one port for two servers of one member is
// almost always a copy-paste slip.
func checkPorts(c *Config) *Error {
	type use struct {
		key  string
		port int
	}
	_, p, _ := net.SplitHostPort(c.Listen) // checkListen has passed
	listenPort, _ := strconv.Atoi(p)
	uses := []use{{"listen", listenPort}}
	if c.Cluster.Enabled {
		uses = append(uses, use{"cluster.port", c.Cluster.Port})
		if c.Cluster.Provider == ProviderAutomanaged {
			uses = append(uses, use{"cluster.automanaged_port", c.Cluster.AutomanagedPort})
		}
	}
	for i, a := range uses {
		for _, b := range uses[:i] {
			if a.port != 0 && a.port == b.port {
				return &Error{Key: a.key, Problem: fmt.Sprintf("%d is also the port of %s", a.port, b.key)}
			}
		}
	}
	return nil
}
