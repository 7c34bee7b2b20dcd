package arch

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestSaveLoadRoundTrip: every zoo model, under every method, reads back equal to what was saved.
func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, name := range PaperModels {
		for _, method := range Methods {
			m, _ := Get(name, 10)
			m = m.WithMethod(method)
			path := filepath.Join(dir, name+".json")
			if err := Save(path, m); err != nil {
				t.Fatal(err)
			}
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("%s/%s: loaded model differs from the saved one", name, method)
			}
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestLoadRejects: each broken file is a one-line error naming the file and the problem.
func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	m, _ := Get("mbv2-tiny", 10)
	good := filepath.Join(dir, "good.json")
	if err := Save(good, m); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	edit := func(old, new string) string {
		s := string(data)
		if !strings.Contains(s, old) {
			t.Fatalf("file lacks %q", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	cases := []struct{ text, want string }{
		{edit(`"op": "mult"`, `"op": "mul"`), `unknown block type "mul"`},
		{edit(`"in": 8,`, `"in": 9,`), "takes 9 channels after a layer that gives 8"},
		{edit(`"k": 3,`+"\n      \"stride\": 2", `"k": 4,`+"\n      \"stride\": 2"), "kernel 4"},
		{edit(`"stride": 2`, `"stride": 3`), "stride 3"},
		{edit(`"format": "shiftaddaug-arch/1"`, `"format": "x"`), `format "x"`},
		{edit(`"act": "relu6"`, `"act": "gelu"`), `unknown activation "gelu"`},
		{edit(`"expand": true,`, `"expand": true, "colour": 1,`), `unknown field "colour"`},
		{edit(`"first_in_stage": true,`, `"first_in_stage": true, "residual": true,`), "identity shortcut needs stride 1"},
		{"{", "unexpected EOF"},
	}
	for i, c := range cases {
		path := filepath.Join(dir, "bad.json")
		if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
			t.Errorf("case %d: want a one-line error naming %s and %q, got %v", i, path, c.want, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestRegister(t *testing.T) {
	m, _ := Get("mbv2-tiny", 10)
	if err := Register(m); err == nil {
		t.Error("registering a built-in name was accepted")
	}
	m.Name = "my-net"
	m.Blocks[3].K = 7
	if err := Register(m); err != nil {
		t.Fatal(err)
	}
	got, err := Get("my-net", 100)
	if err != nil || got.Blocks[3].K != 7 || got.Classes != 100 {
		t.Errorf("Get after Register: %v, %v", got, err)
	}
}
