package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// hostileLines are node output that would drive the operator's terminal:
// clear the screen, write the clipboard (OSC 52), ring, return over a
// warning, a C1 CSI.
var hostileLines = []string{"\x1b[2J\x1b[Hall good", "\x1b]52;c;cm0gLXJmIC8K\x07copied", "over\rwritten", "c1\u009b31mred"}

// leakSteps is a runbook whose first step prints the whole secret corpus
// and the hostile lines from a real process (stdout and stderr), and whose
// second step fails with the corpus in its error, on a node and overall.
func leakSteps(corpusFile, corpus string) []Step {
	return []Step{
		{ID: "print", Title: "Print what a node holds", Why: "a manifest cat",
			Plan: func(c *Context) ([]Action, error) {
				return []Action{{Node: "cp-1", What: "cat", Cmd: nodes.Cmd{Args: []string{"sh", "-c", `cat "$1"; cat "$1" >&2`, "x", corpusFile}}}}, nil
			},
			Verify: func(ctx context.Context, c *Context) error {
				c.Check("cp-1", "corpus read", true, corpus)
				return nil
			}},
		{ID: "fail", Title: "Fail with what a node printed", Why: "an error quoting stderr",
			Run: func(ctx context.Context, c *Context) error {
				return c.ForEachNode(ctx, []string{"cp-1"}, func(ctx context.Context, node string) error {
					return errors.New("restore failed: " + corpus)
				})
			}},
	}
}

func TestNoSecretOrControlCharacterLeavesTheEngineByAnyExit(t *testing.T) {
	var cases []string
	var secrets []string
	for _, tc := range secretCorpus {
		cases = append(cases, tc.in)
		secrets = append(secrets, tc.secrets...)
	}
	corpus := strings.Join(append(cases, hostileLines...), "\n---\n")
	r := newRig(t)
	file := filepath.Join(r.dir, "corpus.txt")
	if err := os.WriteFile(file, []byte(corpus+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := r.engine(t, func(o *Options) { o.Steps = leakSteps(file, corpus) })
	var headless bytes.Buffer
	done := make(chan struct{})
	go func() { defer close(done); Headless(e, r.cluster.Name, "ci@runner", &headless) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // two local commands; generous for a loaded CI machine
	defer cancel()
	sc, err := e.Run(ctx)
	<-done
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("Run = %v, want the headless back-out at the failed step", err)
	}
	scJSON, jerr := json.Marshal(sc)
	if jerr != nil {
		t.Fatal(jerr)
	}
	journalBytes, jerr := os.ReadFile(filepath.Join(r.state, r.cluster.Name, "journal.jsonl"))
	if jerr != nil {
		t.Fatal(jerr)
	}
	transcript, terr := os.ReadFile(sc.Transcript)
	if terr != nil {
		t.Fatal(terr)
	}
	exits := map[string]string{"journal": string(journalBytes), "transcript": string(transcript),
		"headless output": headless.String(), "-o json scorecard": string(scJSON), "returned error": err.Error()}
	for exit, text := range exits {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the secret %q", exit, s)
			}
		}
		if exit == "journal" || exit == "-o json scorecard" {
			continue // JSON escapes C0 controls itself; C1 is checked below
		}
		if i := strings.IndexFunc(text, func(r rune) bool {
			return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f)
		}); i >= 0 {
			t.Errorf("%s holds a raw control character %q near %q", exit, text[i], text[max(0, i-20):min(len(text), i+20)])
		}
	}
	for _, text := range []string{string(journalBytes), string(scJSON)} {
		if strings.ContainsRune(text, 0x9b) {
			t.Errorf("a JSON exit holds a raw C1 control")
		}
	}
	// The output did go through every exit, readable: the test is not
	// passing on an empty transcript.
	for _, want := range []string{"etcd-dr-20261124", `\x1b]52;c;`, "ETCD_PASSWORD"} {
		for _, exit := range []string{"transcript", "headless output"} {
			if !strings.Contains(exits[exit], want) {
				t.Errorf("%s lacks %q", exit, want)
			}
		}
	}
}
