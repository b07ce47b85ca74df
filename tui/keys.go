package tui

import (
	"charm.land/bubbles/v2/key"
)

// keyMap is every binding of the console in one place. Components pick the
// subset they answer to (see the *Help methods), so the footer always shows
// the focused component's keys and never hard-coded text.
type keyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding

	Tab, ShiftTab, Help, Quit, ForceQuit key.Binding

	// Logs.
	Follow, Filter, NextError, AllNodes key.Binding

	// Gates.
	OpenGate, Proceed, Submit, Back, Expand key.Binding

	// Quit confirmation.
	Yes, No key.Binding

	// Scorecard.
	Scorecard key.Binding
}

func defaultKeys() keyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return keyMap{
		Up:        b([]string{"up", "k"}, "↑/k", "up"),
		Down:      b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:    b([]string{"pgup", "ctrl+u"}, "pgup", "page up"),
		PageDown:  b([]string{"pgdown", "ctrl+d"}, "pgdn", "page down"),
		Top:       b([]string{"home", "g"}, "g/home", "oldest"),
		Bottom:    b([]string{"end", "G"}, "G/end", "newest"),
		Tab:       b([]string{"tab"}, "tab", "pane"),
		ShiftTab:  b([]string{"shift+tab"}, "shift+tab", "previous pane"),
		Help:      b([]string{"?"}, "?", "help"),
		Quit:      b([]string{"q"}, "q", "quit"),
		ForceQuit: b([]string{"ctrl+c"}, "ctrl+c", "quit"),
		Follow:    b([]string{"f"}, "f", "follow"),
		Filter:    b([]string{"/"}, "/", "filter"),
		NextError: b([]string{"e"}, "e", "next error"),
		AllNodes:  b([]string{"a"}, "a", "all nodes"),
		OpenGate:  b([]string{"o"}, "o", "open gate"),
		Proceed:   b([]string{"enter", "y"}, "enter/y", "proceed"),
		Submit:    b([]string{"enter"}, "enter", "confirm"),
		Back:      b([]string{"esc"}, "esc", "back out"),
		Expand:    b([]string{"ctrl+x"}, "ctrl+x", "whole scripts"),
		Yes:       b([]string{"y"}, "y", "yes, quit"),
		No:        b([]string{"n", "esc"}, "n/esc", "stay"),
		Scorecard: b([]string{"s"}, "s", "scorecard"),
	}
}

// bindings is a help.KeyMap built from a short list and columns.
type bindings struct {
	short []key.Binding
	full  [][]key.Binding
}

func (b bindings) ShortHelp() []key.Binding  { return b.short }
func (b bindings) FullHelp() [][]key.Binding { return b.full }

// global are the keys every pane answers to; they close each help line.
func (k keyMap) global(gatePending bool) []key.Binding {
	out := []key.Binding{k.Tab}
	if gatePending {
		out = append(out, k.OpenGate)
	}
	return append(out, k.Help, k.Quit)
}
