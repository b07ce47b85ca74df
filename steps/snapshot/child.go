package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// bbolt trusts the file it maps. On a damaged database it panics or takes a
// SIGBUS, and it does so on goroutines of its own (tx.Check, freelist
// loading), where no recover or SetPanicOnFault of ours reaches: the whole
// console would die at the operator's gate. So every bbolt and etcdutl call
// on a snapshot runs in a child process: this same binary, re-executed with
// childMode set, which does the one job in init and exits. A crash there is
// just a reason here.
const (
	childMode = "ETCD_DR_SNAPSHOT_CHILD_MODE" // "status", "etcd" or "check"
	childPath = "ETCD_DR_SNAPSHOT_CHILD_PATH"
)

// Modes of the child.
const (
	modeStatus  = "status"  // etcd buckets present, then etcdutl Status
	modeEtcd    = "etcd"    // etcd buckets present
	modeCheck   = "check"   // bbolt's consistency check
	modeInspect = "inspect" // the Kubernetes keyspace
	modeKeys    = "keys"    // every live key and its revisions
	modeMembers = "members" // the member set the snapshot records
	modeStorage = "storage" // the storage schema version (etcd 3.6+)
	// modeReadiness: encryption keys, root CAs and automation (readiness.go)
	modeReadiness = "readiness"
	// modeMemberDB: bbolt's check, consistent index and Status of a
	// member's db (memberdb.go)
	modeMemberDB = "memberdb"
)

func init() {
	if mode := os.Getenv(childMode); mode != "" {
		os.Exit(runChild(mode, os.Getenv(childPath)))
	}
}

// childResult is what the child prints on stdout.
type childResult struct {
	Status   etcdutl.Status `json:"status"`
	Summary  Summary        `json:"summary"`
	Keyspace Keyspace       `json:"keyspace"` // keys mode: Revision only, the keys are in the childOut file
	KeyCount int64          `json:"keyCount,omitempty"`
	Members  []Member       `json:"members,omitempty"`
	// StorageVersion is meta/storageVersion ("" before etcd 3.6).
	StorageVersion string `json:"storageVersion,omitempty"`
	// Readiness is the readiness report's facts (never a value).
	Readiness Readiness `json:"readiness,omitzero"`
	NotEtc    string    `json:"notEtcd,omitempty"` // why it is not an etcd database
	Locked    bool      `json:"locked,omitempty"`  // another process holds the file's lock
	Err       string    `json:"err,omitempty"`     // bbolt or etcdutl error
	// DB is a member's db's facts (memberdb.go).
	DB dbFacts `json:"db,omitzero"`
}

func runChild(mode, path string) int {
	var res childResult
	err := childEtcdBuckets(path)
	var ne notEtcdError
	switch {
	case errors.As(err, &ne):
		res.NotEtc = string(ne)
	case errors.Is(err, errLocked):
		res.Locked = true
	case err != nil:
		res.Err = err.Error()
	case mode == modeStatus:
		res.Status, err = etcdutl.NewV3(zap.NewNop()).Status(path)
		if err != nil {
			res.Err = err.Error()
		}
	case mode == modeCheck:
		if err := childCheck(path); err != nil {
			res.Err = err.Error()
		}
	case mode == modeInspect:
		if res.Summary, err = childInspect(path, os.Getenv(childOut)); err != nil {
			res.Err = err.Error()
		}
	case mode == modeKeys:
		if res.Keyspace.Revision, res.KeyCount, err = childKeys(path, os.Getenv(childOut)); err != nil {
			res.Err = err.Error()
		}
	case mode == modeMembers:
		if res.Members, err = childMembers(path); err != nil {
			res.Err = err.Error()
		}
	case mode == modeReadiness:
		if res.Readiness, err = childReadiness(path); err != nil {
			res.Err = err.Error()
		}
	case mode == modeMemberDB:
		if res.DB, err = childMemberDB(path); err != nil {
			res.Err = err.Error()
		}
	case mode == modeStorage:
		if res.StorageVersion, err = childStorageVersion(path); err != nil {
			res.Err = err.Error()
		}
	}
	res.Err = withholdValues(res.Err)
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 3
	}
	return 0
}

// quotedValue is a value etcdutl quotes in its errors ("cannot unmarshal
// value, key: … value: %q"): a key's stored data, a Secret's included.
var quotedValue = regexp.MustCompile(`value: "(?:[^"\\]|\\.)*"`)

// withholdValues replaces every quoted value in a library's error by its
// size: the operator needs to know a value is damaged, never what it holds.
func withholdValues(msg string) string {
	return quotedValue.ReplaceAllStringFunc(msg, func(m string) string {
		return fmt.Sprintf("value: <%d bytes withheld>", len(m)-len(`value: ""`))
	})
}

// errLocked: another process holds bbolt's exclusive lock on the file.
var errLocked = errors.New("locked")

type notEtcdError string

func (e notEtcdError) Error() string { return string(e) }

func openReadOnly(path string) (*bolt.DB, error) {
	return bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
}

// childEtcdBuckets checks for the buckets etcdutl's Status dereferences
// unchecked.
func childEtcdBuckets(path string) error {
	db, err := openReadOnly(path)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return errLocked
	}
	if err != nil {
		return fmt.Errorf("bbolt cannot open it: %w", err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		for _, b := range []string{"key", "meta"} {
			if tx.Bucket([]byte(b)) == nil {
				return notEtcdError(fmt.Sprintf("no %q bucket: this is some other program's database", b))
			}
		}
		return nil
	})
}

func childCheck(path string) error {
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
}

// inChild runs one mode of the child on path. The error is one line: the
// library's error, or how the child died.
func inChild(mode, path string, size int64) (childResult, error) {
	// Generous: Status reads every key; a cycle in a damaged tree would spin.
	return inChildFor(mode, path, time.Minute+time.Duration(size>>30)*time.Minute)
}

// inChildFor is inChild with its deadline given; env is added to the child's.
func inChildFor(mode, path string, timeout time.Duration, env ...string) (childResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return childResult{}, fmt.Errorf("find own executable to inspect the database: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childMode+"="+mode, childPath+"="+path, "GOTRACEBACK=single")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &capped{buf: &stderr, max: 64 << 10}
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return childResult{}, fmt.Errorf("reading the database did not finish in %v (a damaged tree can loop)", timeout)
	}
	var res childResult
	if runErr != nil || json.Unmarshal(stdout.Bytes(), &res) != nil {
		return childResult{}, fmt.Errorf("bbolt crashed reading it: %s", crashLine(stderr.String(), runErr))
	}
	if res.Err != "" {
		return res, errors.New(oneLine(res.Err))
	}
	return res, nil
}

// crashLine finds the line saying why a Go process died.
func crashLine(stderr string, runErr error) string {
	if strings.Contains(stderr, "[signal SIGBUS") {
		return "SIGBUS: it points at pages past the end of the file"
	}
	for _, l := range strings.Split(stderr, "\n") {
		for _, p := range []string{"panic: ", "fatal error: ", "unexpected fault address"} {
			if strings.HasPrefix(l, p) {
				return strings.TrimSpace(l)
			}
		}
	}
	if runErr != nil {
		return runErr.Error()
	}
	return "no result"
}

// capped keeps at most max bytes.
type capped struct {
	buf *bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
