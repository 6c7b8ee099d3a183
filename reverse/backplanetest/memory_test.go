package backplanetest_test

import (
	"sync"
	"testing"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/backplanetest"
)

func TestMemoryBackplane(t *testing.T) {
	bp := reverse.NewMemoryBackplane()
	backplanetest.Run(t, func(*testing.T) reverse.Backplane { return bp })
}

// shared returns the memory backplane of t's subtest: the hubs of one
// subtest share it, as processes share a bus.
var shared = func() func(t *testing.T) reverse.Backplane {
	var mu sync.Mutex
	bps := map[string]*reverse.MemoryBackplane{}
	return func(t *testing.T) reverse.Backplane {
		mu.Lock()
		defer mu.Unlock()
		if bps[t.Name()] == nil {
			bps[t.Name()] = reverse.NewMemoryBackplane()
		}
		return bps[t.Name()]
	}
}()

func TestMemoryCluster(t *testing.T) {
	backplanetest.RunCluster(t, func(t *testing.T) reverse.Backplane {
		t.Helper()
		return shared(t)
	})
}
