package nodes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SSHConfig is what OpenSSH's configuration says about one host, as
// `ssh -G host` prints it: Include, Match, Host patterns and defaults all
// applied by OpenSSH itself, so etcd-dr follows exactly what `ssh host` does.
type SSHConfig struct {
	HostName    string
	User        string
	Port        int
	Identities  []string // IdentityFile entries that exist on this machine
	Certificate []string // CertificateFile entries that exist
	KnownHosts  []string // UserKnownHostsFile, then GlobalKnownHostsFile
	ProxyJump   string   // "" when none

	UserKnownHosts   []string // UserKnownHostsFile alone
	GlobalKnownHosts []string // GlobalKnownHostsFile alone
}

// ErrNoSSHClient is ResolveSSHConfig's error when no ssh client is installed.
var ErrNoSSHClient = errors.New("no OpenSSH client (ssh) on this machine to read its configuration")

// ResolveSSHConfig runs `ssh -G [-F file] host`. It fails when no ssh client
// is installed: the caller then uses its own defaults and says so.
func ResolveSSHConfig(ctx context.Context, file, host string) (SSHConfig, error) {
	bin, err := exec.LookPath("ssh")
	if err != nil {
		return SSHConfig{}, fmt.Errorf("%w: %w", ErrNoSSHClient, err)
	}
	args := []string{"-G"}
	if file != "" {
		args = append(args, "-F", file)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // ssh -G reads files only; bounds a Match exec
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(args, "--", host)...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return SSHConfig{}, fmt.Errorf("ssh -G %s: %w %s", host, err, msg)
	}
	return parseSSHG(string(out))
}

// parseSSHG reads `ssh -G` output: one "keyword value" per line, keywords
// lower-case, multi-valued keywords repeated or space-separated.
func parseSSHG(out string) (SSHConfig, error) {
	var c SSHConfig
	var user, global []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch k {
		case "hostname":
			c.HostName = v
		case "user":
			c.User = v
		case "port":
			p, err := strconv.Atoi(v)
			if err != nil {
				return c, fmt.Errorf("ssh -G: port %q", v)
			}
			c.Port = p
		case "identityfile":
			if f := expandTilde(v); exists(f) {
				c.Identities = append(c.Identities, f)
			}
		case "certificatefile":
			if f := expandTilde(v); exists(f) {
				c.Certificate = append(c.Certificate, f)
			}
		case "userknownhostsfile":
			for _, f := range strings.Fields(v) {
				user = append(user, expandTilde(f))
			}
		case "globalknownhostsfile":
			for _, f := range strings.Fields(v) {
				global = append(global, expandTilde(f))
			}
		case "proxyjump":
			if v != "none" {
				c.ProxyJump = v
			}
		}
	}
	c.UserKnownHosts, c.GlobalKnownHosts = user, global
	c.KnownHosts = append(append([]string(nil), user...), global...)
	return c, sc.Err()
}

func exists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// expandTilde expands "~/" as OpenSSH does: from the passwd entry's home
// directory, not $HOME (ssh -G prints default IdentityFiles unexpanded).
func expandTilde(p string) string {
	if !strings.HasPrefix(p, "~/") {
		return p
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return filepath.Join(u.HomeDir, p[2:])
	}
	return ExpandHome(p)
}
