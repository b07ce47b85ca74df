package nodes

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestProbeReportsSSHSudoOSAndDisk(t *testing.T) {
	e := newEnv(t)
	openssh, _ := e.sshd(t, "cp-1")
	sudoOK, _ := e.inproc(t, "cp-2", withPath(fakeSudoDir(t, passSudo)))
	sudoPW, _ := e.inproc(t, "cp-3", withPath(fakeSudoDir(t, passwordSudo)))
	gone := Target{Name: "cp-4", Host: "127.0.0.1", Port: closedPort(t), User: "ops"}
	disk := t.TempDir()
	hostOS := osReleaseValue(readFile(t, "/etc/os-release"), "PRETTY_NAME")
	tests := []struct {
		name     string
		target   Target
		sudo     bool
		disk     string
		wantSSH  bool
		wantSudo string // "" ok, "-" not checked, else error substring
		wantDisk string // "" ok, else error substring
	}{
		{name: "a healthy OpenSSH node reports everything", target: openssh, disk: disk, wantSSH: true, wantSudo: "-"},
		{name: "passwordless sudo passes", target: sudoOK, sudo: true, disk: disk, wantSSH: true},
		{name: "sudo wanting a password fails only the sudo item", target: sudoPW, sudo: true, disk: disk, wantSSH: true,
			wantSudo: "sudo on cp-3 wants a password"},
		{name: "a missing disk path fails only the disk item", target: openssh, disk: disk + "/missing", wantSSH: true, wantSudo: "-",
			wantDisk: "free disk on cp-1 at " + disk + "/missing"},
		{name: "an unreachable node fails the SSH item and checks nothing else", target: gone, disk: disk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.runner(t, []Target{tt.target}, func(p *Params) { p.Sudo = tt.sudo })
			// The disk is shared with whatever else runs on this machine:
			// read its free space right before and after the probe.
			before := freeBytes(t, disk)
			p := r.Probe(context.Background(), tt.target.Name, tt.disk)
			after := freeBytes(t, disk)
			if (p.SSHErr == nil) != tt.wantSSH {
				t.Fatalf("SSHErr %v", p.SSHErr)
			}
			if !tt.wantSSH {
				if p.Kernel != "" || p.DiskFree != 0 || p.SudoChecked {
					t.Errorf("items checked on an unreachable node: %+v", p)
				}
				return
			}
			if p.Latency <= 0 || !strings.HasPrefix(p.Kernel, "Linux ") || p.OS != hostOS || p.OSErr != nil {
				t.Errorf("latency %v kernel %q os %q (want %q) err %v", p.Latency, p.Kernel, p.OS, hostOS, p.OSErr)
			}
			checkItem(t, "sudo", p.SudoChecked, p.SudoErr, tt.wantSudo)
			if tt.wantDisk != "" {
				checkItem(t, "disk", true, p.DiskErr, tt.wantDisk)
				return
			}
			lo, hi := min(before, after)-64<<20, max(before, after)+64<<20
			if p.DiskErr != nil || p.DiskFree <= 0 || p.DiskFree < lo || p.DiskFree > hi {
				t.Errorf("disk free %d (err %v), statfs says %d before and %d after", p.DiskFree, p.DiskErr, before, after)
			}
		})
	}
}

func checkItem(t *testing.T, item string, checked bool, err error, want string) {
	t.Helper()
	switch {
	case want == "-" && checked:
		t.Errorf("%s checked though not configured", item)
	case want == "" && err != nil:
		t.Errorf("%s: %v", item, err)
	case want != "" && want != "-" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("%s error %v, want %q", item, err, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseDFAvail(t *testing.T) {
	tests := []struct {
		name, out string
		want      int64
		wantErr   bool
	}{
		{name: "the fourth column of the last line is available KiB",
			out:  "Filesystem     1024-blocks      Used Available Capacity Mounted on\n/dev/sda1        102400000  40000000  62400000      40% /\n",
			want: 62400000 * 1024},
		{name: "a device name with no spaces after it still parses",
			out:  "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/mapper/vg-very-long-name 10 5 5 50% /var/lib/etcd\n",
			want: 5 * 1024},
		{name: "output without a data line is an error", out: "Filesystem 1024-blocks\n", wantErr: true},
		{name: "a non-number is an error", out: "h\nfs 1 2 x 4% /\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDFAvail(tt.out)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %d, %v", got, err)
			}
		})
	}
}

// freeBytes is the space an unprivileged user may still use under dir.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	return int64(fs.Bavail) * fs.Bsize
}
