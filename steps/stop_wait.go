package steps

import (
	"errors"
	"fmt"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
)

// What the real kubelet (v1.35.4) does once a static pod's manifest is
// moved out of its manifests dir, which sizes step 1's wait:
//   - it notices at once through inotify, or at the latest at its next
//     re-list of the dir: fileCheckFrequency, 20 s by default
//     (pkg/kubelet/apis/config/v1beta1/defaults.go; config/file.go).
//   - it kills the pod with the pod's own grace period: the file source
//     defaults an unset terminationGracePeriodSeconds to 30 s
//     (pkg/apis/core/v1/defaults.go), pod_workers.go
//     calculateEffectiveGracePeriod raises anything under 1 s to 1 s and
//     kuberuntime killContainer anything under 2 s to 2 s
//     (minimumGracePeriodInSeconds); a static pod has no
//     deletionGracePeriodSeconds to shorten it. The runtime sends SIGTERM
//     and SIGKILL when the grace period is out.
//   - kube-apiserver uses all of it under a real kubelet: its HTTP server
//     waits for open watch streams up to --request-timeout (60 s), and a
//     --shutdown-delay-duration keeps it serving for that long first.
//
// A manifest that raises the grace period (an HA setup that drains
// through its load balancer) makes the kubelet wait longer, so the wait
// does too: a fixed wait shorter than the grace period fails a stop that
// is going as it should.
const (
	kubeletFileCheck    = 20 * time.Second
	kubeletDefaultGrace = 30 * time.Second
	kubeletMinGrace     = 2 * time.Second
	// stopMargin is for what follows the SIGKILL: the runtime reaps the
	// process, the kernel frees the port, and the check polls every Poll
	// over SSH on a node that may be loaded. The real tier's stop ends
	// within 0.5 s of the grace period; 30 s is far beyond that.
	stopMargin = 30 * time.Second
)

// stopWaitFor sizes the wait for a static pod to be gone after its manifest
// is parked, from its manifest's terminationGracePeriodSeconds (nil: unset).
func stopWaitFor(node string, comp Component, graceSeconds *int64) Wait {
	grace := kubeletDefaultGrace
	if graceSeconds != nil {
		// Seconds above what a Duration holds are no real manifest's; cap
		// them rather than overflow into a negative wait.
		const maxSeconds = int64(24 * time.Hour / time.Second)
		grace = time.Duration(min(*graceSeconds, maxSeconds)) * time.Second
	}
	grace = max(grace, kubeletMinGrace)
	return Wait{Node: node, Component: comp, Grace: grace, Notice: kubeletFileCheck, Margin: stopMargin,
		Deadline: kubeletFileCheck + grace + stopMargin}
}

// apiserverStopWait is how long step 1 waits for node's kube-apiserver to
// be gone: sized from the manifest read in preflight, unless the engine
// was given a fixed wait.
func (c *Context) apiserverStopWait(node string) Wait {
	var grace *int64
	if a, ok := c.apiserverOf(node); ok {
		grace = a.GraceSeconds
	}
	w := stopWaitFor(node, CompAPIServer, grace)
	if c.stopWait > 0 {
		w.Deadline, w.Fixed = c.stopWait, true
	}
	return w
}

// apiserverStopWaits are step 1's waits, one per control-plane node whose
// manifest was read (preflight), for its gate and `plan`.
func apiserverStopWaits(c *Context) []Wait {
	var out []Wait
	for _, n := range c.Cluster.NodesWith(config.RoleControlPlane) {
		if _, ok := c.apiserverOf(n.Name); ok || c.stopWait > 0 {
			out = append(out, c.apiserverStopWait(n.Name))
		}
	}
	return out
}

// stopWaitFacts are the gate's sentence for step 1's waits.
func stopWaitFacts(c *Context) []string {
	ws := apiserverStopWaits(c)
	if len(ws) == 0 {
		return []string{fmt.Sprintf("Waits per node for its kube-apiserver to be gone: the kubelet's %s manifest re-list + the pod's grace period (its manifest's terminationGracePeriodSeconds, read in preflight; %s when unset) + %s.",
			kubeletFileCheck, kubeletDefaultGrace, stopMargin)}
	}
	lo, hi := ws[0], ws[0]
	for _, w := range ws[1:] {
		if w.Deadline < lo.Deadline {
			lo = w
		}
		if w.Deadline > hi.Deadline {
			hi = w
		}
	}
	if hi.Fixed {
		return []string{fmt.Sprintf("Waits up to %s per node for its kube-apiserver to be gone (a fixed wait).", hi.Deadline)}
	}
	if lo.Deadline == hi.Deadline {
		return []string{fmt.Sprintf("Waits up to %s per node for its kube-apiserver to be gone: the kubelet's %s manifest re-list + the pod's %s grace period + %s.",
			hi.Deadline, hi.Notice, hi.Grace, hi.Margin)}
	}
	return []string{fmt.Sprintf("Waits up to %s (%s) to %s (%s) for each kube-apiserver to be gone: the kubelet's %s manifest re-list + that pod's grace period + %s.",
		lo.Deadline, lo.Node, hi.Deadline, hi.Node, hi.Notice, hi.Margin)}
}

// StopTimedOut is a parked static pod still there when its sized wait ran
// out. Wait says how long that was and what it was made of.
type StopTimedOut struct {
	Wait Wait
	Err  error
}

func (e *StopTimedOut) Error() string {
	if e.Wait.Fixed {
		return fmt.Sprintf("%s stopped on %s: not true after %s (a fixed wait): %v", e.Wait.Component, e.Wait.Node, e.Wait.Deadline, e.Err)
	}
	return fmt.Sprintf("%s stopped on %s: not true after %s (the kubelet's %s manifest re-list + the pod's %s grace period + %s): %v",
		e.Wait.Component, e.Wait.Node, e.Wait.Deadline, e.Wait.Notice, e.Wait.Grace, e.Wait.Margin, e.Err)
}

func (e *StopTimedOut) Unwrap() error { return e.Err }

// stopTimedOut types a wait's failure at its deadline; a node gone or a
// cancelled run is left as it is.
func stopTimedOut(w Wait, err error) error {
	var dl *deadlineErr
	if !errors.As(err, &dl) {
		return err
	}
	return &StopTimedOut{Wait: w, Err: dl.last}
}
