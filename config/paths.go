package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode"
)

// expand turns a bastion-side path as written into an absolute path: ~ and
// ~/ become the home directory, $VAR and ${VAR} their values, and a relative
// result is taken relative to the cluster file's directory. An unset or empty
// variable is an error: "$BACKUPS/snap.db" silently becoming "/snap.db" is how
// the wrong file gets restored.
func (v *validator) expand(p string) (string, error) {
	switch {
	case p == "~" || strings.HasPrefix(p, "~/"):
		if v.env.Home == "" {
			return "", errors.New("cannot expand ~: the home directory is unknown (set $HOME or write the full path)")
		}
		p = v.env.Home + p[1:]
	case strings.HasPrefix(p, "~"):
		return "", errors.New("only ~ and ~/ are expanded, not ~user; write the full path")
	}
	var missing []string
	p = os.Expand(p, func(name string) string {
		val, ok := v.env.LookupEnv(name)
		if !ok || val == "" {
			missing = append(missing, "$"+name)
		}
		return val
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%s is not set or empty in this shell; export it or write the path out", strings.Join(missing, ", "))
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(v.base, p)
	}
	return filepath.Clean(p), nil
}

// bastionPath expands the bastion-side path at key in place and reports
// whether it could be.
func (v *validator) bastionPath(key string, p *string) bool {
	if *p == "" {
		v.r.errorf(v.d.where(key), "%s: must not be empty", key)
		return false
	}
	if bad := badChar(*p); bad != "" {
		v.r.errorf(v.d.where(key), "%s: the path contains %s", key, bad)
		return false
	}
	out, err := v.expand(*p)
	if err != nil {
		v.r.errorf(v.d.where(key), "%s: %q: %v", key, *p, err)
		return false
	}
	*p = out
	return true
}

// readableFile reports, as a sentence for the operator, why the bastion file
// p cannot be used, or "" when it is a readable, non-empty regular file.
func readableFile(p string) string {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s does not exist on this machine", p)
	case err != nil:
		return fmt.Sprintf("cannot inspect %s: %v", p, errors.Unwrap(err))
	case st.IsDir():
		return fmt.Sprintf("%s is a directory, not a file", p)
	case !st.Mode().IsRegular():
		return fmt.Sprintf("%s is not a regular file", p)
	case st.Size() == 0:
		return fmt.Sprintf("%s is empty", p)
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Sprintf("%s cannot be read: %v; run as a user who can read it", p, errors.Unwrap(err))
	}
	f.Close()
	return ""
}

// nodePath checks a path used on the nodes. It is sent as written: the
// nodes' home and environment are not the bastion's, so ~ and $VAR would mean
// something else there, and a relative path depends on the SSH session's
// working directory.
func (v *validator) nodePath(key, p, example string) bool {
	at := v.d.where(key)
	switch bad := badChar(p); {
	case p == "":
		v.r.errorf(at, "%s: must not be empty; for example %s", key, example)
	case bad != "":
		v.r.errorf(at, "%s: the path contains %s", key, bad)
	case strings.HasPrefix(p, "~") || strings.Contains(p, "$"):
		v.r.errorf(at, "%s: %q: ~ and $VARS are not expanded on the nodes; write the absolute path, like %s", key, p, example)
	case !path.IsAbs(p):
		v.r.errorf(at, "%s: %q is relative; it must be an absolute path on the nodes, like %s", key, p, example)
	default:
		return true
	}
	return false
}

// badChar describes the first character of s that has no business in a path,
// a name or a command argument, or returns "".
func badChar(s string) string {
	for _, r := range s {
		switch {
		case r == unicode.ReplacementChar:
			return "bytes that are not valid UTF-8"
		case unicode.IsControl(r):
			return fmt.Sprintf("a control character (%U)", r)
		case !unicode.IsPrint(r) && r != ' ':
			return fmt.Sprintf("an invisible character (%U)", r)
		}
	}
	return ""
}

// within reports whether node path inner is dir itself or lies below it.
func within(inner, dir string) bool {
	inner, dir = path.Clean(inner), path.Clean(dir)
	return inner == dir || strings.HasPrefix(inner, strings.TrimSuffix(dir, "/")+"/")
}
