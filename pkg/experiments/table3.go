package experiments

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/shiftaddaug/shiftaddaug/pkg/arch"
	"github.com/shiftaddaug/shiftaddaug/sim"
)

// HardwareRow is one model and method of Table 3's hardware columns as this library computes them.
type HardwareRow struct {
	Model     string  `json:"model"`
	Method    string  `json:"method"`
	ParamsM   float64 `json:"params_m"`
	MultM     float64 `json:"mult_m"`
	ShiftM    float64 `json:"shift_m"`
	AddM      float64 `json:"add_m"`
	EnergyMJ  float64 `json:"energy_mj"`
	LatencyMS float64 `json:"latency_ms"`
	// PlainEnergyMJ and PlainLatencyMS are the sums over all layers without the paper's Shift-row quirk (equal to
	// EnergyMJ and LatencyMS on base and add rows).
	PlainEnergyMJ  float64       `json:"plain_energy_mj"`
	PlainLatencyMS float64       `json:"plain_latency_ms"`
	Breakdown      sim.Breakdown `json:"breakdown_mj"`
}

// HardwareOptions selects the resolution and the simulator's policies for Table 3.
type HardwareOptions struct {
	Res             int
	DW              sim.DWPolicy
	PaperShiftQuirk bool
	Models          []string // default: the five paper models
}

// DefaultHardwareOptions is the setting that reproduces the paper: 160x160, depthwise as C=1, Shift quirk on.
func DefaultHardwareOptions() HardwareOptions {
	return HardwareOptions{Res: arch.PaperRes, DW: sim.DWChannelOne, PaperShiftQuirk: true}
}

// Table3Hardware computes Table 3's Params, Mult, Shift, Add, energy and latency columns: five models, three methods.
func Table3Hardware(opts HardwareOptions) ([]HardwareRow, error) {
	models := opts.Models
	if len(models) == 0 {
		models = arch.PaperModels
	}
	cfg := sim.DefaultConfig()
	var rows []HardwareRow
	for _, name := range models {
		base, err := arch.Get(name, 0)
		if err != nil {
			return nil, err
		}
		for _, method := range arch.Methods {
			m := base.WithMethod(method)
			c, err := m.Count(opts.Res)
			if err != nil {
				return nil, err
			}
			nc, err := sim.CostModel(cfg, base, method, opts.Res, sim.ModelOptions{DW: opts.DW, PaperShiftQuirk: opts.PaperShiftQuirk})
			if err != nil {
				return nil, err
			}
			rows = append(rows, HardwareRow{Model: name, Method: string(method),
				ParamsM: float64(c.Params) / 1e6, MultM: float64(c.Mult) / 1e6, ShiftM: float64(c.Shift) / 1e6, AddM: float64(c.Add) / 1e6,
				EnergyMJ: nc.EnergyMJ, LatencyMS: nc.LatencyMS, PlainEnergyMJ: nc.PlainEnergyMJ, PlainLatencyMS: nc.PlainLatencyMS,
				Breakdown: nc.Breakdown})
		}
	}
	return rows, nil
}

// Table3CSVHeader is the CSV contract of `shiftaddaug sim table3` (design.md).
const Table3CSVHeader = "model,method,params_m,mult_m,shift_m,add_m,energy_mj,latency_ms"

// WriteTable3 renders hardware rows as md (with the paper's values beside), csv or json (one array).
func WriteTable3(w io.Writer, rows []HardwareRow, format string, res int) error {
	switch format {
	case "csv":
		fmt.Fprintln(w, Table3CSVHeader)
		for _, r := range rows {
			fmt.Fprintf(w, "%s,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", r.Model, r.Method, r.ParamsM, r.MultM, r.ShiftM, r.AddM, r.EnergyMJ, r.LatencyMS)
		}
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case "md":
		paper := res == arch.PaperRes
		fmt.Fprintf(w, "| model | method | params (M) | mult (M) | shift (M) | add (M) | energy (mJ) | latency (ms) |")
		if paper {
			fmt.Fprintf(w, " paper energy | paper latency |")
		}
		fmt.Fprintf(w, " plain energy | plain latency |\n|---|---|---:|---:|---:|---:|---:|---:|")
		if paper {
			fmt.Fprintf(w, "---:|---:|")
		}
		fmt.Fprintln(w, "---:|---:|")
		for _, r := range rows {
			fmt.Fprintf(w, "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f |", r.Model, r.Method, r.ParamsM, r.MultM, r.ShiftM, r.AddM, r.EnergyMJ, r.LatencyMS)
			if paper {
				if p, ok := PaperRow(r.Model, r.Method); ok {
					fmt.Fprintf(w, " %.3f | %.3f |", p.EnergyMJ, p.LatencyMS)
				} else {
					fmt.Fprintf(w, " | |")
				}
			}
			fmt.Fprintf(w, " %.3f | %.3f |\n", r.PlainEnergyMJ, r.PlainLatencyMS)
		}
	default:
		return fmt.Errorf("unknown format %q: want md, csv or json", format)
	}
	return nil
}

// ValidFormat checks an output format name against the allowed ones.
func ValidFormat(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return fmt.Errorf("unknown format %q: want %s", format, strings.Join(allowed, ", "))
}
