package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/shiftaddaug/shiftaddaug/datasets"
	"github.com/shiftaddaug/shiftaddaug/internal/atomicio"
)

func init() {
	register(&command{
		name:    "data",
		summary: "datasets: list what is here, fetch with checksums, show a grid of samples",
		run:     runData,
	})
}

const dataUsage = `Usage: shiftaddaug data list [--data-dir D]
       shiftaddaug data fetch NAME [--dir D] [--timeout 30s]
       shiftaddaug data show NAME [--n 16] [--split train|test] [--out FILE] [--seed S] [--data-dir D]

Datasets: fashion-mnist, mnist, cifar10, cifar100, imagefolder:PATH, voc:PATH, openeds:PATH,
fashion-seg, mnist-seg (derived segmentation canvases; options as fashion-seg:size=96,items=4,train=N,test=N,seed=S)`

func runData(args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(errOut, dataUsage)
		return errUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintln(out, dataUsage)
		return nil
	case "list":
		return dataList(args[1:])
	case "fetch":
		return dataFetch(args[1:])
	case "show":
		return dataShow(args[1:])
	}
	return fmt.Errorf("unknown data subcommand %q (want list, fetch or show)", args[0])
}

// parseWithName parses flags that may come before or after one positional NAME argument.
func parseWithName(fs *flag.FlagSet, args []string) (string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args, true); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(pos) {
	case 0:
		return "", fmt.Errorf("missing dataset NAME (one of %s)", strings.Join(datasets.Names(), ", "))
	case 1:
		return pos[0], nil
	}
	return "", fmt.Errorf("unexpected argument %q: give one dataset NAME", pos[1])
}

func dataList(args []string) error {
	fs := newFlags("data list", "[--data-dir D]")
	dir := fs.String("data-dir", "", "extra data folder to search (default $"+datasets.DataDirEnv+" or the user cache)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	opts := datasets.Options{Dir: *dir}
	fmt.Fprintf(out, "%-14s %-10s %s\n", "NAME", "STATUS", "WHERE")
	verified := map[string]bool{}
	for _, name := range datasets.FixedNames {
		a, err := datasets.Available(name, opts)
		if err != nil {
			return err
		}
		verified[name] = a.Verified
		switch {
		case a.Verified:
			fmt.Fprintf(out, "%-14s %-10s %s\n", name, "verified", a.Location)
		case a.Found && strings.HasPrefix(name, "cifar"):
			fmt.Fprintf(out, "%-14s %-10s %s (%s)\n", name, "unverified", a.Location, a.Problem)
		case a.Found:
			fmt.Fprintf(out, "%-14s %-10s %s (%s)\n", name, "CORRUPT", a.Location, oneLine(a.Problem))
		default:
			fmt.Fprintf(out, "%-14s %-10s get it: %s\n", name, "missing", a.HowToGet)
		}
	}
	voc := "give a folder with JPEGImages/ and SegmentationClass/"
	if _, err := os.Stat(datasets.LabelmeVOCDir); err == nil {
		voc = "example here: voc:" + datasets.LabelmeVOCDir + " (3 real VOC images)"
	}
	fmt.Fprintf(out, "%-14s %-10s %s\n", "imagefolder:", "path", "give a folder of CLASS/IMAGE.jpg (Food-101, Pets, ImageNet layouts recognised)")
	fmt.Fprintf(out, "%-14s %-10s %s\n", "voc:", "path", voc)
	fmt.Fprintf(out, "%-14s %-10s %s\n", "openeds:", "path", "give a folder with images/ and masks/ PNGs paired by file stem (or train/ and validation/ holding both)")
	for _, seg := range []struct{ name, src string }{{datasets.FashionSegName, "fashion-mnist"}, {datasets.MNISTSegName, "mnist"}} {
		status := "derived"
		if !verified[seg.src] {
			status = "missing"
		}
		fmt.Fprintf(out, "%-14s %-10s segmentation canvases composed from %s items (not VOC); needs %s\n", seg.name, status, seg.src, seg.src)
	}
	fmt.Fprintf(out, "download folder: %s\n", firstNonEmpty(*dir, datasets.DefaultDir()))
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func dataFetch(args []string) error {
	fs := newFlags("data fetch", "NAME [--dir D] [--timeout 30s]")
	dir := fs.String("dir", "", "download folder (default $"+datasets.DataDirEnv+" or the user cache)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up when a connection or transfer stalls this long")
	name, err := parseWithName(fs, args)
	if err != nil {
		return err
	}
	opts := datasets.Options{Dir: *dir, Timeout: *timeout, Progress: func(m string) { fmt.Fprintln(errOut, m) }}
	if strings.Contains(name, ":") {
		_, err := datasets.Fetch(name, opts) // explains that folders are not fetched
		return err
	}
	before, err := datasets.Available(name, opts)
	if err != nil {
		return err
	}
	if before.Found && !before.Verified && !strings.HasPrefix(name, "cifar") {
		return fmt.Errorf("%s: files in %s are corrupt (%s); remove them and fetch again", name, before.Location, oneLine(before.Problem))
	}
	ds, err := datasets.Fetch(name, opts)
	if err != nil {
		return err
	}
	verb := "fetched"
	if before.Found {
		verb = "already here"
	}
	fmt.Fprintf(out, "%s: %s: %s (train %d, test %d, %d classes, verified %v)\n",
		name, verb, ds.Location, ds.Train.Len(), ds.Test.Len(), ds.NumClasses, ds.Verified)
	return nil
}

func dataShow(args []string) error {
	fs := newFlags("data show", "NAME [--n 16] [--split train|test] [--out FILE] [--seed S] [--data-dir D]")
	n := fs.Int("n", 16, "number of samples")
	split := fs.String("split", "train", "train or test")
	outPath := fs.String("out", "", "PNG file to write (default NAME-SPLIT-samples.png)")
	seed := fs.Uint64("seed", 1, "which samples: a seeded random choice")
	dir := fs.String("data-dir", "", "extra data folder to search")
	name, err := parseWithName(fs, args)
	if err != nil {
		return err
	}
	if *n <= 0 || *n > 1024 {
		return fmt.Errorf("--n must be in 1..1024, got %d", *n)
	}
	ds, err := datasets.Open(name, datasets.Options{Dir: *dir})
	if err != nil {
		return err
	}
	var src datasets.Source
	switch *split {
	case "train":
		src = ds.Train
	case "test":
		src = ds.Test
	default:
		return fmt.Errorf("--split must be train or test, got %q", *split)
	}
	if src.Len() == 0 {
		return fmt.Errorf("%s has no %s samples", name, *split)
	}
	idx := rand.New(rand.NewPCG(*seed, 0)).Perm(src.Len())
	if len(idx) > *n {
		idx = idx[:*n]
	}
	sort.Ints(idx)
	grid, err := sampleGrid(ds, src, idx)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, grid); err != nil {
		return err
	}
	path := *outPath
	if path == "" {
		path = datasets.FileName(name) + "-" + *split + "-samples.png"
	}
	if err := atomicio.WriteFile(path, buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: %d %s samples of %s (%s)\n", path, len(idx), *split, name, ds.Location)
	return nil
}

const (
	tileSide  = 112 // image area of a tile
	labelH    = 16  // text line under it
	tileGap   = 4
	labelFont = 7 // basicfont.Face7x13 advance
)

// sampleGrid draws samples idx of src with their labels (class names; for segmentation, the mask overlaid in
// VOC colours and the classes present).
func sampleGrid(ds *datasets.Dataset, src datasets.Source, idx []int) (*image.RGBA, error) {
	cols := int(math.Ceil(math.Sqrt(float64(len(idx)))))
	rows := (len(idx) + cols - 1) / cols
	W := cols*(tileSide+tileGap) + tileGap
	H := rows*(tileSide+labelH+tileGap) + tileGap
	grid := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(grid, grid.Bounds(), image.NewUniform(color.RGBA{255, 255, 255, 255}), image.Point{}, draw.Src)
	ms, seg := src.(datasets.MaskSource)
	pal := datasets.VOCPalette()
	for k, i := range idx {
		im, err := src.Image(i)
		if err != nil {
			return nil, err
		}
		rgba := toRGBA(im)
		label := ""
		if seg {
			m, err := ms.Mask(i)
			if err != nil {
				return nil, err
			}
			present := map[int]bool{}
			for p, v := range m.Pix {
				if v == datasets.IgnoreIndex {
					continue
				}
				present[int(v)] = true
				if v != 0 {
					c := pal[v].(color.RGBA)
					o := p * 4
					rgba.Pix[o] = uint8((int(rgba.Pix[o]) + int(c.R)) / 2)
					rgba.Pix[o+1] = uint8((int(rgba.Pix[o+1]) + int(c.G)) / 2)
					rgba.Pix[o+2] = uint8((int(rgba.Pix[o+2]) + int(c.B)) / 2)
				}
			}
			var names []string
			for c := range present {
				if c != 0 && c < len(ds.ClassNames) {
					names = append(names, ds.ClassNames[c])
				}
			}
			sort.Strings(names)
			label = strings.Join(names, ",")
		} else {
			l := src.Label(i)
			label = fmt.Sprintf("%d", l)
			if l >= 0 && l < len(ds.ClassNames) && ds.ClassNames[l] != label {
				label += " " + ds.ClassNames[l]
			}
		}
		x0 := tileGap + (k%cols)*(tileSide+tileGap)
		y0 := tileGap + (k/cols)*(tileSide+labelH+tileGap)
		// Fit the image into the tile keeping its aspect; small images are enlarged with sharp pixels.
		s := math.Min(float64(tileSide)/float64(im.W), float64(tileSide)/float64(im.H))
		dw, dh := int(float64(im.W)*s), int(float64(im.H)*s)
		dr := image.Rect(x0+(tileSide-dw)/2, y0+(tileSide-dh)/2, x0+(tileSide-dw)/2+dw, y0+(tileSide-dh)/2+dh)
		var scaler draw.Interpolator = draw.ApproxBiLinear
		if s >= 1 {
			scaler = draw.NearestNeighbor
		}
		scaler.Scale(grid, dr, rgba, rgba.Bounds(), draw.Src, nil)
		if max := tileSide / labelFont; len(label) > max {
			label = label[:max-1] + "~"
		}
		d := font.Drawer{Dst: grid, Src: image.NewUniform(color.RGBA{0, 0, 0, 255}), Face: basicfont.Face7x13,
			Dot: fixed.P(x0, y0+tileSide+12)}
		d.DrawString(label)
	}
	return grid, nil
}

func toRGBA(im datasets.Image) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, im.W, im.H))
	for p := 0; p < im.W*im.H; p++ {
		for c := 0; c < 3; c++ {
			out.Pix[p*4+c] = im.Pix[p*im.C+min(c, im.C-1)]
		}
		out.Pix[p*4+3] = 255
	}
	return out
}
