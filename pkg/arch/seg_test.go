package arch

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The LR-ASPP head's parameters and operations on mbv2-w0.35 and proxyless-w0.35 (both end in 112 channels
// at output stride 32 and have 16 channels at stride 8), 11 classes, 64x64 input, derived by hand:
//
//	seg.inner 112→48 at 2x2, BN:   params 112·48 + 2·48 = 5472,  MACs 4·48·112 = 21504
//	seg.gate  112→48 at 1x1, bias: params 5376 + 48 = 5424,      MACs 5376
//	seg.out    48→11 at 2x2, bias: params 528 + 11 = 539,        MACs 4·11·48 = 2112
//	seg.skip   16→11 at 8x8, bias: params 176 + 11 = 187,        MACs 64·11·16 = 11264
//
// so 11622 parameters and 40256 MACs; bias terms add 48 + 44 + 704 = 796 operations (thop's count). The
// classification model's head conv (112→1280 at 2x2, BN: 145920 params, 573440 MACs) and classifier
// (1280→11: 14091 params, 14080 MACs) are what the segmentation model drops.
func TestSegHeadCounts(t *testing.T) {
	const (
		headParams = 11622
		headMACs   = 40256
		biasOps    = 796
		clsParams  = 145920 + 14091
		clsMACs    = 573440 + 14080
	)
	for _, name := range []string{"mbv2-w0.35", "proxyless-w0.35"} {
		cls, err := Get(name, 11)
		if err != nil {
			t.Fatal(err)
		}
		seg, err := cls.WithSegHead(11, 0)
		if err != nil {
			t.Fatal(err)
		}
		wantSkip := map[string]string{"mbv2-w0.35": "blocks.5", "proxyless-w0.35": "blocks.6"}[name]
		if seg.Seg.Skip != wantSkip {
			t.Errorf("%s: skip block %s, want %s (the last at output stride 8)", name, seg.Seg.Skip, wantSkip)
		}
		for _, tc := range []struct {
			method          Method
			mult, shift, ad int64 // head operations per column
		}{
			{MethodBase, headMACs + biasOps, 0, headMACs + biasOps},
			{MethodShift, 0, headMACs + biasOps, headMACs + biasOps},
			// Inner and Gate are adders (2·MACs, plus 2 per output of Inner's batch norm, plus Gate's bias);
			// the class convs stay Mult.
			{MethodAdd, 2112 + 44 + 11264 + 704, 0, 2*21504 + 2*4*48 + 2*5376 + 48 + 2112 + 44 + 11264 + 704},
		} {
			cc, err := cls.WithMethod(tc.method).Count(64)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := seg.WithMethod(tc.method).Count(64)
			if err != nil {
				t.Fatal(err)
			}
			// The classifier part in cc: under add the head conv is an adder (2·MACs + 2 per BN output), the
			// classifier Mult.
			var cMult, cShift, cAdd int64
			switch tc.method {
			case MethodBase:
				cMult, cAdd = clsMACs, clsMACs
			case MethodShift:
				cShift, cAdd = clsMACs, clsMACs
			case MethodAdd:
				cMult, cAdd = 14080, 2*573440+2*4*1280+14080
			}
			if got, want := sc.Params, cc.Params-clsParams+headParams; got != want {
				t.Errorf("%s %s: params %d, want %d", name, tc.method, got, want)
			}
			if got, want := sc.MACs, cc.MACs-clsMACs+headMACs; got != want {
				t.Errorf("%s %s: MACs %d, want %d", name, tc.method, got, want)
			}
			for _, col := range []struct {
				name           string
				got, cls, head int64
			}{{"mult", sc.Mult, cc.Mult - cMult, tc.mult}, {"shift", sc.Shift, cc.Shift - cShift, tc.shift}, {"add", sc.Add, cc.Add - cAdd, tc.ad}} {
				if col.got != col.cls+col.head {
					t.Errorf("%s %s: %s %d, want backbone %d + head %d", name, tc.method, col.name, col.got, col.cls, col.head)
				}
			}
		}
	}
}

func TestSegHeadLayersAndOps(t *testing.T) {
	m, _ := Get("mbv2-w0.35", 11)
	seg, err := m.WithSegHead(11, 0)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := seg.WithMethod(MethodAdd).Layers(64)
	if err != nil {
		t.Fatal(err)
	}
	tail := ls[len(ls)-4:]
	want := []struct {
		name     string
		cin, out int
		hin      int
		op       Op
	}{{"seg.inner", 112, 48, 2, Add}, {"seg.gate", 112, 48, 1, Add}, {"seg.out", 48, 11, 2, Mult}, {"seg.skip", 16, 11, 8, Mult}}
	for i, w := range want {
		l := tail[i]
		if l.Name != w.name || l.Cin != w.cin || l.Cout != w.out || l.Hin != w.hin || l.Op != w.op {
			t.Errorf("layer %d: %+v, want %+v", i, l, w)
		}
	}
	for _, l := range ls {
		if l.Kind == KindLinear || strings.HasPrefix(l.Name, "head.") {
			t.Errorf("segmentation model still has %s", l.Name)
		}
	}
	if sh := seg.WithMethod(MethodShift).Seg; sh.Out.Op != Shift || sh.Inner.Op != Shift {
		t.Errorf("shift: head ops %v/%v, want shift", sh.Inner.Op, sh.Out.Op)
	}
}

func TestSegHeadFileRoundTrip(t *testing.T) {
	m, _ := Get("proxyless-w0.35", 11)
	seg, err := m.WithSegHead(11, 0)
	if err != nil {
		t.Fatal(err)
	}
	seg = seg.WithMethod(MethodShift)
	path := filepath.Join(t.TempDir(), "seg.json")
	if err := Save(path, seg); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, seg) {
		t.Errorf("round trip changed the model:\n%+v\nwant\n%+v", got.Seg, seg.Seg)
	}
}

func TestSegHeadBadInput(t *testing.T) {
	m, _ := Get("mbv2-w0.35", 11)
	if _, err := m.WithSegHead(1, 0); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("1 class: %v", err)
	}
	if _, err := m.WithSegHead(300, 0); err == nil {
		t.Error("300 classes accepted")
	}
	seg, _ := m.WithSegHead(11, 0)
	bad := seg.Clone()
	bad.Seg.Skip = "blocks.99"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "blocks.99") {
		t.Errorf("unknown skip block: %v", err)
	}
	bad = seg.Clone()
	bad.Seg.SkipOut.In = 24
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "seg.skip") {
		t.Errorf("skip channels: %v", err)
	}
	bad = seg.Clone()
	bad.Seg.Out.Out = 12
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "classes") {
		t.Errorf("class count: %v", err)
	}
}
