package lab

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

// The kubelet's config sources, as pkg/kubelet v1.35.4 has them: the file
// source (the static pod dir) and, when the kubelet has a kubeconfig, the
// apiserver source (config/apiserver.go NewSourceApiserver). The apiserver
// source first waits for the Node informer to sync, then lists this node's
// pods; only its first list counts it as seen. Until every source has been
// seen, sourcesReady.AllReady() is false and the kubelet skips every pod
// delete ("skipping delete because sources aren't ready yet") and every
// housekeeping pass (HandlePodCleanups): a pod whose manifest went away
// keeps running. "Seen" lives in the process's memory: a restarted kubelet
// starts unready again and stays so while no apiserver answers.

// apiSourceRetry is config.WaitForAPIServerSyncPeriod, also about the
// reflector's first retry.
const apiSourceRetry = time.Second

// sourcesReady is sourcesReady.AllReady() for this invocation; k.mu is held.
func (k *kubelet) sourcesReady() bool {
	if k.notReady {
		return false
	}
	return !k.hasAPISource() || k.apiSourceSeen.Load()
}

// hasAPISource: the kubelet has a kubeconfig (an external etcd host's
// standalone kubelet has none: its file source alone is all its sources).
func (k *kubelet) hasAPISource() bool {
	return k.api != nil && k.api.registers && k.api.token != ""
}

// syncAPISource lists the Node and this node's pods as the kubelet's
// informer and reflector first do, retrying until both answer, then marks
// the apiserver source seen for this invocation (ctx).
func (k *kubelet) syncAPISource(ctx context.Context, cs kubernetes.Interface) {
	name := k.n.spec.Name
	nodeSel := fields.OneTermEqualSelector("metadata.name", name).String()
	podSel := fields.OneTermEqualSelector("spec.nodeName", name).String()
	for ctx.Err() == nil {
		_, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{FieldSelector: nodeSel})
		if err == nil {
			_, err = cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: podSel})
		}
		if err == nil {
			k.apiSourceSeen.Store(true)
			k.tl.add(Event{Node: name, Kind: "kubelet-sources-ready", Detail: "apiserver pod source synced"})
			return
		}
		sleep(ctx, apiSourceRetry)
	}
}
