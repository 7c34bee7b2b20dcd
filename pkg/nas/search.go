package nas

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

// Fitness scores a candidate (higher is better): in the CLI, the test accuracy of a short proxy training of its
// target. It is the caller's so that this package needs no training code.
type Fitness func(ctx context.Context, c Candidate) (float64, error)

// Options configure the evolutionary search.
type Options struct {
	Space       Space
	Budget      Budget
	Population  int
	Generations int
	// ParentsFraction of each population (the fittest) survive into the next generation and breed it.
	ParentsFraction float64
	// MutationFraction of the children are mutated parents; the rest are crossovers of two parents.
	MutationFraction float64
	// MutateProb is the chance that Mutate redraws each gene.
	MutateProb float64
	// MaxTries bounds how many genomes are drawn for one population slot before giving up on the budget.
	MaxTries int
	Seed     uint64
	// Dir, if set, holds state.json, written after every evaluation; a Search with the same Dir resumes it.
	Dir string
	// Progress, if set, is called after every generation.
	Progress func(GenerationRecord) `json:"-"`
}

// DefaultOptions are tinyNAS / OFA's evolution settings scaled to a small population.
func DefaultOptions(space Space, budget Budget) Options {
	return Options{Space: space, Budget: budget, Population: 16, Generations: 10, ParentsFraction: 0.25,
		MutationFraction: 0.5, MutateProb: 0.1, MaxTries: 1000, Seed: 1}
}

func (o Options) validate() error {
	if err := o.Space.Validate(); err != nil {
		return err
	}
	if err := o.Budget.Validate(); err != nil {
		return err
	}
	switch {
	case o.Population < 2:
		return fmt.Errorf("population %d: need at least 2", o.Population)
	case o.Generations < 1:
		return fmt.Errorf("generations %d: need at least 1", o.Generations)
	case !(o.ParentsFraction > 0 && o.ParentsFraction < 1):
		return fmt.Errorf("parents fraction %g: must be in (0, 1)", o.ParentsFraction)
	case !(o.MutationFraction >= 0 && o.MutationFraction <= 1):
		return fmt.Errorf("mutation fraction %g: must be in [0, 1]", o.MutationFraction)
	case !(o.MutateProb > 0 && o.MutateProb <= 1):
		return fmt.Errorf("mutation probability %g: must be in (0, 1]", o.MutateProb)
	case o.MaxTries < 1:
		return fmt.Errorf("max tries %d: need at least 1", o.MaxTries)
	}
	return nil
}

// fingerprint is what a resumed search must share with the one that wrote the state: everything but how many
// generations to run, where, and who watches.
func (o Options) fingerprint() string {
	o.Generations, o.Dir, o.Progress = 0, "", nil
	b, _ := json.Marshal(o)
	return string(b)
}

// Evaluated is a genome with its target's cost and fitness.
type Evaluated struct {
	Genome  Genome  `json:"genome"`
	Cost    Cost    `json:"cost"`
	Fitness float64 `json:"fitness"`
}

// GenerationRecord is one finished generation: its fittest member.
type GenerationRecord struct {
	Generation  int       `json:"generation"`
	Best        Evaluated `json:"best"`
	Evaluations int       `json:"evaluations"` // distinct genomes evaluated so far
}

// Result is a finished search.
type Result struct {
	Best       Evaluated          `json:"best"`
	Population []Evaluated        `json:"population"`
	History    []GenerationRecord `json:"history"`
}

const (
	stateFormat = "shiftaddaug-nas-state/1"
	// StateFile is the search state in Options.Dir.
	StateFile = "state.json"
)

// state is everything a resumed search needs to continue exactly: the population after Generation generations
// and every fitness computed so far. Random draws need no state: generation g draws from a PCG stream seeded with
// (Seed, g), so it draws the same whether the search was interrupted or not.
type state struct {
	Format      string               `json:"format"`
	Options     string               `json:"options"`
	Generation  int                  `json:"generation"`
	Population  []Evaluated          `json:"population"`
	Cache       map[string]Evaluated `json:"cache"`
	History     []GenerationRecord   `json:"history"`
	Evaluations int                  `json:"evaluations"`
}

func loadState(dir, fingerprint string) (*state, error) {
	st := &state{Format: stateFormat, Options: fingerprint, Cache: map[string]Evaluated{}}
	if dir == "" {
		return st, nil
	}
	path := filepath.Join(dir, StateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	var old state
	if err := json.Unmarshal(data, &old); err != nil {
		return nil, fmt.Errorf("search state %s: %w", path, err)
	}
	if old.Format != stateFormat {
		return nil, fmt.Errorf("search state %s: format %q, want %q", path, old.Format, stateFormat)
	}
	if old.Options != fingerprint {
		return nil, fmt.Errorf("search state %s was written by a search with other settings (space, budget, population, seed): resume with the same settings or use a new directory", path)
	}
	if old.Cache == nil {
		old.Cache = map[string]Evaluated{}
	}
	return &old, nil
}

func (st *state) save(dir string) error {
	if dir == "" {
		return nil
	}
	// Made on the first save, so that a search that fails before evaluating anything leaves nothing behind.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	return arch.WriteFileAtomic(filepath.Join(dir, StateFile), append(data, '\n'))
}

// searcher runs one search.
type searcher struct {
	o       Options
	fitness Fitness
	st      *state
}

// Search runs the evolutionary search: an initial population of budget-meeting genomes (generation 1), then each
// generation keeps the fittest ParentsFraction and fills the rest with mutated parents and crossovers, every
// child over budget redrawn. It is deterministic for a seed (given a deterministic fitness) and resumes from
// Options.Dir: an interrupted or shorter search continued to N generations ends as an uninterrupted one does.
func Search(ctx context.Context, o Options, fitness Fitness) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	st, err := loadState(o.Dir, o.fingerprint())
	if err != nil {
		return nil, err
	}
	s := &searcher{o: o, fitness: fitness, st: st}
	for g := st.Generation + 1; g <= o.Generations; g++ {
		rng := rand.New(rand.NewPCG(o.Seed, uint64(g)))
		var genomes []Genome
		if g == 1 {
			genomes, err = s.initial(rng)
		} else {
			genomes, err = s.breed(rng)
		}
		if err != nil {
			return nil, err
		}
		pop := make([]Evaluated, len(genomes))
		for i, gn := range genomes {
			if pop[i], err = s.evaluate(ctx, gn); err != nil {
				return nil, err
			}
		}
		sortByFitness(pop)
		st.Generation, st.Population = g, pop
		rec := GenerationRecord{Generation: g, Best: pop[0], Evaluations: st.Evaluations}
		st.History = append(st.History, rec)
		if err := st.save(o.Dir); err != nil {
			return nil, err
		}
		if o.Progress != nil {
			o.Progress(rec)
		}
	}
	if len(st.Population) == 0 {
		return nil, errors.New("search state holds no population")
	}
	return &Result{Best: st.Population[0], Population: st.Population, History: st.History}, nil
}

// sortByFitness orders fittest first; ties go to the cheaper target, then to the genome key, so the order is the
// same on every run.
func sortByFitness(pop []Evaluated) {
	slices.SortStableFunc(pop, func(a, b Evaluated) int {
		if c := cmp.Compare(b.Fitness, a.Fitness); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Cost.EnergyMJ, b.Cost.EnergyMJ); c != 0 {
			return c
		}
		return cmp.Compare(a.Genome.Key(), b.Genome.Key())
	})
}

// evaluate returns a genome's fitness, from the cache or by calling the fitness function (and saving the state,
// so that an interrupted generation loses at most the evaluation in progress).
func (s *searcher) evaluate(ctx context.Context, g Genome) (Evaluated, error) {
	key := g.Key()
	if e, ok := s.st.Cache[key]; ok {
		return e, nil
	}
	c, err := s.o.Space.NewCandidate(g)
	if err != nil {
		return Evaluated{}, err
	}
	f, err := s.fitness(ctx, c)
	if err != nil {
		return Evaluated{}, fmt.Errorf("fitness of %s: %w", c.Target.Name, err)
	}
	if math.IsNaN(f) {
		return Evaluated{}, fmt.Errorf("fitness of %s is NaN", c.Target.Name)
	}
	e := Evaluated{Genome: c.Genome, Cost: c.Cost, Fitness: f}
	s.st.Cache[key] = e
	s.st.Evaluations++
	return e, s.st.save(s.o.Dir)
}

// within draws genomes from draw until one decodes with a target within budget, at most MaxTries times. It
// also reports the cheapest target it saw.
func (s *searcher) within(draw func() Genome) (Genome, bool, Cost, error) {
	cheapest := Cost{EnergyMJ: math.Inf(1), LatencyMS: math.Inf(1)}
	for range s.o.MaxTries {
		g := draw()
		c, err := s.o.Space.NewCandidate(g)
		if err != nil {
			return Genome{}, false, cheapest, err
		}
		if s.o.Budget.Meets(c.Cost) {
			return g, true, c.Cost, nil
		}
		if c.Cost.EnergyMJ < cheapest.EnergyMJ {
			cheapest = c.Cost
		}
	}
	return Genome{}, false, cheapest, nil
}

// initial draws the first population. A budget that no draw meets is an error that says what the cheapest
// target costs (the cheapest seen, or the space's smallest genome, whichever is less).
func (s *searcher) initial(rng *rand.Rand) ([]Genome, error) {
	var pop []Genome
	for range s.o.Population {
		g, ok, cheapest, err := s.within(func() Genome { return s.o.Space.Sample(rng) })
		if err != nil {
			return nil, err
		}
		if !ok {
			if len(pop) > 0 { // a tight budget: repeat a member rather than fail (repeats cost no evaluation)
				pop = append(pop, pop[rng.IntN(len(pop))])
				continue
			}
			if c, err := s.o.Space.NewCandidate(s.o.Space.Smallest()); err == nil && c.Cost.EnergyMJ < cheapest.EnergyMJ {
				cheapest = c.Cost
			}
			return nil, fmt.Errorf("no sub-network meets energy %g mJ / latency %g ms; the smallest found costs %.4g mJ / %.4g ms",
				s.o.Budget.EnergyMJ, s.o.Budget.LatencyMS, cheapest.EnergyMJ, cheapest.LatencyMS)
		}
		pop = append(pop, g)
	}
	return pop, nil
}

// breed makes the next population from the last one (sorted fittest first): the parents themselves, then
// mutated parents and crossovers. A child that no redraw brings within budget is replaced by a parent.
func (s *searcher) breed(rng *rand.Rand) ([]Genome, error) {
	prev := s.st.Population
	nParents := max(1, min(len(prev), int(math.Ceil(s.o.ParentsFraction*float64(s.o.Population)))))
	parents := make([]Genome, nParents)
	for i := range parents {
		parents[i] = prev[i].Genome
	}
	pop := append([]Genome(nil), parents...)
	children := s.o.Population - nParents
	nMut := int(math.Round(s.o.MutationFraction * float64(children)))
	for i := range children {
		draw := func() Genome {
			if i < nMut || nParents == 1 {
				return s.o.Space.Mutate(rng, parents[rng.IntN(nParents)], s.o.MutateProb)
			}
			return Crossover(rng, parents[rng.IntN(nParents)], parents[rng.IntN(nParents)])
		}
		// A child already in this population or the last explores nothing: redraw it a few times (a small
		// population with few effective genes otherwise fills up with copies). Only state that is fixed at the
		// start of the generation counts, so that a search resumed mid-generation breeds the same children.
		var g Genome
		for try := 0; ; try++ {
			c, ok, _, err := s.within(draw)
			if err != nil {
				return nil, err
			}
			if !ok {
				c = parents[rng.IntN(nParents)]
			}
			g = c
			if try == newChildTries || !s.met(pop, c) {
				break
			}
		}
		pop = append(pop, g)
	}
	return pop, nil
}

// newChildTries is how many times breed redraws a child it has met before.
const newChildTries = 20

// met reports whether g is in pop or in the last generation's population.
func (s *searcher) met(pop []Genome, g Genome) bool {
	key := g.Key()
	for _, e := range s.st.Population {
		if e.Genome.Key() == key {
			return true
		}
	}
	for _, p := range pop {
		if p.Key() == key {
			return true
		}
	}
	return false
}
