package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Draft is a cluster file found from a running cluster (`etcd-dr init`),
// for the operator to review: only what was found is written, every
// default is left to Load, and Notes become comments at the top.
type Draft struct {
	Name          string
	SnapshotPath  string
	User          string
	Port          int
	IdentityFiles []string
	KnownHosts    string
	JumpHost      string
	SSHConfig     string // ssh.config: -F's file, or none
	EtcdMode      string
	EnvFile       string
	Nodes         []Node
	// Notes are what the operator must check or complete ("workers were
	// not found: ..."), written as comments.
	Notes []string
	// Source says how the draft was found, for the header comment.
	Source string
}

type draftSSH struct {
	User          string   `yaml:"user,omitempty"`
	Port          int      `yaml:"port,omitempty"`
	IdentityFiles []string `yaml:"identityFiles,omitempty"`
	KnownHosts    string   `yaml:"knownHosts,omitempty"`
	JumpHost      string   `yaml:"jumpHost,omitempty"`
	Config        string   `yaml:"config,omitempty"`
}

type draftEtcd struct {
	Mode    string `yaml:"mode"`
	EnvFile string `yaml:"envFile,omitempty"`
}

type draftNode struct {
	Name    string   `yaml:"name"`
	Address string   `yaml:"address"`
	Roles   []string `yaml:"roles,flow"`
}

type draftFile struct {
	Cluster  string `yaml:"cluster"`
	Snapshot struct {
		Path string `yaml:"path"`
		On   string `yaml:"on"`
	} `yaml:"snapshot"`
	SSH   draftSSH    `yaml:"ssh,omitempty"`
	Etcd  draftEtcd   `yaml:"etcd"`
	Nodes []draftNode `yaml:"nodes"`
}

// YAML renders the draft as a cluster file with its notes as comments.
func (d Draft) YAML() ([]byte, error) {
	var f draftFile
	f.Cluster, f.Snapshot.Path, f.Snapshot.On = d.Name, d.SnapshotPath, SnapshotOnBastion
	f.SSH = draftSSH{User: d.User, Port: d.Port, IdentityFiles: d.IdentityFiles, KnownHosts: d.KnownHosts, JumpHost: d.JumpHost, Config: d.SSHConfig}
	if f.SSH.Port == 22 {
		f.SSH.Port = 0
	}
	f.Etcd = draftEtcd{Mode: d.EtcdMode, EnvFile: d.EnvFile}
	for _, n := range d.Nodes {
		f.Nodes = append(f.Nodes, draftNode{Name: n.Name, Address: n.Address, Roles: n.Roles})
	}
	body, err := yaml.Marshal(&f)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `etcd-dr init` %s.\n", d.Source)
	b.WriteString("# Review every line before relying on it, and keep this file beside the backups:\n")
	b.WriteString("# the night etcd is lost, the API that could describe the cluster is gone too.\n")
	for _, n := range d.Notes {
		b.WriteString("# REVIEW: " + n + "\n")
	}
	b.Write(body)
	return []byte(b.String()), nil
}

// WriteNew writes data to path only if nothing is there, atomically: a
// reviewed cluster file is never overwritten by a later init.
func WriteNew(path string, data []byte) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists: etcd-dr init never overwrites a cluster file; move it away or pass another --out", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".init-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// link(2) fails if path appeared meanwhile: never a silent overwrite.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists: etcd-dr init never overwrites a cluster file", path)
		}
		return err
	}
	return nil
}
