package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// OpenEDSClasses are the four classes of OpenEDS's semantic segmentation masks, background first.
var OpenEDSClasses = []string{"background", "sclera", "iris", "pupil"}

// OpenMaskFolder opens an OpenEDS-style segmentation folder: image files (PNG or JPEG) in images/ and one
// PNG mask per image in masks/, matched by file stem (images/000123.png with masks/000123.png). Masks are
// palette or 8-bit grey PNGs whose value is the class (or VOC-coloured RGB), 255 meaning ignore; OpenEDS's
// .npy label arrays must be written as such PNGs first. The splits come from ROOT/train/ and ROOT/validation/
// (or val/ or test/), each with images/ and masks/, when ROOT/train/images exists; otherwise ROOT/images and
// ROOT/masks are one pool and opts.ValFraction of it forms the test split. Class names come from
// ROOT/class_names.txt if present, else OpenEDSClasses. Every image must have a mask and every mask an image,
// of the same size (checked on open from the headers); mask values are checked against the classes on use.
func OpenMaskFolder(root string, opts Options) (*Dataset, error) {
	if root == "" {
		return nil, fmt.Errorf("openeds: empty path (use openeds:PATH)")
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("openeds: %s is not a folder", root)
	}
	classes := classNames(root, OpenEDSClasses)
	if len(classes) > IgnoreIndex {
		return nil, fmt.Errorf("openeds: %s lists %d classes; masks hold at most %d (255 is the ignore label)",
			filepath.Join(root, "class_names.txt"), len(classes), IgnoreIndex)
	}
	var train, test []vocPair
	if st, err := os.Stat(filepath.Join(root, "train", "images")); err == nil && st.IsDir() {
		if train, err = maskFolderPairs(filepath.Join(root, "train")); err != nil {
			return nil, err
		}
		for _, d := range []string{"validation", "val", "test"} {
			dir := filepath.Join(root, d)
			if _, err := os.Stat(filepath.Join(dir, "images")); err == nil {
				if test, err = maskFolderPairs(dir); err != nil {
					return nil, err
				}
				break
			}
		}
	} else {
		all, err := maskFolderPairs(root)
		if err != nil {
			return nil, err
		}
		entries := make([]fileEntry, len(all))
		byImg := map[string]vocPair{}
		for i, p := range all {
			entries[i] = fileEntry{path: p.img}
			byImg[p.img] = p
		}
		tr, te := holdout(entries, 1, opts.valFraction(), opts.Seed)
		for _, f := range tr {
			train = append(train, byImg[f.path])
		}
		for _, f := range te {
			test = append(test, byImg[f.path])
		}
	}
	n := len(classes)
	return &Dataset{
		Name: "openeds:" + root, Train: &vocSource{train, n, "openeds"}, Test: &vocSource{test, n, "openeds"},
		Shape: Shape{C: 3}, NumClasses: n, ClassNames: classes, Segmentation: true, Location: root,
	}, nil
}

// maskFolderPairs pairs dir/images/* with dir/masks/STEM.png, sorted by stem, and checks their sizes.
func maskFolderPairs(dir string) ([]vocPair, error) {
	imgDir, maskDir := filepath.Join(dir, "images"), filepath.Join(dir, "masks")
	imgs, err := listImages(imgDir)
	if err != nil {
		return nil, fmt.Errorf("openeds: %s: no images/ folder (%v)", dir, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("openeds: %s holds no PNG or JPEG image", imgDir)
	}
	masks, err := filepath.Glob(filepath.Join(maskDir, "*.png"))
	if err != nil || len(masks) == 0 {
		return nil, fmt.Errorf("openeds: %s holds no PNG mask (want one per image in %s, same file stem)", maskDir, imgDir)
	}
	byStem := map[string]string{}
	for _, m := range masks {
		byStem[strings.TrimSuffix(filepath.Base(m), filepath.Ext(m))] = m
	}
	seen := map[string]string{}
	var out []vocPair
	for _, img := range imgs {
		stem := strings.TrimSuffix(filepath.Base(img), filepath.Ext(img))
		if other, dup := seen[stem]; dup {
			return nil, fmt.Errorf("openeds: images %s and %s share the stem %q, so the mask %s.png would be ambiguous", other, img, stem, stem)
		}
		seen[stem] = img
		m, ok := byStem[stem]
		if !ok {
			return nil, fmt.Errorf("openeds: image %s has no mask (want %s)", img, filepath.Join(maskDir, stem+".png"))
		}
		ci, err := decodeConfig(img)
		if err != nil {
			return nil, fmt.Errorf("openeds: %w", err)
		}
		cm, err := decodeConfig(m)
		if err != nil {
			return nil, fmt.Errorf("openeds: %w", err)
		}
		if ci.Width != cm.Width || ci.Height != cm.Height {
			return nil, fmt.Errorf("openeds: mask %s is %dx%d but its image %s is %dx%d", m, cm.Width, cm.Height, img, ci.Width, ci.Height)
		}
		out = append(out, vocPair{img, m})
	}
	var orphans []string
	for stem, m := range byStem {
		if _, ok := seen[stem]; !ok {
			orphans = append(orphans, m)
		}
	}
	if len(orphans) > 0 { // a stray mask usually means a renamed or missing image: say so rather than skip it
		sort.Strings(orphans)
		return nil, fmt.Errorf("openeds: mask %s has no image in %s (%d such masks)", orphans[0], imgDir, len(orphans))
	}
	sort.Slice(out, func(a, b int) bool { return out[a].img < out[b].img })
	return out, nil
}
