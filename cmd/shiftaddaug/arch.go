package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
)

func init() {
	register(&command{name: "arch", summary: "print a model's layer table, parameters and Mult/Shift/Add counts", run: runArch})
}

func runArch(args []string) error {
	fs := newFlags("arch", "--model M [--res R] [--method base|shift|add] [--classes N] [--save FILE]")
	model := fs.String("model", "", "model: "+strings.Join(arch.PaperModels, ", "))
	res := fs.Int("res", arch.PaperRes, "input resolution (square)")
	method := fs.String("method", "base", "operator method of the deployed network: base, shift, add")
	classes := fs.Int("classes", arch.DefaultClasses, "number of classes")
	save := fs.String("save", "", "also write the description as a model file (the format train --arch reads; e.g. for scripts/peer_netaug.py)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *model == "" {
		return fmt.Errorf("--model is required: one of %s", strings.Join(arch.PaperModels, ", "))
	}
	m, meth, err := modelAndMethod(*model, *method, *classes)
	if err != nil {
		return err
	}
	m = m.WithMethod(meth)
	ls, err := m.Layers(*res)
	if err != nil {
		return err
	}
	if *save != "" {
		if err := arch.Save(*save, m); err != nil {
			return err
		}
	}
	c, err := m.Count(*res)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s, method %s, %dx%d input, %d classes\n\n", m.Name, meth, *res, *res, m.Classes)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\tkind\top\tk\tstride\tcin\tcout\thin\thout\tparams\tMACs\t")
	for _, l := range ls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", l.Name, l.Kind, l.Op, l.K, l.Stride, l.Cin, l.Cout, l.Hin, l.Hout, l.Params(), l.MACs())
	}
	tw.Flush()
	fmt.Fprintf(out, "\nparams %.3f M   MACs %.3f M   mult %.3f M   shift %.3f M   add %.3f M\n",
		float64(c.Params)/1e6, float64(c.MACs)/1e6, float64(c.Mult)/1e6, float64(c.Shift)/1e6, float64(c.Add)/1e6)
	return nil
}

// modelAndMethod resolves a model name, a (training or deployment) method and a class count.
func modelAndMethod(model, method string, classes int) (*arch.Model, arch.Method, error) {
	if classes < 2 {
		return nil, "", fmt.Errorf("--classes %d: need at least 2", classes)
	}
	m, err := arch.Get(model, classes)
	if err != nil {
		return nil, "", err
	}
	meth, err := arch.ParseMethod(method)
	if err != nil {
		return nil, "", err
	}
	return m, meth, nil
}
