package tensorbatch

import (
	"testing"

	"github.com/shiftaddaug/shiftaddaug/datasets"
)

func TestTensors(t *testing.T) {
	b := &datasets.Batch{Images: make([]float32, 2*3*4*5), Shape: [4]int{2, 4, 5, 3}, Layout: datasets.NHWC,
		Labels: []int32{1, 7}, Masks: make([]int32, 2*4*5)}
	b.Images[5] = 2.5
	im := Images(b)
	if got := im.Shape().Dimensions; len(got) != 4 || got[0] != 2 || got[1] != 4 || got[3] != 3 {
		t.Fatalf("image shape %v", im.Shape())
	}
	if v := im.Value().([][][][]float32); v[0][0][1][2] != 2.5 {
		t.Fatalf("value %v", v[0][0][1])
	}
	if l := Labels(b).Value().([]int32); l[1] != 7 {
		t.Fatalf("labels %v", l)
	}
	if m := Masks(b).Shape().Dimensions; m[0] != 2 || m[1] != 4 || m[2] != 5 {
		t.Fatalf("mask shape %v", m)
	}
	b.Masks = nil
	if Masks(b) != nil {
		t.Fatal("classification batch has masks")
	}
}
