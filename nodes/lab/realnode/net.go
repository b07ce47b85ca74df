package realnode

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// NetPrefix is the range node addresses come from: TEST-NET-2 (RFC 5737),
// neither private nor in use on a real network, so a lab address can never
// collide with a real one, and it is only ever configured inside the lab's
// own namespaces and on its host-only bridge.
const NetPrefix = "198.51.100.0/24"

// MaxSlots is how many labs of this tier fit in NetPrefix at once: each
// takes a /28 (the bridge's address plus up to 13 nodes).
const MaxSlots = 16

// Net is one lab's network: a bridge in the host namespace holding the
// slot's first address (the bastion's), and the nodes' namespaces.
type Net struct {
	Slot   int
	Bridge string // edrbr<slot>
}

// InUse names a process still running in one of slot's node namespaces
// (another lab of this slot is up), or returns "".
func InUse(ctx context.Context, slot int) string {
	out, _ := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	prefix := fmt.Sprintf("edr%d-", slot)
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			if pids, _ := exec.CommandContext(ctx, "ip", "netns", "pids", f[0]).Output(); len(strings.Fields(string(pids))) > 0 {
				return fmt.Sprintf("network namespace %s has running processes (%s)", f[0], strings.Join(strings.Fields(string(pids)), " "))
			}
		}
	}
	return ""
}

// NewNet creates slot's bridge (after removing what a killed lab of the
// same slot left behind) and returns it. The bridge's address gives the
// host a connected route to the slot's /28 and nothing else.
func NewNet(ctx context.Context, slot int) (*Net, error) {
	if slot < 0 || slot >= MaxSlots {
		return nil, fmt.Errorf("realnode: slot %d out of range 0-%d", slot, MaxSlots-1)
	}
	n := &Net{Slot: slot, Bridge: fmt.Sprintf("edrbr%d", slot)}
	n.removeStale(ctx)
	for _, args := range [][]string{
		{"link", "add", n.Bridge, "type", "bridge"},
		{"addr", "add", n.HostAddr().String() + "/28", "dev", n.Bridge},
		{"link", "set", n.Bridge, "up"},
	} {
		if err := ipCmd(ctx, args...); err != nil {
			n.removeStale(ctx)
			return nil, err
		}
	}
	return n, nil
}

func (n *Net) base() netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, 100, byte(16 * n.Slot)})
}

// HostAddr is the bastion's address on the bridge (.1 of the slot).
func (n *Net) HostAddr() netip.Addr { return n.base().Next() }

// NodeAddr is node index i's address (i from 1 to 13).
func (n *Net) NodeAddr(i int) netip.Addr {
	a := n.HostAddr()
	for range i {
		a = a.Next()
	}
	return a
}

// NetnsName is the name `ip netns` knows node's namespace by.
func (n *Net) NetnsName(node string) string { return fmt.Sprintf("edr%d-%s", n.Slot, node) }

// addNetns creates node's network namespace with an eth0 holding node
// index i's address, joined to the bridge by a veth pair, and lo up (etcd
// listens on 127.0.0.1 inside it as kubeadm writes). It adds no default
// route: nothing a node sends can leave the machine.
func (n *Net) addNetns(ctx context.Context, node string, i int) (netip.Addr, error) {
	if i < 1 || i > 13 {
		return netip.Addr{}, fmt.Errorf("realnode: node index %d out of range 1-13", i)
	}
	ns := n.NetnsName(node)
	host, peer := fmt.Sprintf("edr%dv%d", n.Slot, i), fmt.Sprintf("edr%dp%d", n.Slot, i)
	addr := n.NodeAddr(i)
	_ = ipCmd(ctx, "netns", "delete", ns)
	_ = ipCmd(ctx, "link", "delete", host)
	for _, args := range [][]string{
		{"netns", "add", ns},
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", ns},
		{"link", "set", host, "master", n.Bridge, "up"},
		{"-n", ns, "link", "set", peer, "name", "eth0"},
		{"-n", ns, "addr", "add", addr.String() + "/28", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", ns, "link", "set", "lo", "up"},
		// kubeadm requires forwarding on (preflight); the sysctl is the
		// node namespace's own, and with no default route nothing can be
		// forwarded off the machine.
		{"netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
	} {
		if err := ipCmd(ctx, args...); err != nil {
			return netip.Addr{}, err
		}
	}
	return addr, nil
}

// RemoveNode kills every process left in node's network namespace (the
// kubelet, containerd, its shims and containers all live there) and
// deletes the namespace; its veth pair goes with it.
func (n *Net) RemoveNode(ctx context.Context, node string) {
	ns := n.NetnsName(node)
	killNetns(ctx, ns)
	_ = ipCmd(ctx, "netns", "delete", ns)
}

// Close removes the bridge. Call it after RemoveNode for every node.
func (n *Net) Close(ctx context.Context) { n.removeStale(ctx) }

// removeStale deletes slot's bridge and every namespace of the slot (a
// killed lab's leftovers), killing what still runs in them.
func (n *Net) removeStale(ctx context.Context) {
	out, _ := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	prefix := fmt.Sprintf("edr%d-", n.Slot)
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			killNetns(ctx, f[0])
			_ = ipCmd(ctx, "netns", "delete", f[0])
		}
	}
	_ = ipCmd(ctx, "link", "delete", n.Bridge)
	// A veth pair lives as long as its node namespace, which the kernel may
	// keep for a while after the last process and mount are gone: delete
	// the host ends now (the pair goes with either end).
	links, _ := exec.CommandContext(ctx, "ip", "-o", "link", "show").Output()
	for _, line := range strings.Split(string(links), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if strings.HasPrefix(name, fmt.Sprintf("edr%dv", n.Slot)) {
				_ = ipCmd(ctx, "link", "delete", name)
			}
		}
	}
	hier, _ := os.ReadDir("/sys/fs/cgroup")
	for _, h := range hier {
		roots, _ := os.ReadDir(filepath.Join("/sys/fs/cgroup", h.Name()))
		for _, r := range roots {
			if r.IsDir() && strings.HasPrefix(r.Name(), prefix) {
				removeCgroups("/" + r.Name())
			}
		}
	}
}

// killNetns SIGKILLs every process in ns and waits (up to 10 s, a
// loaded machine reaping a container) until none is left, so their cgroups
// can go.
func killNetns(ctx context.Context, ns string) {
	for range 50 {
		out, _ := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return
		}
		_ = exec.CommandContext(ctx, "kill", append([]string{"-KILL"}, pids...)...).Run()
		time.Sleep(200 * time.Millisecond)
	}
}

func ipCmd(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
