package main

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/config"
)

// membershipRefresh is how often the automanaged provider checks the other
// members: with 500 ms a dead member is noticed within about a second,
// which keeps "offline" within heartbeat timeout + grace + detection of a
// member's death, well under the 10 s we promise.
const membershipRefresh = 500 * time.Millisecond

// clusterOptions maps the cluster.* keys onto the actors' options; nil when
// the cluster is off.
func clusterOptions(c config.Cluster) (*actors.ClusterOptions, error) {
	if !c.Enabled {
		return nil, nil
	}
	provider, err := membership(c)
	if err != nil {
		return nil, err
	}
	return &actors.ClusterOptions{
		Name:              c.Name,
		Host:              c.Host,
		Port:              c.Port,
		AdvertisedAddress: c.AdvertisedAddress,
		Provider:          provider,
		LeaveDelay:        3 * membershipRefresh,
	}, nil
}

func membership(c config.Cluster) (cluster.ClusterProvider, error) {
	switch c.Provider {
	case config.ProviderAutomanaged:
		seeds := c.Seeds
		if len(seeds) == 0 { // a cluster of one, until others list it
			seeds = []string{net.JoinHostPort(c.Host, strconv.Itoa(c.AutomanagedPort))}
		}
		return automanaged.NewWithConfig(membershipRefresh, c.AutomanagedPort, seeds...), nil
	case config.ProviderEtcd:
		p, err := etcd.NewWithConfig("/presenced/"+c.Name, clientv3.Config{
			Endpoints:   c.Etcd.Endpoints,
			DialTimeout: 5 * time.Second,
		})
		if err != nil {
			return nil, fmt.Errorf("connecting to etcd %v: %w", c.Etcd.Endpoints, err)
		}
		return p, nil
	default:
		return nil, &config.Error{Key: "cluster.provider", Problem: c.Provider + " is not available in this build (use automanaged or etcd)"}
	}
}
