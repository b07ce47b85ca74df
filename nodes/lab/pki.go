package lab

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// keyPair is a certificate with its private key.
type keyPair struct {
	cert *x509.Certificate
	der  []byte
	key  crypto.Signer
}

// PKI is the lab cluster's certificate authorities and shared keys, like the
// ones kubeadm creates on the first control-plane node and copies to the others.
type PKI struct {
	CA, EtcdCA keyPair
	SA         *rsa.PrivateKey
}

// certValidity covers any drill; the lab is thrown away afterwards.
const certValidity = 30 * 24 * time.Hour

// NewPKI creates the lab's CAs (ECDSA P-256: fast to generate, accepted by
// etcd and the apiserver) and the service-account signing key (RSA, as kubeadm).
func NewPKI() (*PKI, error) {
	ca, err := newCA("kubernetes")
	if err != nil {
		return nil, err
	}
	etcdCA, err := newCA("etcd-ca")
	if err != nil {
		return nil, err
	}
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("lab pki: service-account key: %w", err)
	}
	return &PKI{CA: ca, EtcdCA: etcdCA, SA: sa}, nil
}

func newCA(cn string) (keyPair, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	return sign(tmpl, nil)
}

// sign issues tmpl signed by parent (self-signed when parent is nil).
func sign(tmpl *x509.Certificate, parent *keyPair) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("lab pki: key for %s: %w", tmpl.Subject.CommonName, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return keyPair{}, fmt.Errorf("lab pki: serial: %w", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(certValidity)
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		return keyPair{}, fmt.Errorf("lab pki: sign %s: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, fmt.Errorf("lab pki: parse %s: %w", tmpl.Subject.CommonName, err)
	}
	return keyPair{cert: cert, der: der, key: key}, nil
}

// leaf describes one certificate kubeadm puts in /etc/kubernetes/pki.
type leaf struct {
	file   string // relative to pki dir, without .crt/.key
	ca     *keyPair
	cn     string
	orgs   []string
	usages []x509.ExtKeyUsage
	sans   bool // DNS localhost + node name, IPs 127.0.0.1 + node address
}

// WriteNode writes a kubeadm-like /etc/kubernetes/pki for one node into dir:
// both CAs (with keys, as on a control-plane node), etcd server/peer/
// healthcheck-client certs, apiserver and apiserver-etcd-client certs, and
// sa.key/sa.pub. SANs carry the node's loopback address so TLS verifies
// against the address the engine and the other members use.
func (p *PKI) WriteNode(dir, nodeName, addr string) error {
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	leaves := []leaf{
		{"etcd/server", &p.EtcdCA, nodeName, nil, both, true},
		{"etcd/peer", &p.EtcdCA, nodeName, nil, both, true},
		{"etcd/healthcheck-client", &p.EtcdCA, "kube-etcd-healthcheck-client", nil, client, false},
		{"apiserver-etcd-client", &p.EtcdCA, "kube-apiserver-etcd-client", nil, client, false},
		apiserverLeaf(&p.CA),
	}
	if err := writePair(dir, "ca", p.CA); err != nil {
		return err
	}
	if err := writePair(dir, "etcd/ca", p.EtcdCA); err != nil {
		return err
	}
	for _, l := range leaves {
		kp, err := l.issue(nodeName, addr)
		if err != nil {
			return err
		}
		if err := writePair(dir, l.file, kp); err != nil {
			return err
		}
	}
	return p.writeSA(dir)
}

// apiserverLeaf is the kube-apiserver's serving certificate, signed by ca.
func apiserverLeaf(ca *keyPair) leaf {
	return leaf{"apiserver", ca, "kube-apiserver", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, true}
}

// issue signs the leaf for the node at addr.
func (l leaf) issue(nodeName, addr string) (keyPair, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: l.cn, Organization: l.orgs},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: l.usages,
	}
	if l.sans {
		tmpl.DNSNames = []string{"localhost", nodeName, "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(addr), net.ParseIP("10.96.0.1")}
	}
	kp, err := sign(tmpl, l.ca)
	if err != nil {
		return keyPair{}, fmt.Errorf("node %s: %w", nodeName, err)
	}
	return kp, nil
}

func (p *PKI) writeSA(dir string) error {
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(p.SA)})
	pubDER, err := x509.MarshalPKIXPublicKey(&p.SA.PublicKey)
	if err != nil {
		return fmt.Errorf("lab pki: sa.pub: %w", err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), priv, 0o600); err != nil {
		return fmt.Errorf("lab pki: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pub, 0o644); err != nil {
		return fmt.Errorf("lab pki: %w", err)
	}
	return nil
}

// writePair writes NAME.crt and NAME.key under dir.
func writePair(dir, name string, kp keyPair) error {
	base := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return fmt.Errorf("lab pki: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(kp.key)
	if err != nil {
		return fmt.Errorf("lab pki: key %s: %w", name, err)
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.der})
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(base+".crt", crt, 0o644); err != nil {
		return fmt.Errorf("lab pki: %w", err)
	}
	if err := os.WriteFile(base+".key", key, 0o600); err != nil {
		return fmt.Errorf("lab pki: %w", err)
	}
	return nil
}

// CAPEM returns the etcd CA and the cluster CA certificates in PEM, for
// clients on the bastion (seed, verify).
func (p *PKI) CAPEM() (etcdCA, ca []byte) {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.EtcdCA.der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.CA.der})
}
