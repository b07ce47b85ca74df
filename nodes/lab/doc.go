// Package lab is the drill lab: a throwaway Kubernetes control plane on one
// machine that looks like real nodes to etcd-dr. Each node owns a loopback
// address (control-plane N: 127.A.10.N, worker N: 127.A.20.N, A = Options.Block),
// its own user+mount+pid namespaces with a private /etc, /var/lib and
// /usr/local/bin (overlay and bind mounts over sandbox dirs in DIR/nodes/NAME),
// an SSH server whose commands run inside those namespaces, and a lab kubelet
// that runs real etcd and kube-* processes from kubeadm-format static pod
// manifests, honouring hostPath volumes. The engine sends production commands
// with production paths and never knows it is in a drill.
package lab
