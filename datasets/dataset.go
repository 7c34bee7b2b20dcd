package datasets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Image is one decoded 8-bit image, interleaved row-major H x W x C (C is 1 for grey, 3 for RGB).
// Images returned by in-memory sources share their backing array with the dataset: do not modify Pix.
type Image struct {
	H, W, C int
	Pix     []uint8
}

// At returns channel c of pixel (x, y).
func (im Image) At(x, y, c int) uint8 { return im.Pix[(y*im.W+x)*im.C+c] }

// Mask is a segmentation mask: one class index per pixel, row-major H x W; IgnoreIndex marks pixels to ignore.
type Mask struct {
	H, W int
	Pix  []uint8
}

// IgnoreIndex is the mask value that losses and metrics skip (VOC's object borders and "difficult" areas).
const IgnoreIndex = 255

// Source is a random-access collection of labelled images: one split of a dataset.
// It is safe for concurrent use by the pipeline's workers.
type Source interface {
	// Len is the number of samples.
	Len() int
	// Label returns the class of sample i (0-based); segmentation sources return -1.
	Label(i int) int
	// Image returns sample i, decoding it if needed. The error names the file and the problem.
	Image(i int) (Image, error)
}

// MaskSource is a Source whose samples also carry a segmentation mask of the image's size.
type MaskSource interface {
	Source
	// Mask returns the mask of sample i.
	Mask(i int) (Mask, error)
}

// Shape is the native height, width and channel count of a dataset's images. H and W are 0 when images
// differ in size (image folders, VOC).
type Shape struct{ H, W, C int }

// Dataset is an opened dataset: its splits and what the model needs to know about them.
type Dataset struct {
	// Name is the name it was opened by ("fashion-mnist", "imagefolder:/data/food-101", ...).
	Name string
	// Train and Test are the two splits. Test has Len 0 when the source defines no test split and
	// Options.ValFraction is 0.
	Train, Test Source
	// Shape is the native image shape (before transforms).
	Shape Shape
	// NumClasses and ClassNames describe the labels (for segmentation: the mask classes, background included).
	NumClasses int
	ClassNames []string
	// Segmentation is true for voc: and openeds: datasets and the derived fashion-seg / mnist-seg tasks: the splits
	// implement MaskSource.
	Segmentation bool
	// Location says where the data was read from.
	Location string
	// Verified is true when the files were checked against pinned checksums (IDX, CIFAR after a verified fetch).
	Verified bool
}

// Options tune Open. The zero value is ready to use.
type Options struct {
	// Dir is an extra data directory searched first and used as the download target
	// (default: DefaultDir()). Dataset files go in Dir/NAME (for example Dir/fashion-mnist).
	Dir string
	// Download fetches missing datasets from their official sources (where a network exists).
	Download bool
	// Coarse makes cifar100 use the 20 coarse superclass labels instead of the 100 fine ones.
	Coarse bool
	// ValFraction is the share of each class (of all images, for voc:) held out as the test split when an
	// image folder or VOC folder defines no split of its own. Default 0.1; negative means none.
	ValFraction float64
	// Seed chooses the held-out images for ValFraction.
	Seed uint64
	// Timeout bounds each download's connection set-up and any stall in transfer (default 30s).
	Timeout time.Duration
	// Progress, if set, receives download progress lines.
	Progress func(msg string)
}

func (o Options) valFraction() float64 {
	switch {
	case o.ValFraction < 0:
		return 0
	case o.ValFraction == 0:
		return 0.1
	}
	return o.ValFraction
}

// DataDirEnv is the environment variable that overrides DefaultDir.
const DataDirEnv = "SHIFTADDAUG_DATA"

// DefaultDir is where downloads go and where datasets are looked for after the system locations:
// $SHIFTADDAUG_DATA if set, else the user cache directory + "/shiftaddaug" (~/.cache/shiftaddaug on Linux).
func DefaultDir() string {
	if d := os.Getenv(DataDirEnv); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "shiftaddaug")
	}
	return filepath.Join(os.TempDir(), "shiftaddaug-data")
}

func (o Options) dirs() []string {
	var ds []string
	if o.Dir != "" {
		ds = append(ds, o.Dir)
	}
	if d := DefaultDir(); d != o.Dir {
		ds = append(ds, d)
	}
	return ds
}

func (o Options) downloadDir() string {
	if o.Dir != "" {
		return o.Dir
	}
	return DefaultDir()
}

// Names lists the dataset names Open accepts (the path forms with their PATH placeholder; the derived
// segmentation tasks also take ":key=value,..." parameters, see ParseSegName).
func Names() []string {
	return []string{"fashion-mnist", "mnist", "cifar10", "cifar100", "imagefolder:PATH", "voc:PATH",
		"openeds:PATH", FashionSegName, MNISTSegName}
}

// ErrNotFound is wrapped by Open's error when a dataset is not installed or downloaded here.
var ErrNotFound = errors.New("dataset not found")

// Open opens a dataset by name (see Names) and returns its train and test splits.
// Fixed datasets are verified before they are returned; a missing one is downloaded when opts.Download is set,
// otherwise the error wraps ErrNotFound and says how to get it.
func Open(name string, opts Options) (*Dataset, error) {
	switch {
	case name == "fashion-mnist" || name == "mnist":
		return openIDX(name, opts)
	case strings.HasPrefix(name, FashionSegName) || strings.HasPrefix(name, MNISTSegName):
		return OpenSegCanvases(name, opts)
	case name == "cifar10" || name == "cifar100":
		return openCIFAR(name, opts)
	case strings.HasPrefix(name, "imagefolder:"):
		return OpenImageFolder(strings.TrimPrefix(name, "imagefolder:"), opts)
	case strings.HasPrefix(name, "voc:"):
		return OpenVOC(strings.TrimPrefix(name, "voc:"), opts)
	case strings.HasPrefix(name, "openeds:"):
		return OpenMaskFolder(strings.TrimPrefix(name, "openeds:"), opts)
	}
	return nil, fmt.Errorf("unknown dataset %q (known: %s)", name, strings.Join(Names(), ", "))
}
