package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// clusterYAML mirrors the cluster file's layout (config/types.go) with only
// the keys the lab sets; durations are written as strings ("10s"), the form
// operators write.
type clusterYAML struct {
	Cluster  string `yaml:"cluster"`
	Snapshot struct {
		Path string `yaml:"path"`
		On   string `yaml:"on"`
		From string `yaml:"from,omitempty"`
	} `yaml:"snapshot"`
	SSH struct {
		User           string   `yaml:"user"`
		IdentityFiles  []string `yaml:"identityFiles"`
		KnownHosts     string   `yaml:"knownHosts"`
		Sudo           bool     `yaml:"sudo"`
		ConnectTimeout string   `yaml:"connectTimeout"`
		Config         string   `yaml:"config"`
	} `yaml:"ssh"`
	Etcd struct {
		Mode string `yaml:"mode"`
	} `yaml:"etcd"`
	// Apiserver is written only for a lab with an etcd load balancer.
	Apiserver *struct {
		LoadBalancer bool `yaml:"loadBalancer"`
	} `yaml:"apiserver,omitempty"`
	State struct {
		Dir string `yaml:"dir"`
	} `yaml:"state"`
	Nodes []clusterNode `yaml:"nodes"`
}

type clusterNode struct {
	Name    string   `yaml:"name"`
	Address string   `yaml:"address"`
	Port    int      `yaml:"port"`
	Roles   []string `yaml:"roles"`
}

// ClusterName is the lab cluster's name, typed at destructive gates.
const ClusterName = "drill"

func (l *Lab) writeClusterFile() error {
	var c clusterYAML
	c.Cluster = ClusterName
	c.Snapshot.Path = filepath.Join(l.opts.Dir, "snapshot.db")
	c.Snapshot.On = "bastion"
	c.Snapshot.From = l.opts.SnapshotFrom // snapshot.db stays as the file it is compared with
	c.SSH.User = "root"
	c.SSH.IdentityFiles = []string{filepath.Join(l.opts.Dir, identityFile)}
	c.SSH.KnownHosts = filepath.Join(l.opts.Dir, knownHostFile)
	c.SSH.Sudo = true
	c.SSH.ConnectTimeout = "5s"
	// The lab's own settings, never the operator's ~/.ssh/config (a
	// ProxyJump or HostName for 127.* there must not reroute the drill).
	c.SSH.Config = "none"
	c.Etcd.Mode = l.opts.EtcdMode
	c.State.Dir = filepath.Join(l.opts.Dir, "state")
	if l.opts.EtcdLB {
		c.Apiserver = &struct {
			LoadBalancer bool `yaml:"loadBalancer"`
		}{LoadBalancer: true}
	}
	for _, ns := range l.state.Nodes {
		_, p, err := net.SplitHostPort(ns.SSHAddr)
		if err != nil {
			return fmt.Errorf("lab: ssh address %s: %w", ns.SSHAddr, err)
		}
		port, _ := strconv.Atoi(p)
		c.Nodes = append(c.Nodes, clusterNode{Name: ns.Name, Address: ns.Addr, Port: port, Roles: ns.Roles})
	}
	b, err := yaml.Marshal(&c)
	if err != nil {
		return fmt.Errorf("lab: cluster file: %w", err)
	}
	head := "# Written by `etcd-dr lab up` for the drill lab in " + l.opts.Dir + ".\n"
	return writeFileAtomic(l.state.ClusterFile, append([]byte(head), b...), 0o644)
}

// waitReady waits for every apiserver's /readyz, which implies its etcd
// member serves; a cold start of 3 members + 3 apiservers takes seconds.
func (l *Lab) waitReady(ctx context.Context) error {
	client, err := l.apiClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for _, name := range l.nodeNames("cp-") {
		addr := l.nodes[name].spec.Addr
		l.opts.Progress("waiting for kube-apiserver on " + name + " (" + addr + ":6443/readyz)")
		if err := waitHTTP(ctx, client, "https://"+addr+":6443/readyz", l.state.Tokens.Admin); err != nil {
			return fmt.Errorf("lab up: kube-apiserver on %s never became ready: %w; see %s", name, err,
				filepath.Join(l.opts.Dir, "nodes", name, "logs"))
		}
	}
	return nil
}

// apiClient trusts the lab's cluster CA.
func (l *Lab) apiClient() (*http.Client, error) {
	return apiClientFor(l.opts.Dir)
}

func apiClientFor(dir string) (*http.Client, error) {
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("lab: cluster CA: %w", err)
	}
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("lab: cluster CA: no certificate in " + filepath.Join(dir, "pki", "ca.crt"))
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	// The real tier has no token file: the bastion is admin.conf's client.
	if cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "pki", "admin.crt"), filepath.Join(dir, "pki", "admin.key")); err == nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}

func waitHTTP(ctx context.Context, c *http.Client, url, token string) error {
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// Status is what `lab status` shows.
type Status struct {
	Dir       string
	Running   bool // the daemon process is alive
	DaemonPID int
	Started   time.Time
	Nodes     []NodeState
	Problems  []string // nodes whose namespace init is gone while the daemon runs
}

// ReadStatus reads DIR/lab.json and checks the recorded processes are alive.
func ReadStatus(dir string) (Status, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return Status{Dir: dir}, fmt.Errorf("lab status: no lab in %s: %w", dir, err)
	}
	var st State
	if err := jsonUnmarshal(b, &st); err != nil {
		return Status{Dir: dir}, fmt.Errorf("lab status: %s: %w", filepath.Join(dir, stateFile), err)
	}
	out := Status{Dir: dir, DaemonPID: st.DaemonPID, Started: st.Started, Nodes: st.Nodes}
	out.Running = st.DaemonPID != 0 && pidAlive(st.DaemonPID)
	if out.Running {
		for _, n := range st.Nodes {
			if !pidAlive(n.InitPID) {
				out.Problems = append(out.Problems, fmt.Sprintf("node %s: namespace init pid %d is gone", n.Name, n.InitPID))
			}
		}
	}
	return out, nil
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
