// Package realnode builds the pieces of the lab's real-kubelet tier: nodes
// that run the real kubelet v1.35.4 through a real containerd, from files
// kubeadm v1.35.4 wrote itself.
//
// A node here is a set of Linux namespaces on this machine:
//   - a network namespace joined to a per-lab bridge by a veth pair, owning
//     one address of 198.51.100.0/24 (a documentation range, never routed
//     off the machine: nodes have no default route and the bridge is not
//     forwarded anywhere);
//   - a persistent mount namespace where /etc and /var/lib are overlays over
//     the host's (upper dirs in the node's directory), /run is the node's
//     own tmpfs, and /var/lib/etcd, /var/lib/kubelet, /var/lib/containerd and
//     /var/log are plain directories of the node;
//   - a UTS namespace whose hostname is the node's name.
//
// Everything the node runs (kubeadm, containerd, the kubelet and the
// containers runc starts) enters these namespaces with nsenter, so kubeadm's
// production paths and addresses hold verbatim. It needs root; Check says
// why a machine refuses it before anything is created.
package realnode
