package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Save takes a snapshot from the member at endpoint and writes it to out,
// with its sidecar. The file appears only whole and synced (temp file in the
// same directory, fsync, link); an existing out or sidecar is never
// overwritten. cfg carries TLS and timeouts; its Endpoints are replaced by
// endpoint, because a snapshot must come from one chosen member.
func Save(ctx context.Context, cfg clientv3.Config, endpoint, out string) (Info, error) {
	for _, p := range []string{out, MetaPath(out)} {
		if _, err := os.Lstat(p); err == nil {
			return Info{}, fmt.Errorf("save snapshot: %s already exists: refusing to overwrite it; choose a new name", p)
		}
	}
	cfg.Endpoints = []string{endpoint}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop() // the client's default logger would write over the console
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return Info{}, fmt.Errorf("save snapshot from %s: connect: %w", endpoint, err)
	}
	defer cli.Close()

	meta, err := describeSource(ctx, cli, endpoint)
	if err != nil {
		return Info{}, err
	}
	if err := writeNew(out, func(f *os.File) error { return stream(ctx, cli, f) }); err != nil {
		return Info{}, fmt.Errorf("save snapshot from %s to %s: %w", endpoint, out, err)
	}
	info, err := verifyFile(out)
	if err != nil {
		// Never leave a file that looks like a good snapshot but is not.
		os.Remove(out)
		return Info{}, fmt.Errorf("save snapshot from %s: the written file does not verify, removed it: %w", endpoint, err)
	}
	meta.SHA256, meta.Revision, meta.Keys, meta.Time = info.SHA256, info.Revision, info.TotalKeys, time.Now().UTC()
	if err := WriteMeta(out, meta); err != nil {
		return Info{}, fmt.Errorf("save snapshot: %s is complete and verified, but its sidecar was not written (Verify works without it): %w", out, err)
	}
	info.Sidecar, info.SidecarOK = &meta, true
	return info, nil
}

// describeSource records which cluster and member the snapshot comes from.
func describeSource(ctx context.Context, cli *clientv3.Client, endpoint string) (Meta, error) {
	st, err := cli.Status(ctx, endpoint)
	if err != nil {
		return Meta{}, fmt.Errorf("save snapshot: status of %s: %w", endpoint, err)
	}
	ml, err := cli.MemberList(ctx)
	if err != nil {
		return Meta{}, fmt.Errorf("save snapshot: member list from %s: %w", endpoint, err)
	}
	m := Meta{ClusterID: fmt.Sprintf("%x", st.Header.ClusterId)}
	for _, mem := range ml.Members {
		m.Members = append(m.Members, mem.Name)
		if mem.ID == st.Header.MemberId {
			m.SourceMember = mem.Name
		}
	}
	sort.Strings(m.Members)
	return m, nil
}

// stream copies the member's snapshot into f and checks, before the file is
// published, that the stream ended with the sha256 of what came before it.
func stream(ctx context.Context, cli *clientv3.Client, f *os.File) error {
	resp, err := cli.SnapshotWithVersion(ctx)
	if err != nil {
		return fmt.Errorf("open snapshot stream: %w", err)
	}
	defer resp.Snapshot.Close()
	tail := &tailWriter{}
	n, err := io.Copy(io.MultiWriter(f, tail), resp.Snapshot)
	if err != nil {
		return fmt.Errorf("receive snapshot after %d bytes: %w", n, err)
	}
	if !hasChecksum(n) {
		return fmt.Errorf("the stream ended after %d bytes without a sha256 trailer: the member closed it early; retry", n)
	}
	body := sha256.New()
	if _, err := io.Copy(body, io.NewSectionReader(f, 0, n-sha256.Size)); err != nil {
		return fmt.Errorf("re-read written snapshot: %w", err)
	}
	if !bytes.Equal(body.Sum(nil), tail.last) {
		return errors.New("the received data does not match the sha256 the member sent: retry")
	}
	return nil
}

// tailWriter keeps the last 32 bytes written through it.
type tailWriter struct{ last []byte }

func (t *tailWriter) Write(p []byte) (int, error) {
	if len(p) >= sha256.Size {
		t.last = append(t.last[:0], p[len(p)-sha256.Size:]...)
		return len(p), nil
	}
	t.last = append(t.last, p...)
	if over := len(t.last) - sha256.Size; over > 0 {
		t.last = append(t.last[:0], t.last[over:]...)
	}
	return len(p), nil
}

// ClientTLS is an etcd client TLS config from PEM data; from names where
// the PEM came from, for the error.
func ClientTLS(caPEM, certPEM, keyPEM []byte, from string) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s: the etcd CA file holds no PEM certificate: check --trusted-ca-file or pass --cacert", from)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: etcd client certificate and key: %w: pass --cert and --key", from, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
