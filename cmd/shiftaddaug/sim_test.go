package main

import (
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
)

func TestSimTable3CSV(t *testing.T) {
	code, o, e := run(t, "sim", "table3", "--format", "csv")
	if code != 0 {
		t.Fatalf("code %d: %s", code, e)
	}
	recs, err := csv.NewReader(strings.NewReader(o)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "model,method,params_m,mult_m,shift_m,add_m,energy_mj,latency_ms" {
		t.Fatalf("header %v", recs[0])
	}
	if len(recs) != 16 {
		t.Fatalf("%d rows, want 15", len(recs)-1)
	}
	// MobileNetV2-w0.35 base as printed in the paper: 2.345 mJ, 0.73 ms.
	e0, _ := strconv.ParseFloat(recs[1][6], 64)
	l0, _ := strconv.ParseFloat(recs[1][7], 64)
	if recs[1][0] != "mbv2-w0.35" || recs[1][1] != "base" || e0 < 2.340 || e0 > 2.350 || l0 < 0.728 || l0 > 0.734 {
		t.Errorf("first row %v", recs[1])
	}
}

func TestSimLayersCSVContract(t *testing.T) {
	code, o, e := run(t, "sim", "layers", "--model", "mcunet-in3", "--method", "add", "--res", "96")
	if code != 0 {
		t.Fatalf("code %d: %s", code, e)
	}
	lines := strings.Split(strings.TrimSpace(o), "\n")
	if lines[0] != "name,kind,k,stride,cin,cout,groups,hin,hout,macs,energy_mj,latency_ms" {
		t.Fatalf("header %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "stem,Add,3,2,3,16,1,96,48,") {
		t.Errorf("stem row %q", lines[1])
	}
}

func TestSimBadInput(t *testing.T) {
	for _, bad := range [][]string{
		{"sim"},
		{"sim", "table4"},
		{"sim", "table3", "--res", "-1"},
		{"sim", "table3", "--res", "abc"},
		{"sim", "table3", "--format", "xml"},
		{"sim", "table3", "--dw", "weird"},
		{"sim", "layers"},
		{"sim", "layers", "--model", "mbv2-w0.35", "--method", "mul"},
		{"sim", "layers", "--model", "mbv2-w0.35", "--res", "20"},
	} {
		code, _, e := run(t, bad...)
		if code == 0 || e == "" || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%v: want one-line error and non-zero exit, got %d %q", bad, code, e)
		}
	}
}
