package viz

import (
	"strconv"
	"strings"
	"sync"

	"github.com/janpfeifer/gonb/gonbui"
)

// GoNB runs each cell as a separate program, so "sent once" below means once per cell execution: every
// cell that shows charts carries the library (about 1 MB) in its first chart output, and each cell's
// outputs render on their own, whatever ran before (or was cleared) in the notebook.
var (
	libMu   sync.Mutex
	libSent bool
)

// takeLibrary returns LibraryScript the first time it is called in this process, "" afterwards.
func takeLibrary() string {
	libMu.Lock()
	defer libMu.Unlock()
	if libSent {
		return ""
	}
	libSent = true
	return LibraryScript()
}

// InNotebook reports whether the program runs as a GoNB cell (Display and Live only show anything then).
func InNotebook() bool { return gonbui.IsNotebook }

// Display shows charts as one output of the current GoNB cell, with the library included in the cell's first
// chart output, and waits until GoNB has received it (gonbui.Sync): large outputs are otherwise lost when
// the cell's program exits first. Outside a notebook it does nothing.
func Display(charts ...*Chart) {
	if !gonbui.IsNotebook || len(charts) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString(takeLibrary())
	for _, c := range charts {
		b.WriteString(c.Snippet())
	}
	gonbui.DisplayHTML(b.String())
	gonbui.Sync()
}

// DisplayHTML shows raw HTML as an output of the current GoNB cell and waits until GoNB has received it.
// Outside a notebook it does nothing.
func DisplayHTML(html string) {
	if !gonbui.IsNotebook {
		return
	}
	gonbui.DisplayHTML(html)
	gonbui.Sync()
}

// DisplayTable shows a table (see TableHTML) in the current GoNB cell. Outside a notebook it does nothing.
func DisplayTable(caption string, header []string, rows [][]string) {
	DisplayHTML(TableHTML(caption, header, rows))
}

// Live is an output block of a GoNB cell that is redrawn in place, for charts that change while a program
// runs (training curves). The library is sent once (as its own output, before the block); each Update then
// replaces the block's content with the new charts, a few KB each. The last state is what the saved
// notebook and its HTML export show. Outside a notebook Update does nothing.
//
// A Live is safe for concurrent use.
type Live struct {
	mu sync.Mutex
	id string // GoNB display id of the block
}

// NewLive returns a new live output block; nothing is shown until the first Update.
func NewLive() *Live {
	return &Live{id: "viz_live_" + newID()}
}

// Update replaces the block's content with charts and waits until GoNB has received it. The n-th chart of
// each update takes the place of the n-th chart of the previous one (its echarts instance is disposed).
func (l *Live) Update(charts ...*Chart) {
	if !gonbui.IsNotebook {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lib := takeLibrary(); lib != "" {
		gonbui.DisplayHTML(lib)
	}
	var b strings.Builder
	for i, c := range charts {
		b.WriteString(c.snippet(l.id + "_" + strconv.Itoa(i)))
	}
	if len(charts) == 0 {
		b.WriteString("<div></div>")
	}
	gonbui.UpdateHTML(l.id, b.String())
	gonbui.Sync()
}
