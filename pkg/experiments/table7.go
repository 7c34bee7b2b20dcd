package experiments

import (
	"io"

	"github.com/shiftaddaug/shiftaddaug/pkg/viz"
)

// Table 7 (the HWS ablation) is the Ablation Table7; these are its names from before the ablation tables were
// generalised, kept for the notebooks and tests that use them.

// Table7Row is one row of Table 7 at this project's scale (see AblationResult).
type Table7Row = AblationResult

// Table7Rows are the rows of the paper's Table 7 (does hybrid computing need HWS?), as training settings. The
// multiplicative baseline is Table 3's base run.
var Table7Rows = Table7.Rows

// Table7Preset is the HWS ablation at the mini scale. Rows equal to a Table 3 run share its ID (and result).
func Table7Preset(seeds []uint64, quick bool) Preset { return AblationPreset(Table7, seeds, quick) }

// Table7Results summarises the finished runs of a Table 7 preset (see AblationResults): gains are over the
// "to-shift (direct)" row.
func Table7Results(p Preset, outs []*RunOutcome) []Table7Row { return AblationResults(Table7, p, outs) }

// Table7Ran reports whether any of Table 7's own runs has finished: a run of rows that Table 3 does not also
// train (aug with shift, aug with hybrid w/o HWS). Table 3 alone fills the other rows.
func Table7Ran(rows []Table7Row) bool { return AblationRan(Table7, rows) }

// WriteTable7Markdown writes Table 7 as Markdown (see WriteAblationMarkdown).
func WriteTable7Markdown(w io.Writer, rows []Table7Row) { WriteAblationMarkdown(w, Table7, rows) }

// Table7Chart draws Table 7 as the gain of each row over direct training (see AblationChart): the ablation's
// question is whether augmenting helps, and whether it needs HWS.
func Table7Chart(rows []Table7Row) *viz.Chart { return AblationChart(Table7, rows) }
