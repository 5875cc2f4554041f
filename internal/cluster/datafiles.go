package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Bounds of the data files a version carries. Each module bounds its own
// file again when a node stages it (bots.max_file_bytes, lists
// max_bytes, zones), so these only keep a version's size in the store
// sane.
const (
	MaxDataFiles     = 64
	MaxDataFileBytes = 16 << 20
	MaxDataBytes     = 32 << 20
)

// dataDirName is where a node writes the data files of the versions it
// activates, one directory per version, under its data directory.
const dataDirName = "cluster-data"

// DataFile is a data file a pushed config names (the bot feature file,
// an allow or deny list, a zone file), carried inside the version so
// every node gets the same bytes. Path is as the pushed config names it.
type DataFile struct {
	Path string `json:"path"`
	Data string `json:"data"`
}

// dataFileRefs are the scalar nodes of a config that name data files:
// bots.features, shield.lists.allow_file and deny_file, dns.zones[].file.
func dataFileRefs(root *yaml.Node) []*yaml.Node {
	if root == nil || root.Kind != yaml.MappingNode {
		return nil
	}
	var refs []*yaml.Node
	add := func(m *yaml.Node, keys ...string) {
		for _, k := range keys[:len(keys)-1] {
			if m == nil || m.Kind != yaml.MappingNode {
				return
			}
			_, m = findKey(m, k)
		}
		if m == nil || m.Kind != yaml.MappingNode {
			return
		}
		if _, v := findKey(m, keys[len(keys)-1]); v != nil && v.Kind == yaml.ScalarNode && v.Value != "" {
			refs = append(refs, v)
		}
	}
	add(root, "bots", "features")
	add(root, "shield", "lists", "allow_file")
	add(root, "shield", "lists", "deny_file")
	if _, dns := findKey(root, "dns"); dns != nil && dns.Kind == yaml.MappingNode {
		if _, zones := findKey(dns, "zones"); zones != nil && zones.Kind == yaml.SequenceNode {
			for _, z := range zones.Content {
				add(z, "file")
			}
		}
	}
	return refs
}

// DataFiles reads the data files the config src names, for a push: the
// version carries them and each node writes them to its own data
// directory before it activates the config. A file that cannot be read,
// or past the bounds, refuses the push.
func DataFiles(src []byte) ([]DataFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("config: %v", err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	var files []DataFile
	total := 0
	seen := map[string]bool{}
	for _, ref := range dataFileRefs(doc.Content[0]) {
		if seen[ref.Value] {
			continue
		}
		seen[ref.Value] = true
		if len(files) == MaxDataFiles {
			return nil, fmt.Errorf("the config names more than %d data files", MaxDataFiles)
		}
		b, err := readBounded(ref.Value, MaxDataFileBytes)
		if err != nil {
			return nil, fmt.Errorf("data file %s (line %d): %w", ref.Value, ref.Line, err)
		}
		if total += len(b); total > MaxDataBytes {
			return nil, fmt.Errorf("the data files the config names are over %d bytes together", MaxDataBytes)
		}
		files = append(files, DataFile{Path: ref.Value, Data: string(b)})
	}
	return files, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("over the limit of %d bytes", limit)
	}
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	return b, err
}

// placeFiles writes the version's data files to this node's data
// directory (one directory per version, so the running config's files
// stay as they are until the new config is active) and points src's
// references at them. The modules then check each file in the config
// gate, as they check their own.
func (rn *rollout) placeFiles(ver Version, src []byte) ([]byte, error) {
	if len(ver.Files) == 0 {
		return src, nil
	}
	if rn.c.host.DataDir == "" {
		return nil, errors.New("this node has no data directory for the version's data files")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("pushed config: %v", err)
	}
	dir := filepath.Join(rn.c.host.DataDir, dataDirName, strconv.FormatInt(ver.Version, 10))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	placed := map[string]string{}
	for i, f := range ver.Files {
		p := filepath.Join(dir, fmt.Sprintf("%d-%s", i, safeBase(f.Path)))
		if err := os.WriteFile(p, []byte(f.Data), 0o600); err != nil {
			return nil, fmt.Errorf("data file %s: %w", f.Path, err)
		}
		placed[f.Path] = p
	}
	for _, ref := range dataFileRefs(doc.Content[0]) {
		p, ok := placed[ref.Value]
		if !ok {
			return nil, fmt.Errorf("the version does not carry the data file %s its config names", ref.Value)
		}
		ref.Value = p
	}
	return yaml.Marshal(&doc)
}

// safeBase is path's last element, for a readable name on disk.
func safeBase(path string) string {
	b := filepath.Base(filepath.Clean("/" + path))
	if b == "/" || b == "." || strings.ContainsAny(b, `/\`) {
		return "file"
	}
	return b
}

// dropOldFiles removes the data file directories of versions other than
// keep, once keep is active.
func (rn *rollout) dropOldFiles(keep int64) {
	if rn.c.host.DataDir == "" {
		return
	}
	root := filepath.Join(rn.c.host.DataDir, dataDirName)
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Name() != strconv.FormatInt(keep, 10) {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

// dropFiles removes the data files of a version this node refused.
func (rn *rollout) dropFiles(version int64) {
	if rn.c.host.DataDir != "" {
		_ = os.RemoveAll(filepath.Join(rn.c.host.DataDir, dataDirName, strconv.FormatInt(version, 10)))
	}
}

// checkDataFiles bounds a push's data files.
func checkDataFiles(files []DataFile) error {
	if len(files) > MaxDataFiles {
		return fmt.Errorf("more than %d data files", MaxDataFiles)
	}
	total := 0
	for _, f := range files {
		if len(f.Data) > MaxDataFileBytes {
			return fmt.Errorf("data file %s over the limit of %d bytes", f.Path, MaxDataFileBytes)
		}
		total += len(f.Data)
	}
	if total > MaxDataBytes {
		return fmt.Errorf("data files over %d bytes together", MaxDataBytes)
	}
	return nil
}
