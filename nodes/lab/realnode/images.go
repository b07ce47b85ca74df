package realnode

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ImageSpec is one image built from the lab's cached binaries: files maps
// a path in the image to a host file.
type ImageSpec struct {
	Name       string            // registry.k8s.io/etcd:3.6.6-0
	Files      map[string]string // /usr/local/bin/etcd -> host path
	Entrypoint []string          // pause only: the others run the manifest's command
}

const imagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ControlPlaneImages are the images kubeadm's manifests name, with the
// binaries where the upstream images keep them (/usr/local/bin; etcd's
// image holds etcdctl and etcdutl beside etcd), and pause at /pause.
func ControlPlaneImages(etcd, etcdctl, etcdutl, apiserver, cm, scheduler, pause string) []ImageSpec {
	im := Images()
	return []ImageSpec{
		{Name: im["etcd"], Files: map[string]string{"/usr/local/bin/etcd": etcd, "/usr/local/bin/etcdctl": etcdctl, "/usr/local/bin/etcdutl": etcdutl}},
		{Name: im["kube-apiserver"], Files: map[string]string{"/usr/local/bin/kube-apiserver": apiserver}},
		{Name: im["kube-controller-manager"], Files: map[string]string{"/usr/local/bin/kube-controller-manager": cm}},
		{Name: im["kube-scheduler"], Files: map[string]string{"/usr/local/bin/kube-scheduler": scheduler}},
		{Name: im["pause"], Files: map[string]string{"/pause": pause}, Entrypoint: []string{"/pause"}},
	}
}

// ArchiveName is the OCI archive's file name for image name.
func ArchiveName(name string) string {
	r := strings.NewReplacer("/", "_", ":", "_")
	return r.Replace(name) + ".oci.tar"
}

// BuildArchive writes spec as an OCI image-layout tar at path (under a
// temporary name, renamed when complete): one uncompressed layer holding
// the files plus /etc/passwd, /etc/group and /tmp (the static binaries
// need nothing else), a config with PATH, and an index whose
// io.containerd.image.name annotation is the exact name kubeadm uses, so
// `ctr images import` tags it so.
func BuildArchive(spec ImageSpec, path string) error {
	layer, err := layerTar(spec.Files)
	if err != nil {
		return err
	}
	layerDigest := digest(layer)
	cfg := map[string]any{
		"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
		"config": map[string]any{"Env": []string{"PATH=" + imagePath}, "Entrypoint": spec.Entrypoint},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	}
	cfgJSON, _ := json.Marshal(cfg)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc("application/vnd.oci.image.config.v1+json", cfgJSON, nil),
		"layers":        []any{desc("application/vnd.oci.image.layer.v1.tar", layer, nil)},
	})
	tag := spec.Name[strings.LastIndex(spec.Name, ":")+1:]
	md := desc("application/vnd.oci.image.manifest.v1+json", manifest, map[string]string{
		"io.containerd.image.name":          spec.Name,
		"org.opencontainers.image.ref.name": tag,
	})
	md["platform"] = map[string]string{"architecture": "amd64", "os": "linux"}
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{md},
	})

	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(cfgJSON), cfgJSON},
		{blobPath(manifest), manifest},
		{blobPath(layer), layer},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func layerTar(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	addDir := func(d string, mode int64) error {
		if dirs[d] {
			return nil
		}
		dirs[d] = true
		return tw.WriteHeader(&tar.Header{Name: d + "/", Mode: mode, Typeflag: tar.TypeDir, ModTime: epoch})
	}
	for _, d := range []string{"etc", "tmp", "usr", "usr/local", "usr/local/bin"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := addDir(d, mode); err != nil {
			return nil, err
		}
	}
	for name, data := range map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
		"etc/group":  "root:x:0:\nnobody:x:65534:\n",
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, data); err != nil {
			return nil, err
		}
	}
	for dst, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(dst, "/")
		if d := filepath.Dir(name); d != "." {
			if err := addDir(d, 0o755); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func blobPath(b []byte) string { return "blobs/sha256/" + strings.TrimPrefix(digest(b), "sha256:") }

func desc(mediaType string, b []byte, ann map[string]string) map[string]any {
	d := map[string]any{"mediaType": mediaType, "digest": digest(b), "size": len(b)}
	if ann != nil {
		d["annotations"] = ann
	}
	return d
}

// pauseSource is the pause container: it sleeps until SIGINT or SIGTERM
// and reaps orphans, as the upstream pause does (build/pause/linux/pause.c).
const pauseSource = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getpid() != 1 {
		os.Stderr.WriteString("Warning: pause should be the first process\n")
	}
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sig {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
`

// EnsurePause builds the static pause binary into dir (cached) and returns
// its path.
func EnsurePause(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "pause-"+PauseTag+"-edr")
	if st, err := os.Stat(out); err == nil && st.Mode()&0o111 != 0 {
		return out, nil
	}
	src, err := os.MkdirTemp("", "edr-pause-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module pause\n\ngo 1.22\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(pauseSource), 0o644); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", out, os.Getpid())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build pause: %w: %s", err, b)
	}
	return out, os.Rename(tmp, out)
}
