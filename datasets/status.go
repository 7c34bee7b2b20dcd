package datasets

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Availability says whether a fixed dataset (fashion-mnist, mnist, cifar10, cifar100) is on this machine.
type Availability struct {
	Name string
	// Found is true when the files are present in Location.
	Found    bool
	Location string
	// Verified is true when the files passed their checksum verification (IDX: pinned SHA-256 of every file,
	// read now; CIFAR: the archive's published checksums at fetch time, and the official file sizes now).
	Verified bool
	// Problem describes why found files are not usable or not verified.
	Problem string
	// HowToGet says how to install or download the dataset.
	HowToGet string
}

// FixedNames are the datasets that have an official source (the others are paths).
var FixedNames = []string{"fashion-mnist", "mnist", "cifar10", "cifar100"}

// Available locates a fixed dataset and verifies it as Open would (IDX files are fully read and hashed).
func Available(name string, opts Options) (Availability, error) {
	a := Availability{Name: name}
	if s, ok := idxSpecs[name]; ok {
		a.HowToGet = s.howToGet
		if a.Location = s.locate(opts); a.Location == "" {
			return a, nil
		}
		a.Found = true
		if _, _, err := s.load(a.Location); err != nil {
			a.Problem = err.Error()
		} else {
			a.Verified = true
		}
		return a, nil
	}
	if s, ok := cifarSpecs[name]; ok {
		a.HowToGet = fmt.Sprintf("'shiftaddaug data fetch %s' where a network exists (%s), or unpack the archive into %s",
			name, s.archive.URL, opts.downloadDir())
		if a.Location = s.locate(opts); a.Location == "" {
			return a, nil
		}
		a.Found = true
		if s.verified(a.Location) {
			a.Verified = true
		} else {
			a.Problem = "no verified-fetch stamp or not the official file sizes (copied by hand, or a partial set)"
		}
		return a, nil
	}
	return a, fmt.Errorf("%q has no fixed source (fixed datasets: %s; folders are opened as imagefolder:PATH or voc:PATH)",
		name, strings.Join(FixedNames, ", "))
}

// Fetch makes a fixed dataset available: it returns the dataset if it is already here, otherwise downloads
// it into opts.Dir (default DefaultDir()) from its official source, verifies it and opens it.
func Fetch(name string, opts Options) (*Dataset, error) {
	if strings.HasPrefix(name, "imagefolder:") || strings.HasPrefix(name, "voc:") || strings.HasPrefix(name, "openeds:") {
		return nil, fmt.Errorf("%s is a local folder, there is nothing to fetch; open it by path", name)
	}
	if _, err := Available(name, opts); err != nil {
		return nil, err
	}
	opts.Download = true
	return Open(name, opts)
}

// LabelmeVOCDir is where Debian's labelme-examples package installs its three PASCAL VOC 2011 images with
// palette-PNG masks (open it as "voc:" + LabelmeVOCDir).
const LabelmeVOCDir = "/usr/share/doc/labelme-examples/examples/semantic_segmentation/data_dataset_voc"

// sanitizeName turns a dataset name into a file-name fragment.
func sanitizeName(name string) string {
	name = strings.TrimRight(name, "/")
	if i := strings.Index(name, ":"); i >= 0 {
		name = name[:i] + "-" + filepath.Base(name[i+1:])
	}
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, name)
}

// FileName returns a file-name-safe form of a dataset name ("imagefolder:/data/food-101" -> "imagefolder-food-101").
func FileName(name string) string { return sanitizeName(name) }
