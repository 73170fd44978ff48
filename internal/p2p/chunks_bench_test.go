package p2p

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/files"
	"mycel/internal/keys"
)

// BenchmarkChunkPutsOnHosts is the transport's own limit: 1 MiB chunks
// put over real libp2p hosts on loopback to a backend in memory, one
// request at a time or several in flight.
func BenchmarkChunkPutsOnHosts(b *testing.B) {
	ctx := context.Background()
	nodeKey, devKey := deviceKey(b), deviceKey(b)
	node, err := NewHost(nodeKey, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Close()
	var vault keys.VaultID
	mem := newMemChunks()
	node.SetStreamHandler(ChunkProtocolID, func(s network.Stream) {
		AcceptChunks(ctx, s, func(keys.VaultID, ed25519.PublicKey, [][]byte) (ChunkBackend, func(), error) {
			return mem, func() {}, nil
		}, ChunkLimits{})
	})
	h, err := NewHost(devKey, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	if err := h.Connect(ctx, peer.AddrInfo{ID: node.ID(), Addrs: node.Addrs()}); err != nil {
		b.Fatal(err)
	}
	chunk, _ := sealed(1, 1<<20)
	for _, depth := range []int{1, 8} {
		b.Run(fmt.Sprint("inflight=", depth), func(b *testing.B) {
			cl, err := DialNodeChunks(ctx, h, node.ID(), vault, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			b.SetBytes(int64(len(chunk)))
			var q []PutCall
			for i := 0; b.Loop(); i++ {
				chunk[0], chunk[1] = byte(i), byte(i>>8)
				a := files.AddressOf(chunk)
				if len(q) == depth {
					if _, err := q[0].Wait(ctx); err != nil {
						b.Fatal(err)
					}
					q = q[1:]
				}
				q = append(q, cl.SendPut(ctx, a, chunk))
			}
			for _, c := range q {
				if _, err := c.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
