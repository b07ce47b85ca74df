package nodes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuoteMakesOneShellWord(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "a plain path stays readable", in: "/etc/kubernetes/manifests", want: "/etc/kubernetes/manifests"},
		{name: "an empty string is an empty word", in: "", want: "''"},
		{name: "spaces are quoted", in: "a b", want: "'a b'"},
		{name: "a single quote is closed, escaped and reopened", in: "it's", want: `'it'\''s'`},
		{name: "command substitution is data", in: "$(id)", want: "'$(id)'"},
		{name: "a newline is data", in: "a\nb", want: "'a\nb'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Quote(tt.in); got != tt.want {
				t.Errorf("Quote(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCmdStringShowsTheLineWithSecretsRedacted(t *testing.T) {
	tests := []struct {
		name string
		cmd  Cmd
		want string
	}{
		{name: "args are quoted one by one", cmd: Cmd{Args: []string{"etcdutl", "snapshot", "restore", "/backups/snap 1.db"}},
			want: "etcdutl snapshot restore '/backups/snap 1.db'"},
		{name: "sudo is non-interactive and ends option parsing", cmd: Cmd{Args: []string{"true"}, Sudo: true},
			want: "sudo -n -- true"},
		{name: "a sudo script runs in its own shell", cmd: Cmd{Script: "a; b", Sudo: true},
			want: "sudo -n -- sh -c 'a; b'"},
		{name: "a token is redacted", cmd: Cmd{Args: []string{"curl", "-H", "Authorization: Bearer s3cret"}, Redact: []string{"s3cret"}},
			want: "curl -H 'Authorization: Bearer <redacted>'"},
		{name: "a secret holding a quote is redacted in its quoted form", cmd: Cmd{Args: []string{"x", "p'w"}, Redact: []string{"p'w"}},
			want: "x <redacted>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cmd.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// hostile names try every way out of a shell word; each would create the
// canary file if any part of it ran.
func hostile(canary string) []string {
	return []string{
		"a b;touch " + canary,
		"a b;touch pwned$(id)",
		"$(touch " + canary + ")",
		"`touch " + canary + "`",
		"x' ; touch " + canary + "; '",
		`x"; touch ` + canary + `; "`,
		"line\ntouch " + canary,
		"&& touch " + canary,
		"| touch " + canary,
		"$HOME ${PATH} \\ * ?",
		"-n",
	}
}

func TestHostileArgumentsArePassedAsDataAndRunNothing(t *testing.T) {
	e := newEnv(t)
	a, _ := e.inproc(t, "inproc-1", nil)
	b, _ := e.sshd(t, "openssh-1")
	c, _ := e.inproc(t, "inproc-sudo", withPath(fakeSudoDir(t, passSudo)))
	r := e.runner(t, []Target{a, b, c}, nil)
	home, _ := os.UserHomeDir()
	cwd, _ := os.Getwd()
	for _, node := range []string{a.Name, b.Name, c.Name} {
		sudo := node == c.Name
		canary := filepath.Join(t.TempDir(), "canary")
		for _, arg := range hostile(canary) {
			name := strings.ReplaceAll(arg, "/", "_")
			t.Run(node+"/"+name, func(t *testing.T) {
				// No deadline of the test's own: what is asserted is what
				// ran, not how fast; each command is bounded by the
				// Runner's command timeout (a 10s deadline here cancelled
				// sessions that took 11-14s to start at load 10).
				ctx := context.Background()
				res, err := r.Run(ctx, node, Cmd{Args: []string{"printf", "%s", arg}, Sudo: sudo}, nil)
				if err != nil || res.Stdout != arg {
					t.Fatalf("printf echoed %q (%v), want %q", res.Stdout, err, arg)
				}
				// The same name as a file: exactly that one entry appears.
				fdir := t.TempDir()
				if _, err := r.Run(ctx, node, Cmd{Args: []string{"touch", "--", filepath.Join(fdir, name)}, Sudo: sudo}, nil); err != nil {
					t.Fatal(err)
				}
				entries, _ := os.ReadDir(fdir)
				if len(entries) != 1 || entries[0].Name() != name {
					t.Fatalf("entries %v", entries)
				}
				if _, err := os.Stat(canary); err == nil {
					t.Fatalf("%q ran a command", arg)
				}
			})
		}
	}
	for _, dir := range []string{home, cwd} {
		if m, _ := filepath.Glob(filepath.Join(dir, "pwned*")); len(m) > 0 {
			t.Errorf("a hostile name ran touch: %v", m)
		}
	}
}
