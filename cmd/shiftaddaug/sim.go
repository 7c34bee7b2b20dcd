package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/pkg/experiments"
	"github.com/shiftaddaug/shiftaddaug/sim"
)

func init() {
	register(&command{name: "sim", summary: "energy/latency simulator: table3, table1, layers", run: runSim})
}

const simUsage = `Usage: shiftaddaug sim SUBCOMMAND [flags]

  table3 [--res R] [--format md|csv|json] [--dw c1|batchfold|fullc] [--no-quirk]
         Table 3's Params, Mult, Shift, Add, energy and latency for the five models and three methods.
  table1 Table 1: energy per operation (pJ, 45 nm) by data type.
  layers --model M --method base|shift|add [--res R] [--format csv|md] [--dw POLICY]
         one row per costed layer, with its energy split.
`

func runSim(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(out, simUsage)
		if len(args) == 0 {
			return fmt.Errorf("missing subcommand: table3, table1 or layers")
		}
		return nil
	}
	switch args[0] {
	case "table3":
		return simTable3(args[1:])
	case "table1":
		return simTable1(args[1:])
	case "layers":
		return simLayers(args[1:])
	}
	return fmt.Errorf("unknown subcommand %q: want table3, table1 or layers", args[0])
}

func simTable3(args []string) error {
	fs := newFlags("sim table3", "[--res R] [--format md|csv|json] [--dw c1|batchfold|fullc] [--no-quirk]")
	res := fs.Int("res", arch.PaperRes, "input resolution")
	format := fs.String("format", "md", "output format: md, csv or json")
	dw := fs.String("dw", "c1", "depthwise policy: c1 (the paper's), batchfold, fullc")
	noQuirk := fs.Bool("no-quirk", false, "report the plain all-shift sums in the Shift rows instead of the paper-compatible ones")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if err := experiments.ValidFormat(*format, "md", "csv", "json"); err != nil {
		return err
	}
	policy, err := sim.ParseDWPolicy(*dw)
	if err != nil {
		return err
	}
	opts := experiments.DefaultHardwareOptions()
	opts.Res, opts.DW, opts.PaperShiftQuirk = *res, policy, !*noQuirk
	rows, err := experiments.Table3Hardware(opts)
	if err != nil {
		return err
	}
	return experiments.WriteTable3(out, rows, *format, *res)
}

func simTable1(args []string) error {
	fs := newFlags("sim table1", "")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	types := sim.Table1DataTypes()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "op\t%s\n", strings.Join(types, "\t"))
	for _, r := range sim.Table1() {
		fmt.Fprintf(tw, "%s", r.Op)
		for _, t := range types {
			if v, ok := r.PJ[t]; ok {
				fmt.Fprintf(tw, "\t%g", v)
			} else {
				fmt.Fprintf(tw, "\t-")
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(out, "\nEnergy per operation in pJ, 45 nm CMOS (the paper's Table 1). The simulator uses 0.9 pJ for an FP32 add (the value that reproduces Table 3), not the 1.1 printed here.")
	return nil
}

func simLayers(args []string) error {
	fs := newFlags("sim layers", "--model M --method base|shift|add [--res R] [--format csv|md] [--dw POLICY]")
	model := fs.String("model", "", "model: "+strings.Join(arch.PaperModels, ", "))
	method := fs.String("method", "base", "deployment method: base, shift, add")
	res := fs.Int("res", arch.PaperRes, "input resolution")
	format := fs.String("format", "csv", "output format: csv or md")
	dw := fs.String("dw", "c1", "depthwise policy: c1, batchfold, fullc")
	split := fs.Bool("breakdown", false, "append the energy split: compute, DRAM, buffer, NoC, RF (mJ)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *model == "" {
		return fmt.Errorf("--model is required: one of %s", strings.Join(arch.PaperModels, ", "))
	}
	if err := experiments.ValidFormat(*format, "csv", "md"); err != nil {
		return err
	}
	m, meth, err := modelAndMethod(*model, *method, arch.DefaultClasses)
	if err != nil {
		return err
	}
	policy, err := sim.ParseDWPolicy(*dw)
	if err != nil {
		return err
	}
	als, err := m.WithMethod(meth).Layers(*res)
	if err != nil {
		return err
	}
	nc, err := sim.CostModel(sim.DefaultConfig(), m, meth, *res, sim.ModelOptions{DW: policy})
	if err != nil {
		return err
	}
	cols := []string{"name", "kind", "k", "stride", "cin", "cout", "groups", "hin", "hout", "macs", "energy_mj", "latency_ms"}
	if *split {
		cols = append(cols, "compute_mj", "dram_mj", "buffer_mj", "noc_mj", "rf_mj")
	}
	sep, pre, post := ",", "", ""
	if *format == "md" {
		sep, pre, post = " | ", "| ", " |"
		fmt.Fprintln(out, pre+strings.Join(cols, sep)+post)
		fmt.Fprintln(out, "|"+strings.Repeat("---|", len(cols)))
	} else {
		fmt.Fprintln(out, strings.Join(cols, sep))
	}
	for i, a := range als {
		lc := nc.Layers[i]
		f := []string{a.Name, lc.Layer.Kind.String(), fmt.Sprint(a.K), fmt.Sprint(a.Stride), fmt.Sprint(a.Cin), fmt.Sprint(a.Cout),
			fmt.Sprint(a.Groups), fmt.Sprint(a.Hin), fmt.Sprint(a.Hout), fmt.Sprint(a.MACs()),
			fmt.Sprintf("%.6f", lc.EnergyMJ), fmt.Sprintf("%.6f", lc.LatencyMS)}
		if *split {
			b := lc.Breakdown
			for _, v := range []float64{b.Compute, b.DRAM, b.Buffer, b.NoC, b.RF} {
				f = append(f, fmt.Sprintf("%.6f", v))
			}
		}
		fmt.Fprintln(out, pre+strings.Join(f, sep)+post)
	}
	if *format == "md" {
		fmt.Fprintf(out, "\nTotal: %.4f mJ, %.4f ms (%s, %s, %dx%d; no paper Shift quirk here: plain sums)\n", nc.PlainEnergyMJ, nc.PlainLatencyMS, m.Name, meth, *res, *res)
	}
	return nil
}
