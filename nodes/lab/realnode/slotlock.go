package realnode

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockSlot takes slot's machine-wide lock (an flock on a file in the temp
// dir) and returns its release: two test suites (or a suite and a helper's
// `go test -run`) that would build a real tier on the same slot of
// NetPrefix run one after the other instead of tearing down each other's
// bridge and namespaces. waiting, if set, is called once before blocking
// on a lock another process holds. The kernel drops the lock with the
// process, so a killed run leaves no stale claim.
func LockSlot(slot int, waiting func(path string)) (release func(), err error) {
	if slot < 0 || slot >= MaxSlots {
		return nil, fmt.Errorf("realnode: slot %d is not in 0-%d", slot, MaxSlots-1)
	}
	p := filepath.Join(os.TempDir(), fmt.Sprintf("etcd-dr-real-slot-%d.lock", slot))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if waiting != nil {
			waiting(p)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("realnode: lock slot %d: %w", slot, err)
		}
	}
	return func() { f.Close() }, nil
}
