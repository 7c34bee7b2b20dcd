package nas

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// genomeFitness is a cheap deterministic fitness: deeper, wider, larger-kernel targets score higher, and it
// records the candidates it was asked about.
func genomeFitness(calls *[]string) Fitness {
	return func(_ context.Context, c Candidate) (float64, error) {
		*calls = append(*calls, c.Genome.Key())
		f := c.Genome.Width + 0.01*float64(c.Genome.Res) + c.Genome.Aug.Width/10 - c.Genome.Aug.MutationStart
		for _, st := range c.Genome.Stages {
			f += float64(st.TargetDepth*st.Kernel+st.Expand) / 10
		}
		return f, nil
	}
}

func testOptions(dir string) Options {
	o := DefaultOptions(testSpace(), Budget{EnergyMJ: 0.1, LatencyMS: 0.03})
	o.Population, o.Seed, o.Dir = 8, 7, dir
	return o
}

// TestSearchMeetsBudgetAndImproves: every member of every population meets the budget, and the best never gets
// worse from one generation to the next (the parents survive).
func TestSearchMeetsBudgetAndImproves(t *testing.T) {
	o := testOptions("")
	o.Generations = 5
	var calls []string
	var recs []GenerationRecord
	o.Progress = func(r GenerationRecord) { recs = append(recs, r) }
	res, err := Search(context.Background(), o, genomeFitness(&calls))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || len(res.History) != 5 {
		t.Fatalf("%d progress records, %d history", len(recs), len(res.History))
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Best.Fitness < recs[i-1].Best.Fitness {
			t.Errorf("generation %d best %g < previous %g", i+1, recs[i].Best.Fitness, recs[i-1].Best.Fitness)
		}
	}
	if recs[4].Best.Fitness <= recs[0].Best.Fitness {
		t.Errorf("no improvement over 5 generations: %g", recs[0].Best.Fitness)
	}
	for _, e := range res.Population {
		c, err := o.Space.NewCandidate(e.Genome)
		if err != nil {
			t.Fatal(err)
		}
		if !o.Budget.Meets(c.Cost) || c.Cost != e.Cost {
			t.Errorf("member costs %+v (recorded %+v), budget %+v", c.Cost, e.Cost, o.Budget)
		}
	}
	seen := map[string]bool{}
	for _, k := range calls {
		if seen[k] {
			t.Errorf("genome evaluated twice: %s", k)
		}
		seen[k] = true
	}
}

// TestSearchDeterministicAndResumes: the same seed gives the same candidates and best; 2 generations resumed to 4
// equal a straight 4-generation run, and evaluate exactly the candidates the straight run evaluates.
func TestSearchDeterministicAndResumes(t *testing.T) {
	ctx := context.Background()
	var straight, again, first, second []string
	o := testOptions(t.TempDir())
	o.Generations = 4
	want, err := Search(ctx, o, genomeFitness(&straight))
	if err != nil {
		t.Fatal(err)
	}
	o.Dir = t.TempDir()
	rerun, err := Search(ctx, o, genomeFitness(&again))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(straight, again) || !reflect.DeepEqual(want, rerun) {
		t.Fatal("the same seed gave another search")
	}

	o.Dir = t.TempDir()
	o.Generations = 2
	if _, err := Search(ctx, o, genomeFitness(&first)); err != nil {
		t.Fatal(err)
	}
	o.Generations = 4
	got, err := Search(ctx, o, genomeFitness(&second))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resumed search ends at %+v, straight one at %+v", got.Best, want.Best)
	}
	if !reflect.DeepEqual(append(first, second...), straight) {
		t.Errorf("resumed search evaluated %d+%d candidates, straight %d, or in another order", len(first), len(second), len(straight))
	}
	// Finished: running again evaluates nothing.
	var none []string
	if _, err := Search(ctx, o, genomeFitness(&none)); err != nil || len(none) != 0 {
		t.Errorf("rerun of a finished search: %v, %d evaluations", err, len(none))
	}
	// Another seed is another search, and its state is refused.
	o.Seed = 8
	if _, err := Search(ctx, o, genomeFitness(&none)); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("resume with another seed: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(o.Dir, ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestSearchInterruptedMidGeneration: a fitness error stops the search; the evaluations done so far are kept,
// and resuming reaches the straight run's result without evaluating them again.
func TestSearchInterruptedMidGeneration(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t.TempDir())
	o.Generations = 3
	var straight []string
	want, err := Search(ctx, o, genomeFitness(&straight))
	if err != nil {
		t.Fatal(err)
	}
	o.Dir = t.TempDir()
	var calls []string
	inner := genomeFitness(&calls)
	boom := errors.New("boom")
	failing := func(ctx context.Context, c Candidate) (float64, error) {
		if len(calls) == 11 {
			return 0, boom
		}
		return inner(ctx, c)
	}
	if _, err := Search(ctx, o, failing); !errors.Is(err, boom) {
		t.Fatalf("want the fitness error, got %v", err)
	}
	got, err := Search(ctx, o, inner)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(calls, straight) {
		t.Errorf("interrupted and resumed search differs from the straight one")
	}
	if _, err := os.Stat(filepath.Join(o.Dir, StateFile)); err != nil {
		t.Error(err)
	}
}

// TestBudgetNoneMeets: a budget below the space's smallest target is a clear one-line error.
func TestBudgetNoneMeets(t *testing.T) {
	o := testOptions("")
	o.Budget = Budget{EnergyMJ: 0.001, LatencyMS: 0.001}
	o.MaxTries = 50
	var calls []string
	_, err := Search(context.Background(), o, genomeFitness(&calls))
	if err == nil || !strings.Contains(err.Error(), "no sub-network meets energy 0.001 mJ / latency 0.001 ms; the smallest found costs 0.01559 mJ") {
		t.Errorf("got %v", err)
	}
	for _, b := range []Budget{{0, 1}, {1, -1}} {
		o.Budget = b
		if _, err := Search(context.Background(), o, genomeFitness(&calls)); err == nil || !strings.Contains(err.Error(), "must be a positive number") {
			t.Errorf("budget %+v: %v", b, err)
		}
	}
}

// TestSearchExplores: a small population (6, two parents) with one block type still evaluates new candidates
// every generation: children that copy a member of the population are redrawn (a search of this size once
// evaluated one new candidate per generation, its population filled with copies of the best).
func TestSearchExplores(t *testing.T) {
	o := testOptions("")
	o.Space = DefaultSpace(10, "shift")
	o.Space.Resolutions = []int{32}
	o.Budget = Budget{EnergyMJ: 0.08, LatencyMS: 0.015}
	o.Population, o.Generations, o.Seed = 6, 4, 1
	var calls []string
	res, err := Search(context.Background(), o, genomeFitness(&calls))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(res.History); i++ {
		// A child may still repeat an older generation's member (its fitness comes from the cache).
		if n := res.History[i].Evaluations - res.History[i-1].Evaluations; n < 2 {
			t.Errorf("generation %d evaluated %d new candidates of 4 children", i+1, n)
		}
	}
	seen := map[string]bool{}
	for _, e := range res.Population {
		if seen[e.Genome.Key()] {
			t.Errorf("the final population holds %s twice", e.Genome.ID())
		}
		seen[e.Genome.Key()] = true
	}
}
