package steps

import (
	"os"
	"os/user"
)

// Operator is user@host of whoever runs etcd-dr: written to the journal,
// the transcript and the lock, and shown to a second operator who is refused.
func Operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return name + "@" + host
}
