package lab

import "context"

// RealBinaries are the cached executables of the real-kubelet tier: kubeadm
// and kubelet at KubeVersion, built from the same pinned labbin `kube`
// module as the control-plane binaries, and only when that tier is asked for
// (the default tier never pays for them).
type RealBinaries struct {
	Binaries
	Kubeadm, Kubelet string
}

// realSpecs are the kubeadm and kubelet builds. set writes into a
// RealBinaries through the embedded Binaries' owner (see EnsureRealBinaries).
func realSpecs(rb *RealBinaries) []binarySpec {
	return []binarySpec{
		{"kubeadm", KubeVersion, "kube", "k8s.io/kubernetes/cmd/kubeadm", func(_ *Binaries, p string) { rb.Kubeadm = p }},
		{"kubelet", KubeVersion, "kube", "k8s.io/kubernetes/cmd/kubelet", func(_ *Binaries, p string) { rb.Kubelet = p }},
	}
}

// EnsureRealBinaries returns the lab's binaries plus kubeadm and kubelet,
// building the missing ones (cached like the others, one progress line per
// step, serialised on the same lock file).
func EnsureRealBinaries(ctx context.Context, etcdVersion string, progress func(string)) (RealBinaries, error) {
	v, err := NormalizeEtcdVersion(etcdVersion)
	if err != nil {
		return RealBinaries{}, err
	}
	var rb RealBinaries
	specs := append(append(etcdSpecs(v, false), kubeSpecs...), realSpecs(&rb)...)
	b, err := ensure(ctx, specs, progress)
	b.EtcdVersion = v
	rb.Binaries = b
	return rb, err
}
